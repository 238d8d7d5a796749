"""A real Learning Record Store for the tests (issue 21): Ralph (PyPI ``ralph-malph``), started
with ``ralph runserver -b fs`` on 127.0.0.1 with a users file of Basic-auth credentials.

Ralph runs in an environment of its own, built from the hash-locked
``tests/data/requirements-ralph.lock`` (its extras pin fastapi and click below what the app's
environment has) and kept between runs while the lock holds. Standard library only.

What Ralph 5.1.0 does, as found with this harness (tests/test_lrs_server.py checks the main ones):
- ``POST {endpoint}statements`` (one statement or a list): 200 with the JSON list of the ids it
  stored; 204 when every id is already stored with the same content; 409 when an id is stored
  with different content, which is also what a statement without ``timestamp`` gets the second
  time (Ralph stamps it with each POST's time, and compares timestamps); 422 for a statement its model rejects (missing actor/verb/object, an id
  that is not a UUID), and then nothing of the list is stored, unless ``?partialSuccess=true``;
  400 for an empty list, two statements with the same id in one list or a body that is not JSON;
  401 (``WWW-Authenticate: Basic``) for an unknown user or a wrong password.
- ``GET {endpoint}statements`` answers ``{"statements": [...], "more": "/xAPI/statements?..."}``
  with at most 100 a page, ``more`` a path from the server's root.
- No ``{endpoint}about``: 404. ``GET /__heartbeat__`` and ``/__lbheartbeat__`` answer 200 without
  credentials; ``GET /whoami`` answers 200 with credentials, 401 without.
- Its file-system backend stores into one file, ``fs_lrs.jsonl``, created by the first POST, and
  refuses every later POST of a new statement with 500 "Statements bulk indexation failed" (the
  file exists and it creates, never appends). With an empty ``--fs-default-lrs-file`` each POST
  goes to a file of its own and every read takes all the files: the server is started so, with
  Ralph unchanged. But every file read is also appended to Ralph's history file, rewritten whole
  each time, so a POST's cost grows with the cube of the POSTs before it (POSTs of 50
  statements: 44 ms each for the first 25, 2 s at the 100th, 12 s at the 175th, the other core
  busy). ``single_file=True`` runs Ralph's app under uvicorn with its fs backend set to append to
  its one file instead (one line changed at start-up): 26 to 56 ms a POST all through 200 POSTs
  of 50 statements, for runs of hundreds of POSTs such as a benchmark.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from servers import free_port, stop

LOCK = Path(__file__).parent / "data" / "requirements-ralph.lock"
XAPI_VERSION = "1.0.3"
_BUILT = ".roleplay-built"  # written last: a venv without it was interrupted and is rebuilt
# Ralph's app with its fs backend appending to its one file (Ralph 5.1.0 creates it, so the second
# POST of a new statement fails with 500); uvicorn without runserver's reloader, so the line holds.
_SINGLE_FILE_SERVER = """
import sys
import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
from ralph.conf import settings
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host=sys.argv[1], port=int(sys.argv[2]), log_config=settings.LOGGING)
"""


def ralph_env() -> Path:
    """The venv with ralph-malph from the lock file (built once, reused while the lock holds)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"roleplay-ralph-{digest}"
    if (venv / _BUILT).is_file():
        return venv
    with open(venv.with_name(venv.name + ".lock"), "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # two test processes starting at once build it once
        if not (venv / _BUILT).is_file():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--require-hashes",
                            "-r", str(LOCK)], check=True)
            (venv / _BUILT).write_text(digest)
    return venv


class RalphServer:
    """Ralph on 127.0.0.1 storing under ``root``; the same port across ``stop()``/``start()``."""

    def __init__(self, root: Path, username: str = "trainer", password: str = "trainer-password-0000", *,
                 single_file: bool = False):
        self.root = Path(root)
        self.single_file = single_file
        self.username = username
        self.password = password
        self.port = free_port()
        self.users_file = self.root / "users.json"
        self.data_dir = self.root / "statements"
        self.log_file = self.root / "ralph.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        """The xAPI base URL an app configures; statements are at ``f"{endpoint}statements"``."""
        return f"{self.url}/xAPI/"

    def __enter__(self) -> RalphServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RALPH_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(RALPH_RUNSERVER_BACKEND="fs", RALPH_AUTH_FILE=str(self.users_file),
                   RALPH_APP_DIR=str(self.root / "app"), RALPH_HISTORY_FILE=str(self.root / "history.json"))
        return env

    def _log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> None:
        """Write the users file, start the server and wait until it answers."""
        if self._proc is not None and self._proc.poll() is None:
            return
        ralph = str(ralph_env() / "bin" / "ralph")
        cwd = self.root / "cwd"  # empty: runserver reloads on *.py changes there and reads its .env
        cwd.mkdir(parents=True, exist_ok=True)
        self.users_file.unlink(missing_ok=True)  # `ralph auth -w` appends
        auth = subprocess.run([ralph, "auth", "-u", self.username, "-p", self.password, "-s", "all",
                               "-M", f"mailto:{self.username}@example.com", "-w"],
                              cwd=cwd, env=self._env(), capture_output=True, text=True)
        if auth.returncode != 0 or not self.users_file.is_file():
            raise RuntimeError(f"ralph auth failed ({auth.returncode}):\n{(auth.stdout + auth.stderr)[-2000:]}")
        if self.single_file:
            command = [str(Path(ralph).with_name("python")), "-c", _SINGLE_FILE_SERVER, "127.0.0.1", str(self.port)]
            env = {**self._env(), "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(self.data_dir)}
        else:
            command = [ralph, "runserver", "-b", "fs", "--host", "127.0.0.1", "--port", str(self.port),
                       "--fs-default-directory-path", str(self.data_dir), "--fs-default-lrs-file", ""]
            env = self._env()
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120  # a guard against a server that never starts, not a speed target
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise RuntimeError(f"Ralph exited with {code} on port {self.port}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/__heartbeat__", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Ralph did not answer on port {self.port}:\n{self._log_tail()}")

    def stop(self) -> None:
        """Terminate the server (its reloader stops the worker) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop(proc)
        try:  # the worker and helpers, in the session started for this server only
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _request(self, method: str, url: str, body: Any = None) -> tuple[int, str]:
        """Status and body; raises OSError (urllib.error.URLError) when nothing listens."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "X-Experience-API-Version": XAPI_VERSION}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(urllib.parse.urljoin(self.url, url), data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def post(self, statement_or_list: dict | list) -> tuple[int, str]:
        """A raw POST to ``{endpoint}statements``: Ralph's status and body."""
        return self._request("POST", f"{self.endpoint}statements", statement_or_list)

    def statements(self, **params: Any) -> list[dict]:
        """Every statement ``GET {endpoint}statements`` answers for these query parameters
        (an agent as a dict, booleans as true/false), following ``more`` page after page."""
        query = {k: json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool) else v
                 for k, v in params.items()}
        url: str | None = f"{self.endpoint}statements" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        found: list[dict] = []
        while url:
            status, body = self._request("GET", url)
            if status != 200:
                raise RuntimeError(f"GET {url} answered {status}: {body[:500]}")
            page = json.loads(body)
            found.extend(page["statements"])
            # Ralph offers one more (empty) page when the last page was exactly full
            url = page.get("more") if page["statements"] else None
        return found

    def count(self) -> int:
        """How many statements are stored (a statement stored twice counts twice). One GET with
        ``limit=0``, which Ralph's fs backend answers with every statement: paging by 100 reads the
        files again for each page."""
        return len(self.statements(limit=0))
