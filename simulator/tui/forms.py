"""Small forms over the current screen: a few lines of text, a few inputs, Enter moves on
and the last Enter gives the answer, Esc cancels. Two use it:

* the learner's name or id, asked once, kept in the user config and saved with each session
  so a trainer's cohort report can tell learners apart (Esc skips and is not asked again;
  `roleplay config --learner NAME` changes it);
* a company gateway (a LiteLLM Proxy or any OpenAI-compatible URL): its address, the NAME of
  the environment variable that holds your key (never the key), and the model names it
  routes. The key variable's field is masked, and what it holds must be a variable's name by
  the config file's own rule (:func:`simulator.models.config.key_env_problem`): anything that
  looks like a key is refused there, with the line that says why, and the field is emptied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

Answer = TypeVar("Answer")


class FormModal(ModalScreen[Answer], Generic[Answer]):
    """A text and its inputs; subclasses say what the answer is (``answer``) and what Esc gives."""

    DEFAULT_CSS = """
    FormModal { align: center middle; }
    FormModal > Vertical { width: 70; height: auto; padding: 1 2; border: round $accent; background: $surface; }
    FormModal Static { margin-bottom: 1; }
    FormModal .form-error { color: $error; margin-bottom: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]
    TEXT = ""

    def inputs(self) -> ComposeResult:
        yield from ()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.TEXT, markup=False)
            yield from self.inputs()

    def refused(self, field: Input) -> bool:
        """Whether what ``field`` holds is refused (then said why, and the field focused)."""
        return False

    def answer(self, values: list[str]) -> Answer | None:
        """The answer from the inputs' values (stripped); None keeps the form open."""
        raise NotImplementedError

    def cancelled(self) -> Answer | None:
        return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        fields = list(self.query(Input))
        if self.refused(event.input):
            return
        index = fields.index(event.input)
        if index < len(fields) - 1:
            fields[index + 1].focus()
            return
        if any(self.refused(f) for f in fields):
            return
        answer = self.answer([f.value.strip() for f in fields])
        if answer is not None:
            self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(self.cancelled())


class LearnerModal(FormModal[str]):
    """Dismisses with the name given ("" when skipped)."""

    BINDINGS = [Binding("escape", "cancel", "Skip", id="learner.skip")]
    TEXT = ("Your name or learner id? It is saved with each session so your trainer's reports can tell you "
            "apart. Enter saves; Esc skips (change it later with `roleplay config --learner NAME`).")

    def inputs(self) -> ComposeResult:
        yield Input(placeholder="e.g. Sam Carter or L-0142", id="learner-name", max_length=80)

    def answer(self, values: list[str]) -> str:
        return " ".join(values[0].split())

    def cancelled(self) -> str:
        return ""


@dataclass
class GatewayAnswer:
    url: str
    key_env: str
    customer: str
    evaluator: str


class GatewayModal(FormModal[GatewayAnswer]):
    """Dismisses with what was typed, or None (Esc)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="gateway.cancel")]
    TEXT = ("A company gateway: its URL, the NAME of the environment variable that holds your key (never the key "
            "itself), and the model names it routes. Enter moves on; Esc cancels.")

    def inputs(self) -> ComposeResult:
        yield Input(placeholder="URL, e.g. https://llm-proxy.example.com", id="gateway-url")
        yield Input(placeholder="key variable NAME, e.g. ROLEPLAY_PROXY_KEY", id="gateway-key", password=True)
        yield Static("", id="gateway-error", classes="form-error", markup=False)
        yield Input(placeholder="customer model, e.g. openai/customer", id="gateway-customer")
        yield Input(placeholder="evaluator model, e.g. openai/grader", id="gateway-evaluator")

    def refused(self, field: Input) -> bool:
        """The key field must hold a variable's name: else say why, empty it and focus it."""
        from ..models.config import key_env_problem

        if field.id != "gateway-key":
            return False
        problem = key_env_problem(field.value.strip()) if field.value.strip() else None
        self.query_one("#gateway-error", Static).update(f"Key variable: {problem}." if problem else "")
        if problem:
            field.value = ""
            field.focus()
        return problem is not None

    def answer(self, values: list[str]) -> GatewayAnswer | None:
        url, key, customer, evaluator = values
        if not (url and customer):
            self.notify("The URL and the customer model are needed.", severity="warning")
            return None
        return GatewayAnswer(url, key, customer, evaluator or customer)
