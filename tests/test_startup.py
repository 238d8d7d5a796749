"""Start-up paths stay light: the domain never imports Textual, and litellm is only
imported once a model call is made."""

from __future__ import annotations

import subprocess
import sys

DOMAIN = ["simulator", "simulator.cli", "simulator.errors", "simulator.locations", "simulator.yamlfile",
          "simulator.formats", "simulator.persona", "simulator.rubric", "simulator.library",
          "simulator.config", "simulator.gateway", "simulator.local_models", "simulator.engine",
          "simulator.sessions", "simulator.storage", "simulator.headless", "simulator.modelcheck"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_domain_imports_neither_textual_nor_litellm():
    loaded = _modules_after("\n".join(f"import {m}" for m in DOMAIN))
    assert "textual" not in loaded
    assert "litellm" not in loaded
    assert "llama_cpp" not in loaded


def test_validate_and_personas_do_not_import_litellm(workspace):
    code = ("import sys\nfrom simulator.cli import main\n"
            f"main(['--workspace', {str(workspace)!r}, 'validate'])\n"
            f"main(['--workspace', {str(workspace)!r}, 'personas'])")
    loaded = _modules_after(code)
    assert "litellm" not in loaded and "textual" not in loaded


def test_litellm_is_imported_when_a_call_is_made():
    loaded = _modules_after("from simulator import gateway\ngateway.litellm()")
    assert "litellm" in loaded


def test_help_and_version_run(workspace):
    out = subprocess.run([sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "validate" in out.stdout and "run" in out.stdout
    out = subprocess.run([sys.executable, "-m", "simulator", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("roleplay ")
