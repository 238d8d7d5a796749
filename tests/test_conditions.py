"""The customer reacts to what the learner means (issue 19): hidden facts come out when earned in
any words and not before, a fact that waits for another waits, the call is resolved only when
everything the persona's resolved_when asks for is done, and a calm caller stays courteous."""

from __future__ import annotations

import pytest
from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.core.text import split_sentences
from simulator.practice import conditions
from simulator.practice.engine import Conversation
from simulator.practice.moves import MoveContext, choose


@pytest.fixture
def library(workspace):
    return load_library(workspace)


@pytest.fixture
def mei_ling(library):
    return library.persona("polite-transfer-limit")


def start(library, persona, workspace, replies=None):
    model = ScriptedModel(replies=replies or ["Oh. I see."] * 12)
    return Conversation.start(persona, library.rubric_for(persona), model, workspace=workspace, use_director=False)


async def test_the_truth_comes_out_for_a_gentle_question_in_other_words_not_for_the_first_question(
        library, mei_ling, workspace):
    conv = start(library, mei_ling, workspace)
    await conv.send("Of course, I can help with that. Who is the money going to, and what's it for?")
    assert conv.state.revealed == []  # she gives the renovation story first
    await conv.send("That's kind of you. How did you come by Mr Dawson's bank details, if you don't mind me asking?")
    assert conv.state.revealed == [0]
    learner = [t for t in conv.record.turns if t.speaker == "learner"]
    assert all(t.read_by in ("embeddings", "stems") for t in learner)  # each message read once, kept with it
    assert "specific-question" in learner[-1].acts or "open-question" in learner[-1].acts


async def test_the_call_back_waits_for_the_real_story(library, mei_ling, workspace):
    match = conditions.matcher(mei_ling, workspace)
    asked = "Did he say when he'd be getting back in touch with you?"
    assert 1 not in match.read(asked, revealed=[]).reveal  # she has not told the story yet
    assert 1 in match.read(asked, revealed=[0]).reveal


async def test_an_accusation_does_not_earn_the_truth_and_angers_her(library, mei_ling, workspace):
    conv = start(library, mei_ling, workspace)
    before = conv.state.frustration
    await conv.send("Honestly this is a scam and you'd be silly to fall for it.")
    assert conv.state.revealed == []
    assert conv.state.frustration > before


def test_resolution_needs_every_part_of_resolved_when(library, mei_ling, workspace):
    match = conditions.matcher(mei_ling, workspace)
    parts = conditions.resolution_parts(mei_ling.end.resolved_when)
    assert len(parts) == 5 and parts[0].startswith("does not raise the limit")
    said = ["I won't raise the limit today, but I can place a 24-hour protective hold on new payees."]
    done = match.resolution(said, revealed=[])
    assert not done.complete
    assert any("4pm" in p for p in done.missing())  # she has not agreed to ignore the call-back
    assert any("uncovers" in p for p in done.missing())


def test_an_initial_does_not_end_a_sentence():
    assert split_sentences("The payee is new to me: 'N. Dawson', at another bank. That's all.") == [
        "The payee is new to me: 'N. Dawson', at another bank.", "That's all."]


def test_a_calm_caller_presses_courteously(mei_ling):
    rude = {"And? What are you doing about it?", "I'm still waiting for an answer."}
    said: list[str] = []
    for _ in range(8):
        move = choose(mei_ling, MoveContext(message="Let me have a look.", ending=None, reveal=[], dismissive=False,
                                            acknowledged=False, jargon=[], given=[], said=said, frustration=2))
        assert move.line not in rude
        said.append(move.line)


def test_the_customer_never_says_the_learners_sentence_as_hers(library, mei_ling):
    from simulator.practice.audit import AuditContext, audit_reply

    said = "I'm sorry, being rushed into a big payment like this must feel very stressful."
    ctx = AuditContext(persona=mei_ling, jargon=[], revealed=[], earlier_customer=[], earlier_text="",
                       last_learner=said, ending=None)
    tags = {f.tag for f in audit_reply("Being rushed into a big payment like this must feel very stressful.", ctx)}
    assert "repeats" in tags
    assert not {f.tag for f in audit_reply("Oh, it is rather stressful, yes. Thank you for saying so.", ctx)} & {"repeats"}


def test_every_bundled_line_ships_embedded():
    """A new desk's first message does not wait for ~1,900 example lines to be embedded: the act
    files' and the bundled personas' lines ship as vectors. Editing them without `.ci/vectors`
    fails here."""
    import numpy as np

    from simulator.content.acts import load_acts
    from simulator.core import locations
    from simulator.models.local_models import builtin_path
    from simulator.practice import meaning

    if builtin_path() is None:
        pytest.skip("the vectors are keyed by the built-in model's file")
    lines = {e.text for e in meaning.examples_of(load_acts(None).acts)}
    for persona in load_library(locations.bundled_library()).personas.values():
        lines |= {line.text for line in conditions.persona_lines(persona)} | set(persona.facts)
    shipped = meaning.SHIPPED / f"{meaning.BuiltinEmbedder().key}.npz"
    assert shipped.exists(), "no shipped vectors for this model: run .ci/vectors"
    with np.load(shipped) as data:
        keys = set(str(k) for k in data["keys"])
    missing = [t for t in lines if meaning._text_key(t) not in keys]
    assert not missing, f"{len(missing)} lines are not in the shipped vectors (e.g. {missing[0]!r}): run .ci/vectors"


CAREFUL = [
    "Good afternoon, Mrs Zhao, no trouble at all. I can certainly look at the limit with you.",
    "Before I change anything, can I ask who the payment is going to and what it's for? I ask everyone about "
    "big payments to new payees, it's just to keep people safe.",
    "Please don't worry, you've done nothing wrong. Thank you for telling me. Northgate will never ask you to move "
    "your money to keep it safe, so I'm not going to raise the limit today.",
    "Did he say he'd be ringing you again?",
    "Thank you. I'd like to put a 24-hour protective hold on payments to new payees, and put you through to our "
    "fraud team, they'll answer in about five minutes. Is that all right with you?",
    "And when he rings at four, please don't act on anything he says, just put the phone down. Will you do that for me?",
]


async def test_a_careful_call_is_resolved_only_once_she_agrees_not_to_act_on_the_call_back(
        library, mei_ling, workspace):
    conv = start(library, mei_ling, workspace)
    for line in CAREFUL[:-1]:
        await conv.send(line)
        assert not conv.ended  # the hold and the transfer alone do not end it
    assert conv.state.revealed == [0, 1]
    last = await conv.send(CAREFUL[-1])
    assert conv.record.outcome == "resolved" and last.state.outcome == "resolved"
