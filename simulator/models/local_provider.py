"""The ``local`` litellm provider: local GGUF models behind ``litellm.CustomLLM``.

Imported only by ``litellm_setup``, after litellm itself, when a model call is made.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator

import litellm
from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from . import local_process
from .handoff import Handoff


def _name(model: str) -> str:
    return model.split("/", 1)[1] if model.startswith("local/") else model


def _response_format(optional_params: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI-style ``response_format`` -> llama.cpp's grammar-constrained JSON output, so
    even the 135M model always writes JSON that parses and matches the schema."""
    fmt = optional_params.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"schema": schema} if schema else {})}
    if fmt.get("type") == "json_object":
        return {"type": "json_object", **({"schema": fmt["schema"]} if fmt.get("schema") else {})}
    return None


def _params(optional_params: dict[str, Any], litellm_params: dict[str, Any] | None = None) -> dict[str, Any]:
    stop = optional_params.get("stop")
    metadata = (litellm_params or {}).get("metadata") or {}
    return {
        "slot": metadata.get("cache_slot"),
        "prefill": metadata.get("prefill"),
        "response_format": _response_format(optional_params),
        "temperature": float(optional_params.get("temperature", 0.7)),
        "max_tokens": int(optional_params.get("max_tokens") or optional_params.get("max_completion_tokens") or 256),
        "stop": [stop] if isinstance(stop, str) else stop,
        # small models loop ("I'm going to be amazing. I'm going to be amazing..."): penalise repeats
        "repeat_penalty": float(optional_params.get("repeat_penalty", 1.3)),
    }


class LocalLLM(CustomLLM):
    """Runs ``local/<name>`` models with llama-cpp-python on the CPU."""

    def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                   model_response: ModelResponse, print_verbose, encoding, api_key, logging_obj,
                   optional_params: dict, *args: Any, **kwargs: Any) -> ModelResponse:
        result = local_process.chat(_name(model), messages, stream=False,
                                  **_params(optional_params, kwargs.get("litellm_params")))
        text = result["choices"][0]["message"].get("content") or ""
        usage = result.get("usage") or {}
        return litellm.ModelResponse(
            model=model,
            choices=[{"index": 0, "message": {"role": "assistant", "content": text},
                      "finish_reason": result["choices"][0].get("finish_reason") or "stop"}],
            usage={"prompt_tokens": usage.get("prompt_tokens", 0),
                   "completion_tokens": usage.get("completion_tokens", 0),
                   "total_tokens": usage.get("total_tokens", 0)},
        )

    async def acompletion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                          model_response: ModelResponse, print_verbose, encoding, api_key, logging_obj,
                          optional_params: dict, *args: Any, **kwargs: Any) -> ModelResponse:
        return await asyncio.to_thread(self.completion, model, messages, api_base, custom_prompt_dict,
                                       model_response, print_verbose, encoding, api_key, logging_obj,
                                       optional_params, **kwargs)

    def streaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                  model_response: ModelResponse, print_verbose, encoding, api_key, logging_obj,
                  optional_params: dict, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        name = _name(model)
        completion_tokens = prompt_tokens = 0
        finish = "stop"
        for chunk in local_process.chat(name, messages, stream=True,
                                        **_params(optional_params, kwargs.get("litellm_params"))):
            if "prompt_tokens" in chunk:  # the worker's last word: what the prompt cost
                prompt_tokens = chunk["prompt_tokens"]
                continue
            choice = chunk["choices"][0]
            text = choice.get("delta", {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
            if text:
                completion_tokens += 1
                yield GenericStreamingChunk(text=text, is_finished=False, finish_reason="", usage=None,
                                            index=0, tool_use=None)
        yield GenericStreamingChunk(
            text="", is_finished=True, finish_reason=finish, index=0, tool_use=None,
            usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                   "total_tokens": prompt_tokens + completion_tokens},
        )

    async def astreaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                         model_response: ModelResponse, print_verbose, encoding, api_key, logging_obj,
                         optional_params: dict, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:
        """Run the blocking llama.cpp generator on a worker thread and hand chunks over."""
        loop = asyncio.get_running_loop()
        handoff = Handoff()
        cancelled = False

        def produce() -> None:
            try:
                for item in self.streaming(model, messages, api_base, custom_prompt_dict, model_response,
                                           print_verbose, encoding, api_key, logging_obj, optional_params,
                                           **kwargs):
                    if cancelled:
                        break
                    loop.call_soon_threadsafe(handoff.put, item)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(handoff.put, exc)
            finally:
                loop.call_soon_threadsafe(handoff.end)

        worker = loop.run_in_executor(None, produce)
        try:
            async for item in handoff:
                yield item
        finally:
            cancelled = True
            await asyncio.shield(worker) if worker.done() else None


handler = LocalLLM()


def register() -> None:
    """Make ``local/...`` models callable through litellm (idempotent)."""
    if not any(item.get("provider") == "local" for item in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map,
                                       {"provider": "local", "custom_handler": handler}]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
