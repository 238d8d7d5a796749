"""``roleplay validate --watch``: validate again on every save and say what changed.

The files named (or the workspace's personas/ and rubrics/) are polled for their size and
modification time every half second; on a change everything is validated again (a
persona's errors can come from its rubric) and the report says which problems were fixed,
which are new and how many remain.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

POLL_S = 0.5


def _files(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    found: dict[Path, tuple[int, int]] = {}
    for path in paths:
        for file in (sorted(path.rglob("*.yaml")) if path.is_dir() else [path]):
            try:
                st = file.stat()
            except OSError:
                continue
            found[file] = (st.st_size, st.st_mtime_ns)
    return found


def changes(before: list[str], after: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(fixed, new, still there) between two lists of problems."""
    return ([p for p in before if p not in after], [p for p in after if p not in before],
            [p for p in after if p in before])


def watch(paths: list[Path], check: Callable[[], list[str]], *, stop: Callable[[], bool] = lambda: False,
          poll_s: float = POLL_S) -> Iterator[tuple[list[str], list[str], list[str], list[Path]]]:
    """Yield (fixed, new, still, changed files) now, then after every change to the files."""
    seen = _files(paths)
    problems = check()
    yield [], problems, [], sorted(seen)
    while not stop():
        time.sleep(poll_s)
        now = _files(paths)
        if now == seen:
            continue
        changed = sorted(p for p in set(now) | set(seen) if now.get(p) != seen.get(p))
        seen = now
        latest = check()
        yield (*changes(problems, latest), changed)
        problems = latest
