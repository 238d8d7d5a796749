"""Issue 19, the data of the meaning layer: the act files (``rubrics/acts/*.yaml``, one per
thing a learner's message can do), the labelled learner messages
(``tests/data/acts_labelled.yaml``) and the persona condition probes
(``tests/data/condition_probes.yaml``) follow the contract a trainer and the classifier rely on.

This checks the files, not the classifier: every file reads with the app's safe YAML reader,
every act names criteria the bundled rubric has, every act has enough example lines, and the
labelled sets are big and varied enough, with both halves (tune and held) covering every act."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from simulator.content.persona import read_persona
from simulator.content.rubric import DEFAULT_RUBRIC, KEBAB, load_rubric
from simulator.core import locations
from simulator.core.yamlfile import read_yaml

LIBRARY = locations.bundled_library()
ACT_FOLDER = LIBRARY / locations.RUBRICS / "acts"
DATA = Path(__file__).parent / "data"

# the acts the two issue-19 helpers agreed on; the data may add a few more (each with its file)
CONTRACT_ACTS = {
    "greet", "acknowledge-feeling", "name-cause", "own-mistake", "apologise", "reassure", "open-question",
    "specific-question", "explain-term", "check-understanding", "summarise", "offer-fix", "commit",
    "set-expectation", "refuse", "blame", "brush-off", "quote-policy", "use-jargon", "thank", "close",
}
ACT_KEYS = {"version", "id", "name", "detects", "why", "criteria", "polarity", "say_instead", "examples"}
VOICES = {"terse", "chatty", "non-native", "typos", "british", "american", "formal"}
SPLITS = {"tune", "held"}
CONDITIONS = {"reveal_when", "calms_when", "rises_when", "resolved_when", "gives_up_when"}


def act_paths() -> list[Path]:
    return sorted(ACT_FOLDER.glob("*.yaml"))


def read_act(path: Path) -> dict:
    return read_yaml(path, what="act").data


def acts() -> dict[str, dict]:
    return {path.stem: read_act(path) for path in act_paths()}


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@pytest.fixture(scope="module")
def criteria() -> set[str]:
    return set(load_rubric(LIBRARY / locations.RUBRICS / f"{DEFAULT_RUBRIC}.yaml").criterion_ids)


@pytest.fixture(scope="module")
def personas() -> dict:
    return {path.stem: read_persona(path)[0] for path in sorted((LIBRARY / locations.PERSONAS).glob("*.yaml"))}


# ---- act files -------------------------------------------------------------------------------

def test_every_act_the_contract_names_has_its_file():
    assert CONTRACT_ACTS <= {path.stem for path in act_paths()}, \
        f"missing act files: {sorted(CONTRACT_ACTS - {p.stem for p in act_paths()})}"


@pytest.mark.parametrize("path", act_paths(), ids=lambda p: p.stem)
def test_act_file_follows_the_contract(path: Path, criteria: set[str]):
    data = read_act(path)
    assert isinstance(data, dict)
    assert set(data) <= ACT_KEYS, f"unknown keys {sorted(set(data) - ACT_KEYS)}"
    assert data["version"] == 1
    assert data["id"] == path.stem and KEBAB.match(data["id"])
    for key in ("name", "detects", "why"):
        assert isinstance(data[key], str) and data[key].strip(), f"{key} is empty"
    assert data["criteria"] and set(data["criteria"]) <= criteria, \
        f"criteria not in the bundled rubric: {sorted(set(data['criteria']) - criteria)}"
    assert data["polarity"] in {"good", "fault"}
    if data["polarity"] == "fault":
        assert isinstance(data.get("say_instead"), str) and data["say_instead"].strip(), \
            "a fault says what to say instead"
    examples = data["examples"]
    assert set(examples) == {"positive", "negative"}
    positive, negative = examples["positive"], examples["negative"]
    assert len(positive) >= 8 and len(negative) >= 4
    lines = positive + negative
    assert all(isinstance(line, str) and line.strip() for line in lines)
    assert len({norm(line) for line in lines}) == len(lines), "an example line is written twice"


def test_no_positive_example_line_is_written_in_two_act_files():
    """A positive line lives in one file: a trainer edits it in one place."""
    seen: dict[str, str] = {}
    for act_id, data in acts().items():
        for line in data["examples"]["positive"]:
            assert norm(line) not in seen, f"'{line}' is a positive of both {seen.get(norm(line))} and {act_id}"
            seen[norm(line)] = act_id


# ---- labelled learner messages ------------------------------------------------------------------

def labelled() -> list[dict]:
    data = read_yaml(DATA / "acts_labelled.yaml", what="labelled set").data
    assert data["version"] == 1
    return data["messages"]


def test_every_labelled_message_follows_the_contract(personas):
    known = set(acts())
    for i, message in enumerate(labelled()):
        where = f"messages[{i}] {message.get('text')!r}"
        assert set(message) <= {"text", "acts", "voice", "persona", "split"}, where
        assert isinstance(message["text"], str) and message["text"].strip(), where
        assert isinstance(message["acts"], list) and set(message["acts"]) <= known, \
            f"{where}: unknown acts {sorted(set(message['acts']) - known)}"
        assert len(set(message["acts"])) == len(message["acts"]), f"{where}: an act is listed twice"
        assert message["voice"] in VOICES, where
        assert message["split"] in SPLITS, where
        assert message.get("persona") is None or message["persona"] in personas, where


def test_the_labelled_set_is_big_and_varied_enough():
    messages = labelled()
    assert len(messages) >= 400
    voices = Counter(m["voice"] for m in messages)
    assert set(voices) == VOICES and min(voices.values()) >= 40, voices
    per_act = Counter(act for m in messages for act in m["acts"])
    assert {a: n for a, n in per_act.items() if n < 12} == {} and set(per_act) == set(acts()), per_act
    texts = Counter(norm(m["text"]) for m in messages)
    assert [t for t, n in texts.items() if n > 1] == []


def test_both_halves_of_the_labelled_set_cover_every_act_and_voice():
    messages = labelled()
    held = sum(m["split"] == "held" for m in messages) / len(messages)
    assert 0.2 <= held <= 0.4, f"{held:.0%} held"
    for split in SPLITS:
        part = [m for m in messages if m["split"] == split]
        assert {act for m in part for act in m["acts"]} == set(acts()), split
        assert {m["voice"] for m in part} == VOICES, split


def test_labelled_lines_are_not_the_act_files_own_examples():
    examples = {norm(line) for data in acts().values() for kind in ("positive", "negative")
                for line in data["examples"][kind]}
    copied = [m["text"] for m in labelled() if norm(m["text"]) in examples]
    assert copied == []


# ---- persona condition probes ----------------------------------------------------------------------

def probe_file() -> dict:
    data = read_yaml(DATA / "condition_probes.yaml", what="probe set").data
    assert data["version"] == 1
    return data


def persona_condition(persona, condition: str) -> list[str]:
    if condition == "reveal_when":
        return [fact.reveal_when for fact in persona.hidden]
    if condition in ("calms_when", "rises_when"):
        return list(getattr(persona.frustration, condition))
    return [getattr(persona.end, condition)]


def test_every_probe_names_a_real_persona_condition_and_fact(personas):
    data = probe_file()
    targets = data["targets"]
    for persona_id, names in targets.items():
        assert persona_id in personas
        assert sorted(names.values()) == list(range(len(personas[persona_id].hidden))), \
            f"{persona_id}: targets must name each hidden fact once, by its index"
    for i, probe in enumerate(data["probes"]):
        where = f"probes[{i}] {probe.get('text')!r}"
        assert set(probe) <= {"persona", "condition", "target", "text", "earns", "split"}, where
        assert probe["persona"] in personas, where
        assert probe["condition"] in CONDITIONS, where
        assert isinstance(probe["text"], str) and probe["text"].strip(), where
        assert isinstance(probe["earns"], bool), where
        assert probe["split"] in SPLITS, where
        assert all(text.strip() for text in persona_condition(personas[probe["persona"]], probe["condition"])), \
            f"{where}: the persona has no {probe['condition']}"
        if probe["condition"] == "reveal_when":
            assert probe.get("target") in targets.get(probe["persona"], {}), f"{where}: unknown hidden fact"
        else:
            assert "target" not in probe, f"{where}: only reveal_when probes name a hidden fact"


def test_the_probes_are_enough_and_both_halves_earn_and_miss():
    probes = probe_file()["probes"]
    assert len(probes) >= 60
    assert len({p["persona"] for p in probes}) >= 8
    held = sum(p["split"] == "held" for p in probes) / len(probes)
    assert 0.2 <= held <= 0.4, f"{held:.0%} held"
    for split in SPLITS:
        part = [p for p in probes if p["split"] == split]
        assert {p["condition"] for p in part} == CONDITIONS, split
        reveals = [p for p in part if p["condition"] == "reveal_when"]
        assert any(p["earns"] for p in reveals) and any(not p["earns"] for p in reveals), split
        assert len({p["persona"] for p in part}) >= 8, split


def test_the_probes_hold_the_issues_mei_ling_cases():
    """Asking who and what for earns only her cover story; asking about him again earns the 4pm call."""
    mei = [p for p in probe_file()["probes"] if p["persona"] == "polite-transfer-limit"]
    first = next(p for p in mei if norm(p["text"]) == norm("Who is the money going to, and what is it for?"))
    assert (first["condition"], first["target"], first["earns"]) == ("reveal_when", "scam-call", False)
    assert any(p.get("target") == "scam-call" and p["earns"] for p in mei)
    assert any(p.get("target") == "call-back" and p["earns"] for p in mei)


def test_probes_are_in_other_words_than_the_persona_files(personas):
    for probe in probe_file()["probes"]:
        persona = personas[probe["persona"]]
        own = [norm(text) for condition in CONDITIONS for text in persona_condition(persona, condition)]
        assert not any(norm(probe["text"]) in text or text in norm(probe["text"]) for text in own if text), \
            probe["text"]
