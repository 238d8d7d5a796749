"""Start-up paths stay light: the domain never imports Textual, and litellm is only
imported once a model call is made."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "simulator"
# every domain module (all but the Textual app), found on disk so a new one is covered at once
DOMAIN = sorted(".".join(("simulator", *p.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
                for p in ROOT.rglob("*.py")
                if "tui" not in p.relative_to(ROOT).parts and p.name != "__main__.py"
                and p.name != "local_provider.py")  # the litellm provider: imported by the gateway on a call
# layers, lowest first: a module may import its own layer and those below it, never one above
LAYERS = ["core", "content", "models", "voice", "practice", "grading", "review", "trainer", "records", "tui", "cli"]
LEVEL = {"core": 0, "content": 1, "models": 2, "voice": 2, "practice": 3, "grading": 4, "review": 5, "trainer": 5, "records": 5,
         "tui": 6, "cli": 6}  # a module may import its own level and those below


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
    loaded = _modules_after("from simulator.models import gateway\ngateway.litellm()")
    assert "litellm" in loaded


def test_help_and_version_run(workspace):
    out = subprocess.run([sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "validate" in out.stdout and "run" in out.stdout
    out = subprocess.run([sys.executable, "-m", "simulator", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("roleplay ")


def _imported_layers(path: Path) -> set[str]:
    """The simulator subpackages a module imports (relative imports resolved)."""
    package = list(path.relative_to(ROOT).parts[:-1])
    targets: list[list[str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            module = node.module.split(".") if node.module else []
            targets += [base + module] if module else [base + [alias.name] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simulator."):
            targets.append(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            targets += [a.name.split(".")[1:] for a in node.names if a.name.startswith("simulator.")]
    return {t[0] for t in targets if t and t[0] in LAYERS}


def test_no_import_runs_back_up_the_layers():
    problems = []
    for layer in LAYERS:
        paths = [ROOT / "cli.py"] if layer == "cli" else (ROOT / layer).rglob("*.py")
        for path in paths:
            above = {t for t in _imported_layers(path) if LEVEL[t] > LEVEL[layer]}
            if above:
                problems.append(f"{path.relative_to(ROOT)} imports {sorted(above)}")
    assert not problems, problems
