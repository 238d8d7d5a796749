"""The command palette's roleplay commands ("area: action" labels).

Each screen lists what it offers in ``PALETTE``: ``(label, action, help)``. Only the
actions the screen currently allows (its ``check_action``) are offered, so the
palette never shows "session: hint" on the library screen or while a reply streams.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

PaletteEntry = tuple[str, str, str]


def palette_entries(screen: Any) -> list[tuple[str, str, str, Any]]:
    """(label, action, help, node) for the screen's and the app's palette entries."""
    found = []
    for node in (screen, screen.app):
        for label, action, help_text in getattr(node, "PALETTE", ()):
            try:
                allowed = node.check_action(action, ())
            except Exception:  # noqa: BLE001 - a broken check must not break the palette
                allowed = False
            if allowed:
                found.append((label, action, help_text, node))
    return found


class RoleplayCommands(Provider):
    """Main actions of the current screen, as "area: action" commands."""

    async def discover(self) -> Hits:
        for label, action, help_text, node in palette_entries(self.screen):
            yield DiscoveryHit(label, partial(node.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, action, help_text, node in palette_entries(self.screen):
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(node.run_action, action), text=label,
                          help=help_text)
