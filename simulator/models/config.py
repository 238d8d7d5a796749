"""Which model plays each role, and how it is called.

Two roles, each its own model: ``persona`` (plays the customer, streams) and
``evaluator`` (grades sessions). For every setting the first of these wins:

1. command-line flag (``--model``, ``--evaluator-model``)
2. environment (``ROLEPLAY_MODEL``, ``ROLEPLAY_EVALUATOR_MODEL``)
3. the workspace's ``roleplay.yaml``
4. the user config file (``config.yaml`` in the user config folder)
5. built-in defaults (the built-in offline model)

Config file format (YAML, version 1)::

    version: 1
    persona:
      model: openai/gpt-4o-mini        # any litellm model name
      temperature: 0.8
      max_tokens: 300
      timeout: 60                      # seconds of silence before a call is retried
      api_base: https://llm.example.com/v1
      api_key_env: OPENAI_API_KEY      # the environment variable that holds the key
    evaluator:
      model: anthropic/claude-sonnet-4-5
      api_key_env: ANTHROPIC_API_KEY

Keys themselves are never written in these files: only the name of the variable
that holds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ..content.formats import FileModel, load_model
from ..core import locations
from ..core.errors import display_path

BUILTIN_MODEL = "local/smollm2-135m"
ROLES = ("persona", "evaluator")
Role = Literal["persona", "evaluator"]

ROLE_ENV = {"persona": "ROLEPLAY_MODEL", "evaluator": "ROLEPLAY_EVALUATOR_MODEL"}
ROLE_DEFAULTS = {
    "persona": {"temperature": 0.7, "max_tokens": 200, "timeout": 60.0},
    "evaluator": {"temperature": 0.0, "max_tokens": 1500, "timeout": 120.0},
}


class RoleConfig(FileModel):
    """Settings for one role, as written in a config file. Every key is optional."""

    model: str | None = Field(None, description="litellm model name, e.g. openai/gpt-4o-mini or ollama/llama3.2")
    temperature: float | None = Field(None, ge=0, le=2, description="sampling temperature, 0 to 2")
    max_tokens: int | None = Field(None, ge=1, le=100_000, description="longest reply in tokens")
    timeout: float | None = Field(None, gt=0, le=3600, description="seconds of silence before retrying")
    api_base: str | None = Field(None, description="base URL of an OpenAI-compatible server or proxy")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")
    capable: bool | None = Field(None, description=(
        "false for a small model behind a server (under about 3B): the customer's moves are then decided by rules "
        "and its replies vetted before they show, the hint and the grade come from rules, as for the built-in "
        "model; default: true for every model but the built-in one"))

    @field_validator("api_key_env")
    @classmethod
    def _looks_like_a_name(cls, value: str | None) -> str | None:
        if value and (not value.replace("_", "").isalnum() or value[0].isdigit()):
            raise ValueError("must be the NAME of an environment variable (like OPENAI_API_KEY), "
                             "never the key itself")
        return value


class ConfigFile(FileModel):
    """A roleplay config file (user config.yaml or a workspace's roleplay.yaml)."""

    version: Literal[1] = Field(1, description="file format version; this roleplay reads 1")
    persona: RoleConfig = Field(default_factory=RoleConfig, description="the model that plays the customer")
    evaluator: RoleConfig = Field(default_factory=RoleConfig, description="the model that grades sessions")
    learner: str | None = Field(None, max_length=80, description=(
        "your name or learner id, saved with each session for your trainer's reports; an empty text means you "
        "chose not to give one (set it with `roleplay config --learner NAME`)"))


@dataclass(frozen=True)
class Capabilities:
    """What a model can be trusted with. The engine and the evaluator ask this, never the
    model's name."""

    director: bool = True  # writes the director's JSON verdict on how the customer reacts
    steady_character: bool = True  # keeps a character unaided: its replies stream live, audited after
    candidates: int = 3  # customer replies drawn per turn before the line is built from the file
    prefix_cache: bool = False  # runs in this process, so one conversation's evaluated prompt can be kept
    prefill: bool = False  # continues a reply from words it is given (``stream(prefill=...)``)
    coach: bool = True  # gives a useful coaching tip; otherwise the hint comes from rules (practice/coach.py)
    judge: bool = True  # grades against a rubric; otherwise scores come from evidence alone (grading/evidence.py)


CAPABLE = Capabilities()
# The built-in 135M model: it voices a line the engine decides, cannot write the director's
# JSON, and its candidates are drawn in the background and shown only once the audit passes.
SMALL = Capabilities(director=False, steady_character=False, candidates=4, prefix_cache=True, prefill=True,
                     coach=False, judge=False)
# A small model behind a server (``capable: false``): the same rules, without what needs the
# model in this process (the kept prompt, continuing a reply from given words).
SMALL_SERVED = Capabilities(director=False, steady_character=False, candidates=3, coach=False, judge=False)


@dataclass
class RoleSettings:
    """The effective settings of one role, with where each came from."""

    role: str
    model: str = BUILTIN_MODEL
    temperature: float = 0.7
    max_tokens: int = 200
    timeout: float = 60.0
    api_base: str | None = None
    api_key_env: str | None = None
    capable: bool | None = None
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def is_builtin(self) -> bool:
        return self.model == BUILTIN_MODEL

    @property
    def is_local(self) -> bool:
        return self.model.startswith("local/")

    @property
    def capabilities(self) -> Capabilities:
        if self.is_builtin:
            return SMALL
        if self.capable is False:
            return replace(SMALL_SERVED, prefix_cache=True) if self.is_local else SMALL_SERVED
        return replace(CAPABLE, prefix_cache=True) if self.is_local else CAPABLE

    def api_key(self) -> str | None:
        """Read the key from the environment at call time; it is never stored."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def masked_key(self) -> str:
        key = self.api_key()
        if not self.api_key_env:
            return "(provider default)"
        if not key:
            return f"${self.api_key_env} is not set"
        return f"${self.api_key_env} = {mask(key)}"


def mask(secret: str) -> str:
    if len(secret) <= 8:
        return "****"
    return f"{secret[:3]}…{secret[-2:]}"


@dataclass
class Settings:
    persona: RoleSettings
    evaluator: RoleSettings
    files: list[Path] = field(default_factory=list)
    learner: str | None = None  # None: never asked; "": declined (ROLEPLAY_LEARNER, then the config files)

    def role(self, name: str) -> RoleSettings:
        return self.persona if name == "persona" else self.evaluator


def config_files(workspace: Path | None) -> list[Path]:
    """Config files that exist, lowest precedence first."""
    found = []
    user = locations.user_config_file()
    if user.is_file():
        found.append(user)
    if workspace is not None and (workspace / locations.WORKSPACE_CONFIG).is_file():
        found.append(workspace / locations.WORKSPACE_CONFIG)
    return found


def load_settings(workspace: Path | None = None, *, model: str | None = None,
                  evaluator_model: str | None = None) -> Settings:
    """Resolve both roles' settings; raises FileFormatError for a broken config file."""
    files = config_files(workspace)
    parsed = []
    for path in files:
        config, doc = load_model(path, ConfigFile, what="config file")
        parsed.append((path, config, doc))
    flags = {"persona": model, "evaluator": evaluator_model}
    roles = {}
    for role in ROLES:
        settings = RoleSettings(role=role, **ROLE_DEFAULTS[role])
        settings.sources = {k: "default" for k in ("model", *ROLE_DEFAULTS[role], "api_base", "api_key_env",
                                                   "capable")}
        settings.sources["model"] = "default (built-in offline model)"
        for path, config, doc in parsed:
            role_config: RoleConfig = getattr(config, role)
            for key, value in role_config.model_dump(exclude_none=True).items():
                setattr(settings, key, value)
                line, col = doc.where((role, key))
                settings.sources[key] = f"{display_path(path)}:{line}"
        if env := os.environ.get(ROLE_ENV[role], "").strip():
            settings.model = env
            settings.sources["model"] = f"environment {ROLE_ENV[role]}"
        if flags[role]:
            settings.model = flags[role]
            settings.sources["model"] = "--model" if role == "persona" else "--evaluator-model"
        roles[role] = settings
    learner = next((c.learner for _, c, _ in reversed(parsed) if c.learner is not None), None)
    if (env := os.environ.get("ROLEPLAY_LEARNER")) is not None:
        learner = env
    from ..core.sanitize import learner_name

    learner = None if learner is None else learner_name(learner)
    return Settings(persona=roles["persona"], evaluator=roles["evaluator"], files=files, learner=learner)


def _update_user_config(change) -> Path:
    """Apply ``change(data)`` to the user config file (other settings kept; a broken file is
    refused with its place, never overwritten)."""
    import yaml

    from ..core.storage import atomic_write_text

    path = locations.user_config_file()
    data: dict = {}
    if path.is_file():
        load_model(path, ConfigFile, what="config file")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault("version", 1)
    change(data)
    ConfigFile.model_validate(data)  # what is written is a valid config
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def save_learner(name: str) -> Path:
    """Keep the learner's name or id in the user config file (other settings kept)."""
    from ..core.sanitize import learner_name

    return _update_user_config(lambda data: data.__setitem__("learner", learner_name(name)))


def save_role_model(role: str, model: str, api_base: str | None = None, api_key_env: str | None = None) -> Path:
    """Use ``model`` (at ``api_base``, for a server of your own or a company gateway, with the
    key in the variable ``api_key_env``) for ``role`` from now on. Only the NAME of a key's
    environment variable is ever written, never a key (the config's own check refuses one)."""
    def change(data: dict) -> None:
        section = data.setdefault(role, {}) or {}
        section["model"] = model
        for key, value in (("api_base", api_base), ("api_key_env", api_key_env)):
            if value:
                section[key] = value
            else:
                section.pop(key, None)
        data[role] = section

    return _update_user_config(change)
