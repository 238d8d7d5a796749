"""Issue 22, what voice adds to the feedback: a spoken turn's record (``Turn.voice``, a
SpokenTurn), the speech figures (words per minute, long pauses before answering, filler
words, talk-over), the advice, the transcript's marks and the progress charts, and the
trainer's data file (``rubrics/speech/speech.yaml``) whose every example is checked here.
No audio: the turns are built with their SpokenTurn directly."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.content.persona import read_persona
from simulator.content.rubric import load_rubric
from simulator.core.locations import bundled_library
from simulator.core.errors import SessionError
from simulator.grading.advice import turn_faults
from simulator.grading.metrics import INFORMS, measure, summary_lines
from simulator.grading.report import measured_lines, measurements, render_report
from simulator.grading.speech import (bundled_rules_path, filler_counts, pace_says, pause_says, read_rules,
                                      speech_rules, talk_over_says)
from simulator.practice.engine import Conversation
from simulator.practice.sessions import (Journal, SessionRecord, SpokenTurn, Turn, TurnState, read_journal,
                                         read_record, read_session, snapshot_text)
from simulator.review.index import SessionSummary, _figures
from simulator.review.progress import progress, progress_lines

T0 = datetime(2026, 12, 1, 20, 0, 0, tzinfo=timezone.utc)
OLD = Path(__file__).parent / "data" / "session-v1"  # written by roleplay before voice
DANA = read_persona(bundled_library() / "personas" / "overcharged-loyal-customer.yaml")[0]
PERSONA = DANA.model_dump(mode="json")  # "Dana Whitaker"
RUBRIC = load_rubric(bundled_library() / "rubrics" / "core-soft-skills.yaml").model_dump(mode="json")
RULES = read_rules(bundled_rules_path())

# the names a typed session's measured figures had before voice: they must stay exactly these
TYPED_NAMES = {
    "response_times_s", "median_response_time_s", "slowest_response_time_s", "turns_to_resolution", "duration_s",
    "learner_turns", "talk_ratio", "learner_words", "customer_words", "questions", "open_questions",
    "closed_questions", "question_log", "repeated_questions", "apologies", "apology_turns", "over_apologising",
    "jargon_used", "reading_ease", "hardest_to_read", "customer_name_used", "customer_name_turns",
    "frustration_path", "hidden_revealed", "outcome", "grader_manipulation_flags", "informs",
}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def spoken_session() -> SessionRecord:
    """Dana's call, the learner speaking turns 1, 3 and 5 and typing turn 7."""
    said = [
        ("customer", "My bill went from $65 to $110 and nobody told me.", None),
        # 60 words in 18 s: 200 wpm, fast; answered after 1.2 s; no fillers; 2.4 s over Dana
        ("learner", "I can see the bill went up from sixty five to one hundred and ten dollars this month and I "
                    "understand that is a big jump so what I am going to do right now is look at the promotion "
                    "that ended on your account and check whether there is a loyalty rate we can put on it today "
                    "for you Dana okay",
         SpokenTurn(duration_s=18.0, words=60, speech_started_s=1.2, talk_over_s=2.4)),
        ("customer", "Fine. But I've been with you nine years.", None),
        # fillers: um x2, like x1 (not "I'd like to"), you know x1; 6.5 s before answering; 150 wpm
        ("learner", "Um, I'd like to, um, sort that out. It was, like, a promotion, you know, that ended.",
         SpokenTurn(duration_s=6.8, words=17, speech_started_s=6.5, talk_over_s=0.2,
                    recognised="Um, I'd like to, um, sort that out. It was, like, a promotion, you know, that ended.",
                    pauses_s=[0.9])),
        ("customer", "So what can you do?", None),
        # edited before sending: the fillers said are counted from what was recognised; 2 s: not rated
        ("learner", "I can take $20 off.", SpokenTurn(duration_s=2.0, words=5, speech_started_s=0.8,
                                                      recognised="Uh I can take twenty off.", edited=True)),
        ("customer", "Okay.", None),
        ("learner", "Thanks, Dana. Anything else?", None),  # typed
        ("customer", "No, that's all.", None),
    ]
    turns = []
    for i, (speaker, text, voice) in enumerate(said):
        turn = Turn(index=i, speaker=speaker, text=text, at=at(10 * i), voice=voice,
                    response_time_s=5.0 if speaker == "learner" else None)
        if speaker == "customer":
            turn.state = TurnState(frustration=5)
        turns.append(turn)
    return SessionRecord(session_id="spoken", started_at=at(0), persona_id="overcharged-loyal-customer",
                         rubric_id="core-soft-skills", persona=PERSONA, rubric=RUBRIC, models={}, turns=turns,
                         outcome="resolved", ended_at=at(100))


# -- the data file: every rule's examples, as written -----------------------------------------

FILLER_CASES = [(w.phrase, line, True) for w in RULES.fillers.words for line in w.examples.filler] + \
               [(w.phrase, line, False) for w in RULES.fillers.words for line in w.examples.not_filler]


@pytest.mark.parametrize("phrase,line,filler", FILLER_CASES, ids=lambda v: str(v)[:40])
def test_each_filler_example_in_the_data_file_is_read_as_written(phrase, line, filler):
    count = filler_counts(line, RULES).get(phrase, 0)
    assert (count >= 1) if filler else (count == 0), f"{phrase!r} in {line!r}: counted {count}"


def test_like_is_a_filler_only_as_a_filler_and_the_file_has_both_kinds():
    like = next(w for w in RULES.fillers.words if w.phrase == "like")
    assert len(like.examples.filler) >= 3 and len(like.examples.not_filler) >= 3
    assert filler_counts("It was, like, broken.", RULES)["like"] == 1
    assert filler_counts("I'd like to help. Do it like this.", RULES)["like"] == 0
    assert filler_counts("Would you like, um, a refund?", RULES) == {"um": 1}


@pytest.mark.parametrize("example", RULES.pace.examples, ids=lambda e: f"{e.words}w-{e.duration_s}s")
def test_each_pace_example_in_the_data_file(example):
    assert pace_says(example.words, example.duration_s, RULES)[0] == example.says


@pytest.mark.parametrize("example", RULES.pause_before_answer.examples, ids=lambda e: f"{e.seconds}s")
def test_each_pause_example_in_the_data_file(example):
    assert pause_says(example.seconds, RULES) == example.says


@pytest.mark.parametrize("example", RULES.talk_over.examples, ids=lambda e: f"{e.seconds}s")
def test_each_talk_over_example_in_the_data_file(example):
    assert talk_over_says(example.seconds, RULES) == example.says


def test_a_trainers_copy_in_the_workspace_is_used_and_a_broken_one_is_named(workspace):
    own = workspace / "rubrics" / "speech" / "speech.yaml"
    own.parent.mkdir(parents=True, exist_ok=True)
    text = bundled_rules_path().read_text(encoding="utf-8")
    own.write_text(text.replace("fast_wpm: 170", "fast_wpm: 140"), encoding="utf-8")
    rules, note = speech_rules(workspace)
    assert rules.pace.fast_wpm == 140 and note is None
    own.write_text(text.replace("fast_wpm: 170", "fast_wpm: quick"), encoding="utf-8")
    rules, note = speech_rules(workspace)
    assert rules.pace.fast_wpm == 170  # the bundled rules, never a failed grade
    line = next(n for n, row in enumerate(own.read_text().splitlines(), 1) if "fast_wpm" in row)
    assert f"speech.yaml:{line}:" in note and "fast_wpm" in note and "bundled speech rules were used" in note


# -- the figures ------------------------------------------------------------------------------

def test_spoken_turns_give_the_speech_figures():
    s = measure(spoken_session()).speech
    assert s is not None
    assert s.spoken_turns == 3 and s.spoken_words == 60 + 17 + 5
    assert s.words_per_minute == round(82 / (18.0 + 6.8 + 2.0) * 60, 1)  # 183.6
    assert [(p["turn"], p["wpm"], p["says"]) for p in s.pace] == [(1, 200.0, "fast"), (3, 150.0, "ok"),
                                                                   (5, 150.0, "unrated")]
    assert s.long_pauses == [{"turn": 3, "seconds": 6.5}] and s.longest_pause_s == 6.5
    assert s.filler_words == {"um": 2, "like": 1, "you know": 1, "uh": 1}
    assert s.fillers == 5 and s.fillers_per_100_words == round(5 / 82 * 100, 1)
    assert [(t["turn"], t["count"]) for t in s.filler_turns] == [(3, 4), (5, 1)]
    assert s.talk_overs == [{"turn": 1, "seconds": 2.4}] and s.talk_over_s == 2.4  # 0.2 s is turn-taking
    assert s.edited_turns == [5]


def test_the_speech_figures_are_shown_with_the_other_measured_figures():
    measured = measure(spoken_session())
    lines = summary_lines(measured)
    assert lines[-6:] == ["Spoken turns: 3, 184 words a minute (fastest: turn 1 at 200)",
                          "Long pauses before answering: 1 (longest wait 6.5 s)",
                          "Filler words: 5, 6.1 per 100 words: um ×2, like ×1, you know ×1, uh ×1",
                          "Most fillers in turns 3 (4), 5 (1)",
                          "Talk-over: 1 (2.4 s in all)",
                          "Recognised text edited before sending in turn 5"]
    # saved with an evaluation and read back (the feedback screen, report.md): the same lines
    saved = json.loads(json.dumps(measured.to_dict()))
    assert saved["speech"]["words_per_minute"] == 183.6
    assert measured_lines(saved) == measured_lines(measured)
    assert measurements(saved).speech == measured.speech
    assert saved["informs"]["speech"] == ["clear-communication", "time-management", "active-listening"]


def test_the_advice_says_what_to_do_about_how_it_sounded():
    measured = measure(spoken_session())
    advice = measured.speech.advice
    assert len(advice) == 4
    slow, fillers, pauses, over = advice
    assert slow.startswith("Slow down: 184 words a minute overall (fast in turn 1).") and "140–160" in slow
    assert fillers.startswith('Fewer fillers: "um" ×2, "like", "you know", "uh" (6.1 per 100 words; most in turn 3).')
    assert "Pause instead of filling" in fillers and '"um"' in fillers
    assert pauses.startswith("Answer sooner: 1 long pause before answering (longest 6.5 s, turn 3).")
    assert "Let me check that for you, Dana" in pauses
    assert over.startswith("Let Dana finish: you spoke over Dana 1 time (2.4 s in all; turn 1).")
    assert [f"Tip: {a}" for a in advice] == measured_lines(measured)[-4:]
    # and on the turns themselves (the weakest turns), with the criterion each hurts
    faults = turn_faults(spoken_session(), measured, readings={})
    said = {(turn, f["what"], f["criterion"]) for turn, found in faults.items() for f in found}
    assert (1, "spoke at 200 words a minute", "clear-communication") in said
    assert (1, "spoke over Dana for 2.4 s", "active-listening") in said
    assert (3, 'filled with "um" ×2, "like", "you know"', "clear-communication") in said
    assert (3, "waited 6.5 s before answering", "time-management") in said
    assert not any(turn in (5, 7) for turn, _, _ in said if "fill" in _ or "spoke" in _)


def test_a_session_that_sounded_fine_gets_no_speech_advice():
    record = spoken_session()
    for turn in record.turns:
        if turn.voice:
            turn.voice = SpokenTurn(duration_s=turn_words_seconds(turn.text), speech_started_s=1.0)
            turn.text = turn.text.replace("Um, ", "").replace(", um,", "").replace(", like,", "").replace(
                ", you know,", "")
    measured = measure(record)
    assert measured.speech.fillers == 0 and measured.speech.advice == []
    assert not [line for line in measured_lines(measured) if line.startswith("Tip:")]


def turn_words_seconds(text: str) -> float:
    return len(text.split()) / 150 * 60  # 150 words a minute


def test_the_transcript_marks_spoken_turns():
    record = spoken_session()
    report = render_report(record, None, measure(record), None, "not graded yet")
    assert "1. **You:** (spoken, 200 wpm) I can see the bill" in report
    assert "5. **You:** (spoken, 150 wpm, edited) I can take $20 off." in report
    assert "7. **You:** Thanks, Dana. Anything else?" in report  # typed: no mark
    assert "- Tip: Slow down" in report


# -- a typed session is exactly as before -----------------------------------------------------

def test_an_old_session_without_voice_loads_writes_back_the_same_and_its_figures_are_unchanged(tmp_path):
    folder = tmp_path / OLD.name
    shutil.copytree(OLD, folder)
    saved = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    for record in (read_journal(folder), read_record(folder)):
        assert all(t.voice is None for t in record.turns)
        assert [t.to_dict() for t in record.turns] == saved["turns"]
        measured = measure(record)
        assert measured.speech is None
        assert set(measured.to_dict()) == TYPED_NAMES and set(measured.informs) == set(INFORMS)
        assert measured_lines(measured) == summary_lines(measured)
        assert not any(line.startswith(("Spoken turns", "Filler words", "Talk-over", "Tip:"))
                       for line in measured_lines(measured))
        assert "(spoken" not in render_report(record, None, measured, None, "pending")
        assert set(_figures(measured.to_dict())) == {"apologies", "open_share", "median_response_time_s", "jargon",
                                                     "reading_ease"}


def test_a_spoken_turn_is_saved_and_read_back_from_the_journal_and_the_record(workspace):
    record = spoken_session()
    record.session_id = "20261201-200000-overcharged-loyal-customer-a1b2"
    turns, record.turns = record.turns, []
    journal = Journal.create(record, workspace)
    for turn in turns:
        record.turns.append(turn)
        journal.append({"type": "turn", **turn.to_dict()})
    journal.snapshot(record)
    for back in (read_journal(record.folder), read_record(record.folder)):
        assert [t.voice for t in back.turns] == [t.voice for t in turns]
    line = json.loads((record.folder / "journal.jsonl").read_text().splitlines()[2])
    assert line["voice"] == {"spoken": True, "duration_s": 18.0, "words": 60, "speech_started_s": 1.2,
                             "talk_over_s": 2.4}  # only what is known
    assert "voice" not in json.loads(snapshot_text(record))["turns"][0]  # the customer's turn


def test_a_damaged_voice_field_is_one_line_naming_where(workspace):
    record = spoken_session()
    record.session_id = "20261201-200000-overcharged-loyal-customer-c3d4"
    turns, record.turns = record.turns[:2], []
    journal = Journal.create(record, workspace)
    journal.append({"type": "turn", **turns[0].to_dict()})
    bad = turns[1].to_dict()
    bad["voice"]["pauses_s"] = [0.4, "long"]
    journal.append({"type": "turn", **bad})
    journal.append({"type": "end", "outcome": "ended_by_learner"})
    with pytest.raises(SessionError) as caught:
        read_session(record.folder)
    assert "journal.jsonl:3:1:" in str(caught.value) and "voice.pauses_s[1]: expected a number, got text" in str(
        caught.value)


# -- the engine stores it ---------------------------------------------------------------------

async def test_send_stores_how_the_learner_spoke_on_the_learners_turn(workspace):
    library = load_library(workspace)
    persona = library.persona("overcharged-loyal-customer")
    conv = Conversation.start(persona, library.rubric_for(persona), ScriptedModel(replies=lambda m: "Go on."),
                              workspace=workspace, use_director=False)
    voice = SpokenTurn(duration_s=3.1, words=8, speech_started_s=0.9, recognised="hi dana um sorry about the bill",
                       edited=True)
    await conv.send("Hi Dana, sorry about the bill.", voice=voice)
    await conv.send("What happened?")
    conv.end()
    back = read_journal(conv.record.folder)
    learner = [t for t in back.turns if t.speaker == "learner"]
    assert learner[0].voice == voice and learner[1].voice is None
    assert [t.voice for t in back.turns if t.speaker == "customer"] == [None] * 3
    assert measure(back).speech.filler_words == {"um": 1}


# -- progress ---------------------------------------------------------------------------------

def test_progress_charts_words_per_minute_and_fillers_of_spoken_sessions():
    figures = _figures(measure(spoken_session()).to_dict())
    assert figures["words_per_minute"] == 183.6 and figures["fillers_per_100"] == 6.1
    rows = [SessionSummary(folder=f"s{i}", session_id=f"s{i}", status="pending", started_at=at(86400 * i),
                           figures={"apologies": 1, "words_per_minute": wpm, "fillers_per_100": fillers})
            for i, (wpm, fillers) in enumerate([(190, 7.0), (184, 6.0), (160, 3.0), (150, 2.0)])]
    report = progress(rows, now=T0 + timedelta(days=5))
    assert report.figures["words_per_minute"] == (187.0, 155.0)
    lines = progress_lines(report)
    assert any(line.split() == ["words", "per", "minute", "(spoken)", "187", "→", "155"] for line in lines)
    assert any(line.split() == ["fillers", "per", "100", "words", "6.5", "→", "2.5"] for line in lines)
    typed = [SessionSummary(folder=r.folder, session_id=r.session_id, status="pending", started_at=r.started_at,
                            figures={"apologies": 1}) for r in rows]
    assert not any("per minute" in line for line in progress_lines(progress(typed, now=T0 + timedelta(days=5))))
