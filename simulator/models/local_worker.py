"""The child process that owns a local GGUF model (run as ``python -m simulator.models.local_worker FD``).

llama.cpp is native code: a build for another CPU dies of SIGILL on its first token, and a
bug in it dies of SIGSEGV. Here that kills this process only; the app (see
:mod:`.local_process`) tells the learner in one line and starts a new one on the next call.

It serves one request at a time over the socket it was handed (``multiprocessing``'s
``Connection``: pickled tuples). Requests, from the app:

* ``("load", id, path)`` → ``("result", id, None)``: load the model in that GGUF file (the warm-up);
* ``("chat", id, path, messages, kwargs)`` → ``("result", id, completion)`` or, with
  ``kwargs["stream"]``, ``("chunk", id, chunk)``… then ``("end", id, prompt_tokens)``;
  ``("cancel", id)`` while it streams stops it, answered by ``("cancelled", id)``;
* ``("embed", id, path, texts)`` → ``("result", id, vectors)``: one mean-pooled embedding (a list
  of floats) per text, from a second instance of the model in embedding mode, loaded on first use;
* any failure → ``("error", id, ErrorInfo)``.

The model, its prefix cache and the conversations' saved states live here for the
process's life. Its stdout and stderr go to a log file the app names, never the terminal.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any


@dataclass(frozen=True)
class ErrorInfo:
    """A failure in the worker, as the app re-raises it (exceptions do not pickle reliably)."""

    type_name: str
    message: str
    kind: str = ""  # a ModelError's kind, when it was one
    model: str = ""
    hint: str = ""


def _error_info(exc: BaseException) -> ErrorInfo:
    from ..core.errors import ModelError

    if isinstance(exc, ModelError):
        return ErrorInfo(type(exc).__name__, str(exc).split(" — ")[0], exc.kind, exc.model, exc.hint)
    return ErrorInfo(type(exc).__name__, str(exc))


class _Cancelled(Exception):
    pass


def _serve(conn: Connection) -> None:
    from . import local_models

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the app has gone: so do we
            return
        op, rid = request[0], request[1]
        if op == "exit":
            return
        if op == "cancel":  # for a request already finished: nothing to stop
            continue
        try:
            if op == "load":
                local_models.load(request[2])
                conn.send(("result", rid, None))
            elif op == "embed":
                conn.send(("result", rid, local_models.embed(request[2], list(request[3]))))
            elif op == "chat":
                path, messages, kwargs = request[2], request[3], request[4]
                if not kwargs.get("stream"):
                    conn.send(("result", rid, local_models.chat(path, messages, **kwargs)))
                    continue
                try:
                    for chunk in local_models.chat(path, messages, **kwargs):
                        conn.send(("chunk", rid, chunk))
                        while conn.poll():  # the app may ask to stop between tokens
                            message = conn.recv()
                            if message[0] == "cancel" and message[1] == rid:
                                raise _Cancelled
                except _Cancelled:
                    conn.send(("cancelled", rid))
                    continue
                prompt_tokens = sum(local_models.count_tokens(path, str(m.get("content") or "")) + 4
                                    for m in messages)
                conn.send(("end", rid, prompt_tokens))
            else:
                conn.send(("error", rid, ErrorInfo("ValueError", f"unknown request {op!r}")))
        except (EOFError, OSError, BrokenPipeError):
            return
        except Exception as exc:  # noqa: BLE001 - every failure is the app's to explain
            try:
                conn.send(("error", rid, _error_info(exc)))
            except OSError:
                return


def _die_with_parent() -> None:
    """The worker goes when the app goes, even in the middle of a long request (a batch of
    embeddings takes minutes on a busy machine): a thread watches the parent process. (Not
    Linux's PR_SET_PDEATHSIG: it fires when the *thread* that started the worker ends, and the
    app starts it from worker threads.)"""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fd = int(args[0])
    try:  # a crash leaves no core file behind in the learner's folder
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    _die_with_parent()
    conn = Connection(fd)
    try:
        _serve(conn)
    finally:
        from . import local_models

        local_models.close_all()
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
