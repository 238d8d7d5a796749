"""Issue 13, downloads: progress, resume after an interruption, the hub's checksum, and a
cancel that leaves no broken model file — against a fake hub on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from simulator.core.errors import RoleplayError
from simulator.models.download import Cancelled, DownloadError, download
from simulator.models.local_models import RECOMMENDED

DATA = b"GGUF" + os.urandom(3 * 1024 * 1024)


class FakeHub:
    """Serves files under /REPO/resolve/main/FILE: HEAD with the hub's size and SHA-256
    headers, GET with byte ranges (206 with Content-Range). ``served`` replaces the bytes
    actually sent (corruption); the other knobs make the faults of issue 18: ``cut`` (the body
    stops after so many bytes, its Content-Length saying so), ``no_length`` (no Content-Length:
    the body ends when the connection closes), ``checksum`` (False: no SHA-256 header),
    ``range_from`` (a 206 that starts at this byte whatever was asked), ``redirect_head``
    (HEAD and GET are redirected to a CDN path; the redirect says ``Content-Length: 0``)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.served, self.ranges, self.gets = files, {}, [], []
        self.cut: int | None = None
        self.range_from: int | None = None
        self.no_length = self.redirect_head = False
        self.checksum = True
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _name(self):
                return self.path.split("/resolve/main/", 1)[-1].split("/cdn/", 1)[-1]

            def _redirect(self):
                if hub.redirect_head and "/cdn/" not in self.path:
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{self._name()}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return True
                return False

            def do_HEAD(self):
                data = hub.files.get(self._name())
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if self._redirect():
                    return
                self.send_response(200)
                self.send_header("X-Linked-Size", str(len(data)))
                if hub.checksum:
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                if self._redirect():
                    return
                name = self._name()
                hub.gets.append(name)
                data = hub.served.get(name, hub.files.get(name))
                start = 0
                if rng := self.headers.get("Range"):
                    hub.ranges.append(rng)
                    start = int(rng.split("=")[1].split("-")[0]) if hub.range_from is None else hub.range_from
                body = data[start:]
                if hub.cut is not None:
                    body = body[:max(0, hub.cut - start)]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if not hub.no_length:
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


async def models_screen_at(pilot, model: str):
    """The models screen opened (m), its row for ``model`` highlighted."""
    from test_tui import settle

    from simulator.tui.models_screen import ModelsScreen

    await settle(pilot)
    await pilot.press("m")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ModelsScreen)
    screen.query_one("#models").move_cursor(row=next(i for i, c in enumerate(screen.choices) if c.model == model))
    return screen


async def test_the_models_screen_downloads_with_progress(hub, workspace, monkeypatch):
    from fakes import ScriptedModel
    from test_tui import SIZE, make_app, settle

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    rec = RECOMMENDED[0]
    app = make_app(workspace, ScriptedModel())
    async with app.run_test(size=SIZE) as pilot:
        screen = await models_screen_at(pilot, f"local/{rec.name}")
        await pilot.press("d")
        await settle(pilot)
        await settle(pilot)
        assert f"pulled local/{rec.name}" in str(screen.query_one("#history-detail").render())
        now = next(c for c in screen.choices if c.model == f"local/{rec.name}")
        assert now.usable and now.where.startswith("/")  # listed as a local file now


# Issue 18, fault 9: a download is installed only at the size announced, whether or not the hub
# gives a checksum; a partial answer must start where the part ends.

SMALL = os.urandom(102_400)


@pytest.fixture
def small_hub():
    server = FakeHub({"small.gguf": SMALL})
    server.checksum = False  # the size alone has to hold
    yield server
    server.close()


def small(hub) -> str:
    return f"{hub.url}/org/repo/resolve/main/small.gguf"


@pytest.mark.parametrize("no_length", [False, True], ids=["content-length", "until-close"])
def test_a_body_cut_short_is_not_installed_and_the_next_run_resumes(small_hub, tmp_path, no_length):
    small_hub.cut, small_hub.no_length = 60_000, no_length
    target, part = tmp_path / "small.gguf", tmp_path / "small.gguf.part"
    with pytest.raises(DownloadError, match=r"stopped sending at 60,000 of 102,400 bytes .* resume"):
        download(small(small_hub), target)
    assert not target.exists() and part.read_bytes() == SMALL[:60_000]  # kept to resume
    small_hub.cut = None
    download(small(small_hub), target)
    assert small_hub.ranges == ["bytes=60000-"] and target.read_bytes() == SMALL


def test_a_partial_answer_that_starts_at_byte_0_starts_the_part_over(small_hub, tmp_path):
    small_hub.range_from = 0
    target = tmp_path / "small.gguf"
    (tmp_path / "small.gguf.part").write_bytes(SMALL[:40_000])
    download(small(small_hub), target)
    assert target.stat().st_size == 102_400 and target.read_bytes() == SMALL  # not 142,400 bytes


def test_a_partial_answer_from_elsewhere_is_refused_and_the_part_kept(small_hub, tmp_path):
    small_hub.range_from = 1_000
    target, part = tmp_path / "small.gguf", tmp_path / "small.gguf.part"
    part.write_bytes(SMALL[:40_000])
    with pytest.raises(DownloadError, match="from byte 1,000 when asked for byte 40,000"):
        download(small(small_hub), target)
    assert not target.exists() and part.read_bytes() == SMALL[:40_000]


def test_a_body_longer_than_announced_is_deleted(small_hub, tmp_path):
    small_hub.served["small.gguf"] = SMALL + b"x" * 100
    target = tmp_path / "small.gguf"
    with pytest.raises(DownloadError, match="announced 102,400 bytes"):
        download(small(small_hub), target)
    assert not target.exists() and not (tmp_path / "small.gguf.part").exists()


def test_a_redirect_that_says_content_length_0_still_downloads_the_file(small_hub, tmp_path):
    small_hub.redirect_head = True  # the redirect's own empty body is not the file's size
    target = tmp_path / "small.gguf"
    download(small(small_hub), target)
    assert target.read_bytes() == SMALL


# Issue 18, fault 10: a full disk stops a download with one line, the part kept to resume;
# a model already there is not fetched again.

FSIZE = 1 << 20  # the "disk" holds 1 MiB of the 3 MiB file


def full_disk() -> None:
    """In the child: files stop growing at FSIZE (write then fails with EFBIG, as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def test_a_full_disk_stops_models_pull_in_one_line_and_the_next_run_resumes(hub, workspace):
    from simulator.core import locations

    rec = RECOMMENDED[0]
    env = {**os.environ, "HF_ENDPOINT": hub.url}
    pull = [sys.executable, "-m", "simulator", "models", "pull", rec.name]
    out = subprocess.run(pull, capture_output=True, text=True, env=env, preexec_fn=full_disk)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    said = out.stderr.strip().splitlines()[-1]
    assert said.startswith("roleplay: ") and "File too large" in said and "resumes" in said, said
    target = locations.models_dir() / rec.name / rec.filename
    part = target.with_name(target.name + ".part")
    assert not target.exists() and part.read_bytes() == DATA[:FSIZE]
    out = subprocess.run(pull, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert hub.ranges == [f"bytes={FSIZE}-"] and target.read_bytes() == DATA


def test_models_pull_does_not_fetch_a_model_already_there(hub, workspace):
    rec = RECOMMENDED[0]
    env = {**os.environ, "HF_ENDPOINT": hub.url}
    pull = [sys.executable, "-m", "simulator", "models", "pull", rec.name]
    assert subprocess.run(pull, capture_output=True, text=True, env=env).returncode == 0
    assert hub.gets == [rec.filename]
    out = subprocess.run(pull, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert f"local/{rec.name} is already there" in out.stdout and "nothing downloaded" in out.stdout
    assert hub.gets == [rec.filename]  # not fetched again


async def test_a_full_disk_in_the_models_screen_is_said_and_the_screen_goes_on(hub, workspace, monkeypatch):
    from fakes import ScriptedModel
    from test_tui import SIZE, make_app, settle

    from simulator.core import locations

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    rec = RECOMMENDED[0]
    part = locations.models_dir() / rec.name / (rec.filename + ".part")
    app = make_app(workspace, ScriptedModel())
    async with app.run_test(size=SIZE) as pilot:
        screen = await models_screen_at(pilot, f"local/{rec.name}")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, hard))  # this process's files stop at 1 MiB
        try:
            await pilot.press("d")
            await settle(pilot)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        detail = str(screen.query_one("#history-detail").render())
        assert "File too large" in detail and "resumes" in detail and "MB/s" not in detail  # not a frozen bar
        assert part.read_bytes() == DATA[:FSIZE]
        await pilot.press("d")  # room again: the same key resumes it
        await settle(pilot)
        await settle(pilot)
        assert f"pulled local/{rec.name}" in str(screen.query_one("#history-detail").render())
        assert hub.ranges == [f"bytes={FSIZE}-"]
