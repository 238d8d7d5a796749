"""Local GGUF models run in a child process (:mod:`.local_worker`), so native code that
crashes (SIGILL from a build for another CPU, SIGSEGV) never takes the app down.

The calls of :mod:`.local_models` (``load``, ``chat``, ``embed``), made from any thread.
One worker per model, started on first use (the app's warm-up does it after the first
paint) and kept, so its prefix cache and the conversations' saved states last between
calls. A worker that dies, or stops answering for :data:`STALL_S` in the middle of a call,
is reported as a :class:`ModelError` of kind ``crashed`` naming the signal and what to do,
and the next call starts a new one.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Iterator

from ..core import locations
from ..core.errors import ModelError

STOP_WAIT_S = 10.0  # after a cancel, how long the worker may take to stop before it is killed
# silence from a worker in the middle of a call, past which it is stuck (killed, and said so):
# far above any real wait (a 4B model reading a long grading prompt on 2 cores: ~2 minutes)
STALL_S = 600.0
PORTABLE_FIX = "reinstall it portable (`roleplay doctor` shows how)"


def log_file() -> Path:
    """Where the workers' own output goes (llama.cpp writes to stderr): never the terminal."""
    return locations.ensure(locations.data_dir() / "logs") / "local-model.log"


def signal_of(returncode: int | None) -> tuple[str, str]:
    """(name, description) of what ended a process: ("SIGILL", "illegal instruction"), or its
    exit code, or that it stopped answering. Also used by ``roleplay doctor``."""
    if returncode is None:
        return "it stopped answering", "no exit code"
    if returncode >= 0:
        return f"exit code {returncode}", "it exited"
    try:
        name = signal.Signals(-returncode).name
        return name, (signal.strsignal(-returncode) or name).lower()
    except ValueError:
        return f"signal {-returncode}", "unknown signal"


def crash_message(name: str, returncode: int | None) -> ModelError:
    """The one line for a worker that died: the cause, and what the learner does now."""
    signame, description = signal_of(returncode)
    if signame == "SIGILL":
        cause = f"{description}: built for another CPU"
        hint = PORTABLE_FIX
    elif signame == "SIGKILL":
        cause = "killed, likely out of memory"
        hint = "close other programs and try again; it restarts on the next reply"
    else:
        cause = description
        hint = "try again (it restarts on the next reply); if it repeats, run `roleplay doctor`"
    return ModelError(f"local/{name}: the model's runtime crashed ({signame}, {cause})", kind="crashed",
                      model=f"local/{name}", hint=hint)


class _Dead(Exception):
    """The worker's socket closed: it has exited (or crashed)."""


class _Stalled(Exception):
    """The worker said nothing for :data:`STALL_S` in the middle of a call."""


class Worker:
    """One child process that owns one local model (``local/<name>``, in the GGUF file ``path``)."""

    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        self._lock = threading.Lock()  # one request at a time, as the model runs one at a time
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._next_id = 0

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None before the first call and after a crash)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    # -- the process ---------------------------------------------------------------------
    def _start(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.poll() is None:
            return self._conn
        self._discard()
        ours, theirs = socket.socketpair()
        with contextlib.ExitStack() as stack:
            stack.callback(theirs.close)  # the child has its own copy once started
            log = stack.enter_context(log_file().open("ab"))
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "simulator.models.local_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)  # the terminal's ctrl+c and ctrl+z are the app's, not the model's
        self._conn = Connection(ours.detach())
        return self._conn

    def _discard(self) -> int | None:
        """Forget the worker (killing it if it still runs); its exit code."""
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        return proc.returncode

    def _stuck(self) -> ModelError:
        self._discard()
        return ModelError(f"local/{self.name}: the model's runtime stopped answering for {STALL_S:g} s and was "
                          "stopped", kind="crashed", model=f"local/{self.name}",
                          hint="try again (it restarts on the next reply); if it repeats, run `roleplay doctor`")

    def _died(self) -> ModelError:
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        return crash_message(self.name, self._discard())

    def close(self) -> None:
        """Let the worker exit (killed if a call still holds it after two seconds)."""
        held = self._lock.acquire(timeout=2)
        try:
            if held and self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(("exit", 0))
                proc = self._proc
                if proc is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=2)
            self._discard()
        finally:
            if held:
                self._lock.release()

    # -- requests ------------------------------------------------------------------------
    def _send(self, *request: Any) -> tuple[Connection, int]:
        conn = self._start()
        self._next_id += 1
        try:
            conn.send((request[0], self._next_id, *request[1:]))
        except OSError:
            raise self._died() from None
        return conn, self._next_id

    def _recv(self, conn: Connection, rid: int, timeout: float | None = None) -> tuple[Any, ...]:
        """The next message of request ``rid`` (older requests' leftovers are skipped);
        :class:`_Stalled` after ``timeout`` (default :data:`STALL_S`) seconds of silence."""
        while True:
            try:
                if not conn.poll(STALL_S if timeout is None else timeout):
                    raise _Stalled
                message = conn.recv()
            except (EOFError, OSError):
                raise _Dead from None
            if message[1] != rid:
                continue
            if message[0] == "error":
                raise _as_exception(message[2], self.name)
            return message

    def call(self, *request: Any) -> Any:
        """One request answered by one result."""
        with self._lock:
            conn, rid = self._send(*request)
            try:
                return self._recv(conn, rid)[2]
            except _Dead:
                raise self._died() from None
            except _Stalled:
                raise self._stuck() from None

    def stream(self, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """A streamed chat: OpenAI-style chunks, then (once) ``{"prompt_tokens": n}``.
        Closing the iterator early stops the model between two tokens."""
        with self._lock:
            conn, rid = self._send("chat", self.path, messages, kwargs)
            finished = False
            try:
                while True:
                    message = self._recv(conn, rid)
                    if message[0] == "chunk":
                        yield message[2]
                    elif message[0] == "end":
                        finished = True
                        yield {"prompt_tokens": message[2]}
                        return
                    else:
                        finished = True
                        return
            except _Dead:
                finished = True
                raise self._died() from None
            except _Stalled:
                finished = True
                raise self._stuck() from None
            finally:
                if not finished:
                    self._stop(conn, rid)

    def _stop(self, conn: Connection, rid: int) -> None:
        """Ask the worker to stop request ``rid``, and wait until it has (else kill it)."""
        try:
            conn.send(("cancel", rid))
            while self._recv(conn, rid, timeout=STOP_WAIT_S)[0] not in ("end", "cancelled"):
                pass
        except Exception:  # noqa: BLE001 - dead, stuck or failing: a new worker next time
            self._discard()


def _as_exception(info: Any, name: str) -> BaseException:
    if info.kind:
        return ModelError(info.message, kind=info.kind, model=f"local/{name}", hint=info.hint)
    import builtins

    cls = getattr(builtins, info.type_name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        with contextlib.suppress(Exception):
            return cls(info.message)
    return RuntimeError(f"{info.type_name}: {info.message}")


_workers: dict[Path, Worker] = {}
_workers_lock = threading.Lock()


def worker(name: str) -> Worker:
    """The worker of ``local/<name>`` (one per model file; not started until it is asked)."""
    from .local_models import resolve

    path = resolve(name)  # here, so an unknown or missing model is said before any process starts
    with _workers_lock:
        if not _workers:
            atexit.register(close_all)
        return _workers.setdefault(path, Worker(name, path))


def close_all() -> None:
    with _workers_lock:
        workers = list(_workers.values())
    for w in workers:
        w.close()


def load(name: str) -> None:
    """Start ``local/<name>``'s worker and load the model (the warm-up)."""
    w = worker(name)
    w.call("load", w.path)


def chat(name: str, messages: list[dict[str, Any]], *, stream: bool, **kwargs: Any) -> Any:
    """As :func:`.local_models.chat`, run in the model's worker. Streamed: an iterator of
    chunks whose last item is ``{"prompt_tokens": n}``."""
    w = worker(name)
    if not stream:
        return w.call("chat", w.path, messages, {"stream": False, **kwargs})
    return w.stream(messages, {"stream": True, **kwargs})


EMBED_BATCH = 32  # texts per request: a long batch is many short requests, each well inside STALL_S


def embed(name: str, texts: list[str]) -> list[list[float]]:
    """As :func:`.local_models.embed`, run in the model's worker: one vector per text. Sent
    :data:`EMBED_BATCH` at a time, so a thousand lines on a busy machine are never taken for
    a stalled worker, and a chat request waits at most one batch."""
    w = worker(name)
    out: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        out += w.call("embed", w.path, list(texts[start:start + EMBED_BATCH]))
    return out
