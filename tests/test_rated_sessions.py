"""Issue 19, item 3: the trainer-rated sessions (``tests/data/rated_sessions.yaml``) that
``benchmarks/agreement.py`` measures the grade against are well-formed.

This checks the file, not the grader: every session is a whole conversation with a bundled
persona (the learner and the customer taking turns, a customer reply after every learner turn),
its hidden facts and outcome are ones the persona has, every criterion of the bundled rubric is
rated 1-5 with "not observed" ones named, the trainer's verdict agrees with the rubric's own
arithmetic, and there are enough sessions, personas and voices, with a held-aside part drawn by
the file's seed."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from simulator.content.persona import read_persona
from simulator.content.rubric import DEFAULT_RUBRIC, load_rubric
from simulator.core import locations
from simulator.core.text import split_sentences
from simulator.core.yamlfile import read_yaml

LIBRARY = locations.bundled_library()
FILE = Path(__file__).parent / "data" / "rated_sessions.yaml"
SESSION_KEYS = {"id", "persona", "voice", "split", "outcome", "revealed", "turns", "rating", "not_observed",
                "overall"}
OUTCOMES = {"resolved", "gave_up", "ended_by_learner"}
VOICES = ("terse", "chatty", "non-native", "typos", "british", "american", "careful", "careless")


def data() -> dict:
    document = read_yaml(FILE, what="rated sessions").data
    assert document["version"] == 1
    return document


def sessions() -> list[dict]:
    return data()["sessions"]


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(LIBRARY / locations.RUBRICS / f"{DEFAULT_RUBRIC}.yaml")


@pytest.fixture(scope="module")
def personas() -> dict:
    return {path.stem: read_persona(path)[0] for path in sorted((LIBRARY / locations.PERSONAS).glob("*.yaml"))}


def learner_turns(session: dict) -> list[dict]:
    return [t for t in session["turns"] if t["speaker"] == "learner"]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9$£']+", text.lower())


@pytest.mark.parametrize("session", sessions(), ids=lambda s: s["id"])
def test_each_session_is_a_whole_conversation_with_a_bundled_persona(session, personas):
    assert set(session) <= SESSION_KEYS and {"id", "persona", "split", "outcome", "turns", "rating"} <= set(session)
    assert session["persona"] in personas, f"no bundled persona {session['persona']!r}"
    turns = session["turns"]
    # the persona's opening comes first (not repeated here); then learner, customer, learner, ...
    assert [t["speaker"] for t in turns] == ["learner", "customer"] * (len(turns) // 2) and len(turns) % 2 == 0
    assert 5 <= len(learner_turns(session)) <= 10
    for i, turn in enumerate(turns):
        assert set(turn) <= {"speaker", "text", "frustration", "seconds"}, f"turn {i + 1}: {sorted(turn)}"
        assert isinstance(turn["text"], str) and turn["text"].strip(), f"turn {i + 1} is empty"
        if "frustration" in turn:
            assert turn["speaker"] == "customer" and 0 <= turn["frustration"] <= 10, f"turn {i + 1}"
        if "seconds" in turn:
            assert turn["speaker"] == "learner" and turn["seconds"] > 0, f"turn {i + 1}"
    assert session["outcome"] in OUTCOMES


@pytest.mark.parametrize("session", sessions(), ids=lambda s: s["id"])
def test_revealed_facts_are_the_personas_at_a_learner_turn(session, personas):
    hidden = personas[session["persona"]].hidden
    revealed = session.get("revealed") or {}
    n = len(learner_turns(session))
    seen: list[int] = []
    for turn, facts in revealed.items():
        assert isinstance(turn, int) and 1 <= turn <= n, f"learner turn {turn} of {n}"
        assert all(isinstance(f, int) and 0 <= f < len(hidden) for f in facts), f"{facts} of {len(hidden)} facts"
        seen += facts
    assert len(seen) == len(set(seen)), "a hidden fact is revealed twice"


@pytest.mark.parametrize("session", sessions(), ids=lambda s: s["id"])
def test_every_criterion_is_rated_and_the_verdict_is_the_rubrics(session, rubric):
    rating = session["rating"]
    expected = set(rubric.criterion_ids)
    assert set(rating) == expected, f"missing {sorted(expected - set(rating))}, extra {sorted(set(rating) - expected)}"
    assert all(isinstance(v, int) and 1 <= v <= 5 for v in rating.values()), rating
    unseen = session.get("not_observed") or []
    assert set(unseen) <= set(rubric.criterion_ids) and len(unseen) == len(set(unseen))
    assert all(rating[c] == 3 for c in unseen), "a criterion with no evidence either way is rated 3"
    overall = session["overall"]
    assert set(overall) == {"verdict", "score", "why"} and overall["why"].strip()
    assert isinstance(overall["score"], int) and 1 <= overall["score"] <= 5
    weights = {c.id: c.weight for c in rubric.criteria if c.id not in unseen}
    mean = sum(rating[c] * w for c, w in weights.items()) / sum(weights.values())
    assert overall["verdict"] == ("pass" if mean >= rubric.pass_mark else "not yet"), f"weighted mean {mean:.2f}"
    assert abs(overall["score"] - mean) <= 1.5, f"overall {overall['score']} against a weighted mean of {mean:.2f}"


@pytest.mark.parametrize("session", sessions(), ids=lambda s: s["id"])
def test_the_learner_speaks_in_their_own_words_not_the_persona_files(session, personas):
    """No learner line repeats six words in a row of the persona's conditions (the words the
    grade and the customer must not depend on)."""
    persona = personas[session["persona"]]
    conditions = [h.reveal_when for h in persona.hidden] + list(persona.frustration.calms_when) \
        + list(persona.frustration.rises_when) + [persona.end.resolved_when]
    grams = {tuple(w[i:i + 6]) for text in conditions for w in [words(text)] for i in range(len(w) - 5)}
    for turn in learner_turns(session):
        w = words(turn["text"])
        copied = [" ".join(w[i:i + 6]) for i in range(len(w) - 5) if tuple(w[i:i + 6]) in grams]
        assert copied == [], f"{turn['text']!r} copies the persona file: {copied[0]!r}"


def test_no_learner_sentence_is_an_example_line_the_meaning_layer_learns_from(personas):
    """An act file's or a persona's own example line is read as the file says, so one in the
    rated set would flatter the agreement measured on it (stock phrases of four words or fewer,
    "With me so far?", are anyone's)."""
    def norm(text: str) -> str:
        return " ".join(words(text))

    examples = set()
    for path in sorted((LIBRARY / locations.RUBRICS / "acts").glob("*.yaml")):
        act = read_yaml(path, what="act").data
        examples |= {norm(x) for x in act["examples"]["positive"] + act["examples"]["negative"]}
    for persona in personas.values():
        examples |= {norm(x) for h in persona.hidden for x in [*h.earned_by, *h.not_earned_by]}
        examples |= {norm(x) for x in [*persona.frustration.calmed_by, *persona.frustration.raised_by]}
    examples = {e for e in examples if len(e.split()) >= 5}
    found = [(s["id"], sentence) for s in sessions() for turn in learner_turns(s)
             for sentence in [turn["text"], *split_sentences(turn["text"])] if norm(sentence) in examples]
    assert found == []


def test_the_set_is_big_varied_and_spread_across_the_scale(rubric):
    every = sessions()
    assert len(every) >= 30 and len({s["id"] for s in every}) == len(every)
    assert len({s["persona"] for s in every}) >= 8
    voices = " ".join(s["voice"].lower() for s in every)
    assert [v for v in VOICES if v not in voices] == []
    assert {s["outcome"] for s in every} == OUTCOMES
    assert {s["overall"]["verdict"] for s in every} == {"pass", "not yet"}
    assert len({s["overall"]["score"] for s in every}) >= 4
    for c in rubric.criterion_ids:  # a criterion rated alike everywhere says nothing about agreement
        seen = Counter(s["rating"][c] for s in every if c not in (s.get("not_observed") or []))
        assert len(seen) >= 4 and sum(seen.values()) >= 15, f"{c}: {dict(seen)}"


def test_the_held_part_is_the_seeds_draw_and_at_least_a_quarter():
    document = data()
    every = document["sessions"]
    ids = [s["id"] for s in every]
    held = {s["id"] for s in every if s["split"] == "held"}
    assert {s["split"] for s in every} == {"tune", "held"}
    assert held == set(random.Random(document["seed"]).sample(ids, k=round(0.3 * len(ids))))
    assert len(held) / len(every) >= 0.25
    verdicts = {s["overall"]["verdict"] for s in every if s["id"] in held}
    assert verdicts == {"pass", "not yet"}, "the held part has both passing and failing sessions"
