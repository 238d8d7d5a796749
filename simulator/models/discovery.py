"""Model servers already running next to roleplay: found, and their models listed.

Probed, all at once, each for at most ``PROBE_S`` (300 ms): Ollama (127.0.0.1:11434,
``GET /api/tags``), LM Studio (1234), a llama.cpp server (8080) and vLLM (8000), all
OpenAI-compatible (``GET /v1/models``), plus every ``api_base`` already configured.
Nothing is sent anywhere but the addresses probed, no key is sent, and nothing on the
app's start-up path waits for this (``roleplay models`` and the models screen call it).

A server found is listed with the litellm model names to use: ``ollama/NAME`` for Ollama,
``openai/NAME`` with its ``api_base`` for the OpenAI-compatible ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

PROBE_S = 0.3
KNOWN = (("Ollama", "http://127.0.0.1:11434", "ollama"), ("LM Studio", "http://127.0.0.1:1234/v1", "openai"),
         ("llama.cpp server", "http://127.0.0.1:8080/v1", "openai"), ("vLLM", "http://127.0.0.1:8000/v1", "openai"))


@dataclass
class Server:
    kind: str  # what usually listens there, or "configured"
    api_base: str
    provider: str  # litellm prefix: ollama or openai
    models: list[str] = field(default_factory=list)
    latency_s: float = 0.0

    def litellm_names(self) -> list[str]:
        return [f"{self.provider}/{m}" for m in self.models]


async def _probe(client, kind: str, api_base: str, provider: str) -> Server | None:
    import time

    base = api_base.rstrip("/")
    url = f"{base}/api/tags" if provider == "ollama" else f"{base}/models"
    started = time.monotonic()
    try:
        response = await client.get(url)
        data: Any = response.json() if response.status_code == 200 else None
    except Exception:  # noqa: BLE001 - nothing listening, not a model server, too slow: not found
        return None
    if not isinstance(data, dict):
        return None
    items = data.get("models") if provider == "ollama" else data.get("data")
    names = [str(m.get("name") if provider == "ollama" else m.get("id")) for m in items or [] if isinstance(m, dict)]
    return Server(kind, base, provider, [n for n in names if n and n != "None"], round(time.monotonic() - started, 3))


async def discover(configured: list[str] | None = None, *, known=KNOWN, timeout: float = PROBE_S) -> list[Server]:
    """The model servers answering at the usual local addresses and at ``configured`` ones."""
    import httpx

    targets = list(known)
    seen = {base.rstrip("/") for _, base, _ in targets}
    for base in configured or []:
        if base and base.rstrip("/") not in seen:
            seen.add(base.rstrip("/"))
            targets.append(("configured", base, "ollama" if ":11434" in base else "openai"))
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False) as client:
        found = await asyncio.gather(*(_probe(client, *t) for t in targets))
    return [s for s in found if s is not None]


def discovery_lines(servers: list[Server]) -> list[str]:
    if not servers:
        return ["Model servers on this computer: none answering (Ollama 11434, LM Studio 1234, llama.cpp 8080, "
                "vLLM 8000)"]
    lines = ["Model servers on this computer:"]
    for s in servers:
        lines.append(f"  {s.kind:<16} {s.api_base}  ({len(s.models)} model{'s' if len(s.models) != 1 else ''})")
        for name in s.litellm_names()[:8]:
            lines.append(f"    {name}" + (f"   api_base: {s.api_base}" if s.provider == "openai" else ""))
    return lines
