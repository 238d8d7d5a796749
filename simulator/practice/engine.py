"""The conversation engine: a learner talks to a persona, turn by turn.

UI-free. The TUI, the headless ``roleplay run`` and the tests all drive this class.

:class:`Conversation` owns a session's life cycle and its journal (start, resume, branch,
send, end); its other jobs live in their own modules and are mixed in:

* :mod:`.director`: how the customer reacts to each message (rules by meaning, the director);
* :mod:`.customer_line`: the customer's move and line (prompt, candidates, audit, cleaning);
* :mod:`.hints`: the coaching tip.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Callable, Iterator

from ..content.persona import Persona
from ..content.rubric import Rubric
from ..core.errors import SessionError
from ..core.ids import check_id
from ..core.text import neutralise_turn
from ..models.config import CAPABLE
from ..models.gateway import ModelClient
from .customer_line import (
    END_TOKEN,
    REPLY_MAX_SENTENCES,
    REPLY_MAX_TOKENS,
    REPLY_MAX_WORDS,
    VOICE_MAX_TOKENS,
    VOICE_TEMPERATURE,
    CustomerVoice,
    cache_slot,
    carries,
    clean_reply,
    customer_system_prompt,
    guard_reply,
    move_prompt,
    opening_words,
    prime,
)
from .director import (
    ANGERING_ACTS,
    CALMING_ACTS,
    DIRECTOR_SCHEMA,
    ConversationState,
    Decision,
    ReactionRules,
    Understood,
    director_prompt,
    ready_to_understand,
)
from .hints import Coaching
from .sessions import (
    CannotSave,
    Journal,
    SessionRecord,
    SpokenTurn,
    Turn,
    TurnState,
    cannot_start,
    new_session_id,
    now_iso,
    reader,
    snapshot_text,
)

__all__ = ["ANGERING_ACTS", "CALMING_ACTS", "DIRECTOR_SCHEMA", "END_TOKEN", "HISTORY_TURNS", "REPLY_MAX_SENTENCES",
           "REPLY_MAX_TOKENS", "REPLY_MAX_WORDS", "VOICE_MAX_TOKENS", "VOICE_TEMPERATURE", "Conversation",
           "ConversationState", "Decision", "Understood", "cache_slot", "carries", "clean_reply",
           "customer_system_prompt", "director_prompt", "guard_reply", "move_prompt", "opening_words", "prime",
           "ready_to_understand"]

HISTORY_TURNS = 48  # messages of history sent to the model (all of a session, so the prefix stays put)


class Conversation(ReactionRules, CustomerVoice, Coaching):
    """One practice session between a learner and a persona, journaled turn by turn."""

    def __init__(self, persona: Persona, rubric: Rubric, model: ModelClient, record: SessionRecord,
                 journal: Journal | None, *, director: ModelClient | None = None, use_director: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, writer: Executor | None = None):
        self.persona = persona
        self.rubric = rubric
        self.model = model
        self.director = director or model
        self.capabilities = getattr(model, "capabilities", CAPABLE)
        # a model that cannot write the director's JSON (the built-in 135M one): rules alone decide
        self.use_director = (getattr(self.director, "capabilities", CAPABLE).director if use_director is None
                             else use_director)
        self.record = record
        self.journal = journal
        # the app passes a one-thread executor: journal appends and session.json rewrites (each
        # fsynced) run there, in order, and a reply waits for them without blocking the UI loop
        self.writer = writer
        self._write: Future[None] | None = None  # the latest write handed to the writer
        self.clock = clock
        self._restore_state()
        self._last_customer_at = clock()

    def _restore_state(self) -> None:
        """The conversation's state as the record's last turn left it."""
        last_state = next((t.state for t in reversed(self.record.turns) if t.state and t.state.frustration is not None),
                          None)
        self.state = (reader(ConversationState).validate_python(last_state.to_dict()) if last_state
                      else ConversationState(frustration=self.persona.frustration.start))
        self.state.outcome = self.record.outcome

    # -- lifecycle -----------------------------------------------------------------------
    @classmethod
    def start(cls, persona: Persona, rubric: Rubric, model: ModelClient, *, workspace: Path | None,
              models: dict[str, str] | None = None, learner: str | None = None, **kwargs: Any) -> "Conversation":
        """Open a session: journal header, then the customer's opening line as turn 0."""
        check_id(persona.id, "persona id (its file name)")  # it names the session's folder
        record = SessionRecord(
            session_id=new_session_id(persona.id), started_at=now_iso(), persona_id=persona.id,
            persona=persona.model_dump(mode="json"), rubric_id=rubric.id, rubric=rubric.model_dump(mode="json"),
            models=models or {"persona": model.model}, learner=learner or None)
        journal = Journal.create(record, workspace) if workspace is not None else None
        conversation = cls(persona, rubric, model, record, journal, **kwargs)
        with conversation._first_writes():
            conversation._add(Turn(index=0, speaker="customer", text=persona.opening,
                                   state=TurnState(**conversation.state.to_dict())))
            conversation._wait_written()
        return conversation

    @contextlib.contextmanager
    def _first_writes(self) -> Iterator[None]:
        """A new session's first turns: when they cannot be written (a full disk), the session
        did not begin, and no half-made folder is left to be listed."""
        try:
            yield
        except CannotSave as exc:
            if self.journal is not None:
                self.journal.discard()
            raise cannot_start(self.journal.folder if self.journal else Path("."), exc) from None

    @classmethod
    def resume(cls, record: SessionRecord, model: ModelClient, **kwargs: Any) -> "Conversation":
        """Continue a session from its journal (the persona and rubric snapshots in it)."""
        if record.ended:
            raise SessionError(f"session {record.session_id} has ended ({record.outcome}) — start a new one")
        persona, rubric = record.persona_snapshot(), record.rubric_snapshot()
        journal = Journal(record.folder) if record.folder else None
        conversation = cls(persona, rubric, model, record, journal, **kwargs)
        # a learner turn left unanswered by a crash is handed back to be sent again
        # (the state was rebuilt from the last customer turn, which never counted it)
        if record.turns and record.turns[-1].speaker == "learner":
            conversation.pending_text = conversation._retract(record.turns[-1], counted=False)
            conversation._wait_written()
        return conversation

    @classmethod
    def branch(cls, original: SessionRecord, at_turn: int, model: ModelClient, *, workspace: Path | None,
               models: dict[str, str] | None = None, learner: str | None = None, **kwargs: Any) -> "Conversation":
        """Try again from learner turn ``at_turn`` of ``original``: a new session with the
        original's persona and rubric snapshots, its turns before ``at_turn`` (same numbers),
        and the state they left (frustration, facts told, hidden facts earned); the learner
        writes a new turn ``at_turn``. It records where it branched from."""
        said = {t.index: t for t in original.turns}
        if at_turn not in said or said[at_turn].speaker != "learner":
            raise SessionError(f"turn {at_turn} of {original.session_id} is not one of the learner's messages — "
                               "pick one of yours to try again from")
        check_id(original.persona_id, "the session's persona id")  # it names the new session's folder
        persona, rubric = original.persona_snapshot(), original.rubric_snapshot()
        record = SessionRecord(
            session_id=new_session_id(persona.id), started_at=now_iso(), persona_id=original.persona_id,
            persona=original.persona, rubric_id=original.rubric_id, rubric=original.rubric,
            models=models or {"persona": model.model}, learner=learner or original.learner,
            branched_from={"session_id": original.session_id, "turn": at_turn})
        journal = Journal.create(record, workspace) if workspace is not None else None
        conversation = cls(persona, rubric, model, record, journal, **kwargs)
        with conversation._first_writes():
            for turn in original.turns:
                if turn.index < at_turn:
                    conversation._add(copy.deepcopy(turn))
            conversation._restore_state()
            conversation._wait_written()
        return conversation

    pending_text: str | None = None
    _in_flight: Turn | None = None  # the learner turn whose reply is being made

    @property
    def ended(self) -> bool:
        return self.state.outcome is not None

    @property
    def turns(self) -> list[Turn]:
        return self.record.turns

    @property
    def max_turns(self) -> int:
        return self.persona.end.max_turns

    def _next_index(self) -> int:
        return (self.record.turns[-1].index + 1) if self.record.turns else 0

    def _persist(self, event: dict[str, Any]) -> None:
        """Journal ``event`` and rewrite session.json as the record is now: on the writer's
        thread when there is one (the app), else here."""
        journal = self.journal
        if journal is None:
            return
        snapshot = snapshot_text(self.record)  # a consistent copy, taken here

        def write() -> None:
            journal.append(event)
            journal.write_snapshot(snapshot)

        if self.writer is not None:
            self._write = self.writer.submit(write)
        else:
            write()

    async def _written(self) -> None:
        """Wait, without blocking the loop, until every write so far is on disk (raises its error)."""
        if self._write is not None:
            await asyncio.wrap_future(self._write)

    def _wait_written(self) -> None:
        """The same, blocking: for the rare sync paths (start, resume, end)."""
        if self._write is not None:
            self._write.result()

    def _add(self, turn: Turn) -> Turn:
        self.record.turns.append(turn)
        try:
            self._persist({"type": "turn", **turn.to_dict()})
        except BaseException:  # not on disk (a full disk, written here): not in the session either
            self.record.turns.remove(turn)
            raise
        return turn

    def _retract(self, turn: Turn, *, counted: bool = True) -> str:
        """Take back a learner turn that got no reply (journaled); returns its text.
        ``counted``: the state's turn count includes it."""
        self.record.turns.remove(turn)
        if counted:
            self.state.learner_turns = max(0, self.state.learner_turns - 1)
        self._persist({"type": "retract", "index": turn.index, "at": now_iso()})
        return turn.text

    def end(self, outcome: str = "ended_by_learner", reason: str = "") -> None:
        """Close the session (idempotent). A learner turn still waiting for its reply is taken
        back first (its text kept in ``pending_text``), so the journal, ``session.json`` and the
        feedback all hold the same transcript."""
        if self.record.outcome:
            return
        if self._in_flight is not None:
            self.pending_text = self._retract(self._in_flight)
            self._in_flight = None
        self.state.outcome = outcome
        self.record.outcome = outcome
        self.record.end_reason = reason or outcome.replace("_", " ")
        self.record.ended_at = now_iso()
        self._persist({"type": "end", "outcome": outcome, "reason": self.record.end_reason,
                       "at": self.record.ended_at})
        self._wait_written()  # once per session: what follows (grading, history) reads the files

    # -- messages ------------------------------------------------------------------------
    def history(self) -> list[dict[str, str]]:
        messages = []
        for turn in self.record.turns:
            if turn.speaker == "customer":
                messages.append({"role": "assistant", "content": turn.text})
            elif turn.speaker == "learner":
                messages.append({"role": "user", "content": turn.text})
        return messages[-HISTORY_TURNS:]

    def transcript_text(self) -> str:
        return "\n".join(f"{'Agent' if t.speaker == 'learner' else 'Customer'}: {neutralise_turn(t.text)}"
                         for t in self.record.turns if t.speaker in ("learner", "customer"))

    @property
    def workspace(self) -> Path | None:
        """The workspace whose act files read the learner (the session's, else the bundled ones)."""
        folder = self.record.folder
        return folder.parent.parent if folder is not None else None

    async def send(self, text: str, *, on_chunk: Callable[[str], None] | None = None,
                   on_reset: Callable[[str], None] | None = None, voice: SpokenTurn | None = None) -> Turn:
        """The learner says ``text``; returns the customer's reply turn. ``voice``: how the
        learner spoke it (saved on the learner's turn), None when typed.

        ``on_chunk`` gets the reply's text as it streams; ``on_reset(reason)`` means
        "drop what was streamed so far" (a retry or a guard's regeneration). On a
        :class:`ModelError` the learner's turn is taken back (journaled as retracted)
        and its text is in ``pending_text`` so nothing the learner typed is lost.
        """
        text = text.strip()
        if self.ended:
            raise SessionError("the conversation has ended — start a new session")
        if not text:
            raise SessionError("nothing to send — type a message first")
        self.pending_text = None
        response_time = round(self.clock() - self._last_customer_at, 3)
        # what the message means, read once (off the UI loop): the rules, the moves and the grade use it
        try:
            understood = await asyncio.to_thread(self.understand, text)
        except BaseException:  # cancelled (Esc) while the message was read: the text goes back
            self.pending_text = text
            raise
        self.state.learner_turns += 1
        try:
            learner = self._add(Turn(index=self._next_index(), speaker="learner", text=text,
                                     response_time_s=response_time, acts=list(understood.reading.acts),
                                     read_by=understood.method, voice=voice))
        except BaseException:  # it could not be saved: nothing happened, and the text is handed back
            self.state.learner_turns -= 1
            self.pending_text = text
            raise
        self._in_flight = learner
        self._last_calls: list[dict[str, Any]] = []
        started = self.clock()
        try:
            await self._written()  # the learner's turn is on disk before the reply is made
            decision = await self.decide(text, understood)
            before = (self.state.frustration, list(self.state.revealed), list(self.state.given))
            ending = self.apply(decision)
            move = self.choose_move(text, decision, ending, understood)
            shown: list[float] = []

            def show(chunk: str) -> None:
                if not shown:
                    shown.append(round(self.clock() - started, 3))
                if on_chunk:
                    on_chunk(chunk)

            try:
                reply, guard_events = await self._generate(move, ending, show, on_reset)
                if self._in_flight is not learner:  # the session was ended while the reply was made
                    raise SessionError("the session ended before the customer replied")
            except BaseException:
                self.state.frustration, self.state.revealed, self.state.given = before
                raise
        except BaseException:  # a failed or cancelled reply hands the learner's text back
            if self._in_flight is learner:
                self.pending_text = learner.text  # first: the retraction's own write may fail too
                self._retract(learner)
            raise
        finally:
            if self._in_flight is learner:
                self._in_flight = None
        if move.fact is not None and move.fact not in self.state.given:
            self.state.given.append(move.fact)
        latency = round(sum(c.get("latency_s") or 0 for c in self._last_calls), 3)
        turn = Turn(index=self._next_index(), speaker="customer", text=reply, latency_s=latency,
                    first_token_s=shown[0] if shown else None, calls=self._last_calls, guard=guard_events,
                    state=TurnState(**{**self.state.to_dict(), "outcome": ending, "decision": decision.to_dict(),
                                       "move": move.to_dict()}))
        self._add(turn)
        await self._written()
        self._last_customer_at = self.clock()
        if ending:
            self.end(ending, {"resolved": "the customer's problem was resolved",
                              "gave_up": "the customer gave up",
                              "turn_limit": f"the turn limit ({self.max_turns}) was reached"}[ending])
            turn.state.outcome = ending
        return turn
