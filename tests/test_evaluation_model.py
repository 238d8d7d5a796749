"""The typed evaluation: what the grader writes, what every reader gets, and old files."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.grading.report import evaluation_text, render_report
from simulator.models.config import CAPABLE, RoleSettings
from simulator.practice.engine import Conversation
from simulator.practice.evaluation import Evaluation, UnreadableEvaluation, read_evaluation
from simulator.practice.sessions import Journal, TurnState, read_journal, read_session
from simulator.review.export import session_markdown
from simulator.review.index import summarise
from simulator.review.replay import frustration_at


@pytest.fixture
def library(workspace):
    return load_library(workspace)


async def played(library, workspace, lines=("Hi Dana, I'm sorry the bill jumped to $110.",
                                            "What would make this right for you?")):
    persona = library.persona("overcharged-loyal-customer")
    conv = Conversation.start(persona, library.rubric_for(persona), ScriptedModel(replies=lambda m: "Go on."),
                              workspace=workspace, use_director=False)
    for line in lines:
        await conv.send(line)
    conv.end()
    return read_journal(conv.record.folder), library.rubric_for(persona)


def judge_reply(messages):
    if "Criterion:" in messages[1]["content"]:
        return {"score": 4, "reason": "Fine.", "evidence": [], "improvement": "Name the feeling."}
    return {"strengths": [], "changes": [], "better_replies": []}


# -- capabilities, not names ---------------------------------------------------------------

def test_a_model_on_this_machine_gets_a_short_judge_reply_budget_by_its_capabilities():
    assert RoleSettings(role="evaluator", model="local/qwen2.5-0.5b").capabilities.judge_reply_tokens == 240
    assert RoleSettings(role="evaluator", model="local/qwen2.5-0.5b", capable=False).capabilities.judge_reply_tokens == 240
    assert RoleSettings(role="evaluator", model="openai/gpt-4o-mini").capabilities.judge_reply_tokens is None


async def test_the_judge_budget_follows_the_capability_not_the_model_name(library, workspace):
    record, rubric = await played(library, workspace)
    # named like a local model, but declared capable without a cap: the full room
    named_local = ScriptedModel(completions=judge_reply, model="local/big", capabilities=CAPABLE)
    await evaluate(record, rubric, named_local, save=False)
    assert {c["max_tokens"] for c in named_local.calls} == {400, 600}
    # any name, with the capability: the cap
    capped = ScriptedModel(completions=judge_reply, model="fake/judge",
                           capabilities=replace(CAPABLE, judge_reply_tokens=240))
    await evaluate(record, rubric, capped, save=False)
    assert {c["max_tokens"] for c in capped.calls} == {240}


# -- one typed evaluation; every file written before still reads -----------------------------

OLD = Path(__file__).parent / "data" / "session-v1"  # written by roleplay before the typed evaluation


def copied(tmp_path, *names):
    folder = tmp_path / "20261201-200200-overcharged-loyal-customer-5dce"
    folder.mkdir()
    for name in names:
        shutil.copy(OLD / name, folder / name)
    return folder


@pytest.mark.parametrize("files", [("session.json",), ("journal.jsonl",)])
def test_an_old_session_reads_typed_and_writes_back_the_same_json(tmp_path, files):
    folder = copied(tmp_path, *files)
    record = read_session(folder)
    old = json.loads((OLD / "session.json").read_text())["evaluations"]
    judged, by_evidence = record.evaluations
    assert isinstance(judged, Evaluation) and isinstance(by_evidence, Evaluation)
    assert judged.overall.score == 3.79 and judged.overall.scale == [1, 5] and judged.fell_back == ["questioning"]
    assert judged.criterion("questioning").fallback and judged.criterion("empathy").evidence[0].turn == 1
    assert by_evidence.by_evidence and by_evidence.overall.not_observed == ["proactive-service"]
    assert record.latest_overall() == (3.15, False)
    # written back: the same keys, values and number types as before (4 stays 4, 3.79 stays 3.79)
    assert json.dumps(record.to_dict()["evaluations"], sort_keys=True) == json.dumps(old, sort_keys=True)
    Journal(folder).snapshot(record)
    assert json.loads((folder / "session.json").read_text())["evaluations"] == old


@pytest.mark.parametrize("files", [("session.json",), ("journal.jsonl",)])
def test_an_old_sessions_turn_states_read_typed_and_write_back_the_same(tmp_path, files):
    record = read_session(copied(tmp_path, *files))
    old = json.loads((OLD / "session.json").read_text())["turns"]
    reply = record.turns[-1]
    assert isinstance(reply.state, TurnState) and isinstance(reply.state.frustration, int)
    assert reply.state.outcome is None and reply.state.decision["source"] and reply.state.move
    assert frustration_at(record)[reply.index] == reply.state.frustration
    assert json.dumps(record.to_dict()["turns"], sort_keys=True) == json.dumps(old, sort_keys=True)


@pytest.mark.parametrize("damage", [
    lambda ev: ev["overall"].pop("score"),
    lambda ev: ev["overall"].update(score="high"),
    lambda ev: ev["overall"].update(score=True),
    lambda ev: ev["criteria"][0].update(score=None),
    lambda ev: ev.update(criteria="all good"),
])
def test_a_damaged_evaluation_reads_as_cannot_be_read_and_is_kept_as_it_was(tmp_path, workspace, damage):
    folder = copied(tmp_path, "session.json")
    data = json.loads((folder / "session.json").read_text())
    damage(data["evaluations"][-1])
    (folder / "session.json").write_text(json.dumps(data))
    record = read_session(folder)  # no exception: the session reads
    assert isinstance(record.evaluations[-1], UnreadableEvaluation)
    assert record.latest_evaluation() is None and record.latest_overall() is None
    assert record.to_dict()["evaluations"] == data["evaluations"]  # nothing lost when the session is written again
    summary = summarise(record, folder.name, [])
    assert summary.status == "failed" and "damaged" in summary.reason and summary.score is None
    assert "## Judged evaluation: pending" in session_markdown(record)


def test_an_evaluation_that_is_not_an_object_is_unreadable_not_a_crash():
    assert isinstance(read_evaluation("nonsense"), UnreadableEvaluation)
    assert isinstance(read_evaluation({"overall": {"score": float("nan")}}), UnreadableEvaluation)
    minimal = read_evaluation({"overall": {"score": 3}})  # hand-written: only a score
    assert isinstance(minimal, Evaluation) and minimal.to_dict() == {"overall": {"score": 3}}


# -- one renderer: the report and the feedback screen say the same ---------------------------

async def test_the_report_and_the_feedback_screen_show_the_same_pieces(tmp_path):
    from textual.app import App
    from textual.widgets import Static

    from simulator.tui.feedback import FeedbackView

    record = read_session(copied(tmp_path, "session.json"))
    judged = record.evaluations[0]
    report = render_report(record, record.rubric_snapshot(), judged.measured, judged, None)
    text = evaluation_text(judged)
    fallback = next(c for c in text.criteria if c.id == "questioning")
    assert fallback.mark == " ᵉ" and fallback.fallback.startswith("Scored from evidence: the judge's reply was unusable")

    class Host(App):
        def compose(self):
            yield FeedbackView(record, customer_name="Dana", id="feedback")

    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(FeedbackView)
        view.show_evaluation(judged)
        row = [c.id for c in text.criteria].index("questioning")
        view.query_one("#criteria").move_cursor(row=row)
        await pilot.pause()
        result = str(view.query_one("#result", Static).render())
        detail = str(view.query_one("#criterion-detail", Static).render())
    for piece in (text.verdict, text.result, text.strengths[0], text.changes[0]):
        assert piece in result and piece in report
    for piece in (fallback.reason, fallback.fallback, *fallback.quote_lines):
        assert piece in detail and piece in report

    by_evidence = record.evaluations[1]
    note = evaluation_text(by_evidence).not_observed
    assert "Proactive service" in note  # the criteria left out of the score, by name
    assert note in render_report(record, record.rubric_snapshot(), by_evidence.measured, by_evidence, None)
