"""The one error voice practice raises: one line, the real cause, and what to do (type instead)."""

from __future__ import annotations

from simulator.core.errors import RoleplayError

INSTALL_LINE = "pip install 'roleplay[voice]'"


class VoiceError(RoleplayError):
    """A microphone, speaker, speech package or voice that cannot be used; the learner can type instead."""
