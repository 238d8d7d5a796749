"""Downloading a model file: progress, resume, checksum, cancel.

* The hub is asked for the file's size and SHA-256 first (``HEAD …/resolve/main/FILE``: the
  ``X-Linked-Size`` and ``X-Linked-Etag`` headers the Hugging Face hub sends for large files,
  ``HF_ENDPOINT`` as huggingface_hub itself reads it).
* The bytes go to ``FILE.part`` beside the target; an interrupted download (no network,
  ctrl+c, cancel from the models screen) keeps the part and the next run asks only for the
  rest (an HTTP ``Range`` request).
* Progress is reported as bytes done, speed and time left.
* The whole file's SHA-256 is checked against the hub's before it is renamed into place: a
  file that does not match is deleted, never registered. The target only ever appears whole.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import RoleplayError
from ..core.text import bar

CHUNK = 1 << 16


class Cancelled(RoleplayError):
    """The download was stopped; what arrived is kept for the next run to resume."""


@dataclass
class Progress:
    done: int
    total: int | None
    speed: float  # bytes per second, this run
    eta_s: float | None

    def line(self, width: int = 20) -> str:
        mb = 1024 * 1024
        if self.total:
            left = f" · {self.eta_s:.0f} s left" if self.eta_s is not None else ""
            return (f"{bar(self.done, self.total, width)} {self.done / mb:,.1f}/{self.total / mb:,.1f} MB · {self.speed / mb:.1f} MB/s{left}")
        return f"{self.done / mb:,.1f} MB · {self.speed / mb:.1f} MB/s"


def hub_url(repo: str, filename: str) -> str:
    return f"{(os.environ.get('HF_ENDPOINT') or 'https://huggingface.co').rstrip('/')}/{repo}/resolve/main/{filename}"


def _sha256(path: Path) -> "hashlib._Hash":
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest


def download(url: str, target: Path, *, on_progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``target`` (rules in the module docstring); returns ``target``."""
    import httpx

    target = Path(target)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, trust_env=True) as client:
        try:
            head = client.head(url, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise RoleplayError(f"cannot reach {httpx.URL(url).host} ({type(exc).__name__}) — connect and run the "
                                "same command again; a download resumes where it stopped") from None
        if head.status_code >= 400:
            raise RoleplayError(f"the hub answered {head.status_code} for {url} — check the model name")
        expected = (head.headers.get("x-linked-etag") or head.headers.get("etag") or "").strip('"').lower()
        expected = expected if len(expected) == 64 else ""  # a SHA-256 (small files have a git hash)
        size = head.headers.get("x-linked-size") or head.headers.get("content-length")
        total = int(size) if size and size.isdigit() else None
        digest = _sha256(part)
        have = part.stat().st_size if part.is_file() else 0
        if total is not None and have > total:  # not this file's start: begin again
            part.unlink()
            digest, have = hashlib.sha256(), 0
        started, got = time.monotonic(), 0
        if total is None or have < total:
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.status_code == 200 and have:  # the server ignored the range: start over
                        digest, have = hashlib.sha256(), 0
                        part.unlink(missing_ok=True)
                    elif response.status_code not in (200, 206):
                        raise RoleplayError(f"the hub answered {response.status_code} for {url}")
                    with part.open("ab") as handle:
                        for chunk in response.iter_bytes(CHUNK):
                            if cancel is not None and cancel.is_set():
                                raise Cancelled(f"stopped at {(have + got) / 1048576:,.1f} MB; run it again to "
                                                "resume")
                            handle.write(chunk)
                            digest.update(chunk)
                            got += len(chunk)
                            if on_progress:
                                elapsed = max(time.monotonic() - started, 1e-6)
                                speed = got / elapsed
                                done = have + got
                                eta = (total - done) / speed if total and speed else None
                                on_progress(Progress(done, total, speed, eta))
            except httpx.HTTPError as exc:
                raise RoleplayError(f"the download was cut off ({type(exc).__name__}) at "
                                    f"{(have + got) / 1048576:,.1f} MB — run the same command again to resume") \
                    from None
        if expected and digest.hexdigest() != expected:
            part.unlink(missing_ok=True)
            raise RoleplayError(f"{target.name}: the file does not match the hub's checksum (SHA-256) and was "
                                "deleted — run the same command again to download it afresh")
        os.replace(part, target)
    return target
