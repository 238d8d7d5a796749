"""Voice in the chat screen: F6 starts listening and F6 again ends the turn (a toggle: terminals
give no key-up; a pause as long as the desk's ``voice.pause_s`` ends it too). What was heard goes
into the box, to send as it is or edit first (or is sent at once with ``voice.send_on_end``).
The customer's reply is spoken while its text streams; Esc stops both.

A mixin of :class:`~simulator.tui.chat.ChatScreen`: it uses the screen's ``conversation``,
``streaming``, ``show_notice``, ``update_status`` and ``send``. The voice loop itself
(:mod:`simulator.practice.voice_loop`) holds no Textual; it is opened by ``open_voice``, given by
the app (None: this roleplay has no way to open one).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from textual import work
from textual.widgets import Input

if TYPE_CHECKING:
    from ..practice.sessions import SpokenTurn
    from ..practice.voice_loop import Heard, VoiceLoop

VoiceOpener = Callable[[], "VoiceLoop"]


class TalkMixin:
    open_voice: "VoiceOpener | None"
    send_on_end: bool

    def _init_talk(self, open_voice: "VoiceOpener | None", send_on_end: bool) -> None:
        self.open_voice = open_voice
        self.send_on_end = send_on_end
        self.voice_loop: "VoiceLoop | None" = None
        self.listening = False
        self.heard: "Heard | None" = None  # the last turn heard, until it is sent
        self._discard_heard = False
        self._typed_before = ""
        self._voice_said = ""  # the last voice problem said (once)

    # -- listening ---------------------------------------------------------------------------
    def action_talk(self) -> None:
        if self.conversation.ended:
            return
        if self.listening:
            if self.voice_loop is not None:
                self.voice_loop.stop_listening()
            return
        if self.open_voice is None:
            self.show_notice("Voice is not available in this roleplay — type your reply.")
            return
        self.listening = True
        self._discard_heard = False
        self._typed_before = self.query_one("#prompt", Input).value.strip()  # kept before what is heard
        if self.voice_loop is not None:
            self.voice_loop.stop_speaking()  # the learner wants the floor
        self.show_notice("🎙 Listening… speak, then pause (or press F6 again) to end your turn; Esc drops it.",
                         sticky=True)
        self.update_status()
        self._listen_worker()

    @work(thread=True, exclusive=True, group="voice", exit_on_error=False, name="listen")
    def _listen_worker(self) -> None:
        from ..core.errors import RoleplayError

        try:
            if self.voice_loop is None:
                self.app.call_from_thread(self.show_notice, "🎙 Getting voice ready (the first time takes a moment)…",
                                          sticky=True)
                assert self.open_voice is not None
                self.voice_loop = self.open_voice()
                self.app.call_from_thread(self.show_notice, "🎙 Listening… speak, then pause (or press F6 again) "
                                          "to end your turn; Esc drops it.", sticky=True)
            heard = self.voice_loop.listen(on_partial=lambda text: self.app.call_from_thread(self._partial, text))
        except (RoleplayError, OSError) as exc:
            self.app.call_from_thread(self._voice_failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug in voice must not take the typed chat with it
            self.app.call_from_thread(self._voice_failed, f"voice stopped unexpectedly ({exc!r})")
            return
        self.app.call_from_thread(self._heard_it, heard)

    def _partial(self, text: str) -> None:
        """What was recognised so far goes into the box while the learner goes on (the whole
        turn replaces it when the pause ends)."""
        if self.listening and text and not self._discard_heard:
            prompt = self.query_one("#prompt", Input)
            prompt.value = f"{self._typed_before} {text}" if self._typed_before else text
            prompt.cursor_position = len(prompt.value)

    def _voice_failed(self, problem: str) -> None:
        self.listening = False
        self.update_status()
        self.show_notice(f"⚠ {problem} — type your reply instead", kind="error", sticky=True)

    def _heard_it(self, heard: "Heard") -> None:
        self.listening = False
        self.update_status()
        if self._discard_heard:  # Esc: the box goes back to what was typed
            self.query_one("#prompt", Input).value = self._typed_before
            self.clear_notice()
            return
        if not heard.text:
            self.query_one("#prompt", Input).value = self._typed_before
            self.show_notice("🎙 Nothing was heard — press F6 and speak, or type your reply.")
            return
        prompt = self.query_one("#prompt", Input)
        typed = self._typed_before
        prompt.value = f"{typed} {heard.text}" if typed else heard.text
        prompt.cursor_position = len(prompt.value)
        self.heard = heard
        if self.send_on_end and not self.streaming:
            self.clear_notice()
            self.send(prompt.value)
        else:
            self.show_notice("🎙 Heard — Enter sends it as it is, or edit it first.")

    def spoken_for(self, text: str) -> "SpokenTurn | None":
        """How the message about to be sent was spoken (None: typed); the heard turn is used up."""
        heard, self.heard = self.heard, None
        if heard is None or not heard.text:
            return None
        return replace(heard.spoken, edited=" ".join(text.split()) != " ".join(heard.text.split()))

    def give_back_spoken(self, spoken: "SpokenTurn | None", text: str) -> None:
        """A reply failed or was cancelled: the message is back in the box, and so is how it was spoken."""
        from ..practice.voice_loop import Heard

        if spoken is not None and self.heard is None:
            self.heard = Heard(spoken.recognised or text, spoken, "stop")

    # -- the customer's voice ---------------------------------------------------------------
    def voice_reply_begins(self) -> None:
        if self.voice_loop is not None:
            self.voice_loop.begin_reply()

    def voice_reply_chunk(self, chunk: str) -> None:
        if self.voice_loop is not None:
            self.voice_loop.reply_chunk(chunk)

    def voice_reply_reset(self) -> None:
        if self.voice_loop is not None:
            self.voice_loop.reply_reset()

    def voice_reply_done(self, text: str) -> None:
        if self.voice_loop is not None:
            self.voice_loop.reply_done(text)
            if self.voice_loop.speech_error and self.voice_loop.speech_error != self._voice_said:
                self._voice_said = self.voice_loop.speech_error
                self.show_notice(f"⚠ {self._voice_said} — the replies are shown as text")

    @property
    def voice_busy(self) -> bool:
        """Listening, or the customer's voice still speaking: Esc has something to stop."""
        return self.listening or (self.voice_loop is not None and self.voice_loop.speaking)

    def stop_voice(self) -> None:
        """Esc: the customer's voice stops, and a turn being listened to is dropped."""
        if self.voice_loop is None:
            return
        self.voice_loop.stop_speaking()
        if self.listening:
            self._discard_heard = True
            self.voice_loop.stop_listening()

    def close_voice(self) -> None:
        if self.voice_loop is not None:
            self.voice_loop.close()
