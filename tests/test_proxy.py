"""Issue 13: roleplay through a real LiteLLM Proxy (litellm's proxy, started by the tests
from a config file, with a master key and no database) in front of llama-cpp-python's
server. The proxy runs in an environment of its own, built from the hash-locked
``tests/data/requirements-proxy.lock`` (litellm[proxy] pins rich<14, which Textual 8 cannot
share) and kept between runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from servers import free_port, start_llama_server, stop, wait_for_port

from simulator.core.errors import ModelError
from simulator.models.config import RoleSettings
from simulator.models.gateway import Gateway

pytestmark = pytest.mark.real_model
LOCK = Path(__file__).parent / "data" / "requirements-proxy.lock"
MASTER = "sk-test-master-0000"
MSGS = [{"role": "user", "content": "Say hello."}]


def proxy_env() -> Path:
    """A venv with litellm[proxy] from the lock file (built once, reused while the lock holds)."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = Path(tempfile.gettempdir()) / f"roleplay-litellm-proxy-{digest}"
    litellm = venv / "bin" / "litellm"
    if not litellm.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--require-hashes", "-r",
                        str(LOCK)], check=True)
    return litellm


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    from conftest import builtin_model_installed

    if not builtin_model_installed():
        pytest.skip("the built-in model is not installed")
    litellm = proxy_env()
    llama_port, proxy_port = free_port(), free_port()
    llama = start_llama_server(llama_port)
    upstream = {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{llama_port}/v1", "api_key": "no-key"}
    config = tmp_path_factory.mktemp("proxy") / "proxy.json"  # YAML is a superset of JSON
    config.write_text(json.dumps({
        "model_list": [{"model_name": "customer", "litellm_params": upstream},
                       {"model_name": "limited", "litellm_params": {**upstream, "rpm": 1}}],
        "general_settings": {"master_key": MASTER},
        "litellm_settings": {"num_retries": 0},
        "router_settings": {"routing_strategy": "usage-based-routing-v2", "enable_pre_call_checks": True}}))
    proc = subprocess.Popen([str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(proxy_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    try:
        wait_for_port(proxy_port, proc, "the LiteLLM Proxy")
        yield f"http://127.0.0.1:{proxy_port}"
    finally:
        stop(proc)
        stop(llama)


def settings(proxy: str, model: str = "openai/customer") -> RoleSettings:
    return RoleSettings(role="persona", model=model, api_base=proxy, api_key_env="ROLEPLAY_PROXY_KEY",
                        max_tokens=30, timeout=60)


def test_a_session_is_played_and_graded_through_the_proxy(proxy, workspace, tmp_path):
    (workspace / "roleplay.yaml").write_text(f"persona:\n  model: openai/customer\n  api_base: {proxy}\n"
                                             "  api_key_env: ROLEPLAY_PROXY_KEY\n  max_tokens: 60\n")
    script = tmp_path / "script.txt"
    script.write_text("Hi Dana, I'm sorry about the bill. What happened?\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "--persona", "overcharged-loyal-customer",
                          "--script", str(script), "--json"], capture_output=True, text=True,
                         env={**os.environ, "ROLEPLAY_PROXY_KEY": MASTER,
                              "ROLEPLAY_EVALUATOR_MODEL": "local/smollm2-135m"})
    assert out.returncode == 0, out.stderr[-800:]
    data = json.loads(out.stdout)
    assert [t["speaker"] for t in data["turns"]][:3] == ["customer", "learner", "customer"]
    assert data["turns"][2]["text"].strip() and data["evaluation"]["overall"]["score"] > 0
    assert MASTER not in json.dumps(data) and MASTER not in out.stderr  # the key is never written


async def test_a_wrong_key_is_said_in_one_line(proxy, monkeypatch):
    monkeypatch.setenv("ROLEPLAY_PROXY_KEY", "sk-wrong-key-1234567890")
    with pytest.raises(ModelError) as err:
        await Gateway(settings(proxy), max_attempts=3, backoff_initial=0.01).complete(MSGS)
    assert err.value.kind == "auth" and err.value.attempts == 1  # not retried
    text = str(err.value)
    assert "\n" not in text and "not authorised" in text and "ROLEPLAY_PROXY_KEY" in text
    assert "sk-wrong-key-1234567890" not in text


async def test_a_model_the_proxy_does_not_route_is_said_in_one_line(proxy, monkeypatch):
    monkeypatch.setenv("ROLEPLAY_PROXY_KEY", MASTER)
    with pytest.raises(ModelError) as err:
        await Gateway(settings(proxy, "openai/no-such-model"), max_attempts=3).complete(MSGS)
    assert err.value.kind == "not_found" and err.value.attempts == 1
    assert "unknown model 'openai/no-such-model'" in str(err.value) and "/v1/models" in str(err.value)


async def test_the_proxys_rate_limit_is_waited_out_as_it_asks(proxy, monkeypatch):
    monkeypatch.setenv("ROLEPLAY_PROXY_KEY", MASTER)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # recorded, not slept: the proxy asks for a minute
        waits.append(seconds)

    gateway = Gateway(settings(proxy, "openai/limited"), max_attempts=2, sleep=sleep)
    await gateway.complete(MSGS)  # the one request a minute
    with pytest.raises(ModelError) as err:
        await gateway.complete(MSGS)
    assert err.value.kind == "rate_limit" and "rate limit" in str(err.value)
    assert waits == [60.0]  # Retry-After, as the proxy said (llm_provider-retry-after: 60)
