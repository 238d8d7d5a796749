"""What went wrong with a model call: each failure is classified (its kind, and whether a
retry can help), keys are scrubbed from its text, and it becomes a :class:`ModelError` that
names the cause and what to do."""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from datetime import datetime, timezone

from ..core.errors import ModelError
from .config import RoleSettings


class SilenceTimeout(Exception):
    """No chunk arrived for longer than the role's timeout."""


class StreamBroken(Exception):
    """A stream ended without a finish (connection dropped or the body was cut)."""


_KEYLIKE = re.compile(r"\b(sk|pk|rk|AKIA|AIza|xox[abp])[-_A-Za-z0-9]{12,}\b")


def redact(text: str, secrets: list[str | None] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "****")
    return _KEYLIKE.sub("****", text)


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After), if it said."""
    candidates = []
    headers = getattr(exc, "litellm_response_headers", None)
    if headers:
        candidates.append(headers)
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "headers", None) is not None:
        candidates.append(response.headers)
    for headers in candidates:
        try:
            # a LiteLLM Proxy passes its router's wait on as llm_provider-retry-after
            value = (headers.get("retry-after") or headers.get("Retry-After")
                     or headers.get("llm_provider-retry-after"))
        except Exception:
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            with suppress(Exception):
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    return None


def _model_error_in(exc: BaseException) -> ModelError | None:
    """A ModelError our own code raised under litellm (a local model's worker that crashed),
    however litellm wrapped it: it already names the cause."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ModelError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: BaseException) -> tuple[str, bool]:
    """(kind, retryable) for an exception raised by a call."""
    if (ours := _model_error_in(exc)) is not None:
        return ours.kind, False
    if isinstance(exc, (SilenceTimeout, asyncio.TimeoutError, TimeoutError)):
        return "timeout", True
    if isinstance(exc, StreamBroken):
        return "stream_broken", True
    name = type(exc).__name__
    status = _status(exc)
    text = str(exc).lower()
    if "missing credentials" in text or "api_key client option must be set" in text:
        return "missing_key", False
    if "no connected db" in text:  # a LiteLLM Proxy without a database: only its master key works
        return "auth", False
    if "invalid model name passed" in text:  # a LiteLLM Proxy that does not route this model
        return "not_found", False
    if _name_lookup_failed(exc):  # no DNS: offline, and retrying in seconds will not change that
        return "unreachable", False
    if name == "MidStreamFallbackError":  # litellm: a stream dropped, stalled or garbled halfway
        return "stream_broken", True
    if name == "ContextWindowExceededError":
        return "context_window", False
    if name in ("Timeout", "APITimeoutError"):
        return "timeout", True
    if name == "RateLimitError" or status == 429:
        return "rate_limit", True
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return "auth", False
    if name == "NotFoundError" or status == 404:
        return "not_found", False
    if name in ("BadRequestError", "UnprocessableEntityError", "ContentPolicyViolationError",
                "UnsupportedParamsError", "LiteLLMUnknownProvider") or status in (400, 422):
        if "context length" in text or "context window" in text or "maximum context" in text:
            return "context_window", False
        if "llm provider not provided" in text or "provider" in text and "not" in text and status is None:
            return "not_found", False
        return "bad_request", False
    if name == "APIConnectionError":
        if "json" in text or "decode" in text or "expecting value" in text:
            return "bad_response", True
        return "unreachable", True
    if name in ("InternalServerError", "ServiceUnavailableError", "BadGatewayError") or (
            status is not None and status >= 500):
        # litellm reports refused connections and unreadable bodies as 500s
        if "connection error" in text or "connection refused" in text or "name or service" in text:
            return "unreachable", True
        if "expecting value" in text or "json" in text and "decode" in text:
            return "bad_response", True
        return "server", True
    if name in ("APIError", "APIResponseValidationError", "JSONDecodeError", "ValueError"):
        return "bad_response", True
    if isinstance(exc, (ConnectionError, OSError)):
        return "unreachable", True
    return "unknown", False


def _name_lookup_failed(exc: BaseException) -> bool:
    """Did the call fail because the provider's host name could not be looked up (offline)?"""
    import socket

    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror) or "name or service not known" in str(seen).lower() \
                or "temporary failure in name resolution" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_HINTS = {
    "auth": "the provider refused the key: set {key_env} to a valid key (see `roleplay config`)",
    "unreachable": "cannot reach {where}: offline? Check the network or api_base, or use the built-in "
                   "offline model (unset ROLEPLAY_MODEL)",
    "missing_key": "the provider's API key is not set: export it (see `roleplay config`), or use the built-in "
                   "model, which needs no key",
    "timeout": "the model did not answer in {timeout:g}s: try again, or raise `timeout` in the config",
    "stream_broken": "the connection dropped mid-reply: try again",
    "rate_limit": "rate limit or quota exceeded at the provider: wait a minute and try again, or check "
                  "your plan's quota",
    "server": "the provider had a server error: try again in a moment",
    "not_found": "unknown model '{model}' at {where}: check the name (`roleplay models` lists what is configured "
                 "and what the servers here serve; a proxy's /v1/models lists what your key may use)",
    "bad_request": "the provider rejected the request: check the model name and settings in `roleplay config`",
    "context_window": "the conversation is too long for this model: end the session, or use a model with "
                      "a larger context",
    "bad_response": "the model's server sent a reply that could not be read: try again",
    "unknown": "unexpected failure: try again; if it persists run `roleplay models check`",
}

SUMMARY = {
    "auth": "not authorised", "unreachable": "model server unreachable", "timeout": "model timed out",
    "stream_broken": "reply cut off", "rate_limit": "rate limited", "server": "model server error",
    "not_found": "model not found", "bad_request": "request rejected", "context_window": "conversation too long",
    "bad_response": "unreadable reply", "unknown": "model call failed", "missing_key": "API key not set",
}


def to_model_error(exc: BaseException, settings: RoleSettings, attempts: int) -> ModelError:
    if (ours := _model_error_in(exc)) is not None:
        ours.attempts = attempts
        return ours
    kind, _ = classify(exc)
    where = settings.api_base or "the provider"
    hint = _HINTS.get(kind, _HINTS["unknown"]).format(
        key_env=settings.api_key_env or "the provider's API key variable", where=where,
        timeout=settings.timeout, model=settings.model)
    detail = redact(" ".join(str(exc).split()), [settings.api_key()])[:160]  # redacted whole, then cut
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    message = f"{settings.role} model {settings.model}: {SUMMARY.get(kind, 'failed')}{tries}"
    if kind in ("bad_request", "unknown", "not_found", "auth") and detail:
        message += f" ({detail})"
    return ModelError(message, kind=kind, model=settings.model, hint=hint, attempts=attempts)
