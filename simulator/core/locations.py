"""Every folder the app uses, in one place.

Nothing is created at import time: the functions return paths, and the folders are
made only by :func:`ensure` (or by the code that writes into them).

Environment overrides:

* ``ROLEPLAY_WORKSPACE`` — the workspace (a folder holding personas/, rubrics/, sessions/)
* ``ROLEPLAY_CONFIG_DIR`` — where ``config.yaml`` lives (default: the platform's user config folder)
* ``ROLEPLAY_DATA_DIR`` — user data: the default workspace, downloaded models, the model registry
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

APP_NAME = "roleplay"

PERSONAS = "personas"
RUBRICS = "rubrics"
ACTS = "acts"  # rubrics/acts/: one file per act a learner's message can do
SESSIONS = "sessions"
WORKSPACE_CONFIG = "roleplay.yaml"


def config_dir() -> Path:
    """The user config folder (holds ``config.yaml``)."""
    if env := os.environ.get("ROLEPLAY_CONFIG_DIR"):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The user data folder (default workspace, models)."""
    if env := os.environ.get("ROLEPLAY_DATA_DIR"):
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_config_file() -> Path:
    return config_dir() / "config.yaml"


def models_dir() -> Path:
    """Where ``roleplay models pull`` puts downloaded GGUF files."""
    return data_dir() / "models"


def model_registry_file() -> Path:
    """The list of local GGUF models registered with ``roleplay models add``/``pull``."""
    return data_dir() / "models.yaml"


def bundled_library() -> Path:
    """The folder holding the bundled personas/ and rubrics/.

    In a wheel they are packaged as ``simulator/library``; in a source checkout they
    are the repository's own top-level folders.
    """
    package = Path(__file__).resolve().parent.parent  # simulator/
    packaged = package / "library"
    if (packaged / PERSONAS).is_dir():
        return packaged
    return package.parent


def default_user_workspace() -> Path:
    return data_dir() / "workspace"


def resolve_workspace(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Pick the workspace: ``--workspace``, then ``ROLEPLAY_WORKSPACE``, then the
    current folder when it has personas/, else the user workspace. A workspace that
    does not exist yet (or is an empty folder) is created with the bundled library."""
    chosen = explicit or os.environ.get("ROLEPLAY_WORKSPACE")
    if chosen:
        path = Path(chosen).expanduser().resolve()
        if not path.exists() or (path.is_dir() and not any(path.iterdir())):
            seed_workspace(path)  # a new, empty workspace starts with the bundled library
        return path
    cwd = Path.cwd()
    if (cwd / PERSONAS).is_dir():
        return cwd.resolve()
    workspace = default_user_workspace()
    if not (workspace / PERSONAS).is_dir():
        seed_workspace(workspace)
    return workspace


def seed_workspace(workspace: Path) -> None:
    """Create a workspace holding a copy of the bundled personas, rubrics and acts."""
    source = bundled_library()
    for folder in (PERSONAS, RUBRICS, f"{RUBRICS}/{ACTS}"):
        target = workspace / folder
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted((source / folder).glob("*.yaml")):
            if not (target / item.name).exists():
                shutil.copy2(item, target / item.name)
    (workspace / SESSIONS).mkdir(parents=True, exist_ok=True)


def ensure(path: Path) -> Path:
    """Make ``path`` (a folder) if it is missing and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
