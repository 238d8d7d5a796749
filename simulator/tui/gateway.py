"""A company gateway (a LiteLLM Proxy or any OpenAI-compatible URL): its address, the NAME of
the environment variable that holds your key (never the key), and the model names it routes
for the customer and the evaluator. Saved in the user config by the models screen.

The key variable's field is masked, and what it holds must be a variable's name by the config
file's own rule (:func:`simulator.models.config.key_env_problem`): anything that looks like a
key is refused there, with the line that says why, and the field is emptied."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


@dataclass
class Gateway:
    url: str
    key_env: str
    customer: str
    evaluator: str


class GatewayModal(ModalScreen["Gateway | None"]):
    """Dismisses with what was typed, or None (Esc)."""

    DEFAULT_CSS = """
    GatewayModal { align: center middle; }
    GatewayModal > Vertical { width: 70; height: auto; padding: 1 2; border: round $accent; background: $surface; }
    GatewayModal Static { margin-bottom: 1; }
    GatewayModal #gateway-error { color: $error; margin-bottom: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="gateway.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("A company gateway: its URL, the NAME of the environment variable that holds your key "
                         "(never the key itself), and the model names it routes. Enter moves on; Esc cancels.",
                         markup=False)
            yield Input(placeholder="URL, e.g. https://llm-proxy.example.com", id="gateway-url")
            yield Input(placeholder="key variable NAME, e.g. ROLEPLAY_PROXY_KEY", id="gateway-key", password=True)
            yield Static("", id="gateway-error", markup=False)
            yield Input(placeholder="customer model, e.g. openai/customer", id="gateway-customer")
            yield Input(placeholder="evaluator model, e.g. openai/grader", id="gateway-evaluator")

    def _key_refused(self) -> bool:
        """Whether the key field holds something other than a variable's name (then said why,
        the field emptied and focused)."""
        from ..models.config import key_env_problem

        field = self.query_one("#gateway-key", Input)
        problem = key_env_problem(field.value.strip()) if field.value.strip() else None
        self.query_one("#gateway-error", Static).update(f"Key variable: {problem}." if problem else "")
        if problem:
            field.value = ""
            field.focus()
        return problem is not None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        fields = list(self.query(Input))
        index = fields.index(event.input)
        if event.input.id == "gateway-key" and self._key_refused():
            return
        if index < len(fields) - 1:
            fields[index + 1].focus()
            return
        if self._key_refused():
            return
        url, key, customer, evaluator = (f.value.strip() for f in fields)
        if not (url and customer):
            self.notify("The URL and the customer model are needed.", severity="warning")
            return
        self.dismiss(Gateway(url, key, customer, evaluator or customer))

    def action_cancel(self) -> None:
        self.dismiss(None)
