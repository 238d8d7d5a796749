"""Issue 19, item 4: the grade, the coach and the advice read the learner's messages by meaning
(the acts of :mod:`simulator.practice.meaning`), not by the words they use.

Sessions are scripted (both sides written out, no model for the customer), as in
tests/test_grading_labelled.py. Each whole-session test runs twice: on the stems fallback (no
model) and, where it is installed, on the built-in model's embeddings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fakes import ScriptedModel

from conftest import builtin_model_installed
from simulator.content.library import load_library
from simulator.core import locations
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice.coach import rule_hint
from simulator.practice.scripted import scripted_record
from simulator.practice.sessions import Turn

REPO = Path(__file__).resolve().parent.parent

# A careful call with Mei-Ling, in a learner's own words (none of them the persona file's).
CAREFUL = [
    "Good afternoon, it's no trouble at all. I can look at your limit with you. First, could you confirm "
    "your full name, date of birth, ZIP code and security answer?",
    "Thank you, that's all confirmed. Who is the money going to, and what is it for? We ask about bigger "
    "payments to someone new, just to keep our customers safe.",
    "That's kind of you. Can you tell me a little more about how you came to have Mr Dawson's details?",
    "Thank you for telling me. Please don't worry, you've done nothing wrong. Northgate will never ask you "
    "to move money to keep it safe.",
    "Has he said he'll be in touch with you again?",
    "Here's what I'd suggest, if you're happy with it: I'll put a 24-hour protective hold on payments to new "
    "payees, so nothing can go to Mr Dawson, and I can put you through to our fraud team, who answer within "
    "five minutes. Would that be alright?",
    "If he rings at four, please don't do anything he asks, just put the phone down. Is that okay with you?",
    "The hold is on now, and I'm transferring you to the fraud team. I'll stay on the line until they answer.",
]
CAREFUL_CUSTOMER = [
    "Mei-Ling Zhao, the second of October 1957, 04105, and the answer is Willow Street.",
    "Ten thousand for today, please. It's for my nephew, he's renovating his home. It goes to a Mr N. Dawson.",
    "Well... no. I'm sorry. A gentleman rang me yesterday from your fraud department. He said someone at the "
    "bank was taking money from my account and I must move my savings to a safe account today. He told me "
    "not to tell the branch. I don't really have a nephew who's renovating.",
    "Oh. I did wonder. Thank you, dear.",
    "He said he'd ring back at four o'clock today to confirm it. He told me to keep the line free.",
    "Yes. Yes, please. I feel rather foolish.",
    "I'll put the phone down and not send anything. I promise.",
    "Thank you, you've been very kind.",
]
CAREFUL_STATE = {"frustration": [2, 3, 5, 4, 4, 3, 2, 1], "revealed": {3: [0], 5: [1]}, "outcome": "resolved"}

# A careless one: the limit raised without asking why.
CARELESS = [
    "hi, sure. need name, dob, zip and your security answer",
    "ok verified. how much do you need?",
    "fine, I've raised your limit to $10,000 for the next 24 hours.",
    "anything else?",
]
CARELESS_CUSTOMER = [
    "Of course. Mei-Ling Zhao, 2 October 1957, 04105, and the answer is Willow Street. I'm sorry to be a bother.",
    "Ten thousand for today, please. I'm sorry, it is a little urgent.",
    "Oh, that's wonderful. Thank you so much.",
    "No, that's all. I'll make the payment to Mr Dawson now. Thank you, you've been very helpful.",
]
CARELESS_STATE = {"frustration": [2, 2, 1, 1], "outcome": "gave_up"}


def seed_vectors() -> None:
    """Copy the act files' example vectors kept by tests/test_meaning.py (pytest's cache folder,
    keyed by the model file and the text, so never stale) into this test's data folder, so the
    built-in model's reader is built without embedding every example line again."""
    kept = REPO / ".pytest_cache" / "d" / "meaning-vectors"
    target = locations.data_dir() / "cache" / "embeddings"
    for path in kept.glob("*.npz") if kept.is_dir() else []:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)


def keep_vectors() -> None:
    """Put the vectors this test's data folder now holds back in pytest's cache folder, when it
    holds more (a trainer's new example lines are embedded once, not by every test run)."""
    import os
    import tempfile

    kept = REPO / ".pytest_cache" / "d" / "meaning-vectors"
    for path in (locations.data_dir() / "cache" / "embeddings").glob("*.npz"):
        old = kept / path.name
        if not old.exists() or path.stat().st_size > old.stat().st_size:
            kept.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=kept, suffix=".npz")
            os.close(fd)
            shutil.copy(path, tmp)
            os.replace(tmp, old)


@pytest.fixture(params=["stems", pytest.param("embeddings", marks=pytest.mark.skipif(
    not builtin_model_installed(), reason="the built-in model needs the [local] extra"))])
def method(request, monkeypatch):
    """The meaning layer's method for this test: the stems fallback, or the built-in model."""
    from simulator.practice import meaning

    if request.param == "stems":
        monkeypatch.setattr(meaning, "embeddings_available", lambda: False)
        yield request.param
        return
    seed_vectors()
    yield request.param
    keep_vectors()


@pytest.fixture
def mei_ling(workspace):
    library = load_library(workspace)
    persona = library.persona("polite-transfer-limit")
    return persona, library.rubric_for(persona)


async def grade(setting, learner, customer, **state):
    persona, rubric = setting
    record = scripted_record(persona, rubric, learner, customer, **state)
    outcome = await evaluate(record, rubric, ScriptedModel(model="local/smollm2-135m", capabilities=SMALL), save=False)
    return record, outcome.evaluation


def criterion(evaluation, cid):
    return next(c for c in evaluation.criteria if c.id == cid)


def observed_mean(evaluation, rubric) -> float:
    counted = [c for c in evaluation.criteria if c.observed]
    return round(sum(c.score * c.weight for c in counted) / sum(c.weight for c in counted), 2)


# -- whole sessions ------------------------------------------------------------------------------

async def test_a_careful_mei_ling_session_in_natural_words_passes(mei_ling, method):
    record, evaluation = await grade(mei_ling, CAREFUL, CAREFUL_CUSTOMER, **CAREFUL_STATE)
    empathy, proactive = criterion(evaluation, "empathy"), criterion(evaluation, "proactive-service")
    assert empathy.score > 1, empathy.reason  # was 1/5, "no signal either way"
    assert proactive.score > 1, proactive.reason  # was 1/5 after the hold and the transfer
    assert evaluation.overall.passed, {c.id: (c.score, c.reason) for c in evaluation.criteria}
    assert empathy.observed and proactive.observed


async def test_a_careless_session_that_raises_the_limit_without_asking_does_not_pass(mei_ling, method):
    record, evaluation = await grade(mei_ling, CARELESS, CARELESS_CUSTOMER, **CARELESS_STATE)
    assert not evaluation.overall.passed, evaluation.overall
    careful = (await grade(mei_ling, CAREFUL, CAREFUL_CUSTOMER, **CAREFUL_STATE))[1]
    assert careful.overall.score >= evaluation.overall.score + 1
    assert criterion(evaluation, "problem-solving").score == 1  # she went off to pay the scammer


async def test_every_quote_is_the_learners_own_words_from_the_turn_it_cites(mei_ling, method):
    for learner, customer, state in ((CAREFUL, CAREFUL_CUSTOMER, CAREFUL_STATE),
                                     (CARELESS, CARELESS_CUSTOMER, CARELESS_STATE)):
        record, evaluation = await grade(mei_ling, learner, customer, **state)
        said = {t.index: t.text for t in record.turns if t.speaker == "learner"}
        quotes = [e for c in evaluation.criteria for e in c.evidence]
        assert quotes or learner is CARELESS
        for e in quotes:
            assert e.turn in said and e.quote and e.quote in said[e.turn], e
        for w in evaluation.weakest_turns:
            assert w.original == said[w.turn]
            for f in w.faults:
                for quoted in re.findall(r'"([^"]+)"', f.what):
                    assert quoted in said[w.turn], f


async def test_tips_and_examples_come_from_this_call_never_another_persona(mei_ling, method, workspace):
    others = [p.name for p in load_library(workspace).personas.values() if p.id != "polite-transfer-limit"]
    assert others
    for learner, customer, state in ((CAREFUL, CAREFUL_CUSTOMER, CAREFUL_STATE),
                                     (CARELESS, CARELESS_CUSTOMER, CARELESS_STATE)):
        record, evaluation = await grade(mei_ling, learner, customer, **state)
        advice = " ".join([c.improvement for c in evaluation.criteria]
                          + [f.instead for w in evaluation.weakest_turns for f in w.faults]
                          + evaluation.changes)
        assert "bill" not in advice.lower() and "$65" not in advice
        for name in others:
            assert name.split()[0] not in advice, name
        tip = criterion(evaluation, "active-listening").improvement
        if tip.startswith("Sum up what the customer said and check it"):
            example = tip.split('"So ', 1)[1]
            assert any(w in " ".join(customer).lower() for w in re.findall(r"[a-z]{5,}", example.lower()))


# -- no evidence either way ------------------------------------------------------------------------

async def test_a_criterion_with_no_evidence_either_way_is_not_observed_and_left_out_of_the_mean(mei_ling, method):
    persona, rubric = mei_ling
    record, evaluation = await grade(mei_ling, CARELESS, CARELESS_CUSTOMER, **CARELESS_STATE)
    unseen = [c for c in evaluation.criteria if not c.observed]
    assert unseen, {c.id: c.reason for c in evaluation.criteria}
    for c in unseen:
        assert "not observed" in c.reason and "no evidence either way" in c.reason
        assert "not counted in the overall score" in c.reason
    assert evaluation.overall.not_observed == [c.id for c in unseen]
    assert not [s for s in evaluation.strengths for c in unseen if s.startswith(c.name)]
    assert evaluation.overall.score == observed_mean(evaluation, rubric)
    every = round(sum(c.score * c.weight for c in evaluation.criteria)
                  / sum(c.weight for c in evaluation.criteria), 2)
    assert every != evaluation.overall.score  # the unobserved ones would have moved the mean
    # the always-observable ones are never "not observed": the outcome, the questions, the pace
    assert {"problem-solving", "questioning", "time-management"}.isdisjoint(c.id for c in unseen)


async def test_the_report_says_not_observed_and_the_rule(mei_ling, method, workspace):
    from simulator.grading.report import render_report
    from simulator.grading.metrics import measure

    persona, rubric = mei_ling
    record, evaluation = await grade(mei_ling, CARELESS, CARELESS_CUSTOMER, **CARELESS_STATE)
    report = render_report(record, rubric, measure(record).to_dict(), evaluation, None)
    assert "not observed: no evidence either way in this session" in report
    assert "not counted in the overall score" in report


# -- one reading for the grade, the coach and the advice -------------------------------------------

def _read(turn: Turn, *acts: str) -> Turn:
    """A learner turn as the app keeps it: its reading stored when it was sent."""
    turn.acts, turn.read_by = list(acts), "embeddings"
    return turn


def _stored_session(persona, rubric, lines_and_acts, frustration):
    record = scripted_record(persona, rubric, [text for text, _ in lines_and_acts], ["I see.", "Go on."],
                             frustration=frustration)
    learner = [t for t in record.turns if t.speaker == "learner"]
    for turn, (_, acts) in zip(learner, lines_and_acts):
        _read(turn, *acts)
    return record


async def test_the_grade_reads_the_stored_acts_not_the_words(mei_ling):
    persona, rubric = mei_ling
    # words the old rules missed, and words they misread ("I can't believe" is not a refusal)
    record = _stored_session(persona, rubric, [
        ("Please don't worry, you've done nothing wrong.", ("reassure",)),
        ("Gosh, I can't believe he knew your card number. That's the mark of these callers.", ("name-cause",)),
        ("The hold's on for 24 hours from now.", ("commit", "set-expectation")),
        ("Northgate never asks anyone to move money to keep it safe.", ("warn",)),
    ], [2, 2, 2, 2])
    evaluation = (await evaluate(record, rubric, ScriptedModel(capabilities=SMALL), save=False)).evaluation
    empathy = criterion(evaluation, "empathy")
    assert empathy.score >= 3 and "acknowledged the customer (turn 1)" in empathy.reason
    assert "made an offer (turn 5)" in criterion(evaluation, "problem-solving").reason
    assert criterion(evaluation, "proactive-service").score >= 3
    assert "can't" not in criterion(evaluation, "positive-attitude").reason
    assert not any("cannot be done" in f.what for w in evaluation.weakest_turns for f in w.faults)


async def test_an_offer_is_one_thing_for_the_grade_the_coach_and_the_advice(mei_ling):
    persona, rubric = mei_ling
    # "We can't raise it; the hold is on" refuses and commits: a commitment is an offer everywhere
    both = ("We can't raise it today, but the hold is on as of now.", ("refuse", "commit"))
    record = _stored_session(persona, rubric, [("Thanks for your patience there.", ("thank",)), both], [2, 2])
    evaluation = (await evaluate(record, rubric, ScriptedModel(capabilities=SMALL), save=False)).evaluation
    assert "made an offer (turn 3)" in criterion(evaluation, "problem-solving").reason
    assert not any("cannot be done" in f.what for w in evaluation.weakest_turns for f in w.faults)
    hint = rule_hint(persona, record.turns, frustration=2, revealed=[0, 1], jargon=[])
    assert "plainly what you can do" not in hint
    # the same words with no offer in their reading: every one says so
    record = _stored_session(persona, rubric, [("Thanks for your patience there.", ("thank",)),
                                               ("We can't raise it today, but the hold is on as of now.",
                                                ("refuse",))], [2, 2])
    evaluation = (await evaluate(record, rubric, ScriptedModel(capabilities=SMALL), save=False)).evaluation
    assert "made an offer" not in criterion(evaluation, "problem-solving").reason
    assert any("cannot be done" in f.what for w in evaluation.weakest_turns for f in w.faults)


def test_the_coach_hears_an_acknowledgement_in_any_words(mei_ling):
    from simulator.practice.meaning import Reading

    persona, _ = mei_ling
    turns = [Turn(0, "customer", persona.opening),
             Turn(1, "learner", "Please don't worry, you've done nothing wrong."),
             Turn(2, "customer", "I'm so frightened, I don't know what to do.")]
    reassured = Reading(text=turns[1].text, acts=("reassure",), scores=(("reassure", 0.6),), method="embeddings")
    kwargs = dict(frustration=8, revealed=[], jargon=[])
    assert "is upset" in rule_hint(persona, turns, **kwargs)  # no reading: the word rules miss it
    assert "is upset" not in rule_hint(persona, turns, readings={1: reassured}, **kwargs)
    _read(turns[1], "reassure")  # the reading the app stored on the turn
    assert "is upset" not in rule_hint(persona, turns, **kwargs)
    # and a message whose words sound kind but which brushes off is not an acknowledgement
    turns[1] = Turn(1, "learner", "I'm sorry, but that's just how it is.")
    brushed = Reading(text=turns[1].text, acts=("brush-off",), scores=(("brush-off", 0.7),), method="embeddings")
    assert "is upset" in rule_hint(persona, turns, readings={1: brushed}, **kwargs)


async def test_a_blamed_customer_is_named_in_the_advice_with_the_act_files_advice(mei_ling):
    persona, rubric = mei_ling
    record = _stored_session(persona, rubric, [("Well, you really ought to have checked who he was.", ("blame",))],
                             [4])
    evaluation = (await evaluate(record, rubric, ScriptedModel(capabilities=SMALL), save=False)).evaluation
    faults = [f for w in evaluation.weakest_turns for f in w.faults]
    blame = next(f for f in faults if f.what.startswith("put the blame elsewhere"))
    assert '"Well, you really ought to have checked who he was."' in blame.what
    assert blame.instead.startswith("Own what the company got wrong")
    assert "brushed the customer off or blamed (turn 1)" in criterion(evaluation, "empathy").reason
