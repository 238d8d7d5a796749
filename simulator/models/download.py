"""Downloading a model file: progress, resume, size and checksum, cancel, a full disk.

* The hub is asked for the file's size and SHA-256 first (``HEAD …/resolve/main/FILE``: the
  ``X-Linked-Size`` and ``X-Linked-Etag`` headers the Hugging Face hub sends for large files,
  ``HF_ENDPOINT`` as huggingface_hub itself reads it). A redirect's own ``Content-Length`` (its
  empty body) is not the file's size; the size then comes from the answer to the ``GET``.
* The bytes go to ``FILE.part`` beside the target; an interrupted download (no network,
  ctrl+c, cancel from the models screen, a full disk) keeps the part and the next run asks only
  for the rest (an HTTP ``Range`` request). A partial answer (206) must say with
  ``Content-Range`` that it starts where the part ends (one that starts at byte 0 starts the
  part over; any other start is refused, the part kept).
* Progress is reported as bytes done, speed and time left.
* Before the part is renamed into place its size must be the one announced (by the hub, the
  ``Content-Range`` or the ``Content-Length``), with or without a checksum, and its SHA-256 the
  hub's when the hub gives one. A short file is kept as a part to resume; a longer one, or one
  that does not match the checksum, is deleted. The target only ever appears whole.
* Every failure is a :class:`DownloadError` (or :class:`Cancelled`) said in one line.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..core.errors import RoleplayError
from ..core.text import bar

CHUNK = 1 << 16


class DownloadError(RoleplayError):
    """A download that could not finish: the server's answer does not add up (its size, its
    range), or the file could not be written (a full disk). What arrived is kept when the next
    run can resume from it."""


class Cancelled(DownloadError):
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


def _mb(size: int) -> str:
    return f"{size / 1048576:,.1f} MB"


def _sha256(path: Path) -> "hashlib._Hash":
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest


def _size(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _announced(head) -> tuple[int | None, str]:
    """The file's size and SHA-256 from the hub's answer to HEAD. A redirect's own
    ``Content-Length`` and ``ETag`` describe the redirect, not the file: only the hub's
    ``X-Linked-*`` headers count there."""
    linked = head.headers.get("x-linked-etag")
    etag = linked if linked or 300 <= head.status_code < 400 else head.headers.get("etag")
    expected = (etag or "").strip().removeprefix("W/").strip('"').lower()
    expected = expected if re.fullmatch(r"[0-9a-f]{64}", expected) else ""  # small files have a git hash
    total = _size(head.headers.get("x-linked-size"))
    if total is None and head.status_code == 200:
        total = _size(head.headers.get("content-length"))
    return total, expected


def _head(client, url: str):
    import httpx

    try:
        head = client.head(url, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DownloadError(f"cannot reach {httpx.URL(url).host} ({type(exc).__name__}) — connect and run the "
                            "same command again; a download resumes where it stopped") from None
    if head.status_code >= 400:
        raise DownloadError(f"the hub answered {head.status_code} for {url} — check the model name")
    return head


def _client(timeout: float):
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True, trust_env=True)


def is_current(url: str, target: Path, *, timeout: float = 30.0) -> bool:
    """Whether ``target`` is the hub's file: its size, and its SHA-256 when the hub gives one."""
    with _client(timeout) as client:
        total, expected = _announced(_head(client, url))
    size = target.stat().st_size
    if total is not None and size != total:
        return False
    return not expected or _sha256(target).hexdigest() == expected


def _where(response, have: int, url: str) -> tuple[int, int | None]:
    """Where the body of ``response`` starts in the file, and the file's whole size (None when
    nobody says). Raises when the answer cannot be appended to a part of ``have`` bytes."""
    if response.status_code == 200:
        encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
        return 0, None if encoded else _size(response.headers.get("content-length"))
    if response.status_code == 206:
        match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", response.headers.get("content-range", ""))
        if match is None:
            raise DownloadError(f"the server's partial answer for {url} does not say which bytes it holds (no "
                                "Content-Range) — the part is kept; run the same command again")
        start = int(match.group(1))
        if start not in (0, have):
            raise DownloadError(f"the server sent the file from byte {start:,} when asked for byte {have:,} — the "
                                "part is kept; run the same command again")
        return start, _size(match.group(3))
    raise DownloadError(f"the hub answered {response.status_code} for {url} — run the same command again later")


def download(url: str, target: Path, *, on_progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``target`` (rules in the module docstring); returns ``target``."""
    target = Path(target)
    part = target.with_name(target.name + ".part")
    total = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _client(timeout) as client:
            total, expected = _announced(_head(client, url))
            have = part.stat().st_size if part.is_file() else 0
            if total is not None and have > total:  # not this file's start: begin again
                part.unlink()
                have = 0
            if total is None or have < total:
                total = _fetch(client, url, part, have, total, on_progress, cancel)
            _check(target, part, total, expected)
            os.replace(part, target)
    except OSError as exc:
        raise _write_error(exc, part, total) from None
    return target


def _fetch(client, url: str, part: Path, have: int, total: int | None, on_progress, cancel) -> int | None:
    """Append the rest of the file to ``part``; returns the file's size when anyone said it."""
    import httpx

    headers = {"Accept-Encoding": "identity"}  # sizes count the file's own bytes
    if have:
        headers["Range"] = f"bytes={have}-"
    started, got, start = time.monotonic(), 0, have
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:  # nothing after `have`
                whole = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", response.headers.get("content-range", ""))
                if whole and int(whole.group(1)) == have and total in (None, have):
                    return have  # the part is already the whole file
                part.unlink(missing_ok=True)
                raise DownloadError(f"the server has no bytes after {_mb(have)}, so the part was not this file's "
                                    "start and was deleted — run the same command again")
            start, whole = _where(response, have, url)
            # A 206 says the file's size: another one is another file. A 200's body longer than
            # announced is too; a shorter one is kept to resume (and checked at the end).
            partial = response.status_code == 206
            if whole is not None and total is not None and (whole > total or (whole != total and partial)):
                part.unlink(missing_ok=True)
                raise DownloadError(f"the server announced {total:,} bytes but sends a file of {whole:,} — the part "
                                    "was deleted; run the same command again (the file may have just changed)")
            total = total if total is not None else whole
            with part.open("wb" if start == 0 else "ab") as handle:  # a 200, or a 206 from 0: the part over
                for chunk in response.iter_bytes(CHUNK):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"stopped at {_mb(start + got)}; run it again to resume")
                    handle.write(chunk)
                    got += len(chunk)
                    if on_progress:
                        elapsed = max(time.monotonic() - started, 1e-6)
                        speed = got / elapsed
                        done = start + got
                        eta = (total - done) / speed if total and speed else None
                        on_progress(Progress(done, total, speed, eta))
    except httpx.HTTPError as exc:
        raise DownloadError(f"the download was cut off ({type(exc).__name__}) at {_mb(start + got)} — run the "
                            "same command again to resume") from None
    return total


def _check(target: Path, part: Path, total: int | None, expected: str) -> None:
    """The part is the whole file: its size, then its checksum. A short part is kept to
    resume; a long one, or a wrong one, is deleted."""
    if not part.is_file():
        raise DownloadError(f"{target.name}: the server sent nothing — run the same command again")
    size = part.stat().st_size
    if total is not None and size < total:
        raise DownloadError(f"{target.name}: the server stopped sending at {size:,} of {total:,} bytes — the "
                            "part is kept; run the same command again to resume")
    if total is not None and size > total:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{target.name}: {size:,} bytes arrived where the hub announced {total:,}, so the "
                            "file was deleted — run the same command again to download it afresh")
    if expected and _sha256(part).hexdigest() != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{target.name}: the file does not match the hub's checksum (SHA-256) and was "
                            "deleted — run the same command again to download it afresh")


def _write_error(exc: OSError, part: Path, total: int | None) -> DownloadError:
    """One line for a file that could not be written, with what to do."""
    try:
        done = part.stat().st_size
    except OSError:
        done = 0
    kept = f"the {_mb(done)} that arrived are kept and it resumes" if done else "it resumes where it stops"
    need = f" (about {_mb(total - done)} more is needed)" if total and total > done else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        room = "the disk" if exc.errno == errno.ENOSPC else "your disk quota"
        return DownloadError(f"no room to write {part.name} ({exc.strerror}): {room} holding {part.parent} is "
                             f"full{need} — free some space and run the same command again; {kept}")
    if exc.errno == errno.EFBIG:
        return DownloadError(f"cannot write {part.name} past {_mb(done)} ({exc.strerror}): a file-size limit, or "
                             f"the disk holding {part.parent} is full{need} — make room (or set ROLEPLAY_DATA_DIR "
                             f"to another disk) and run the same command again; {kept}")
    return DownloadError(f"cannot write {part} ({exc.strerror or type(exc).__name__}) — check the folder can "
                         f"be written to, then run the same command again; {kept}")
