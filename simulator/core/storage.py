"""Writing files so that a crash never leaves half of one behind."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder, fsync, rename. The file
    is private (0600) unless ``mode`` is given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_HINTS = {errno.ENOSPC: "free some disk space, then run it again",
          errno.EDQUOT: "free some of your disk quota, then run it again",
          errno.EACCES: "choose a folder you can write to", errno.EPERM: "choose a folder you can write to",
          errno.EROFS: "choose a folder on a disk that is not read-only",
          errno.ENOTDIR: "a part of the path is a file, not a folder"}


def write_out(text: str, output: str | None, label: str, *, force: bool = False) -> None:
    """A command's result (``-o FILE``; its path said on stderr), else to stdout.

    A new file is written atomically, with the usual mode (as the shell's ``>`` would). An
    existing file is refused unless ``force``; forced, it is replaced atomically and keeps its
    mode. A link is written through (its target replaced, the link kept); a terminal, a FIFO
    or ``/dev/stdout`` is opened and written to, never replaced. Anything the system refuses
    (a folder, no permission, a full disk) is a one-line RoleplayError."""
    from .errors import RoleplayError

    if not output:
        sys.stdout.write(text)
        return
    try:
        st: os.stat_result | None = os.stat(output)  # through links
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise RoleplayError(_cannot_write(output, exc)) from None
    try:
        if st is not None and _standard_stream(st, text):
            return
        if st is None or stat.S_ISREG(st.st_mode):
            if st is not None and not force:
                raise RoleplayError(f"{output} exists: add --force to replace it")
            mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
            atomic_write_text(Path(os.path.realpath(output)), text, mode=mode)
        elif stat.S_ISDIR(st.st_mode):
            raise RoleplayError(f"{output} is a folder: give a file name (e.g. {Path(output) / 'out.txt'})")
        else:  # a terminal, /dev/null, a FIFO: written to as it is
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as exc:
        raise RoleplayError(_cannot_write(output, exc)) from None
    print(f"{label}: {output}", file=sys.stderr)


def _standard_stream(st: os.stat_result, text: str) -> bool:
    """``-o /dev/stdout`` (or any name of this process's stdout or stderr): written there."""
    for stream in (sys.stdout, sys.stderr):
        try:
            same = os.path.samestat(st, os.fstat(stream.fileno()))
        except (AttributeError, OSError, ValueError):  # a stream without a file (a test's capture)
            continue
        if same:
            stream.write(text)
            stream.flush()
            return True
    return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _cannot_write(output: str, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    hint = _HINTS.get(exc.errno or 0)
    return f"cannot write {output}: {why[:1].lower()}{why[1:]}" + (f" — {hint}" if hint else "")
