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
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator

from ..content.formats import FileModel, load_model
from ..core import locations
from ..core.errors import display_path

BUILTIN_MODEL = "local/smollm2-135m"
BUILTIN_LABEL = "SmolLM2-135M"  # the built-in model's name as a person reads it
ROLES = ("persona", "evaluator")

ROLE_ENV = {"persona": "ROLEPLAY_MODEL", "evaluator": "ROLEPLAY_EVALUATOR_MODEL"}
ROLE_DEFAULTS = {
    "persona": {"temperature": 0.7, "max_tokens": 200, "timeout": 60.0},
    "evaluator": {"temperature": 0.0, "max_tokens": 1500, "timeout": 120.0},
}


KEY_ENV_MAX = 64  # characters: a variable's name is short, a key is long
_KEY_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# How the usual providers' keys begin (OpenAI, Anthropic, Groq, Hugging Face, xAI, GitHub,
# GitLab, Perplexity, NVIDIA, Replicate, Slack, AWS, Google, a JWT).
_KEY_PREFIXES = re.compile(r"(sk|pk|rk|gsk|hf|xai|ghp|gho|ghs|ghu|github_pat|glpat|pplx|nvapi|r8|xox[abpr])[-_]"
                           r"|(AKIA|ASIA)[0-9A-Z]{12}|AIza|ya29\.|eyJ")
KEY_ENV_LOOKS_LIKE_A_KEY = ("that looks like a key, not the name of the variable holding it: export it as "
                            "{example}=… and type {example} here (a key is never saved)")
KEY_ENV_NOT_A_NAME = ("must be the NAME of an environment variable: capital letters, digits and _, not "
                      f"starting with a digit, at most {KEY_ENV_MAX} characters (like OPENAI_API_KEY)")


def looks_like_a_key(value: str) -> bool:
    """Whether ``value`` reads as a secret (a provider's key prefix, a long run of letters and
    digits, hex, base64) rather than the name of a variable."""
    value = value.strip()
    if _KEY_PREFIXES.match(value) or len(value) > KEY_ENV_MAX:
        return True
    for run in re.findall(r"[A-Za-z0-9+/=.-]+", value):  # the parts between _ and spaces
        digits, lower, upper = (bool(re.search(c, run)) for c in ("[0-9]", "[a-z]", "[A-Z]"))
        if len(run) >= 32 or (len(run) >= 16 and digits and (lower or upper)) or (
                len(run) >= 12 and digits and lower and upper):
            return True
    return False


def key_env_problem(value: str, example: str = "ROLEPLAY_PROXY_KEY") -> str | None:
    """Why ``value`` cannot be written as ``api_key_env`` or ``password_env`` (None when it can):
    only the NAME of an environment variable is kept (``[A-Z_][A-Z0-9_]*``, at most 64
    characters), never anything that looks like a secret. The reason never repeats the value;
    ``example`` is the variable name it suggests."""
    if looks_like_a_key(value):
        return KEY_ENV_LOOKS_LIKE_A_KEY.format(example=example)
    if not _KEY_ENV_NAME.fullmatch(value):
        return KEY_ENV_NOT_A_NAME
    return None


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
        if value and (problem := key_env_problem(value)):
            raise ValueError(problem)
        return value


_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


def _http_url(value: str | None) -> str | None:
    if value is not None and not _URL.fullmatch(value):
        raise ValueError("must be an http:// or https:// address, like https://lrs.example.com/xAPI/")
    return value


class LrsConfig(FileModel):
    """Where graded sessions go as xAPI statements (``simulator.records``). Every key is optional;
    without ``endpoint`` nothing is queued or sent."""

    endpoint: str | None = Field(None, description=(
        "the Learning Record Store's xAPI address, e.g. https://lrs.example.com/xAPI/ (statements are posted "
        "to its statements resource)"))
    username: str | None = Field(None, description="the Basic-auth user name (or key) the LRS gave this desk")
    password_env: str | None = Field(None, description=(
        "the NAME of the environment variable holding the password (or secret), like ROLEPLAY_LRS_PASSWORD; "
        "the password itself is never written in a file"))
    activity_base: str | None = Field(None, description=(
        "the address the activity ids start with, e.g. https://training.example.com/roleplay/ (default: the "
        "endpoint's site followed by /roleplay/)"))
    homepage: str | None = Field(None, description=(
        "the home page of the learners' accounts (default: the endpoint's site): with the learner id it names "
        "the learner in the LRS"))
    send_transcripts: bool | None = Field(None, description=(
        "true: each session's transcript goes with its completed statement; default false (only scores, "
        "evidence quotes and figures are sent)"))
    timeout: float | None = Field(None, gt=0, le=600, description="seconds to wait for the LRS's answer")

    @field_validator("endpoint", "activity_base", "homepage")
    @classmethod
    def _is_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("password_env")
    @classmethod
    def _is_a_name(cls, value: str | None) -> str | None:
        if value and (problem := key_env_problem(value, "ROLEPLAY_LRS_PASSWORD")):
            raise ValueError(problem)
        return value


class VoiceConfig(FileModel):
    """Voice practice on this desk (``roleplay[voice]``). Every key is optional."""

    pause_s: float | None = Field(None, ge=0.2, le=10, description=(
        "seconds of silence that end your spoken turn (default 0.8)"))
    send_on_end: bool | None = Field(None, description=(
        "true: what was heard is sent when you stop speaking; default false: it waits in the box to be "
        "checked or edited, then Enter sends it"))
    input_wavs: str | None = Field(None, description=(
        "a folder of WAV files used as the microphone, one file a turn in name order (demos and tests; "
        "environment ROLEPLAY_VOICE_INPUT)"))
    output_wavs: str | None = Field(None, description=(
        "a folder the customer's voice is written to as WAV files instead of the speaker (environment "
        "ROLEPLAY_VOICE_OUTPUT)"))


class ConfigFile(FileModel):
    """A roleplay config file (user config.yaml or a workspace's roleplay.yaml)."""

    version: Literal[1] = Field(1, description="file format version; this roleplay reads 1")
    persona: RoleConfig = Field(default_factory=RoleConfig, description="the model that plays the customer")
    evaluator: RoleConfig = Field(default_factory=RoleConfig, description="the model that grades sessions")
    learner: str | None = Field(None, max_length=80, description=(
        "your name or learner id, saved with each session for your trainer's reports; an empty text means you "
        "chose not to give one (set it with `roleplay config --learner NAME`)"))
    lrs: LrsConfig | None = Field(None, description=(
        "a Learning Record Store that gets every graded session as xAPI statements (see `roleplay sync`)"))
    voice: VoiceConfig | None = Field(None, description="voice practice: the pause that ends a turn, send on end")


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
    judge_reply_tokens: int | None = None  # a cap on each judge reply: a model on this machine is slow and rambles
    needs_key: bool = True  # a provider's API key is wanted: a missing one is said before the call
    free: bool = False  # costs nothing per token (runs on this machine): each call's cost is 0, never looked up
    one_call_at_a_time: bool = False  # serves one call at a time: calls wait their turn before their timeouts start
    schema_json: bool = False  # always writes JSON to a given schema (grammar-constrained); else litellm is asked
    preload: bool = False  # loaded into this machine's memory ahead of the first call (gateway.warm_up)
    label: str = ""  # the model's name as a person reads it ("SmolLM2-135M"); empty: show the model setting

    @property
    def weak_in_character(self) -> bool:
        """Cannot keep a character unaided (its lines are decided by rules and vetted): worth
        telling the learner that a more capable model makes better practice."""
        return not self.steady_character


CAPABLE = Capabilities()
# The built-in 135M model: it voices a line the engine decides, cannot write the director's
# JSON, and its candidates are drawn in the background and shown only once the audit passes.
SMALL = Capabilities(director=False, steady_character=False, candidates=4, prefix_cache=True, prefill=True,
                     coach=False, judge=False, judge_reply_tokens=240, label=BUILTIN_LABEL)
# A small model behind a server (``capable: false``): the same rules, without what needs the
# model in this process (the kept prompt, continuing a reply from given words).
SMALL_SERVED = Capabilities(director=False, steady_character=False, candidates=3, coach=False, judge=False)
# What running on this machine (``local/...``) adds to a model's capabilities.
ON_THIS_MACHINE = dict(prefix_cache=True, judge_reply_tokens=240, needs_key=False, free=True, one_call_at_a_time=True,
                       schema_json=True, preload=True)


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
            return replace(SMALL, **ON_THIS_MACHINE)
        base = SMALL_SERVED if self.capable is False else CAPABLE
        label = self.model.split("/", 1)[-1]  # without the provider: local/qwen2.5-0.5b -> qwen2.5-0.5b
        return replace(base, label=label, **(ON_THIS_MACHINE if self.is_local else {}))

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
class LrsSettings:
    """The effective LRS settings (the workspace's ``lrs:`` keys over the user config's), with
    the ``path:line`` each came from."""

    endpoint: str
    username: str | None = None
    password_env: str | None = None
    activity_base: str | None = None
    homepage: str | None = None
    send_transcripts: bool = False
    timeout: float = 30.0
    sources: dict[str, str] = field(default_factory=dict)

    def password(self) -> str | None:
        """Read from the environment at call time; never stored."""
        return os.environ.get(self.password_env) if self.password_env else None

    @property
    def site(self) -> str:
        """The endpoint's scheme and host: ``https://lrs.example.com``."""
        scheme, rest = self.endpoint.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @property
    def base(self) -> str:
        """Where activity ids start (always ending in /)."""
        base = self.activity_base or f"{self.site}/roleplay/"
        return base if base.endswith("/") else base + "/"

    @property
    def account_homepage(self) -> str:
        return self.homepage or self.site

    def where(self, key: str) -> str:
        return self.sources.get(key, "the config file")


@dataclass(frozen=True)
class VoiceSettings:
    """How voice practice runs on this desk (the ``voice:`` keys, the workspace's over the user's)."""

    pause_s: float = 0.8  # silence that ends the learner's turn
    send_on_end: bool = False  # send what was heard at once, instead of leaving it in the box to edit
    input_wavs: str | None = None  # a folder of WAV files fed as the microphone, one a turn (demos, tests)
    output_wavs: str | None = None  # a folder the customer's speech is written to instead of the speaker


@dataclass
class Settings:
    persona: RoleSettings
    evaluator: RoleSettings
    files: list[Path] = field(default_factory=list)
    learner: str | None = None  # None: never asked; "": declined (ROLEPLAY_LEARNER, then the config files)
    lrs: LrsSettings | None = None  # None: no LRS configured (no ``lrs.endpoint``)
    voice: VoiceSettings = field(default_factory=VoiceSettings)

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
    return Settings(persona=roles["persona"], evaluator=roles["evaluator"], files=files, learner=learner,
                    lrs=_lrs_settings(parsed), voice=_voice_settings(parsed))


def _voice_settings(parsed) -> VoiceSettings:
    values: dict = {}
    for _path, config, _doc in parsed:
        if config.voice is not None:
            values.update(config.voice.model_dump(exclude_none=True))
    for key, env in (("input_wavs", "ROLEPLAY_VOICE_INPUT"), ("output_wavs", "ROLEPLAY_VOICE_OUTPUT")):
        if os.environ.get(env, "").strip():
            values[key] = os.environ[env].strip()
    return VoiceSettings(**values)


def _lrs_settings(parsed) -> LrsSettings | None:
    values: dict = {}
    sources: dict[str, str] = {}
    for path, config, doc in parsed:
        if config.lrs is None:
            continue
        for key, value in config.lrs.model_dump(exclude_none=True).items():
            values[key] = value
            line, _col = doc.where(("lrs", key))
            sources[key] = f"{display_path(path)}:{line}"
    if not values.get("endpoint"):
        return None
    return LrsSettings(**values, sources=sources)


def _update_user_config(change) -> Path:
    """Apply ``change(data)`` to the user config file: other settings, the user's comments and
    the order of the keys are kept (:func:`_edit_yaml`); a broken file is refused with its
    place, never overwritten; what is written is checked as a config first."""
    import copy

    from pydantic import ValidationError

    from ..core.errors import RoleplayError
    from ..core.storage import atomic_write_text

    path = locations.user_config_file()
    text, before = "", {}
    if path.is_file():
        try:
            text = path.read_bytes().decode("utf-8-sig")  # its line breaks as they are
        except (OSError, UnicodeDecodeError):
            text = None  # the reader below says what is wrong with it, and where
        if text is None or not _blank(text):
            _, doc = load_model(path, ConfigFile, what="config file")
            before = doc.data
    data = copy.deepcopy(before)
    data.setdefault("version", 1)
    change(data)
    try:
        ConfigFile.model_validate(data)  # what is written is a valid config
    except ValidationError as exc:  # said without the value given: it may be a key
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = str((error.get("ctx") or {}).get("error") or error["msg"]).removeprefix("Value error, ")
        raise RoleplayError(f"not saved: {where}: {reason}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _edit_yaml(text or "", data))
    return path


_HUGE = 1 << 30  # a line width no value reaches: PyYAML never folds what it writes


def _blank(text: str) -> bool:
    return not re.sub(r"(?m)^\s*#.*$", "", text).strip()


def _edit_yaml(text: str, data: dict) -> str:
    """``text`` (a YAML mapping) changed so that it reads as ``data``, by editing only the
    lines of the keys that changed: a changed value is replaced where it stands (its comment
    kept), a new key goes after the last one of its section (``version`` first), a removed
    key's lines go, and a new section goes at the end. Every comment, blank line and the
    order of the keys stay as the user wrote them. The result is read back after each edit; a
    layout these edits do not cover (a root written as ``{...}``) is written afresh instead."""
    nl = "\r\n" if "\r\n" in text else "\n"
    if _blank(text):  # new, or only comments: the settings go below them
        return text + ("" if not text or text.endswith("\n") else nl) + _yaml_lines(data, 0, nl)
    for _ in range(100):  # one edit a pass (a config has some twenty keys at most)
        try:
            now = yaml.safe_load(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            break
        if now == data:
            return text
        if not isinstance(now, dict) or not isinstance(root, yaml.MappingNode) or root.flow_style:
            break
        edited = _next_edit(text, root, now, data, nl)
        if edited is None or edited == text:
            break
        text = edited
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=_HUGE)


def _next_edit(text: str, root, now: dict, data: dict, nl: str) -> str | None:
    """One edit that makes ``text`` (parsed: ``now``, nodes: ``root``) closer to ``data``."""
    for key, value in data.items():
        pair = _node_of(root, key)
        if pair is None:
            return _insert(text, root, key, value, nl)
        if now[key] == value:
            continue
        node = pair[1]
        if (isinstance(value, dict) and isinstance(now[key], dict) and isinstance(node, yaml.MappingNode)
                and not node.flow_style and node.value):
            for sub, sub_value in value.items():
                sub_pair = _node_of(node, sub)
                if sub_pair is None:
                    return _insert(text, node, sub, sub_value, nl)
                if now[key][sub] != sub_value:
                    return _replace(text, sub_pair, sub_value, nl)
            return next((_delete(text, _node_of(node, sub)) for sub in now[key] if sub not in value), None)
        return _replace(text, pair, value, nl)
    return next((_delete(text, _node_of(root, key)) for key in now if key not in data), None)


def _node_of(mapping, key):
    return next(((k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _yaml_lines(data: dict, indent: int, nl: str) -> str:
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=_HUGE)
    return "".join(" " * indent + line + nl for line in body.splitlines())


def _end_of_line(text: str, index: int) -> int:
    """Where the line holding ``index`` ends (after its line break)."""
    if index > 0 and text[index - 1] == "\n":
        return index
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def _last_index(node) -> int:
    """Where the last value inside ``node`` ends (a block mapping's own end lies past the
    comments after it)."""
    if isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _last_index(last[1] if isinstance(node, yaml.MappingNode) else last)
    return node.end_mark.index


def _insert(text: str, mapping, key: str, value, nl: str) -> str:
    first = mapping.value[0][0]
    indent = first.start_mark.column
    if key == "version" and indent == 0:  # a file's version goes first (below a heading comment)
        at = first.start_mark.index - first.start_mark.column
    elif indent == 0:  # a new section goes at the end, below everything the user wrote
        at = len(text)
    else:  # a new key of a section: after its last one
        at = _end_of_line(text, _last_index(mapping))
    lead = nl if at == len(text) and text and not text.endswith("\n") else ""
    return text[:at] + lead + _yaml_lines({key: value}, indent, nl) + text[at:]


def _replace(text: str, pair, value, nl: str) -> str | None:
    key_node, node = pair
    start, end = node.start_mark.index, node.end_mark.index
    empty = isinstance(node, yaml.ScalarNode) and start == end  # `key:` with nothing after it
    if isinstance(value, dict) and value and empty:
        at = _end_of_line(text, end)
        lead = nl if at == len(text) and not text.endswith("\n") else ""
        return text[:at] + lead + _yaml_lines(value, key_node.start_mark.column + 2, nl) + text[at:]
    if not isinstance(node, yaml.ScalarNode) and not getattr(node, "flow_style", False):
        return None  # a block list or mapping turned into something else: written afresh
    flow = isinstance(value, (dict, list))
    written = yaml.safe_dump(value if flow else {"k": value}, allow_unicode=True, default_flow_style=flow,
                             width=_HUGE, sort_keys=False).strip()
    written = written if flow else written.removeprefix("k:").strip()
    if "\n" in written:
        return None
    if text[start:end].endswith("\n"):  # a block scalar (| or >) ends with its line break
        written += nl
    return text[:start] + (" " if empty else "") + written + text[end:]


def _delete(text: str, pair) -> str | None:
    key_node, node = pair
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    if text[start:key_node.start_mark.index].strip():
        return None
    return text[:start] + text[_end_of_line(text, _last_index(node)):]


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
