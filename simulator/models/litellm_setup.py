"""litellm, imported once and set up for this app: it costs seconds to import, so it is
imported lazily (never at start-up), with its network look-ups switched off, and the built-in
``local/...`` models are registered as a litellm provider."""

from __future__ import annotations

import os
import threading
from typing import Any

_litellm_module: Any = None
_litellm_lock = threading.Lock()


def litellm() -> Any:
    """Import and configure litellm once (safe to call from any thread)."""
    global _litellm_module
    if _litellm_module is not None:
        return _litellm_module
    with _litellm_lock:
        if _litellm_module is None:
            for var in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
                        "LITELLM_LOCAL_BLOG_POSTS"):
                os.environ.setdefault(var, "True")
            import litellm as module

            module.suppress_debug_info = True
            module.set_verbose = False
            module.telemetry = False
            module.drop_params = True  # a provider that lacks a parameter gets the call without it
            from . import local_provider

            local_provider.register()
            _litellm_module = module
    return _litellm_module


def missing_key_vars(model: str) -> list[str]:
    """The API-key environment variables a hosted provider needs for ``model`` and that are not
    set (litellm knows each provider's), so a missing key is said before any call is made."""
    try:
        missing = litellm().validate_environment(model=model).get("missing_keys") or []
    except Exception:  # noqa: BLE001 - an unknown provider is the call's to report
        return []
    return [name for name in missing if name.endswith(("_KEY", "_TOKEN"))]
