"""Issue 12, cohorts: grade a folder of sessions from several learners in one go (over the
fake HTTP server, with injected failures), and report per learner and per persona."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakeserver import FakeServer, status

from simulator.content.library import load_library
from simulator.practice.scripted import save_record, scripted_record
from simulator.practice.sessions import read_session

GOOD = ["I'm sorry, that must be frustrating. So your bill went up without warning?",
        "Here's what I can do: I'll credit it today, or move you to the loyalty price. Which would you prefer?"]
POOR = ["What's your account number?", "Calm down, policy is policy."]
JUDGE = json.dumps({"score": 4, "reason": "good", "evidence": [], "improvement": "more",
                    "strengths": ["a"], "changes": ["b"], "better_replies": []})


def cohort(workspace: Path, folder: Path) -> list[str]:
    """Twenty sessions from three learners on three personas, the later ones better, and one
    damaged session folder."""
    library = load_library(workspace)
    ids = []
    for n in range(20):
        learner = ["Ana", "Ben", "Chloe"][n % 3]
        persona = library.persona(["overcharged-loyal-customer", "rude-missing-parcel", "polite-transfer-limit"][n % 3])
        record = scripted_record(persona, library.rubric_for(persona), GOOD if n >= 9 else POOR, ["Okay."],
                                 outcome="resolved" if n >= 9 else "gave_up")
        record.session_id = f"202611{1 + n:02d}-090000-{persona.id}-{n:04x}"
        record.learner = learner
        save_record(record, folder)
        ids.append(record.session_id)
    broken = folder / "sessions" / "20261130-000000-damaged-0001"
    broken.mkdir()
    (broken / "session.json").write_text('{"format": "roleplay-sess')
    return ids


def test_cohort_grading_grades_what_it_can_and_names_the_rest(workspace, tmp_path):
    folder = tmp_path / "cohort"
    ids = cohort(workspace, folder)
    env = {**os.environ, "FAKE_KEY": "sk-test-key-000000000000"}
    with FakeServer(reply_fn=lambda body: JUDGE) as server:
        (workspace / "roleplay.yaml").write_text(f"evaluator:\n  model: openai/fake\n  api_base: {server.base_url}\n"
                                                 "  api_key_env: FAKE_KEY\n")
        server.script([status(401), status(401)])  # the first calls are refused: their sessions fall back
        out = subprocess.run([sys.executable, "-m", "simulator", "evaluate", str(folder)], capture_output=True,
                             text=True, env=env)
    assert "Traceback" not in out.stderr
    assert "20/20 graded" in out.stderr and "20 graded" in out.stderr, out.stderr
    assert "20261130-000000-damaged-0001: unreadable" in out.stderr
    failed = [line for line in out.stderr.splitlines() if "judge failed, graded from evidence" in line]
    assert 1 <= len(failed) <= 2 and "not authorised" in failed[0]
    records = [read_session(folder / "sessions" / i) for i in ids]
    assert all(r.evaluations for r in records)  # everything that could be graded was
    assert sum(r.evaluation_pending for r in records) == len(failed)  # and those wait for the judge
    assert out.returncode == 1


def test_cohort_report_per_learner_and_persona(workspace, tmp_path):
    folder = tmp_path / "cohort"
    cohort(workspace, folder)
    out = subprocess.run([sys.executable, "-m", "simulator", "evaluate", str(folder)], capture_output=True, text=True)
    assert "20 graded (20 from evidence)" in out.stderr  # the built-in evaluator: scored from evidence
    md = subprocess.run([sys.executable, "-m", "simulator", "report", str(folder)], capture_output=True, text=True)
    assert md.returncode == 0, md.stderr
    text = md.stdout
    assert "# Cohort report: 20 sessions, 3 learners" in text
    for name in ("Ana", "Ben", "Chloe", "Dana Whitaker", "Derek Halvorsen"):
        assert f"| {name} |" in text
    ana = next(line for line in text.splitlines() if line.startswith("| Ana |"))
    first, latest = ana.split("|")[6].split("→")
    assert float(latest) > float(first)  # her later sessions were better
    assert "Unreadable sessions" in text and "damaged" in text
    csv_out = subprocess.run([sys.executable, "-m", "simulator", "report", str(folder), "--format", "csv"],
                             capture_output=True, text=True).stdout
    assert csv_out.splitlines()[0].startswith("group,name,sessions,graded,pass_rate,mean,first,latest,weakest")
    assert len(csv_out.splitlines()) == 1 + 3 + 3
    page = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "simulator", "report", str(folder), "--format", "html", "-o", str(page)],
                   check=True, capture_output=True)
    html = page.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") == 2 and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # stands alone: no network


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered RGB(A) rows of an 8-bit PNG (enough to check colours)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytes(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, len(r), channels)]


def test_the_html_report_renders_in_a_real_browser(workspace, tmp_path):
    """The standalone page, opened in headless Chromium: the bar charts and the tables draw."""
    import shutil

    import pytest

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):  # .ci/run installs it: a CI run never skips this
            pytest.fail("Chromium is not installed in CI (.ci/run installs the Debian package chromium)")
        pytest.skip("Chromium is not installed (Debian package chromium)")
    folder = tmp_path / "cohort"
    cohort(workspace, folder)
    subprocess.run([sys.executable, "-m", "simulator", "evaluate", str(folder)], capture_output=True)
    page = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "simulator", "report", str(folder), "--format", "html", "-o", str(page)],
                   check=True, capture_output=True)
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=700,900",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180)
    width, height, pixels = _png_pixels(shot.read_bytes())
    assert (width, height) == (700, 900)
    colours = set(pixels)
    bars = {bytes.fromhex(c) for c in ("1e8449", "c0392b", "d68910")}
    assert colours & bars, "no chart bars on the page"
    assert bytes.fromhex("f3f3f3") in colours  # the tables' header cells
    assert sum(1 for p in pixels if max(p) < 90) > 500  # text
