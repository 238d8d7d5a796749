"""Issue 10, validity: grading from evidence on a labelled set of scripted sessions
(``tests/data/grading_labelled.yaml``; the customer's side is fixed, no model).

For every criterion a strong and a weak script that differ only on that criterion: the
strong one scores at least one point higher on it. Whole good, mediocre and poor sessions
come out in that order, the good one passes and the poor one fails, and a session that
talks to the grader is flagged and does not pass. The judge's own "passed" is never used."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fakes import ScriptedModel
from test_grade_meaning import keep_vectors, seed_vectors

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice.scripted import scripted_record

DATA = yaml.safe_load((Path(__file__).parent / "data" / "grading_labelled.yaml").read_text())


@pytest.fixture(autouse=True)
def kept_vectors():
    """The meaning layer's example vectors from pytest's cache folder (the grade reads the
    learner's acts), and back there when this run embedded new example lines."""
    seed_vectors()
    yield
    keep_vectors()


@pytest.fixture
def setting(workspace):
    library = load_library(workspace)
    persona = library.persona(DATA["persona"])
    return persona, library.rubric_for(persona)


def record_for(setting, lines, **state):
    persona, rubric = setting
    return scripted_record(persona, rubric, lines, DATA["customer"], **state)


def script(pair, side):
    lines = list(DATA["baseline"])
    for number, line in (pair.get(side) or {}).items():
        lines[int(number) - 1] = line
    state = {key: pair[f"{side}_{key}"] for key in ("outcome", "revealed", "response_times", "frustration")
             if f"{side}_{key}" in pair}
    return lines, state


async def grade(setting, record):
    outcome = await evaluate(record, setting[1], ScriptedModel(model="local/smollm2-135m", capabilities=SMALL),
                             save=False)
    return outcome.evaluation


def test_every_criterion_of_the_rubric_has_a_labelled_pair(setting):
    assert {p["criterion"] for p in DATA["pairs"]} == set(setting[1].criterion_ids)


@pytest.mark.parametrize("pair", DATA["pairs"], ids=[p["criterion"] for p in DATA["pairs"]])
async def test_the_strong_script_beats_the_weak_one_on_its_criterion(setting, pair):
    scores = {}
    for side in ("strong", "weak"):
        lines, state = script(pair, side)
        evaluation = await grade(setting, record_for(setting, lines, **state))
        scores[side] = next(c for c in evaluation.criteria if c.id == pair["criterion"])
    strong, weak = scores["strong"], scores["weak"]
    assert strong.score - weak.score >= 1, (strong.reason, weak.reason)


async def test_whole_sessions_in_order_and_the_verdict_is_the_codes(setting):
    results = {}
    for name, session in DATA["sessions"].items():
        record = record_for(setting, session["lines"], frustration=session.get("frustration"),
                            revealed=session.get("revealed"), outcome=session.get("outcome", "ended_by_learner"),
                            response_times=session.get("response_times"))
        results[name] = await grade(setting, record)
    score = {name: ev.overall.score for name, ev in results.items()}
    assert score["good"] > score["mediocre"] > score["poor"], score
    assert results["good"].overall.passed and not results["poor"].overall.passed
    # the careless turns are named, with what to do instead
    weakest = results["poor"].weakest_turns
    assert 2 <= len(weakest) <= 3 and {w.turn for w in weakest} <= {1, 3, 5, 7, 9}
    faults = " ".join(f.what for w in weakest for f in w.faults)
    assert "brushed the customer off" in faults and "proration" in faults
    assert results["good"].weakest_turns == []
    # talking to the grader: flagged, counted against every criterion, and never a pass
    grader = results["talks-to-the-grader"]
    assert grader.measured["grader_manipulation_flags"] and not grader.overall.passed
    assert all("tried to instruct the grader" in c.reason for c in grader.criteria)
    assert any(f.what.startswith("spoke to the grader") for w in grader.weakest_turns for f in w.faults)


async def test_jargon_advice_uses_the_entrys_plain_words(setting):
    persona, rubric = setting
    rubric = rubric.model_copy(update={"jargon": ["MFA: the code on your phone", "proration"]})
    record = scripted_record(persona, rubric, ["Please complete MFA first.", "That's proration."], DATA["customer"])
    evaluation = (await evaluate(record, rubric, ScriptedModel(capabilities=SMALL), save=False)).evaluation
    advice = {f.what: f.instead for w in evaluation.weakest_turns for f in w.faults}
    assert advice['used "MFA", which Dana would not know'] == 'Say "the code on your phone" instead of "MFA".'
    assert advice['used "proration", which Dana would not know'].startswith('Say what "proration" means')
