"""Chat: the learner talks to the customer.

Model calls run as Textual workers (group ``model``), so the Input stays usable while
a reply streams; every outcome of those workers (success, model error, cancel) is
handled in one place, :meth:`ChatScreen.on_worker_state_changed`. Whatever the learner
typed is never lost: on a failure or a cancel the engine retracts the turn and hands
the text back (``conversation.pending_text``), and it goes back into the Input.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from .flow import SessionEnded
from .talk import TalkMixin, VoiceOpener
from .widgets import STYLES, Bubble, FrustrationMeter, brief_widgets, bubble_for_turn, format_elapsed

if TYPE_CHECKING:
    from ..content.persona import Persona
    from ..practice.engine import Conversation
    from ..practice.sessions import SpokenTurn, Turn
    from textual.timer import Timer

WEAK_MODEL_BANNER = ("{model}: fast but weak at staying in character; set ROLEPLAY_MODEL for better practice "
                     "(see `roleplay config`)")
NOTICE_SECONDS = 5.0


def weak_model_banner(conversation: "Conversation") -> str | None:
    """A line over the chat when the customer's model cannot hold a character steadily (a
    capability of its client), naming that model."""
    capabilities = conversation.capabilities
    if not capabilities.weak_in_character:
        return None
    return WEAK_MODEL_BANNER.format(model=capabilities.label or conversation.model.model)


class BriefModal(ModalScreen[None]):
    """The brief again, over the chat (F3)."""

    CSS_PATH = STYLES / "brief.tcss"
    BINDINGS = [
        Binding("escape,f3,enter", "close", "Close", id="brief.close"),
    ]

    def __init__(self, persona: "Persona") -> None:
        super().__init__()
        self.persona = persona

    def compose(self) -> ComposeResult:
        with Vertical(id="brief-dialog"):
            yield Static(f"Brief · {self.persona.name} — {self.persona.title}", classes="screen-title",
                         markup=False)
            yield from brief_widgets(self.persona)
            yield Static("Esc closes the brief.", classes="hint-line")

    def on_mount(self) -> None:
        self.query_one(".brief-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmEnd(ModalScreen[bool]):
    """Ask before ending the session for good."""

    BINDINGS = [
        Binding("enter,y", "confirm", "End session", id="confirm.yes"),
        Binding("escape,n", "cancel", "Keep going", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmEnd { align: center middle; }
    ConfirmEnd > Vertical { width: 52; height: auto; padding: 1 2; background: $surface; border: thick $warning; }
    ConfirmEnd Static { width: 100%; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("End this session now?", markup=False)
            yield Static("The transcript is saved either way. Enter/y ends it, Esc/n keeps talking.",
                         classes="hint-line", markup=False)

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ChatScreen(TalkMixin, Screen[SessionEnded]):
    """One live practice session; dismisses when it is over."""

    CSS_PATH = STYLES / "chat.tcss"
    AUTO_FOCUS = "#prompt"
    BINDINGS = [
        # priority: the Input has focus, and it binds ctrl+e (end of line) itself
        Binding("ctrl+t,f2", "hint", "Hint", id="chat.hint", priority=True),
        Binding("f3", "show_brief", "Brief", id="chat.brief", priority=True),
        Binding("f4", "toggle_meter", "Meter", id="chat.meter", priority=True),
        Binding("ctrl+r,f5", "retry", "Retry", id="chat.retry", priority=True),
        Binding("escape", "cancel_reply", "Cancel", id="chat.cancel", priority=True),
        Binding("ctrl+e", "end_session", "End", id="chat.end", priority=True),
        Binding("f6", "talk", "Talk", id="chat.talk", priority=True),
    ]
    PALETTE = [
        ("session: hint", "hint", "Ask the coach for one short tip (recorded in the session)"),
        ("session: show brief", "show_brief", "Read the brief again"),
        ("session: toggle meter", "toggle_meter", "Show or hide the customer's frustration meter"),
        ("session: retry", "retry", "Send the message again after a model error"),
        ("session: cancel reply", "cancel_reply", "Stop the reply; your message goes back in the box"),
        ("session: end", "end_session", "End the session and see the summary"),
    ]

    def __init__(self, conversation: "Conversation", *, clock: Callable[[], float] = time.monotonic,
                 cursor_blink: bool = True, open_voice: "VoiceOpener | None" = None,
                 send_on_end: bool = False) -> None:
        super().__init__()
        self._init_talk(open_voice, send_on_end)
        self.conversation = conversation
        self.clock = clock
        self.cursor_blink = cursor_blink
        self.persona = conversation.persona
        self.meter_visible = self.persona.difficulty != "hard"
        self.streaming = False  # a reply or a hint is being produced
        self.busy_with = ""  # what the status line says while streaming
        self.failed: str | None = None  # "send" | "hint": what the retry key redoes
        self._reply_bubble: Bubble | None = None
        self._learner_bubble: Bubble | None = None
        self._reply_text = ""
        self._started_at = 0.0
        self._notice_timer = None
        self._draft_timer = None
        self._footer_timer: "Timer | None" = None  # the footer shows "esc Cancel" when it fires
        self._sent_spoken: "SpokenTurn | None" = None  # how the message in flight was spoken
        self._voice_was_busy = False

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        p = self.persona
        yield Static(f"{p.name} — {p.title} · {p.difficulty}", classes="screen-title", markup=False)
        if banner := weak_model_banner(self.conversation):
            yield Static(banner, id="banner", markup=False)
        with VerticalScroll(id="transcript", classes="transcript"):
            for turn in self.conversation.turns:
                yield bubble_for_turn(turn, self.persona.name)
        yield Static("", id="notice", markup=False)
        prompt = Input(placeholder="Type your reply and press Enter", id="prompt")
        prompt.cursor_blink = self.cursor_blink
        yield prompt
        with Horizontal(id="statusbar"):
            yield Static("", id="status", markup=False)
            meter = FrustrationMeter(self.conversation.state.frustration, id="meter")
            meter.display = self.meter_visible
            yield meter
        yield Footer()

    def on_mount(self) -> None:
        self._started_at = self.clock()
        self.query_one("#transcript", VerticalScroll).anchor()
        self.query_one("#notice").display = False
        if self.conversation.pending_text:  # resumed with a message that never got its reply
            self.query_one("#prompt", Input).value = self.conversation.pending_text
        self.update_status()
        self.set_interval(1.0, self.update_status)
        self._prime_worker()  # a resumed session's history is read before the first reply is asked for

    # -- status ------------------------------------------------------------------------------
    def update_status(self) -> None:
        state = self.conversation.state
        elapsed = format_elapsed(self.clock() - self._started_at)
        parts = [f"turn {state.learner_turns}/{self.conversation.max_turns}", elapsed]
        if self.listening:
            parts.append("🎙 listening")
        if self.streaming:
            parts.append(self.busy_with or "working…")
        elif not self.meter_visible:
            parts.append("meter hidden (F4)")
        self.query_one("#status", Static).update(" · ".join(parts))
        if self.voice_busy != self._voice_was_busy:  # "esc Cancel" while listening or the customer speaks
            self._voice_was_busy = not self._voice_was_busy
            self.refresh_bindings()
        self.query_one("#meter", FrustrationMeter).set_value(state.frustration)

    def show_notice(self, text: str, *, kind: str = "info", sticky: bool = False) -> None:
        """One line above the Input: an error (sticky until the next send) or a brief note."""
        notice = self.query_one("#notice", Static)
        notice.set_classes(kind)
        notice.update(text)
        notice.display = bool(text)
        if self._notice_timer is not None:
            self._notice_timer.stop()
            self._notice_timer = None
        if text and not sticky:
            self._notice_timer = self.set_timer(NOTICE_SECONDS, self.clear_notice)

    def clear_notice(self) -> None:
        notice = self.query_one("#notice", Static)
        notice.update("")
        notice.display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_reply":
            return self.streaming or self.voice_busy
        if action == "retry":
            return self.failed is not None and not self.streaming
        if action == "hint":
            return None if self.streaming else True
        return True

    FOOTER_LATER_S = 1.0  # at the latest, the footer shows "esc Cancel" this long after Enter

    def _set_streaming(self, value: bool, busy_with: str = "", *, footer_later: bool = False) -> None:
        """``footer_later``: the footer shows the change with the reply's first words (or after
        FOOTER_LATER_S). Textual rebuilds the footer's keys when they change, some 0.05–0.1 s of
        CPU that the model needs more while it starts the reply; Esc works meanwhile, since
        ``check_action`` is asked when the key is pressed."""
        self.streaming = value
        self.busy_with = busy_with
        if self._footer_timer is not None:
            self._footer_timer.stop()
            self._footer_timer = None
        if footer_later:
            self._footer_timer = self.set_timer(self.FOOTER_LATER_S, self._show_footer)
        else:
            self.refresh_bindings()
        self.update_status()

    def _show_footer(self) -> None:
        if self._footer_timer is not None:
            self._footer_timer.stop()
            self._footer_timer = None
            self.refresh_bindings()

    # -- sending -------------------------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        if self.conversation.ended:  # the customer ended the call: Enter opens the feedback
            self.show_end()
            return
        self.send(event.value)

    def _call_over(self) -> None:
        """The customer ended the call. The learner may still be typing, so the feedback waits
        for Enter: keys meant for the chat never reach the End screen's bindings (p, g, q…)."""
        outcome = (self.conversation.record.outcome or "ended").replace("_", " ")
        prompt = self.query_one("#prompt", Input)
        prompt.placeholder = "The call has ended — press Enter for your feedback"
        self.show_notice(f"{self.persona.name.split()[0]} ended the call ({outcome}). "
                         "Press Enter for your feedback.", sticky=True)

    def send(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if self.streaming:
            self.show_notice("Wait for the customer to finish (or press Esc to cancel the reply); "
                             "your text stays in the box.")
            return
        if self.conversation.ended:
            self.show_end()
            return
        self.query_one("#prompt", Input).value = ""
        self.failed = None
        self.clear_notice()
        spoken = self.spoken_for(text)
        self._sent_spoken = spoken
        transcript = self.query_one("#transcript", VerticalScroll)
        self._learner_bubble = Bubble("learner", "You (spoken):" if spoken else "You:", text)
        self._reply_text = ""
        self._reply_bubble = Bubble("customer", f"{self.persona.name}:", placeholder="…")
        transcript.mount_all([self._learner_bubble, self._reply_bubble])
        self._set_streaming(True, "customer is typing…", footer_later=True)
        self.voice_reply_begins()
        self._send_worker(text, spoken)

    @work(exclusive=True, group="model", exit_on_error=False, name="send")
    async def _send_worker(self, text: str, spoken: "SpokenTurn | None" = None) -> "Turn":
        return await self.conversation.send(text, on_chunk=self._on_chunk, on_reset=self._on_reset, voice=spoken)

    def _on_chunk(self, chunk: str) -> None:
        from ..practice.engine import clean_reply

        self._reply_text += chunk
        self.voice_reply_chunk(chunk)
        if self._reply_bubble is not None:
            self._reply_bubble.set_text(clean_reply(self._reply_text, self.persona.name))
        if self._footer_timer is not None:  # the first words are out: now the footer
            self.call_after_refresh(self._show_footer)

    def _on_reset(self, reason: str) -> None:
        self._reply_text = ""
        self.voice_reply_reset()
        if self._reply_bubble is not None:
            self._reply_bubble.set_text("")
        self.show_notice(f"↻ {reason}")

    DRAFT_PAUSE_S = 0.4  # a pause in typing this long lets the model read the draft

    @on(Input.Changed, "#prompt")
    def _draft_changed(self, event: Input.Changed) -> None:
        """When the learner pauses while typing, a local model reads the draft so far."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        if (event.value.strip() and not self.streaming and not self.conversation.ended
                and self.conversation.capabilities.prefix_cache):
            self._draft_timer = self.set_timer(self.DRAFT_PAUSE_S, lambda: self._prime_worker(event.value))

    @work(exclusive=True, group="prime", exit_on_error=False, name="prime")
    async def _prime_worker(self, draft: str = "") -> None:
        """While the learner reads and types, a local model reads the reply just shown and
        the draft so far, so the next reply starts sooner. A failure here is left to the next
        real call to report."""
        try:
            await self.conversation.prime(draft)
        except Exception as exc:  # noqa: BLE001
            self.log.warning(f"priming failed: {exc!r}")

    # -- hints ---------------------------------------------------------------------------------
    def action_hint(self) -> None:
        if self.streaming or self.conversation.ended:
            return
        self.failed = None
        self.clear_notice()
        self._reply_bubble = Bubble("hint", "Coach:", placeholder="thinking…")
        self.query_one("#transcript", VerticalScroll).mount(self._reply_bubble)
        self._set_streaming(True, "coach is thinking…")
        self._hint_worker()

    @work(exclusive=True, group="model", exit_on_error=False, name="hint")
    async def _hint_worker(self) -> "Turn":
        return await self.conversation.hint()

    # -- every model call ends here ------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "model" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                          WorkerState.CANCELLED):
            return
        kind = worker.name
        self._set_streaming(False)
        if event.state == WorkerState.SUCCESS:
            turn: "Turn" = worker.result  # type: ignore[assignment]
            if self._reply_bubble is not None:
                self._reply_bubble.set_text(turn.text)
            if kind == "send":
                self.voice_reply_done(turn.text)
            self._reply_bubble = self._learner_bubble = None
            self.update_status()
            if self.conversation.ended:
                self._call_over()
            elif kind == "send":
                self._prime_worker()
            return
        # failed or cancelled: take back the half-made bubbles, restore the typed text
        for bubble in (self._reply_bubble, self._learner_bubble if kind == "send" else None):
            if bubble is not None and bubble.is_attached:
                bubble.remove()
        self._reply_bubble = self._learner_bubble = None
        if kind == "send":
            self._restore_prompt()
            self.give_back_spoken(self._sent_spoken, self.conversation.pending_text or "")
            if self.voice_loop is not None:
                self.voice_loop.stop_speaking()
        self.update_status()
        if event.state == WorkerState.CANCELLED:
            self.show_notice("Reply cancelled — your message is back in the box.")
            return
        from ..core.errors import ModelError, RoleplayError

        error = worker.error
        if isinstance(error, ModelError):
            self.failed = kind
            self.show_notice(f"⚠ {error} · Ctrl+R retries", kind="error", sticky=True)
        elif isinstance(error, RoleplayError):
            self.show_notice(f"⚠ {error}", kind="error", sticky=True)
        else:
            self.failed = kind
            self.show_notice(f"⚠ unexpected failure: {error!r} · Ctrl+R retries", kind="error", sticky=True)
        self.refresh_bindings()

    def _restore_prompt(self) -> None:
        pending = self.conversation.pending_text
        if not pending:
            return
        prompt = self.query_one("#prompt", Input)
        typed = prompt.value.strip()
        prompt.value = f"{pending} {typed}" if typed else pending
        prompt.cursor_position = len(prompt.value)
        prompt.focus()

    # -- actions -------------------------------------------------------------------------------
    def action_retry(self) -> None:
        failed, self.failed = self.failed, None
        self.refresh_bindings()
        if failed == "hint":
            self.action_hint()
        elif failed == "send":
            self.send(self.query_one("#prompt", Input).value)

    def action_cancel_reply(self) -> None:
        """Esc: the reply being made and the customer's voice stop; a turn being listened to is dropped."""
        self.stop_voice()
        if self.streaming:
            self.workers.cancel_group(self, "model")

    def action_toggle_meter(self) -> None:
        self.meter_visible = not self.meter_visible
        self.query_one("#meter").display = self.meter_visible
        self.update_status()

    def action_show_brief(self) -> None:
        self.app.push_screen(BriefModal(self.persona))

    def action_end_session(self) -> None:
        def ended(confirm: bool | None) -> None:
            if confirm:
                self.end_by_learner()

        self.app.push_screen(ConfirmEnd(), ended)

    def end_by_learner(self) -> None:
        if self.streaming:
            self.workers.cancel_group(self, "model")
        self.conversation.end("ended_by_learner")
        self.show_end()

    def show_end(self) -> None:
        self.close_voice()
        self.dismiss(SessionEnded(self.conversation.record, self.clock() - self._started_at))
