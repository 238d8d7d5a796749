"""The typed evaluation: what the grader writes, what every reader gets, and old files."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import CAPABLE, RoleSettings
from simulator.practice.engine import Conversation
from simulator.practice.sessions import read_journal


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
