"""The ``roleplay`` command line: each command is a thin layer over the domain.

Start-up is kept light: this module imports only the standard library at the top,
and each command imports what it needs, so ``roleplay --help``, ``validate`` and
``personas`` never import litellm or Textual.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__
from .core.errors import RoleplayError


def _workspace(args: argparse.Namespace) -> Path:
    from .core import locations

    return locations.resolve_workspace(args.workspace)


def cmd_validate(args: argparse.Namespace) -> int:
    from .content.library import validate_paths
    from .core import locations
    from .core.errors import display_path

    workspace = _workspace(args)
    paths = [Path(p) for p in args.paths] or [workspace / locations.RUBRICS, workspace / locations.PERSONAS]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{display_path(path)}:1:1: no such file or folder — check the path", file=sys.stderr)
    if args.watch:
        return _watch(paths, workspace)
    problems, checked = validate_paths([p for p in paths if p.exists()], workspace)
    for problem in problems:
        print(problem)
    bad_files = len({p.path for p in problems}) + len(missing)
    if problems or missing:
        print(f"{len(problems) + len(missing)} error{'s' if len(problems) + len(missing) != 1 else ''} "
              f"in {bad_files} of {checked + len(missing)} files", file=sys.stderr)
        return 1
    print(f"all {checked} files are valid", file=sys.stderr)
    return 0


def _watch(paths: list[Path], workspace: Path) -> int:
    from datetime import datetime

    from .content.library import validate_paths
    from .content.watch import watch
    from .core.errors import display_path

    def check() -> list[str]:
        return [str(p) for p in validate_paths([p for p in paths if p.exists()], workspace)[0]]

    print(f"watching {', '.join(display_path(p) for p in paths)} — ctrl+c to stop", file=sys.stderr, flush=True)
    try:
        for number, (fixed, new, still, changed) in enumerate(watch(paths, check)):
            stamp = datetime.now().strftime("%H:%M:%S")
            if number:  # a save: what it changed
                names = ", ".join(display_path(p) for p in changed[:3]) + (" …" if len(changed) > 3 else "")
                print(f"[{stamp}] {names} saved: {len(fixed)} fixed, {len(new)} new, {len(still)} still to fix",
                      flush=True)
            elif new:
                print(f"[{stamp}] {len(new)} problem{'s' if len(new) != 1 else ''}", flush=True)
            for label, problems in (("fixed", fixed), ("new", new), ("still", still)):
                for problem in problems:
                    print(f"  {label:<6} {problem}", flush=True)
            if not (new or still):
                print(f"[{stamp}] all files are valid", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from .content.templates import new_file
    from .core.errors import display_path

    path = new_file(_workspace(args), args.kind, args.id)
    print(display_path(path))
    print(f"written: every key is explained in its comments. Edit it (an editor with YAML support completes "
          f"keys from schema/{args.kind}.schema.json), then check it: roleplay validate --watch "
          f"{display_path(path)}", file=sys.stderr)
    return 0


def cmd_dry_run(args: argparse.Namespace) -> int:
    from .trainer import dryrun

    return dryrun.run_cli(args, _workspace(args))


def cmd_personas(args: argparse.Namespace) -> int:
    from .content.library import load_library

    library = load_library(_workspace(args))
    if args.json:
        rows = [{"id": p.id, "name": p.name, "title": p.title, "difficulty": p.difficulty,
                 "skills": p.skills, "tags": p.tags, "rubric": p.rubric or "core-soft-skills",
                 "status": "ok"} for p in library.sorted_personas()]
        rows += [{"id": b.id, "status": "broken", "error": str(b.first_error)}
                 for b in library.broken if b.kind == "persona"]
        print(json.dumps(rows, indent=2))
        return 0
    personas = library.sorted_personas()
    if personas:
        width = max(len(p.id) for p in personas)
        for p in personas:
            print(f"{p.id:<{width}}  {p.difficulty:<6}  {p.name} — {p.title}  [{', '.join(p.skills)}]")
    for b in library.broken:
        if b.kind == "persona":
            print(f"{b.id}  BROKEN  {b.first_error}")
    if not personas and not library.broken:
        print(f"no personas in {library.workspace / 'personas'}", file=sys.stderr)
    return 0


def _settings(args: argparse.Namespace, workspace: Path | None = None):
    from .models.config import load_settings

    return load_settings(workspace if workspace is not None else _workspace(args),
                         model=getattr(args, "model", None), evaluator_model=getattr(args, "evaluator_model", None))


def cmd_config(args: argparse.Namespace) -> int:
    if args.learner is not None:
        from .core.sanitize import learner_name
        from .models.config import save_learner

        path = save_learner(args.learner)
        print(f"learner: {learner_name(args.learner) or '(none)'} — saved in {path}", file=sys.stderr)
    settings = _settings(args)
    files = ", ".join(str(f) for f in settings.files) or "none"
    print(f"config files: {files}")
    for role in ("persona", "evaluator"):
        s = settings.role(role)
        print(f"[{role}]")
        for key in ("model", "temperature", "max_tokens", "timeout", "api_base", "api_key_env", "capable"):
            value = getattr(s, key)
            print(f"  {key:<12} {value if value is not None else '-':<32} ({s.sources.get(key, 'default')})")
        print(f"  {'api key':<12} {s.masked_key()}")
    print(f"learner: {settings.learner or '(not set: `roleplay config --learner NAME`)'}")
    lrs = settings.lrs
    if lrs is None:
        print("[lrs] not configured (see the README's \"Results to your LRS\")")
    else:
        print("[lrs]")
        for key in ("endpoint", "username", "password_env", "activity_base", "homepage", "send_transcripts"):
            value = getattr(lrs, key)
            shown = "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            print(f"  {key:<16} {shown:<32} ({lrs.sources.get(key, 'default')})")
        password = "set" if lrs.password() else "NOT SET"
        print(f"  {'password':<16} ${lrs.password_env} is {password}" if lrs.password_env else
              f"  {'password':<16} - (add password_env)")
    voice = settings.voice
    print(f"[voice] pause {voice.pause_s} s, send on end: {'yes' if voice.send_on_end else 'no'}"
          + (f", microphone from {voice.input_wavs}" if voice.input_wavs else "")
          + (f", speech to {voice.output_wavs}" if voice.output_wavs else ""))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import modelcheck

    action = args.action or "list"
    if action == "list":
        print("\n".join(modelcheck.listing(_settings(args))))
        return 0
    if action == "check":
        settings = _settings(args)
        roles = [args.target] if args.target else ["persona", "evaluator"]
        if any(r not in ("persona", "evaluator") for r in roles):
            print("roleplay: models check takes a role: persona or evaluator", file=sys.stderr)
            return 2
        results = modelcheck.check(settings, roles)
        for result in results:
            print(result.line())
        return 0 if all(r.ok for r in results) else 1
    if action == "add":
        if not args.target:
            print("roleplay: models add needs the path of a .gguf file", file=sys.stderr)
            return 2
        print(modelcheck.add(Path(args.target), args.name))
        return 0
    if action == "pull":
        if not args.target:
            print("roleplay: models pull needs a model name (`roleplay models` lists them)", file=sys.stderr)
            return 2
        def progress(p) -> None:
            print(f"\r{p.line()}   ", end="", file=sys.stderr, flush=True)

        try:
            message = modelcheck.pull(args.target, on_progress=progress)
        finally:
            print(file=sys.stderr)
        print(message)
        return 0
    print(f"roleplay: unknown models action '{action}' — use list, check, add or pull", file=sys.stderr)
    return 2


def cmd_doctor(args: argparse.Namespace) -> int:
    from .models import doctor

    from .records.commands import doctor_checks

    checks = doctor.run(args.workspace, model=getattr(args, "model", None),
                        evaluator_model=getattr(args, "evaluator_model", None))
    checks += doctor_checks(_workspace(args))
    if args.json:
        print(doctor.to_json(checks))
    else:
        doctor.write_report(checks, sys.stdout)
    return 0 if doctor.healthy(checks) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from .grading import run as grading
    from .practice import headless

    played = headless.run(args, _workspace(args))
    return played if isinstance(played, int) else grading.report_played(played, args.json)


def _date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date — write it as YYYY-MM-DD, e.g. 2026-11-01") from None


def cmd_sessions(args: argparse.Namespace) -> int:
    from .review.index import filter_rows, session_index, summary_line

    workspace = _workspace(args)
    rows = filter_rows(session_index(workspace), persona=args.persona, since=args.since, outcome=args.outcome,
                       status=args.status)
    if args.json:  # a JSON list, one session per line (each line by the C encoder: indent= is pure Python)
        folder = workspace / "sessions"
        lines = ",\n".join(json.dumps(r.listing(folder), ensure_ascii=False) for r in rows)
        print(f"[\n{lines}\n]" if rows else "[]")
        return 0
    for r in rows:
        print(summary_line(r))
    if not rows:
        print("no sessions match" if any((args.persona, args.since, args.outcome, args.status))
              else "no sessions yet", file=sys.stderr)
    return 0


def cmd_progress(args: argparse.Namespace) -> int:
    from .content.library import load_library
    from .review.index import filter_rows, session_index
    from .review.progress import progress, progress_lines

    workspace = _workspace(args)
    report = progress(filter_rows(session_index(workspace), persona=args.persona),
                      list(load_library(workspace).personas.values()))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(progress_lines(report)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .grading import run as grading
    from .practice.sessions import is_session_folder

    sessions = args.session or []
    if len(sessions) > 1 or args.all or (sessions and Path(sessions[0]).is_dir()
                                         and not is_session_folder(Path(sessions[0]))):
        from .trainer import cohort

        return cohort.run_evaluate(args, _workspace(args))
    args.session = sessions[0] if sessions else None
    return grading.run_cli(args, _workspace(args))


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "xapi":
        from .records import commands

        return commands.run_export(args, _workspace(args))
    from .review import export

    return export.run_cli(args, _workspace(args))


def cmd_sync(args: argparse.Namespace) -> int:
    from .records import commands

    return commands.run_sync(args, _workspace(args))


def cmd_lrs(args: argparse.Namespace) -> int:
    from .records import commands

    return commands.run_lrs(args, _workspace(args))


def cmd_report(args: argparse.Namespace) -> int:
    from .trainer import cohort

    return cohort.run_report(args)


def cmd_audit(args: argparse.Namespace) -> int:
    from .practice.audit import audit_session, report_lines, summary
    from .practice.sessions import load_session

    record = load_session(_workspace(args), args.session)
    audits = audit_session(record)
    if args.json:
        print(json.dumps({"session_id": record.session_id, "summary": summary(audits),
                          "replies": [a.to_dict() for a in audits]}, ensure_ascii=False, indent=2))
    else:
        print(f"{record.session_id}: {record.persona_snapshot().name}")
        print("\n".join(report_lines(audits)))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from .tui.app import run_app

    return run_app(_workspace(args), model=args.model, evaluator_model=args.evaluator_model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roleplay",
        description="Practise customer-service soft skills with LLM-played customers. "
                    "Run without a command to start the app.",
    )
    parser.add_argument("--version", action="version", version=f"roleplay {__version__}")
    parser.add_argument("--workspace", metavar="DIR",
                        help="folder holding personas/, rubrics/ and sessions/ (env ROLEPLAY_WORKSPACE)")
    parser.add_argument("--model", metavar="M", help="persona model, any litellm name (env ROLEPLAY_MODEL)")
    parser.add_argument("--evaluator-model", metavar="M",
                        help="evaluator model (env ROLEPLAY_EVALUATOR_MODEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # the same options are accepted after the command too (`roleplay run ... --model M`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--model", metavar="M", default=argparse.SUPPRESS, help="persona model (litellm name)")
    common.add_argument("--evaluator-model", metavar="M", default=argparse.SUPPRESS, help="evaluator model")
    _add = sub.add_parser

    def add_parser(name: str, **kwargs):
        return _add(name, parents=[common], **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("validate", help="check persona and rubric files; print path:line:col errors")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the workspace's)")
    p.add_argument("--watch", action="store_true", help="validate again on every save and say what changed")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("dry-run", help="play a persona against simulated good and poor learners and flag what "
                                       "a trainer should fix")
    p.add_argument("--persona", required=True, metavar="ID")
    p.add_argument("--learner", default="both", metavar="good|poor|both|SCRIPT",
                   help="which learner (default both); a path plays that script, one message per paragraph")
    p.add_argument("--runs", type=int, default=1, metavar="N", help="runs per learner (default 1)")
    p.add_argument("--parallel", type=int, default=2, metavar="N", help="runs at a time (default 2)")
    p.add_argument("--learner-model", metavar="M", help="a model that plays the learner instead of the scripts")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_dry_run)

    p = sub.add_parser("new", help="write a commented starting file for a new persona or rubric")
    p.add_argument("kind", choices=["persona", "rubric"])
    p.add_argument("id", help="the new file's id: lowercase words joined by '-', e.g. charged-twice")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("personas", help="list the personas of the workspace")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_personas)

    p = sub.add_parser("export", help="a session as Markdown or JSON, or every session as one CSV table")
    p.add_argument("session", nargs="?", help="session id (or a unique prefix, a folder, or 'last')")
    p.add_argument("--all", action="store_true", help="every session, one row each (CSV)")
    p.add_argument("--format", choices=["md", "json", "csv", "xapi"],
                   help="md or json for a session (default md); csv for --all; xapi: the xAPI statements an LRS "
                        "gets (JSON, for an LMS import), for a session or --all")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of the terminal")
    p.add_argument("--force", action="store_true", help="with -o: replace FILE if it exists")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sync", help="send graded sessions to the Learning Record Store (xAPI): queue what is "
                                    "new, send what waits in the outbox")
    p.add_argument("--queue-only", action="store_true", help="queue new results in the outbox, send nothing")
    p.add_argument("--requeue", action="store_true", help="send the statements set aside earlier again")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("lrs", help="the Learning Record Store: check the connection, or the outbox's status")
    p.add_argument("action", choices=["check", "status"], help="check: GET about and an authenticated GET; "
                                                                "status: what waits and what was set aside")
    p.set_defaults(func=cmd_lrs)

    p = sub.add_parser("report", help="a cohort report: per learner and per persona, sessions, pass rate, mean "
                                      "score per criterion, weakest criteria, first → latest")
    p.add_argument("paths", nargs="+", metavar="DIR", help="folders of sessions, or workspaces")
    p.add_argument("--format", choices=["md", "csv", "html"], default="md")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of the terminal")
    p.add_argument("--force", action="store_true", help="with -o: replace FILE if it exists")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("config", help="print the effective model settings and where each came from")
    p.add_argument("--learner", metavar="NAME", help="keep your name or learner id in the user config (saved with "
                                                      "each session for your trainer's reports)")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("models", help="list models; check, add or pull one",
                       description="models [list] | models check [ROLE] | models add PATH.gguf [--name N] | "
                                   "models pull NAME")
    p.add_argument("action", nargs="?", choices=["list", "check", "add", "pull"], help="what to do (default list)")
    p.add_argument("target", nargs="?", help="role for check, file for add, name for pull")
    p.add_argument("--name", help="name for models add (default: the file name)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("doctor", help="check this desk: the built-in model's runtime, config files, folders, free "
                                      "disk, model servers, each role's model; one line per problem with what to do")
    p.add_argument("--json", action="store_true", help="print the checks as JSON (for IT)")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("run", help="play a session without the TUI, from a script of learner messages")
    p.add_argument("--persona", required=True, metavar="ID", help="persona id (`roleplay personas`)")
    p.add_argument("--script", required=True, metavar="FILE",
                   help="learner messages, one paragraph each (blank-line separated); - for stdin")
    p.add_argument("--learner", metavar="NAME", help="the learner's name or id for this session (default: the "
                                                      "config's)")
    p.add_argument("--json", action="store_true", help="print the session record as JSON")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("evaluate", help="grade (or re-grade) a session; --pending grades every waiting one")
    p.add_argument("session", nargs="*", help="session id (or a unique prefix, a folder, or 'last'); or folders of "
                                              "sessions to grade many at once")
    p.add_argument("--all", action="store_true", help="with folders: grade every ended session again, not only "
                                                      "those waiting")
    p.add_argument("--pending", action="store_true", help="grade every ended session waiting for grading")
    p.add_argument("--rubric", metavar="ID", help="grade against this rubric instead of the session's own")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("audit", help="review a session's customer replies: broke character, invented, repeated…")
    p.add_argument("session", help="session id (or a unique prefix, a folder, or 'last')")
    p.add_argument("--json", action="store_true", help="print the tags per reply as JSON")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("sessions", help="list saved sessions, newest first: date, persona, duration, outcome, "
                                        "score and evaluation status")
    p.add_argument("--persona", metavar="ID", help="only this persona (its id, or part of its name)")
    p.add_argument("--since", metavar="DATE", type=_date, help="only sessions started on or after DATE (YYYY-MM-DD)")
    p.add_argument("--outcome", choices=["resolved", "gave_up", "ended_by_learner", "turn_limit", "open"],
                   help="only sessions that ended this way (open: unfinished)")
    p.add_argument("--status", choices=["graded", "evidence", "pending", "failed", "open", "unreadable"],
                   help="only sessions with this evaluation status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("progress", help="scores per criterion over time, pass rate, sessions per week, the figures "
                                        "that moved, and the weakest criterion with personas that train it")
    p.add_argument("--persona", metavar="ID", help="only this persona's sessions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_progress)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return (args.func if getattr(args, "func", None) else cmd_app)(args)
    except RoleplayError as exc:
        print(f"roleplay: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `roleplay sessions | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
