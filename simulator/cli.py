"""The ``roleplay`` command line: each command is a thin layer over the domain.

Start-up is kept light: this module imports only the standard library at the top,
and each command imports what it needs, so ``roleplay --help``, ``validate`` and
``personas`` never import litellm or Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import RoleplayError


def _workspace(args: argparse.Namespace) -> Path:
    from . import locations

    return locations.resolve_workspace(args.workspace)


def cmd_validate(args: argparse.Namespace) -> int:
    from . import locations
    from .errors import display_path
    from .library import validate_paths

    workspace = _workspace(args)
    paths = [Path(p) for p in args.paths] or [workspace / locations.RUBRICS, workspace / locations.PERSONAS]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{display_path(path)}:1:1: no such file or folder — check the path", file=sys.stderr)
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


def cmd_personas(args: argparse.Namespace) -> int:
    from .library import load_library

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roleplay",
        description="Practise customer-service soft skills with LLM-played customers. "
                    "Run without a command to start the app.",
    )
    parser.add_argument("--version", action="version", version=f"roleplay {__version__}")
    parser.add_argument("--workspace", metavar="DIR",
                        help="folder holding personas/, rubrics/ and sessions/ (env ROLEPLAY_WORKSPACE)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check persona and rubric files; print path:line:col errors")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the workspace's)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("personas", help="list the personas of the workspace")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_personas)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(args)
    except RoleplayError as exc:
        print(f"roleplay: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
