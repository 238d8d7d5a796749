"""Shared fixtures: every test runs with its own config, data and workspace folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/fakes.py, tests/fakeserver.py

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every folder the app uses at a temp dir; the workspace is a fresh copy of
    the bundled library, so no test writes into the repository."""
    from simulator.core import locations

    workspace = tmp_path / "workspace"
    locations.seed_workspace(workspace)
    monkeypatch.setenv("ROLEPLAY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ROLEPLAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROLEPLAY_WORKSPACE", str(workspace))
    for var in ("ROLEPLAY_MODEL", "ROLEPLAY_EVALUATOR_MODEL", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROLEPLAY_LEARNER", "")  # as if asked and skipped: tests of the question unset it
    return workspace


@pytest.fixture
def workspace(isolated_folders: Path) -> Path:
    return isolated_folders


def builtin_model_installed() -> bool:
    from simulator.models.local_models import builtin_path

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return builtin_path() is not None


requires_builtin_model = pytest.mark.skipif(
    not builtin_model_installed() and not os.environ.get("CI"),
    reason="the built-in model needs the [local] extra (always required in CI)",
)
