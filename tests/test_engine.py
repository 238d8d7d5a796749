"""The conversation engine, driven by a scripted fake model."""

from __future__ import annotations

import json

import pytest
from fakes import ScriptedModel, model_error

from simulator.content.library import load_library
from simulator.core.errors import ModelError, SessionError
from simulator.practice.engine import Conversation, ConversationState, customer_system_prompt, guard_reply
from simulator.practice.sessions import list_session_folders, read_journal


@pytest.fixture
def library(workspace):
    return load_library(workspace)


@pytest.fixture
def dana(library):
    return library.persona("overcharged-loyal-customer")


def start(library, persona, model, workspace, **kw):
    return Conversation.start(persona, library.rubric_for(persona), model, workspace=workspace, **kw)


async def test_opening_is_turn_zero_and_journaled(library, dana, workspace):
    conv = start(library, dana, ScriptedModel(), workspace)
    assert conv.turns[0].speaker == "customer" and conv.turns[0].text == dana.opening
    record = read_journal(list_session_folders(workspace)[0])
    assert record.persona["name"] == dana.name  # snapshot of the persona as used
    assert record.rubric["criteria"]  # and of the rubric
    assert [t.text for t in record.turns] == [dana.opening]


async def test_reply_streams_and_every_turn_is_on_disk(library, dana, workspace):
    model = ScriptedModel(replies=["Nine years I've paid on time. Explain the $110."])
    conv = start(library, dana, model, workspace)
    chunks = []
    turn = await conv.send("Hi Dana, I'm sorry about the surprise. Let me look at the bill.", on_chunk=chunks.append)
    assert "".join(chunks) == turn.text == "Nine years I've paid on time. Explain the $110."
    assert len(chunks) > 1  # it arrived in pieces
    record = read_journal(conv.record.folder)
    assert [t.speaker for t in record.turns] == ["customer", "learner", "customer"]
    assert record.turns[1].response_time_s is not None
    assert record.turns[2].state.frustration == conv.state.frustration
    saved = json.loads((conv.record.folder / "session.json").read_text())
    assert saved["version"] == 1 and len(saved["turns"]) == 3


async def test_jargon_raises_frustration_by_rules(library, dana, workspace):
    conv = start(library, dana, ScriptedModel(replies=["What does that even mean?"]), workspace,
                 use_director=False)
    before = conv.state.frustration
    turn = await conv.send("Your proration was applied at the start of the billing cycle.")
    assert conv.state.frustration == before + 1
    assert any("jargon" in r for r in turn.state.decision["reasons"])


async def test_director_calms_and_reveals_hidden_fact(library, dana, workspace):
    model = ScriptedModel(replies=["Okay. Honestly, Fibrelink offered me $50 a month."],
                          directions=[{"frustration_change": -2, "reveal": [0], "outcome": "continue",
                                       "why": "owned the overcharge"}])
    conv = start(library, dana, model, workspace)
    before = conv.state.frustration
    await conv.send("You're right, we raised your price without warning and that's on us. What are you thinking of doing?")
    assert conv.state.frustration == before - 2
    assert conv.state.revealed == [0]
    # this turn's instructions (the last message, after the stable persona prompt) carry the revealed fact
    assert dana.hidden[0].fact in model.calls[-1]["messages"][-1]["content"]
    assert dana.hidden[0].fact not in model.calls[-1]["messages"][0]["content"]


async def test_hidden_fact_not_in_prompt_until_earned(library, dana, workspace):
    model = ScriptedModel(replies=["Just fix it."])
    conv = start(library, dana, model, workspace, use_director=False)
    await conv.send("Can you confirm the account holder's name?")
    assert all(dana.hidden[0].fact not in m["content"] for m in model.calls[-1]["messages"])


async def test_unreadable_director_falls_back_to_rules(library, dana, workspace):
    model = ScriptedModel(replies=["Hm."], directions=["I think she calms down a bit maybe"])
    conv = start(library, dana, model, workspace)
    turn = await conv.send("Our escalation matrix requires a ticket.")
    assert turn.state.decision["source"] == "rules"
    assert any("unreadable" in r for r in turn.state.decision["reasons"])


async def test_resolved_ends_with_words_kept(library, dana, workspace):
    model = ScriptedModel(replies=["Fine, noted.", "Okay, that's fair. Thanks for fixing it. [END]"],
                          directions=[{"frustration_change": -1, "reveal": [], "outcome": "continue", "why": ""},
                                      {"frustration_change": -1, "reveal": [], "outcome": "resolved", "why": "credited"}])
    conv = start(library, dana, model, workspace)
    await conv.send("I'm crediting the $45 back now.")
    assert not conv.ended
    turn = await conv.send("And your old $65 price is restored from next month.")
    assert conv.ended and conv.record.outcome == "resolved"
    assert turn.text == "Okay, that's fair. Thanks for fixing it."  # words said with the end are kept
    assert "End the conversation now." in model.calls[-1]["messages"][-1]["content"]  # she was told to end
    assert read_journal(conv.record.folder).outcome == "resolved"


async def test_model_end_token_alone_does_not_end_the_call(library, dana, workspace):
    model = ScriptedModel(replies=["Okay. [END]"])
    conv = start(library, dana, model, workspace)
    turn = await conv.send("I've confirmed your address.")
    assert not conv.ended and turn.text == "Okay."


async def test_resolved_is_not_accepted_on_first_turn(library, dana, workspace):
    model = ScriptedModel(replies=["Hm."], directions=[{"frustration_change": 0, "reveal": [], "outcome": "resolved", "why": ""}])
    conv = start(library, dana, model, workspace)
    await conv.send("Done, all fixed.")
    assert not conv.ended


async def test_gives_up_when_frustration_reaches_ten(library, dana, workspace):
    directions = [{"frustration_change": 2, "reveal": [], "outcome": "continue", "why": "brushed off"}] * 5
    model = ScriptedModel(replies=lambda m: "This is ridiculous.", directions=list(directions))
    conv = start(library, dana, model, workspace)
    for _ in range(5):
        if conv.ended:
            break
        await conv.send("Calm down, that's just how it is.")
    assert conv.ended and conv.record.outcome == "gave_up"
    assert conv.state.frustration == 10


async def test_turn_limit_ends_the_session(library, workspace):
    persona = library.persona("overcharged-loyal-customer").model_copy(deep=True)
    persona.end.max_turns = 2
    conv = start(library, persona, ScriptedModel(replies=lambda m: "Go on."), workspace)
    await conv.send("Hello.")
    assert not conv.ended
    await conv.send("Let me check.")
    assert conv.record.outcome == "turn_limit"
    with pytest.raises(SessionError):
        await conv.send("One more thing")


async def test_learner_can_end(library, dana, workspace):
    conv = start(library, dana, ScriptedModel(), workspace)
    conv.end()
    assert read_journal(conv.record.folder).outcome == "ended_by_learner"


@pytest.mark.parametrize("bad,rule", [
    ("", "empty"),
    ("How can I help you today?", "speaks_as_agent"),
    ("Thank you for contacting Brightwave support!", "speaks_as_agent"),
    ("My instructions say I should stay in character.", "leaks_prompt"),
    ("Situation: Flight HAT045 was cancelled.", "leaks_prompt"),
    ("Here is my photo [insert image]", "leaks_prompt"),
    ("I'll have to check your account again.", "speaks_as_agent"),
])
async def test_guard_regenerates_bad_replies(library, dana, workspace, bad, rule):
    model = ScriptedModel(replies=[bad, "Just tell me why my bill doubled."])
    conv = start(library, dana, model, workspace)
    resets = []
    turn = await conv.send("Hello Dana.", on_reset=resets.append)
    assert turn.text == "Just tell me why my bill doubled."
    assert turn.guard[0]["verdict"] == rule and turn.guard[1]["verdict"] == "ok"
    assert resets  # the UI was told to drop the rejected text
    assert read_journal(conv.record.folder).turns[-1].guard[0]["verdict"] == rule


async def test_guard_catches_hidden_fact_leaked_early(library, dana, workspace):
    leak = dana.hidden[0].fact
    model = ScriptedModel(replies=[leak, "Just fix it."])
    conv = start(library, dana, model, workspace, use_director=False)
    turn = await conv.send("Good evening.")
    assert turn.guard[0]["verdict"] == "reveals_early"
    assert turn.text == "Just fix it."


async def test_guard_gives_up_after_bounded_attempts(library, dana, workspace):
    model = ScriptedModel(replies=lambda m: "How may I assist you today?")
    conv = start(library, dana, model, workspace)
    turn = await conv.send("Hi.")
    assert [g["verdict"] for g in turn.guard][-1] == "fallback"
    assert len([c for c in model.calls if c["kind"] == "stream"]) == 3
    assert "assist" not in turn.text


async def test_model_failure_hands_text_back_and_retry_works(library, dana, workspace):
    model = ScriptedModel(replies=[model_error("unreachable"), "About time someone answered."])
    conv = start(library, dana, model, workspace)
    with pytest.raises(ModelError):
        await conv.send("Sorry for the wait, Dana.")
    assert conv.pending_text == "Sorry for the wait, Dana."
    assert [t.speaker for t in conv.turns] == ["customer"]
    assert conv.state.learner_turns == 0
    turn = await conv.send(conv.pending_text)
    assert turn.text == "About time someone answered."
    record = read_journal(conv.record.folder)
    assert [t.speaker for t in record.turns] == ["customer", "learner", "customer"]


async def test_a_turn_that_cannot_be_saved_is_not_in_the_session_and_its_text_comes_back(
        library, dana, workspace, monkeypatch):
    """Headless (no writer thread), the disk fills as the learner's turn is written: the send
    fails in one line, the turn is in neither the journal nor session.json nor the count,
    and the text is handed back; once there is room the same text plays on."""
    import errno
    import json

    from simulator.core.errors import RoleplayError
    from simulator.practice.sessions import RECORD, Journal

    model = ScriptedModel(replies=["Fine. What now?"])
    conv = start(library, dana, model, workspace)
    real_append = Journal.append
    full = {"on": True}

    def append(self, event):
        if full["on"]:
            raise self._cannot_save(OSError(errno.ENOSPC, "No space left on device"))
        return real_append(self, event)

    monkeypatch.setattr(Journal, "append", append)
    with pytest.raises(RoleplayError) as err:
        await conv.send("Two, and a question about the bill.")
    assert "\n" not in str(err.value)
    assert conv.pending_text == "Two, and a question about the bill."
    assert [t.speaker for t in conv.turns] == ["customer"] and conv.state.learner_turns == 0
    full["on"] = False
    await conv.send(conv.pending_text)
    saved = json.loads((conv.record.folder / RECORD).read_text())
    assert [t["speaker"] for t in saved["turns"]] == ["customer", "learner", "customer"]
    assert [t.speaker for t in read_journal(conv.record.folder).turns] == ["customer", "learner", "customer"]


async def test_stream_retry_partial_text_is_dropped(library, dana, workspace):
    model = ScriptedModel(replies=["My bill is still wrong."], retry_before=["Half a rep"])
    conv = start(library, dana, model, workspace)
    shown = []
    turn = await conv.send("Hi.", on_chunk=shown.append, on_reset=lambda reason: shown.clear())
    assert turn.text == "My bill is still wrong." and "".join(shown) == "My bill is still wrong."


async def test_hint_is_recorded(library, dana, workspace):
    model = ScriptedModel(completions=["Name the overcharge and own it before explaining."])
    conv = start(library, dana, model, workspace)
    turn = await conv.hint()
    assert turn.speaker == "hint" and "own it" in turn.text
    assert read_journal(conv.record.folder).turns[-1].speaker == "hint"
    # hints are not part of what the customer sees
    assert all(m["content"] != turn.text for m in conv.history())


async def test_resume_from_journal(library, dana, workspace):
    model = ScriptedModel(replies=["First.", "Second."])
    conv = start(library, dana, model, workspace)
    await conv.send("One.")
    record = read_journal(conv.record.folder)
    again = Conversation.resume(record, ScriptedModel(replies=["Resumed."]))
    assert again.state.learner_turns == 1
    turn = await again.send("Two.")
    assert turn.text == "Resumed."
    assert [t.text for t in read_journal(conv.record.folder).turns][-2:] == ["Two.", "Resumed."]


async def test_resume_hands_back_unanswered_learner_turn(library, dana, workspace):
    conv = start(library, dana, ScriptedModel(), workspace)
    from simulator.practice.sessions import Turn
    conv._add(Turn(index=1, speaker="learner", text="Typed before the crash"))  # reply never came
    again = Conversation.resume(read_journal(conv.record.folder), ScriptedModel())
    assert again.pending_text == "Typed before the crash"
    assert [t.speaker for t in again.turns] == ["customer"]


async def test_torn_last_journal_line_is_ignored(library, dana, workspace):
    conv = start(library, dana, ScriptedModel(replies=["Ok."]), workspace)
    await conv.send("Hello.")
    with (conv.record.folder / "journal.jsonl").open("a") as f:
        f.write('{"type":"turn","index":3,"speaker":"cust')  # killed mid-write
    record = read_journal(conv.record.folder)
    assert len(record.turns) == 3


def test_system_prompt_never_contains_unrevealed_hidden_facts(library, dana):
    state = ConversationState(frustration=5)
    prompt = customer_system_prompt(dana, state)
    assert all(h.fact not in prompt for h in dana.hidden)
    assert dana.character.goal in prompt


def test_guard_accepts_ordinary_customer_reply(dana):
    assert guard_reply("Nine years and you do this to me?", dana, ConversationState(frustration=5)) is None


def test_rambling_reply_is_cut_short():
    from simulator.practice.engine import clean_reply

    looping = " ".join(["I'm going to be amazing."] * 10)
    assert clean_reply(looping, "Dana Whitaker").count("amazing") == 4
    run_on = "well " + ", and then ".join(f"thing {i}" for i in range(60))
    cut = clean_reply(run_on, "Dana Whitaker")
    assert len(cut.split()) <= 70 and cut.endswith("…")
    assert clean_reply('Dana: "Just fix it."', "Dana Whitaker") == "Just fix it."


async def test_resume_after_a_crash_counts_the_answered_turns(library, dana, workspace):
    """Issue 9, fault 1: two answered turns and a third left unanswered by a crash resume
    with two learner turns counted, not one (the unanswered turn was never counted)."""
    conv = start(library, dana, ScriptedModel(replies=["First.", "Second."]), workspace)
    await conv.send("One.")
    await conv.send("Two.")
    from simulator.practice.sessions import Turn
    conv._add(Turn(index=conv._next_index(), speaker="learner", text="Three, typed before the crash"))
    again = Conversation.resume(read_journal(conv.record.folder), ScriptedModel(replies=["Third."]))
    assert again.state.learner_turns == 2
    assert again.pending_text == "Three, typed before the crash"
    await again.send(again.pending_text)
    assert again.state.learner_turns == 3


async def test_ending_while_the_reply_streams_keeps_journal_and_snapshot_in_agreement(library, dana, workspace):
    """Issue 9, fault 2: ending mid-reply takes the unanswered learner turn back *before* the
    end, so the journal reads retract then end and session.json holds what the journal holds."""
    import asyncio
    import json

    started = asyncio.Event()

    class Slow(ScriptedModel):
        def stream(self, messages, **kw):
            inner = super().stream(messages, **kw)

            async def agen():
                started.set()
                await asyncio.sleep(3600)  # the customer is still typing
                async for chunk in inner:
                    yield chunk
            return type(inner)(agen(), inner.record)

    conv = start(library, dana, Slow(), workspace)
    task = asyncio.create_task(conv.send("Half-way through my question"))
    await started.wait()
    conv.end("ended_by_learner")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    folder = conv.record.folder
    events = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events if e["type"] in ("retract", "end")]
    assert kinds == ["retract", "end"]
    snapshot = json.loads((folder / "session.json").read_text())
    assert [t["speaker"] for t in snapshot["turns"]] == [t.speaker for t in read_journal(folder).turns] == ["customer"]
    assert conv.state.learner_turns == 0


def test_a_fact_written_as_a_stage_direction_is_said_not_read_out(library):
    """Seen in tmux: Mei-Ling said "If asked what the payment is for, I first say it's to
    help my nephew" — the file's direction, read out. She says only the cover story."""
    from simulator.practice.moves import MoveContext, choose

    persona = library.persona("polite-transfer-limit")
    move = choose(persona, MoveContext(message="What is the payment for?", ending=None, reveal=[], dismissive=False,
                                       acknowledged=False, jargon=[], given=[], said=[persona.opening]))
    assert move.kind == "answer"
    assert move.line == "It is to help my nephew with a home renovation."


def test_a_move_never_picks_a_line_the_audit_calls_a_repeat(library):
    """Seen in the fidelity run: the soften line was a near-copy of the model's earlier
    paraphrase; the move's own freshness check and the audit disagreed, and the fallback
    showed a repeat. The move now skips any line the audit would tag."""
    from simulator.practice.audit import repetition
    from simulator.practice.moves import MoveContext, choose, goal_line

    persona = library.persona("vague-thermostat-offline")
    earlier = "Okay. I need to be able control my heating from the app again before I need to do it."
    assert repetition(f"Okay. {goal_line(persona)}", [earlier])  # what was chosen before
    move = choose(persona, MoveContext(message="I understand, that must be annoying.", ending=None, reveal=[],
                                       dismissive=False, acknowledged=True, jargon=[], given=[],
                                       said=[persona.opening, earlier]))
    assert move.kind == "soften" and repetition(move.line, [persona.opening, earlier]) is None


def test_a_question_about_one_number_is_not_answered_with_another(library):
    """Seen in the fidelity run: "What's the account number." was answered with Derek's
    clue "There is a house number 42 at the other end of Linden Way" (they share "number")."""
    from simulator.practice.moves import MoveContext, choose

    persona = library.persona("rude-missing-parcel")
    move = choose(persona, MoveContext(message="What's the account number.", ending=None, reveal=[], dismissive=False,
                                       acknowledged=False, jargon=[], given=[], said=[persona.opening]))
    assert "42" not in move.line


def test_asked_again_for_a_fact_the_customer_does_not_read_it_out_again(library):
    """Seen in tmux after a resume: asked twice for the same fact, the customer said the same
    sentence twice (every "I already said: …" variant was too close, so the plain line was
    used). Now it says it already told the agent, in words the audit does not call a repeat."""
    from simulator.practice.audit import repetition
    from simulator.practice.moves import MoveContext, choose

    persona = library.persona("overcharged-loyal-customer")
    first = choose(persona, MoveContext(message="When did you notice the price change?", ending=None, reveal=[],
                                        dismissive=False, acknowledged=False, jargon=[], given=[],
                                        said=[persona.opening]))
    again = choose(persona, MoveContext(message="Which email do we have for you?", ending=None, reveal=[],
                                        dismissive=False, acknowledged=False, jargon=[], given=[first.fact],
                                        said=[persona.opening, first.line]))
    assert first.kind == again.kind == "answer" and again.fact == first.fact
    assert repetition(again.line, [persona.opening, first.line]) is None


async def test_a_model_too_small_to_coach_gets_a_hint_from_the_conversation(library, dana, workspace):
    """Issue 10 (coach without a model): on the built-in model the hint returned the
    customer's opening line. A model without the coach capability is not asked at all; the
    tip comes from rules and names what to do next."""
    from simulator.models.config import SMALL

    model = ScriptedModel(replies=["Why did my bill go up? Nobody told me anything."], capabilities=SMALL)
    conv = start(library, dana, model, workspace, use_director=False)
    await conv.send("Your account shows a proration charge.")
    calls = len(model.calls)
    hint = await conv.hint()
    assert len(model.calls) == calls  # no model call
    assert hint.speaker == "hint" and "proration" in hint.text
    assert 'Say "a part-month charge" instead' in hint.text  # the rubric's plain words for it
    assert read_journal(conv.record.folder).turns[-1].text == hint.text


def test_rule_hints_follow_the_conversation(library, dana):
    from simulator.practice.coach import rule_hint
    from simulator.practice.sessions import Turn

    def turns(*pairs):
        return [Turn(index=i, speaker=who, text=text) for i, (who, text) in enumerate(pairs)]

    opening = ("customer", dana.opening)
    hint = rule_hint(dana, turns(opening), frustration=5, revealed=[], jargon=[])
    assert "What is going on?" in hint  # her question, quoted, answered first
    calm = turns(opening, ("learner", "Let me check."), ("customer", "Fine."))
    assert "Acknowledge how Dana feels" in rule_hint(dana, calm, frustration=5, revealed=[], jargon=[])
    upset = turns(opening, ("learner", "Let me check."), ("customer", "This is ridiculous."))
    assert "Dana is upset (8/10)" in rule_hint(dana, upset, frustration=8, revealed=[], jargon=[])
    heard = turns(opening, ("learner", "I can see why that is frustrating."), ("customer", "It is."),
                  ("learner", "When did it change?"), ("customer", "This month."),
                  ("learner", "I understand. Which plan are you on?"), ("customer", "The old one."))
    assert "more to Dana's story" in rule_hint(dana, heard, frustration=4, revealed=[], jargon=[])
    everything = [h for h in range(len(dana.hidden))]
    assert "what you can do" in rule_hint(dana, heard, frustration=4, revealed=everything, jargon=[])
    for text in (rule_hint(dana, t, frustration=8, revealed=[], jargon=[]) for t in (calm, upset, heard)):
        assert not any(h.fact[:30] in text for h in dana.hidden)  # never gives a hidden fact away
    told = turns(opening, ("learner", "What's your account number?"), ("customer", "44-1029."),
                 ("learner", "And the account number?"), ("customer", "I just told you that."))
    assert "already told you that (turn 2)" in rule_hint(dana, told, frustration=6, revealed=[], jargon=[])
    late = dana.model_copy(update={"end": dana.end.model_copy(update={"max_turns": 4})})
    assert "Two turns left" in rule_hint(late, heard[:5], frustration=4, revealed=[], jargon=[])


def test_a_models_tip_is_shown_only_when_it_is_advice(library, dana):
    """Issue 10: a capable model's tip (or a judge's better reply) is shown only when it is
    advice to the agent, not a customer line, a transcript label or a copy of the transcript."""
    from simulator.practice.coach import advice_problem
    from simulator.practice.sessions import Turn

    said = [Turn(index=0, speaker="customer", text=dana.opening),
            Turn(index=1, speaker="learner", text="Let me check your account for you right now, okay?")]
    assert advice_problem("Acknowledge the shock of a doubled bill before you explain it.", said) is None
    assert advice_problem("Customer: I just opened my bill and it's almost double.", said) == \
        "a transcript line, not advice"
    assert advice_problem("I just opened my bill and it's almost double. What is going on?", said).startswith(
        "a copy of turn 0")
    assert advice_problem("I want my money back today.", said) == "a customer's line, not advice to the agent"
    assert advice_problem("Try: <one concrete thing to say>", said) == "empty or a template placeholder"
    assert advice_problem("Try: [1-5]", said) == "empty or a template placeholder"
    assert advice_problem("I can see why that shocked you, Dana.", said, rewrite=True) is None
    assert advice_problem("Let me check your account for you right now.", said, rewrite=True) == "a copy of turn 1"


async def test_a_capable_models_tip_that_is_a_customer_line_is_replaced(library, dana, workspace):
    model = ScriptedModel(replies=["Why did my bill go up?"], completions=lambda m: "Customer: Why did my bill go up?")
    conv = start(library, dana, model, workspace, use_director=False)
    await conv.send("Let me look.")
    hint = await conv.hint()
    assert not hint.text.startswith("Customer:") and "Dana" in hint.text


async def test_try_again_from_a_turn_continues_with_the_exact_state_there(library, dana, workspace):
    """Issue 11: "try again from here" starts a new session with the original's turns before
    that learner turn, the state they left, and a record of where it branched from; its
    grade covers only the new part."""
    from simulator.grading.metrics import measure
    from simulator.practice.sessions import read_journal, read_session

    dana = dana.model_copy(update={"frustration": dana.frustration.model_copy(update={"start": 3})})  # she stays
    first = start(library, dana, ScriptedModel(replies=["Go on.", "Hm.", "Fine."]), workspace, use_director=False)
    await first.send("Calm down, policy is policy.")  # turn 1: frustration goes up
    await first.send("What's your account number?")  # turn 3
    await first.send("Sorry, what's your account number?")  # turn 5
    first.end()
    original = read_journal(first.record.folder)
    at_three = next(t for t in original.turns if t.index == 2).state
    with pytest.raises(SessionError):
        Conversation.branch(original, 2, ScriptedModel(), workspace=workspace)  # a customer turn
    again = Conversation.branch(original, 3, ScriptedModel(replies=["Thank you."]), workspace=workspace,
                                use_director=False)
    assert [t.index for t in again.turns] == [0, 1, 2] and again.turns[1].text == "Calm down, policy is policy."
    assert again.state.frustration == at_three.frustration and again.state.learner_turns == 1
    assert again.record.persona == original.persona and again.record.rubric == original.rubric
    await again.send("I'm sorry, that must be frustrating. I can see the bill went up without warning.")
    assert again.turns[3].index == 3 and again.turns[3].speaker == "learner"
    again.end()
    for saved in (read_journal(again.record.folder), read_session(again.record.folder)):
        assert saved.branched_from == {"session_id": original.session_id, "turn": 3} and saved.graded_from == 3
    saved = read_journal(again.record.folder)
    measured = measure(saved)
    assert measured.learner_turns == 1 and measured.apologies == 1  # the new part only
    assert measured.frustration_path[0] == at_three.frustration
