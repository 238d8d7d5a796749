"""``roleplay dry-run``: test a persona against a simulated learner before learners see it.

Each run plays the persona (the persona model, as in a live session) against a learner:

* **scripted** (the default; always on the built-in model, too small to play an agent): the
  good or poor script in ``<workspace>/scripts/<persona>-good.txt`` / ``-poor.txt``, written
  from the persona's brief the first time (one message per paragraph) for the trainer to
  edit, or any script file given as ``--learner PATH``;
* **a model** told to be a competent or a careless agent within the brief (``--learner-model
  M``, a model that can play a part: the built-in one cannot).

Per run: outcome, learner turns, the frustration path, which hidden facts came out and at
which turn, the persona audit per customer turn (the audit that guards live sessions:
replies tagged, and replies that had to be the file's own line because no candidate passed),
and the evaluation (overall, pass). Over the runs, the spread. Flagged:

* the good learner never wins (no run resolved);
* the poor learner cannot lose (a poor run resolved, or passed);
* a hidden fact never comes out for the good learner;
* the persona breaks character more than the bundled ones do: more than ``BREAK_LIMIT`` of
  its customer replies tagged or replaced by the file's line (the bundled personas: 4% on
  the built-in model, ``benchmarks/fidelity.py``).
* ``character.situation`` already states a hidden fact (:func:`situation_tells`): the customer
  can say it before it is earned.

Runs are saved under ``<workspace>/dry-runs/`` (not in the learner's history) and go in
parallel up to ``--parallel`` (a local model queues them itself); ctrl+c stops and reports
the runs that finished.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..core.ids import id_path
from ..core.text import bar, jargon_term, split_sentences

if TYPE_CHECKING:
    from ..content.persona import Persona
    from ..content.rubric import Rubric
    from ..practice.evaluation import Evaluation
    from ..practice.sessions import SessionRecord

BREAK_LIMIT = 0.15
FOLDER = "dry-runs"
SCRIPTS = "scripts"


# -- the scripted learners ---------------------------------------------------------------------

_MAY = re.compile(r"\b(you may|you can|may offer|may do|without approval)\b", re.IGNORECASE)
_PERSON = {"i": "you", "i'm": "you're", "i've": "you've", "i'd": "you'd", "i'll": "you'll", "my": "your",
           "me": "you", "mine": "yours", "myself": "yourself", "am": "are", "we": "you", "our": "your"}


def _offers(brief: str) -> list[str]:
    """What the brief lets the agent offer: the points after "What you may do/offer…" (a
    point wrapped over several lines kept whole), else the sentence that says "you may"."""
    lines = brief.splitlines()
    start = next((i for i, line in enumerate(lines) if _MAY.search(line)), None)
    if start is None:
        return []
    points: list[str] = []
    head = lines[start].split(":", 1)[1].strip() if ":" in lines[start] else ""
    if head:
        points.append(head)
    for line in lines[start + 1:]:
        text = line.strip()
        if re.match(r"^([-*]|\d+\.)\s", text):
            points.append(re.sub(r"^([-*]|\d+\.)\s+", "", text))
        elif text and points and not points[-1].endswith("."):
            points[-1] += " " + text  # the point goes on
        elif not text and len(points) > (1 if head else 0):
            break
        elif not text and head and len(points) == 1 and points[0].endswith("."):
            break
    return [p.rstrip(".").split(". ")[0] for p in points
            if p and not re.match(r"(do not|don't|never|you cannot)\b", p, re.IGNORECASE)][:3]


def _to_you(sentence: str) -> str:
    """The customer's words said back to them: "my bill" → "your bill"."""
    return re.sub(r"\b[A-Za-z']+\b", lambda m: _PERSON.get(m.group(0).lower(), m.group(0)), sentence).rstrip(".!?")


def good_script(persona: "Persona") -> list[str]:
    """A competent agent, written from what a learner sees (the brief and the opening):
    acknowledge, say the problem back, ask open questions (what would make it right, how it
    left them feeling), offer what the brief allows, prevent it happening again, check."""
    first = persona.name.split()[0]
    said = [x for x in split_sentences(persona.opening) if len(x.split()) >= 5]  # not "Hello?"
    problem = _to_you(said[0]) if said else "this has happened"
    offers = _offers(persona.brief)
    offer = offers[0][0].lower() + offers[0][1:] if offers else "put this right today"
    other = offers[1][0].lower() + offers[1][1:] if len(offers) > 1 else ""
    return [
        f"Hi {first}, I'm sorry about this. I can see why you're upset, and I'm going to help.",
        f"So, just to check I have it right: {problem}? What would make this right for you today?",
        "That makes sense. How has this left you feeling, and is there anything else going on that makes it urgent?",
        f"Here's what I can do: {offer}" + (f", or {other}" if other else "") + ". Which would you prefer?",
        f"Done: {offer}. I'll also make sure this doesn't happen again. Does that work for you?",
    ]


def poor_script(persona: "Persona", rubric: "Rubric") -> list[str]:
    """A careless agent: no acknowledgement, the same question twice, jargon, a brush-off."""
    jargon = [jargon_term(j) for j in [*persona.jargon, *rubric.jargon]][:2] or ["the backend", "the ticket queue"]
    return [
        "What's your account number?",
        "Sorry, what's your account number?",
        f"It's a {jargon[0]} issue, it goes through {jargon[-1]}.",
        "Calm down, policy is policy. There's nothing I can do.",
        "You should have read the terms. Anything else?",
    ]


def script_path(workspace: Path, persona_id: str, kind: str) -> Path:
    return id_path(Path(workspace) / SCRIPTS, persona_id, "persona id", f"-{kind}.txt")


def learner_script(workspace: Path, persona: "Persona", rubric: "Rubric", kind: str) -> tuple[list[str], Path, bool]:
    """(messages, path, written now) of the good or poor script, written from the brief the
    first time so the trainer can edit it."""
    from ..core.storage import atomic_write_text
    from ..practice.headless import read_script

    path = script_path(workspace, persona.id, kind)
    written = False
    if not path.is_file():
        lines = good_script(persona) if kind == "good" else poor_script(persona, rubric)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "\n\n".join(lines) + "\n")
        written = True
    return read_script(str(path)), path, written


# -- a model as the learner ----------------------------------------------------------------------

def learner_prompt(persona: "Persona", kind: str) -> str:
    manner = ("a competent, warm customer-service agent: acknowledge feelings, reflect back, ask open "
              "questions, offer what the brief allows, check understanding" if kind == "good" else
              "a careless, rushed customer-service agent: skip acknowledgements, ask for things twice, use "
              "internal jargon, cite policy")
    return (f"You play {manner}. Stay within this brief:\n{persona.brief}\n"
            "Reply with the agent's next message only: one to three sentences, no labels.")


async def model_learner_turn(model, persona: "Persona", kind: str, record: "SessionRecord") -> str:
    from ..core.text import data_block, neutralise_turn

    said = "\n".join(f"{'AGENT' if t.speaker == 'learner' else 'CUSTOMER'}: {neutralise_turn(t.text)}"
                     for t in record.turns if t.speaker in ("learner", "customer"))
    reply = await model.complete([{"role": "system", "content": learner_prompt(persona, kind)},
                                  {"role": "user", "content": data_block("conversation", said)}],
                                 max_tokens=120, temperature=0.7)
    text = re.sub(r"^\s*(agent|you)\s*:\s*", "", " ".join(reply.text.split()), flags=re.IGNORECASE)
    return text or "Could you tell me more about what happened?"


# -- runs -------------------------------------------------------------------------------------------

@dataclass
class RunResult:
    number: int
    learner: str
    session_id: str = ""
    outcome: str | None = None
    turns: int = 0
    frustration: list[int] = field(default_factory=list)
    revealed: list[dict[str, Any]] = field(default_factory=list)  # {index, turn}
    replies: int = 0
    broke: int = 0  # customer replies tagged by the audit or replaced by the file's line
    tags: dict[str, int] = field(default_factory=dict)
    score: float | None = None
    passed: bool | None = None
    error: str = ""

    @property
    def break_rate(self) -> float:
        return self.broke / self.replies if self.replies else 0.0


def summarise_run(number: int, learner: str, record: "SessionRecord", evaluation: "Evaluation | None") -> RunResult:
    from ..grading.metrics import measure
    from ..practice.audit import audit_session

    measured = measure(record)
    audits = audit_session(record)
    tags: dict[str, int] = {}
    for audit in audits:
        for finding in audit.findings:
            tags[finding.tag] = tags.get(finding.tag, 0) + 1
    overall = evaluation.overall if evaluation else None
    return RunResult(number=number, learner=learner, session_id=record.session_id, outcome=record.outcome,
                     turns=measured.learner_turns, frustration=measured.frustration_path,
                     revealed=[{"index": h["index"], "turn": h["turn"]} for h in measured.hidden_revealed],
                     replies=len(audits), broke=sum(1 for a in audits if a.findings or a.fallback), tags=tags,
                     score=overall.score if overall else None, passed=overall.passed if overall else None)


async def play_run(number: int, kind: str, persona: "Persona", rubric: "Rubric", model, judge, workspace: Path, *,
                   script: list[str] | None, learner_model=None, **conversation_args: Any) -> RunResult:
    """One dry run: play, end, grade, summarise."""
    from ..grading.evaluator import evaluate
    from ..practice.engine import Conversation

    conversation = Conversation.start(persona, rubric, model, workspace=Path(workspace) / FOLDER,
                                      models={"persona": model.model, "learner": kind}, **conversation_args)
    limit = persona.end.max_turns
    for step in range(limit):
        if conversation.ended:
            break
        if script is not None:
            if step >= len(script):
                break
            message = script[step]
        else:
            message = await model_learner_turn(learner_model, persona, kind, conversation.record)
        await conversation.send(message)
    if not conversation.ended:
        conversation.end("ended_by_learner", "the learner's script ended")
    outcome = await evaluate(conversation.record, rubric, judge)
    return summarise_run(number, kind, conversation.record, outcome.evaluation)


async def dry_run(persona: "Persona", rubric: "Rubric", model, judge, workspace: Path, *, learners: list[str],
                  runs: int, scripts: dict[str, list[str]], learner_model=None, parallel: int = 2,
                  on_done: Callable[[RunResult], None] | None = None, **conversation_args: Any) -> list[RunResult]:
    """``runs`` runs per learner kind, ``parallel`` at a time; a cancelled dry run returns the
    runs that finished."""
    limit = asyncio.Semaphore(max(1, parallel))
    results: list[RunResult] = []

    async def one(number: int, kind: str) -> None:
        async with limit:
            try:
                result = await play_run(number, kind, persona, rubric, model, judge, workspace,
                                        script=scripts.get(kind), learner_model=learner_model, **conversation_args)
            except Exception as exc:  # noqa: BLE001 - a failed run is reported, the others go on
                from ..core.errors import RoleplayError

                if not isinstance(exc, RoleplayError):
                    raise
                result = RunResult(number=number, learner=kind, error=str(exc))
        results.append(result)
        if on_done:
            on_done(result)

    tasks = [asyncio.ensure_future(one(n, kind)) for kind in learners for n in range(1, runs + 1)]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return sorted(results, key=lambda r: (r.learner, r.number))


# -- the verdict ----------------------------------------------------------------------------------

_CLAUSE = re.compile(r"(?<=[a-z0-9'\")][.;!?])\s+")  # not after an initial: "N. Dawson" stays whole


def situation_tells(persona: "Persona") -> list[tuple[int, str]]:
    """The hidden facts (index, clause) that ``character.situation`` already states, so the
    customer can tell them unearned (the situation is what the customer knows happened, and
    what a pressed customer says back): a clause of the fact whose content words, apart from
    those the customer says openly (the opening and ``facts``), are mostly in the situation
    (more than half of them, and at least two)."""
    from ..core.text import stems

    situation = stems(persona.character.situation)
    said = stems(" ".join([persona.opening, *persona.facts]))
    told = []
    for i, hidden in enumerate(persona.hidden):
        for clause in _CLAUSE.split(hidden.fact):
            secret = stems(clause) - said
            hits = secret & situation
            if len(hits) >= 2 and len(hits) > len(secret) / 2:
                told.append((i, clause))
                break
    return told


def flags(persona: "Persona", results: list[RunResult]) -> list[str]:
    """What a trainer should fix (rules in the module docstring)."""
    found = []
    for i, clause in situation_tells(persona):
        quoted = clause if len(clause) <= 60 else clause[:57] + "…"
        found.append(f"character.situation already states hidden fact {i + 1} (\"{quoted}\"), so the customer can "
                     "tell it before it is earned: move it out of situation (hidden[].fact keeps it for the "
                     "customer), or keep situation to what the customer would say openly")
    good = [r for r in results if r.learner == "good" and not r.error]
    poor = [r for r in results if r.learner == "poor" and not r.error]
    if good and not any(r.outcome == "resolved" for r in good):
        found.append(f"the good learner never won ({len(good)} run{'s' if len(good) != 1 else ''}): check "
                     "end.resolved_when against what the brief lets the agent offer")
    if poor and any(r.outcome == "resolved" or r.passed for r in poor):
        found.append("the poor learner could win: make rises_when and gives_up_when react to brush-offs and "
                     "repeated questions")
    for i, hidden in enumerate(persona.hidden):
        if good and not any(h["index"] == i for r in good for h in r.revealed):
            found.append(f"hidden fact {i + 1} never came out for the good learner: loosen its reveal_when "
                         f"(\"{hidden.reveal_when[:60]}…\")")
    spoken = [r for r in results if not r.error and r.replies]
    if spoken:
        rate = sum(r.broke for r in spoken) / sum(r.replies for r in spoken)
        if rate > BREAK_LIMIT:
            found.append(f"the customer broke character in {rate:.0%} of replies (bundled personas: about 4%): "
                         "give character.style and examples in the customer's own voice, shorter facts")
    return found


def report_lines(persona: "Persona", results: list[RunResult]) -> list[str]:
    """Per run and over the runs, as text."""
    lines = []
    for r in results:
        if r.error:
            lines.append(f"{r.learner} #{r.number}: failed — {r.error}")
            continue
        facts = ", ".join(f"{h['index'] + 1} (turn {h['turn']})" for h in r.revealed) or "none"
        score = f"{r.score:.2f} {'pass' if r.passed else 'not yet'}" if r.score is not None else "not graded"
        tags = ", ".join(f"{k} {v}" for k, v in r.tags.items())
        lines.append(f"{r.learner} #{r.number}: {(r.outcome or 'open').replace('_', ' ')} after {r.turns} turns · "
                     f"frustration {' → '.join(map(str, r.frustration))} · hidden facts: {facts} · {score} · "
                     f"customer replies in character {r.replies - r.broke}/{r.replies}"
                     + (f" ({tags})" if tags else ""))
    for kind in ("good", "poor"):
        done = [r for r in results if r.learner == kind and not r.error]
        if len(done) > 1:
            scores = [r.score for r in done if r.score is not None]
            outcomes: dict[str, int] = {}
            for r in done:
                outcomes[r.outcome or "open"] = outcomes.get(r.outcome or "open", 0) + 1
            spread = f"scores {min(scores):.2f}–{max(scores):.2f}" if scores else "not graded"
            lines.append(f"{kind}, {len(done)} runs: " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                                                  for k, v in outcomes.items()) + f"; {spread}")
    found = flags(persona, results)
    lines.append("")
    lines += [f"⚑ {f}" for f in found] or ["No flags: the good learner can win, the poor one cannot, every hidden "
                                           "fact came out, and the customer stayed in character."]
    return lines


# -- the command ------------------------------------------------------------------------------------

def run_cli(args, workspace: Path) -> int:
    """``roleplay dry-run``: the learners, the runs with a progress bar, the report."""
    import json
    import sys

    from ..content.library import load_library
    from ..models.config import load_settings
    from ..models.gateway import Gateway
    from ..practice.headless import read_script

    library = load_library(workspace)
    persona = library.persona(args.persona)
    rubric = library.rubric_for(persona)
    settings = load_settings(workspace, model=args.model, evaluator_model=args.evaluator_model)
    kinds = ["good", "poor"] if args.learner == "both" else [args.learner] if args.learner in ("good", "poor") \
        else ["script"]
    scripts: dict[str, list[str]] = {}
    learner_model = None
    if args.learner_model:
        learner_settings = load_settings(workspace, model=args.learner_model).persona
        if not learner_settings.capabilities.director:
            print(f"note: {learner_settings.model} is too small to play an agent; the scripted learners play "
                  "instead", file=sys.stderr)
        else:
            learner_model = Gateway(learner_settings)
    if kinds == ["script"]:
        scripts["script"] = read_script(args.learner)
    elif learner_model is None:
        for kind in kinds:
            scripts[kind], path, written = learner_script(workspace, persona, rubric, kind)
            print(f"{kind} learner: {path}" + (" (written from the brief: edit it to taste)" if written else ""),
                  file=sys.stderr)
    total = len(kinds) * args.runs
    done: list[RunResult] = []

    def progress(result: RunResult) -> None:
        done.append(result)
        print(f"{bar(len(done), total)} {len(done)}/{total} runs · {result.learner} #{result.number}: "
              f"{result.error or (result.outcome or 'open').replace('_', ' ')}", file=sys.stderr, flush=True)

    print(f"{bar(0, total)} 0/{total} runs · {persona.name} on {settings.persona.model} "
          f"(ctrl+c stops and keeps the finished runs)", file=sys.stderr, flush=True)
    try:
        results = asyncio.run(dry_run(persona, rubric, Gateway(settings.persona), Gateway(settings.evaluator),
                                      workspace, learners=kinds, runs=args.runs, scripts=scripts,
                                      learner_model=learner_model, parallel=args.parallel, on_done=progress))
    except KeyboardInterrupt:
        results = sorted(done, key=lambda r: (r.learner, r.number))
        print(f"stopped: {len(results)} of {total} runs finished", file=sys.stderr)
    if args.json:
        print(json.dumps({"persona": persona.id, "runs": [vars(r) | {"break_rate": round(r.break_rate, 3)}
                                                          for r in results],
                          "flags": flags(persona, results)}, ensure_ascii=False, indent=2))
    else:
        print("\n".join(report_lines(persona, results)))
    return 1 if flags(persona, results) else 0
