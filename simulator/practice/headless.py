"""``roleplay run``: play a session without the TUI, from a script of learner messages.

It drives the same :class:`~simulator.practice.engine.Conversation` the TUI does and saves the
session the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ModelError, NotFoundError, RoleplayError


def read_script(source: str) -> list[str]:
    """Paragraphs (blank-line separated) of a script file, or of stdin for ``-``."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{source}: no such script file — give a text file, one learner message per paragraph") from None
    except UnicodeDecodeError:
        raise RoleplayError(f"{source}:1:1: not UTF-8 text — save the script as UTF-8") from None
    paragraphs = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    messages = [p for p in paragraphs if p]
    if not messages:
        raise RoleplayError(f"{source}:1:1: the script is empty — write one learner message per paragraph")
    return messages


async def play(conversation, messages: list[str], *, echo) -> None:
    for message in messages:
        if conversation.ended:
            break
        echo(f"\nAgent: {message}\n")
        echo("Customer: ")
        await conversation.send(message, on_chunk=lambda c: echo(c),
                                on_reset=lambda why: echo(f"\n  [{why}]\nCustomer: "))
        echo("\n")
    if not conversation.ended:
        conversation.end("ended_by_learner", "the script ended")


@dataclass
class Played:
    """A finished headless session, ready to be graded by the command layer."""

    conversation: Any
    rubric: Any
    settings: Any


def run(args: argparse.Namespace, workspace: Path) -> "Played | int":
    """Play the script; an exit code when the session could not be played to its end."""
    from ..content.library import load_library
    from ..models.config import load_settings
    from ..models.gateway import Gateway
    from ..models.modelcheck import weak_model_note
    from .engine import Conversation

    messages = read_script(args.script)
    library = load_library(workspace)
    persona = library.persona(args.persona)
    rubric = library.rubric_for(persona)
    settings = load_settings(workspace, model=args.model, evaluator_model=args.evaluator_model)
    if note := weak_model_note(settings.persona):
        print(f"note: {note}", file=sys.stderr)
    model = Gateway(settings.persona)
    conversation = Conversation.start(persona, rubric, model, workspace=workspace,
                                      models={"persona": settings.persona.model,
                                              "evaluator": settings.evaluator.model},
                                      learner=getattr(args, "learner", None) or settings.learner)
    quiet = args.json

    def echo(text: str) -> None:
        if not quiet:
            sys.stdout.write(text)
            sys.stdout.flush()

    echo(f"Customer: {persona.opening}\n")
    try:
        asyncio.run(play(conversation, messages, echo=echo))
    except ModelError as exc:
        print(f"\nroleplay: {exc}", file=sys.stderr)
        print(f"roleplay: the session so far is saved in {conversation.record.folder}", file=sys.stderr)
        return 1
    if not quiet:
        print(f"\n[{conversation.record.outcome}: {conversation.record.end_reason}] "
              f"saved in {conversation.record.folder}")
    return Played(conversation, rubric, settings)
