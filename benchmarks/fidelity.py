"""Customer fidelity on the built-in model: every bundled persona against a competent and
a poor scripted learner, audited reply by reply.

    python benchmarks/fidelity.py [--personas ID,ID] [--json OUT]

Per persona and learner it prints the share of customer replies that passed the audit
on the first candidate, the share shown clean (after ranking and regeneration), the
fallback share (lines built from the file), counts per tag of the shown replies, and the
median and 95th-percentile time from send to the first visible customer text. The
persona's prompt is primed first, as the app does while the learner reads the brief.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from simulator.content.library import load_library  # noqa: E402
from simulator.models.config import load_settings  # noqa: E402
from simulator.models.gateway import Gateway  # noqa: E402
from simulator.practice.audit import audit_session  # noqa: E402
from simulator.practice.engine import Conversation  # noqa: E402


def competent(persona) -> list[str]:
    first = persona.name.split()[0]
    return [f"Hi {first}, I'm sorry this happened, that sounds really frustrating. Can you tell me what's going on?",
            "Thank you. Can you confirm your account or order details for me?",
            "I understand, and I can see why you're upset. What would a good outcome look like for you?",
            "Is there anything else going on that makes this urgent for you?",
            "Here's what I can do: I'll sort this out today and confirm it to you in writing.",
            "Does that work for you? Is there anything else I should know?"]


def poor(persona, jargon: list[str]) -> list[str]:
    word = (persona.jargon or jargon or ["the policy"])[0]
    return ["What's the account number.", "Calm down, that's just how it is.",
            f"You should have read the terms, the {word} applies.", "Policy is policy, there's nothing I can do.",
            "Whatever. Anything else?", "Read the terms and call back."]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 3)


async def play(persona, rubric, gateway, messages: list[str], workspace: Path) -> dict:
    conv = Conversation.start(persona, rubric, gateway, workspace=workspace,
                              models={"persona": gateway.model})
    await conv.prime()
    shown: list[float] = []
    first_turn: float | None = None
    for message in messages:
        if conv.ended:
            break
        await conv.prime(draft=message)  # the app reads the draft at a pause in typing; the last word is new
        turn = await conv.send(message)
        if not conv.ended:
            await conv.prime()  # as the app does while the learner types the next message
        if turn.first_token_s is not None:
            if first_turn is None:
                first_turn = turn.first_token_s
            else:
                shown.append(turn.first_token_s)
    if not conv.ended:
        conv.end()
    replies = [t for t in conv.turns if t.speaker == "customer" and t.index > 0]
    audits = audit_session(conv.record)
    first_ok = sum(1 for t in replies if t.guard and t.guard[0].get("verdict") == "ok")
    fallbacks = sum(1 for t in replies if any(g.get("verdict") == "fallback" for g in t.guard))
    tags = Counter(f.tag for a in audits for f in a.findings)
    tried = Counter(tag["tag"] for t in replies for g in t.guard for tag in g.get("tags", []))
    return {"replies": len(replies), "first_ok": first_ok, "clean": sum(1 for a in audits if not a.findings),
            "fallbacks": fallbacks, "shown_tags": dict(tags), "candidate_tags": dict(tried),
            "first_turn_s": first_turn, "later_s": shown, "transcript": [(t.speaker, t.text) for t in conv.turns],
            "outcome": conv.record.outcome}


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--personas", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--transcripts", action="store_true")
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="fidelity-"))
    from simulator.core.locations import seed_workspace

    seed_workspace(workspace)
    library = load_library(workspace)
    settings = load_settings(workspace).persona
    gateway = Gateway(settings)
    wanted = [p for p in args.personas.split(",") if p] or sorted(library.personas)
    results = {}
    totals = Counter()
    firsts: list[float] = []
    laters: list[float] = []
    print(f"{'persona':<32} {'learner':<9} {'n':>3} {'1st ok':>7} {'shown ok':>9} {'fallbk':>7} "
          f"{'1st turn':>8} {'med':>6} {'p95':>6}  shown tags")
    for pid in wanted:
        persona = library.persona(pid)
        rubric = library.rubric_for(persona)
        for kind, script in (("competent", competent(persona)), ("poor", poor(persona, rubric.jargon))):
            r = await play(persona, rubric, gateway, script, workspace)
            results[f"{pid}/{kind}"] = r
            n = r["replies"] or 1
            totals.update({"replies": r["replies"], "first_ok": r["first_ok"], "clean": r["clean"],
                           "fallbacks": r["fallbacks"]})
            totals.update({f"tag:{k}": v for k, v in r["shown_tags"].items()})
            if r["first_turn_s"] is not None:
                firsts.append(r["first_turn_s"])
            laters += r["later_s"]
            print(f"{pid[:32]:<32} {kind:<9} {r['replies']:>3} {r['first_ok'] / n:>7.0%} {r['clean'] / n:>9.0%} "
                  f"{r['fallbacks'] / n:>7.0%} {r['first_turn_s'] or 0:>8.2f} "
                  f"{statistics.median(r['later_s']) if r['later_s'] else 0:>6.2f} {pct(r['later_s'], 0.95) or 0:>6.2f}"
                  f"  {', '.join(f'{k} {v}' for k, v in sorted(r['shown_tags'].items())) or '-'}")
            if args.transcripts:
                for speaker, text in r["transcript"]:
                    print(f"      {speaker[:1].upper()}: {text}")
    n = totals["replies"] or 1
    print(f"\nall: {totals['replies']} customer replies; passed on the first candidate {totals['first_ok'] / n:.0%}; "
          f"shown clean {totals['clean'] / n:.0%}; fallback lines {totals['fallbacks'] / n:.0%}; "
          f"verbatim repeats shown {totals['tag:repeats']}; invented details shown {totals['tag:invents_detail']}")
    print(f"send to first visible text: first turn median {statistics.median(firsts):.2f} s (max {max(firsts):.2f}); "
          f"later turns median {statistics.median(laters):.2f} s, p95 {pct(laters, 0.95):.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
