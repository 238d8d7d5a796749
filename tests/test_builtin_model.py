"""The real built-in model (SmolLM2-135M via llama-cpp-python), through litellm.

These run in CI (the README's install line installs the [local] extra)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import requires_builtin_model

from simulator.models.config import BUILTIN_MODEL, load_settings
from simulator.models.gateway import Gateway, litellm

pytestmark = requires_builtin_model


async def test_streamed_reply_through_the_gateway(workspace):
    settings = load_settings(workspace).persona
    assert settings.model == BUILTIN_MODEL
    stream = Gateway(settings).stream([{"role": "system", "content": "You are a customer. Be brief."},
                                       {"role": "user", "content": "Hello, what can I do for you?"}],
                                      max_tokens=24)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) >= 2, "the reply should arrive in several chunks"
    assert "".join(chunks).strip()
    record = stream.record
    assert record.model == BUILTIN_MODEL and record.error is None
    assert record.first_token_s is not None and record.first_token_s <= record.latency_s
    assert record.tokens_out and record.tokens_out >= 2 and record.tokens_in and record.tokens_in > 5


async def test_a_prefilled_reply_is_continued_not_restarted(workspace):
    """The built-in model continues a reply from the words it is given (what keeps the
    135M customer from opening with an agent's apology): the chunks are the rest of it."""
    settings = load_settings(workspace).persona
    assert settings.capabilities.prefill
    stream = Gateway(settings).stream(
        [{"role": "system", "content": "You are Derek, a customer whose parcel never came. The user is the agent."},
         {"role": "user", "content": "Can you confirm your address?"}],
        max_tokens=16, temperature=0.0, stop=["\n"], prefill="My address is 24")
    rest = "".join([chunk async for chunk in stream])
    assert rest.strip() and not rest.lstrip().lower().startswith("my address")


def test_the_runtime_is_built_portable():
    """llama.cpp compiled for the build machine (-march=native) dies of SIGILL on a desk whose
    CPU lacks, or whose hypervisor hides, what that machine advertised (AMX, AVX-512): the
    install builds for any x86-64 with AVX2 instead."""
    import platform

    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    info = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "AMX" not in info and "AVX512 = 1" not in info, info
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "AVX2 = 1" in info, info


async def test_litellm_itself_streams_the_local_provider():
    module = litellm()
    response = await module.acompletion(model=BUILTIN_MODEL, messages=[{"role": "user", "content": "Say hi."}],
                                        stream=True, max_tokens=12, num_retries=0)
    text = ""
    async for chunk in response:
        text += chunk.choices[0].delta.content or ""
    assert text.strip()


def small_rubric_persona(workspace) -> str:
    """Dana, graded on the two-criterion test rubric, so grading on the 135M model stays quick."""
    import shutil
    from pathlib import Path

    import yaml

    shutil.copy(Path(__file__).parent / "corpus" / "rubrics" / "mini.yaml", workspace / "rubrics" / "mini.yaml")
    data = yaml.safe_load((workspace / "personas" / "overcharged-loyal-customer.yaml").read_text())
    data.update(rubric="mini", skills=["empathy", "questioning"])
    (workspace / "personas" / "dana-mini.yaml").write_text(yaml.safe_dump(data))
    return "dana-mini"


def test_headless_session_end_to_end_with_grading(workspace, tmp_path):
    persona = small_rubric_persona(workspace)
    script = tmp_path / "script.txt"
    script.write_text("Hi Dana, I'm sorry about the surprise on your bill.\n\nCan you tell me what changed?\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "--persona", persona,
                          "--script", str(script), "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "SmolLM2-135M: fast, but a weak actor" in out.stderr  # the user is told what is running
    record = json.loads(out.stdout)
    speakers = [t["speaker"] for t in record["turns"]]
    assert speakers[:2] == ["customer", "learner"] and speakers.count("learner") >= 1
    assert all(t["text"].strip() for t in record["turns"])
    assert record["outcome"] in ("ended_by_learner", "resolved", "gave_up", "turn_limit")
    assert record["models"]["persona"] == BUILTIN_MODEL
    folders = [p for p in (workspace / "sessions").iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "journal.jsonl").is_file() and (folders[0] / "session.json").is_file()
    # the built-in model is too small to judge (issue 10): the grade comes from evidence, no judge call
    evaluation = record["evaluation"]
    assert evaluation is not None, record.get("pending_reason")
    assert evaluation["method"] == "evidence" and evaluation["calls"] == []
    assert [c["id"] for c in evaluation["criteria"]] == ["empathy", "questioning"]
    empathy = evaluation["criteria"][0]
    assert empathy["score"] == 3 and ("acknowledged the customer" in empathy["reason"]  # top of a 1-3 scale
                                      or "named the cause" in empathy["reason"])  # "sorry about the surprise on your bill"
    transcript = " ".join(t["text"] for t in record["turns"])
    assert all(" ".join(e["quote"].split()).lower() in " ".join(transcript.split()).lower()
               for c in evaluation["criteria"] for e in c["evidence"])
    assert empathy["evidence"] and empathy["evidence"][0]["quote"].startswith("Hi Dana, I'm sorry")
    assert record["measured"]["learner_turns"] == 2
    assert "Scored by evidence rules" in (folders[0] / "report.md").read_text()


async def test_calls_queued_for_the_local_model_are_not_timed_out_while_they_wait(workspace):
    """Issue 9, fault 5: several grading calls at once on a local model queue for it; a call's
    timeout starts when its turn comes, so the last in line does not time out (and retry
    while the abandoned one keeps generating)."""
    import asyncio
    from dataclasses import replace

    settings = load_settings(workspace).evaluator
    single = Gateway(settings)
    messages = [{"role": "user", "content": "Count from one to one hundred in words, separated by commas."}]
    await single.complete(messages, max_tokens=48, temperature=0.0)  # loaded and warm
    one = (await single.complete(messages, max_tokens=48, temperature=0.0)).record.latency_s
    # a timeout each call fits in many times over, and enough calls that the last in line waits past it
    timeout = max(2.0, 1.5 * one)
    calls = min(60, int(2 * timeout / one) + 3)  # the deadline is the timeout plus a connect allowance
    gateway = Gateway(replace(settings, timeout=timeout), max_attempts=1)
    replies = await asyncio.gather(*[gateway.complete(messages, max_tokens=48, temperature=0.0)
                                     for _ in range(calls)], return_exceptions=True)
    errors = [r for r in replies if isinstance(r, BaseException)]
    assert errors == [], errors
