"""Issue 12, dry runs: a persona played against scripted good and poor learners, with scripted
fake models standing in for the customer; each kind of broken persona is flagged."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.models.config import SMALL
from simulator.trainer.dryrun import dry_run, flags, good_script, learner_script, poor_script, report_lines

DANA = "overcharged-loyal-customer"
LINES = ["Go on.", "Right. And?", "Fine.", "Hm, I see.", "Okay then.", "Sure, whatever works."]


def varied():
    said = []
    return lambda messages: said.append(1) or LINES[(len(said) - 1) % len(LINES)]


def director(*, resolves=True, reveals=True):
    """A customer that reacts as a persona file would: it warms to feelings asked about,
    reveals its hidden facts then (if ``reveals``), settles on a concrete offer (if
    ``resolves``), and gives up on a brush-off."""
    def decide(messages):
        latest = re.search(r"<latest_agent_message>(.*?)</latest_agent_message>", messages[-1]["content"], re.S)
        said = latest.group(1) if latest else ""
        if "should have" in said:
            return {"frustration_change": 3, "reveal": [], "outcome": "gave_up", "why": "blamed"}
        if "Calm down" in said:
            return {"frustration_change": 2, "reveal": [], "outcome": "continue", "why": "brushed off"}
        if "feeling" in said:
            return {"frustration_change": -1, "reveal": [0, 1] if reveals else [], "outcome": "continue", "why": "heard"}
        if said.strip().startswith("Done") and resolves:
            return {"frustration_change": -2, "reveal": [], "outcome": "resolved", "why": "fixed"}
        return {"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"}
    return decide


async def run(workspace, customer, learners=("good", "poor"), runs=1, change=None):
    library = load_library(workspace)
    persona = library.persona(DANA)
    if change:
        persona = persona.model_copy(update=change(persona))
    rubric = library.rubric_for(persona)
    scripts = {kind: learner_script(workspace, persona, rubric, kind)[0] for kind in learners}
    results = await dry_run(persona, rubric, customer, ScriptedModel(capabilities=SMALL), workspace,
                            learners=list(learners), runs=runs, scripts=scripts)
    return persona, results


async def test_a_sound_persona_gets_no_flags(workspace):
    persona, results = await run(workspace, ScriptedModel(replies=varied(), directions=director()), runs=2)
    good = [r for r in results if r.learner == "good"]
    poor = [r for r in results if r.learner == "poor"]
    assert len(good) == 2 and all(r.outcome == "resolved" for r in good)
    assert all(r.outcome == "gave_up" and not r.passed for r in poor)
    assert {h["index"] for h in good[0].revealed} == {0, 1} and good[0].revealed[0]["turn"] == 6  # her reply to 5
    assert flags(persona, results) == []
    text = "\n".join(report_lines(persona, results))
    assert "good, 2 runs: resolved 2" in text and "No flags" in text
    assert not (workspace / "sessions").exists() or not any((workspace / "sessions").iterdir())  # not in history


async def test_a_persona_the_good_learner_cannot_win_is_flagged(workspace):
    persona, results = await run(workspace, ScriptedModel(replies=varied(),
                                                          directions=director(resolves=False)))
    assert any("the good learner never won" in f for f in flags(persona, results))


async def test_a_hidden_fact_that_never_comes_out_is_flagged(workspace):
    def guarded(persona):  # a fact is earned by its reveal_when and example lines; these never come up
        return {"hidden": [h.model_copy(update={"reveal_when": "the agent recites the moon landing checklist",
                                                "earned_by": ["Shall I recite the moon landing checklist?"]})
                           for h in persona.hidden]}

    persona, results = await run(workspace, ScriptedModel(replies=varied(),
                                                          directions=director(reveals=False)), change=guarded)
    found = flags(persona, results)
    assert any(f.startswith("hidden fact 1 never came out") for f in found)
    assert any(f.startswith("hidden fact 2 never came out") for f in found)


async def test_a_persona_that_breaks_character_is_flagged(workspace):
    agent = "I'm sorry for the inconvenience. How can I help you today?"
    persona, results = await run(workspace, ScriptedModel(replies=lambda m: agent, directions=director()),
                                 learners=("good",))
    assert results[0].broke >= results[0].replies * 0.5
    assert any("broke character" in f for f in flags(persona, results))


def test_the_scripted_learners_come_from_the_brief_and_can_be_edited(workspace):
    library = load_library(workspace)
    persona = library.persona(DANA)
    rubric = library.rubric_for(persona)
    good = good_script(persona)
    assert "bill credit of up to $50" in good[3] and "you just opened your bill" in good[1]
    from simulator.core.text import jargon_in

    assert jargon_in(" ".join(poor_script(persona, rubric)), [*persona.jargon, *rubric.jargon])
    lines, path, written = learner_script(workspace, persona, rubric, "good")
    assert written and lines == good
    path.write_text("Hello Dana.\n\nWhat happened?\n")
    assert learner_script(workspace, persona, rubric, "good")[:2] == (["Hello Dana.", "What happened?"], path)


@pytest.mark.real_model
def test_dry_run_command_on_the_built_in_model(workspace):
    from conftest import builtin_model_installed

    if not builtin_model_installed():
        pytest.skip("the built-in model is not installed")
    out = subprocess.run([sys.executable, "-m", "simulator", "dry-run", "--persona", DANA, "--learner", "poor"],
                         capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    assert "poor #1:" in out.stdout and "1/1 runs" in out.stderr and "Traceback" not in out.stderr


async def test_the_new_persona_template_is_won_by_its_own_good_script(workspace):
    """`roleplay new persona` writes a persona the rules (no director, as on the built-in
    model) let the good script win and the poor one lose, with its hidden fact earned."""
    from simulator.content.persona import read_persona
    from simulator.content.templates import new_file

    persona, _ = read_persona(new_file(workspace, "persona", "charged-twice"))
    rubric = load_library(workspace).rubric_for(persona)
    scripts = {kind: learner_script(workspace, persona, rubric, kind)[0] for kind in ("good", "poor")}
    customer = ScriptedModel(replies=varied(), capabilities=SMALL)
    results = await dry_run(persona, rubric, customer, ScriptedModel(capabilities=SMALL), workspace,
                            learners=["good", "poor"], runs=1, scripts=scripts)
    good, poor = sorted(results, key=lambda r: r.learner)
    assert good.outcome == "resolved" and good.revealed and poor.outcome != "resolved"
    assert not [f for f in flags(persona, results) if "broke character" not in f]
