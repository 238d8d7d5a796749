"""Issue 13, downloads: progress, resume after an interruption, the hub's checksum, and a
cancel that leaves no broken model file — against a fake hub on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simulator.core.errors import RoleplayError
from simulator.models.download import Cancelled, download
from simulator.models.local_models import RECOMMENDED

DATA = b"GGUF" + os.urandom(3 * 1024 * 1024)


class FakeHub:
    """Serves files under /REPO/resolve/main/FILE: HEAD with the hub's size and SHA-256
    headers, GET with byte ranges. ``served`` replaces the bytes actually sent (corruption)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.served, self.ranges = files, {}, []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _file(self):
                return hub.files.get(self.path.split("/resolve/main/", 1)[-1])

            def do_HEAD(self):
                data = self._file()
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                name = self.path.split("/resolve/main/", 1)[-1]
                data = hub.served.get(name, self._file())
                start = 0
                if rng := self.headers.get("Range"):
                    hub.ranges.append(rng)
                    start = int(rng.split("=")[1].split("-")[0])
                body = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def hub():
    rec = RECOMMENDED[0]
    server = FakeHub({"model.gguf": DATA, rec.filename: DATA})
    yield server
    server.close()


def test_an_interrupted_download_resumes_and_is_checked(hub, tmp_path):
    target = tmp_path / "model.gguf"
    stop = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.done > 1024 * 1024:
            stop.set()  # cancel part-way, as ctrl+c or the models screen would

    with pytest.raises(Cancelled, match="run it again to resume"):
        download(f"{hub.url}/org/repo/resolve/main/model.gguf", target, on_progress=progress, cancel=stop)
    assert not target.exists() and (tmp_path / "model.gguf.part").is_file()  # no broken model file
    assert seen[-1].total == len(DATA) and "MB/s" in seen[-1].line()
    download(f"{hub.url}/org/repo/resolve/main/model.gguf", target)
    assert hub.ranges and hub.ranges[-1].startswith("bytes=") and hub.ranges[-1] != "bytes=0-"  # only the rest
    assert target.read_bytes() == DATA and not (tmp_path / "model.gguf.part").exists()


def test_a_file_that_does_not_match_the_checksum_is_deleted(hub, tmp_path):
    hub.served["model.gguf"] = DATA[:-1] + b"x"
    target = tmp_path / "model.gguf"
    with pytest.raises(RoleplayError, match="does not match the hub's checksum"):
        download(f"{hub.url}/org/repo/resolve/main/model.gguf", target)
    assert not target.exists() and not (tmp_path / "model.gguf.part").exists()


def test_models_pull_downloads_checks_and_registers(hub, workspace):
    rec = RECOMMENDED[0]
    out = subprocess.run([sys.executable, "-m", "simulator", "models", "pull", rec.name], capture_output=True,
                         text=True, env={**os.environ, "HF_ENDPOINT": hub.url})
    assert out.returncode == 0, out.stderr
    assert f"pulled local/{rec.name}" in out.stdout and "MB/s" in out.stderr
    listing = subprocess.run([sys.executable, "-m", "simulator", "models"], capture_output=True, text=True).stdout
    assert f"local/{rec.name}" in listing and "[ok]" in listing


async def test_the_models_screen_downloads_with_progress(hub, workspace, monkeypatch):
    from fakes import ScriptedModel
    from test_tui import SIZE, make_app, settle

    from simulator.tui.models import ModelsScreen

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    rec = RECOMMENDED[0]
    app = make_app(workspace, ScriptedModel())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        row = next(i for i, c in enumerate(screen.choices) if c.model == f"local/{rec.name}")
        screen.query_one("#models").move_cursor(row=row)
        await pilot.press("d")
        await settle(pilot)
        await settle(pilot)
        assert f"pulled local/{rec.name}" in str(screen.query_one("#history-detail").render())
        now = next(c for c in screen.choices if c.model == f"local/{rec.name}")
        assert now.usable and now.where.startswith("/")  # listed as a local file now
