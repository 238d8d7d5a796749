"""The customer's line: the prompt that asks the model for it, the candidates drawn and
vetted, and the reply cleaned before it is shown.

Once the reaction is decided (:mod:`.director`), the customer's **move** is chosen
(:mod:`.moves`: answer the question with the fact asked for, ask what a jargon word means,
tell an earned hidden fact, push back, soften, press toward the goal, accept, give up) with a
first-person line built from the file. The model voices it: the prompt is the persona first
(stable, so a local model's evaluated prefix survives from turn to turn), then the
conversation, then this turn's move last. Every candidate reply is checked by the persona
audit (:mod:`.audit`); a tagged one is never shown. A model that keeps character unaided
streams live and is regenerated when tagged; a small model's candidates are drawn unseen and
the first that passes (and keeps the move's details) is shown. When none passes, the move's
own line from the file is said. Every candidate and its tags are recorded with the turn. The
customer only ends the call when the state says so (resolved, gave up, turn limit) — an
``[END]`` the model writes on its own is stripped and ignored, and words said with a real
ending are kept.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable

from ..content.persona import Persona
from ..core.text import split_sentences, stems
from ..models.config import CAPABLE
from ..models.gateway import ModelClient, RetryNotice
from .audit import AuditContext, audit_reply
from .director import ConversationState, Decision, Understood
from .moves import Move, MoveContext, choose

END_TOKEN = "[END]"
REPLY_MAX_TOKENS = 120  # customers speak in 1-3 sentences
REPLY_MAX_SENTENCES = 4
REPLY_MAX_WORDS = 70
VOICE_MAX_TOKENS = 32  # a voiced line is one or two short sentences, on one line
VOICE_TEMPERATURE = 0.6  # lower only copies the line; higher rambles


def _mood(frustration: int) -> str:
    return ("calm" if frustration <= 2 else "a bit annoyed" if frustration <= 4 else
            "frustrated" if frustration <= 6 else "angry" if frustration <= 8 else "furious")


def customer_system_prompt(persona: Persona, state: ConversationState | None = None,
                           ending: str | None = None) -> str:
    """Who the customer is: the stable part of the prompt, the same every turn (state and
    move go last, in :func:`move_prompt`). Never holds a hidden fact."""
    c = persona.character
    first = persona.name.split()[0]
    lines = [f"You are {persona.name}, a customer talking to a support agent. The user is the agent.",
             f"What happened: {' '.join(c.situation.split())}",
             f"What {first} wants: {' '.join(c.goal.split())}",
             f"{first} is {' '.join(c.personality.split())}"]
    if c.style:
        lines.append(f"How {first} talks: {' '.join(c.style.split())}")
    if c.examples:
        lines.append(f"{first} sounds like this: " + " ".join(f'"{e}"' for e in c.examples[:3]))
    lines.append(f"Write only {first}'s next line: one or two short sentences, as the customer. Never help, "
                 "never act as the agent, never invent numbers, names or dates.")
    return "\n".join(lines)


def move_prompt(persona: Persona, state: ConversationState, move: Move, *, steady: bool) -> str:
    """This turn's state and move: the last message of the prompt, so the prefix stays cached.
    A model that keeps character gets the move as guidance; a small one, the line to voice."""
    first = persona.name.split()[0]
    revealed = [persona.hidden[i].fact for i in state.revealed if i < len(persona.hidden)]
    if steady:
        lines = [f"{first} now feels {_mood(state.frustration)} ({state.frustration}/10).",
                 f"{first}'s move: {move.kind} ({move.why}). Draft: \"{move.line}\"",
                 "Say it in your own words, in character; give no fact that was not asked for."]
        if revealed:
            lines.append(f"{first} may now tell: " + " ".join(revealed))
        lines.append("End the conversation now." if move.kind in ("accept", "give_up", "time_up")
                     else "Do not end the conversation and do not say goodbye.")
        return "\n".join(lines)
    return f"{first}'s next line must say: {move.line}"


def cache_slot(persona: Persona) -> str:
    """The name under which a local model keeps this customer's evaluated prompt."""
    return f"customer:{persona.id or persona.name}"


async def prime(persona: Persona, model: ModelClient, history: list[dict[str, str]] | None = None) -> bool:
    """Evaluate the persona's fixed prompt ahead of the first reply (the app does this while
    the learner reads the brief). Only for a model that keeps an evaluated prompt; returns
    whether it did anything."""
    if not getattr(model, "capabilities", CAPABLE).prefix_cache:
        return False
    messages = [{"role": "system", "content": customer_system_prompt(persona)},
                *(history if history is not None else [{"role": "assistant", "content": persona.opening}])]
    await model.complete(messages, max_tokens=1, temperature=0.0, cache_slot=cache_slot(persona))
    return True


def guard_reply(text: str, persona: Persona, state: ConversationState, *, jargon: list[str] | None = None,
                earlier: list[str] | None = None, ending: str | None = None) -> str | None:
    """The first audit tag on a customer reply, or None when it may be shown."""
    ctx = AuditContext(persona=persona, jargon=jargon or list(persona.jargon), revealed=list(state.revealed),
                       earlier_customer=earlier or [persona.opening], ending=ending)
    findings = audit_reply(text.replace(END_TOKEN, ""), ctx)
    return findings[0].tag if findings else None


def carries(reply: str, move: Move) -> bool:
    """Does a voiced reply keep what the move says (its numbers, the jargon word asked about,
    and at least half of its content words)?"""
    wanted_numbers = set(re.findall(r"\d+", move.line))
    if not wanted_numbers <= set(re.findall(r"\d+", reply)):
        return False
    if move.word and move.word.lower() not in reply.lower():
        return False
    line = stems(move.line)
    return not line or len(line & stems(reply)) / len(line) >= 0.5


class CustomerVoice:
    """The part of :class:`~simulator.practice.engine.Conversation` that makes the customer's
    line: the move, the prompt, the candidates and their audit. Uses the conversation's
    ``persona``, ``rubric``, ``model``, ``capabilities``, ``state``, ``record``, ``ended``,
    ``history()``, ``read_ahead()`` and ``_last_calls``."""

    @property
    def jargon(self) -> list[str]:
        return [*self.persona.jargon, *self.rubric.jargon]

    def customer_lines(self) -> list[str]:
        return [t.text for t in self.record.turns if t.speaker == "customer"]

    def choose_move(self, message: str, decision: Decision, ending: str | None,
                    understood: Understood | None = None) -> Move:
        """What the customer does this turn (see :mod:`.moves`)."""
        reasons = " ".join(decision.reasons)
        return choose(self.persona, MoveContext(
            message=message, ending=ending, reveal=[i for i in decision.reveal],
            dismissive="dismissive" in reasons or decision.frustration_delta >= 2,
            acknowledged="acknowledged" in reasons or decision.frustration_delta < 0,
            jargon=self.jargon, given=list(self.state.given), said=self.customer_lines(),
            asked=understood.conditions.fact if understood else None,
            offering=bool(understood and {"offer-fix", "commit"} & set(understood.reading.acts)),
            frustration=self.state.frustration))

    def audit_context(self, ending: str | None) -> AuditContext:
        said = [t.text for t in self.record.turns if t.speaker in ("learner", "customer")]
        return AuditContext(persona=self.persona, jargon=self.jargon, revealed=list(self.state.revealed),
                            earlier_customer=self.customer_lines(), earlier_text="\n".join(said[:-1]),
                            last_learner=said[-1] if said else "", ending=ending)

    def prompt(self, move: Move) -> list[dict[str, str]]:
        """Persona first, conversation next, this turn's move last (see the module docstring)."""
        return [{"role": "system", "content": customer_system_prompt(self.persona)}, *self.history(),
                {"role": "system", "content": move_prompt(self.persona, self.state, move,
                                                          steady=self.capabilities.steady_character)}]

    @property
    def cache_slot(self) -> str:
        return cache_slot(self.persona)

    async def prime(self, draft: str = "") -> None:
        """Evaluate the prompt so far now, so the next reply only reads what is new. With
        ``draft`` (what the learner has typed so far, up to its last whole word), that too:
        then on Enter only the last words and this turn's move are left to read."""
        words = draft.split()
        if not draft.endswith((" ", "\n")):
            words = words[:-1]  # the last word may still be half-typed
        draft_turn = [{"role": "user", "content": " ".join(words)}] if words and not self.ended else []
        await prime(self.persona, self.model, [*self.history(), *draft_turn])
        if draft.strip() and not self.ended:
            await asyncio.to_thread(self.read_ahead, draft)

    async def _generate(self, move: Move, ending: str | None, on_chunk: Callable[[str], None],
                        on_reset: Callable[[str], None] | None) -> tuple[str, list[dict[str, Any]]]:
        """Draw candidates for the move until one passes the audit; else say the move's line.
        A steady model streams live (a tagged reply is withdrawn); a small model's candidates
        are drawn unseen and only the one that passes is shown."""
        messages = self.prompt(move)
        live = self.capabilities.steady_character
        ctx = self.audit_context(ending)
        events: list[dict[str, Any]] = []
        attempts = max(1, self.capabilities.candidates)
        for attempt in range(1, attempts + 1):
            parts: list[str] = []

            def reset(notice: RetryNotice) -> None:
                parts.clear()
                if on_reset and live:
                    on_reset(f"{notice.reason}; retrying ({notice.attempt + 1}/{notice.max_attempts}) "
                             f"in {notice.wait_s:.0f}s")

            start = "" if live or not self.capabilities.prefill else opening_words(move.line, attempt)
            stream = self.model.stream(messages, on_retry=reset, cache_slot=self.cache_slot, prefill=start or None,
                                       **({"max_tokens": REPLY_MAX_TOKENS} if live else
                                          {"max_tokens": VOICE_MAX_TOKENS, "stop": ["\n"],
                                           "temperature": VOICE_TEMPERATURE}))
            async for chunk in stream:
                parts.append(chunk)
                if live:
                    on_chunk(chunk)
            self._last_calls.append(stream.record.to_dict())
            drawn = clean_reply(start + "".join(parts), self.persona.name)
            reply, tags = (drawn, [f.to_dict() for f in audit_reply(drawn, ctx)]) if live else \
                self._vet(drawn, move, ctx, cut=(stream.record.tokens_out or 0) >= VOICE_MAX_TOKENS)
            events.append({"attempt": attempt, "verdict": tags[0]["tag"] if tags else "ok",
                           **({"tags": tags, "rejected": drawn[:300]} if tags else {}),
                           **({"trimmed_from": drawn[:300]} if not tags and reply != drawn else {})})
            if not tags:
                if not live:
                    on_chunk(reply)
                return reply, events
            if on_reset and live:
                on_reset(f"regenerating the customer's reply ({tags[0]['tag'].replace('_', ' ')})")
        reply = move.line
        events.append({"attempt": attempts, "verdict": "fallback", "used": reply})
        on_chunk(reply)
        return reply, events

    @staticmethod
    def _vet(drawn: str, move: Move, ctx: AuditContext, *, cut: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """A small model's candidate: the whole of it if it passes the audit and keeps the
        move, else the longest run of its sentences that does (a 135M model often wraps a
        good line in an agent's apology or a second, invented sentence). ``cut``: the token
        limit stopped it, so its last sentence is unfinished and never shown. Returns the
        text to show and, when nothing passes, the whole candidate's tags."""
        tags = [f.to_dict() for f in audit_reply(drawn, ctx)]
        keeps = carries(drawn, move)
        if not tags and keeps and not cut:
            return drawn, []
        sentences = split_sentences(drawn)
        if cut and sentences:
            sentences.pop()
        for length in range(len(sentences), 0, -1):
            for start in range(len(sentences) - length + 1):
                span = " ".join(sentences[start:start + length])
                if span != drawn and not audit_reply(span, ctx) and carries(span, move):
                    return span, []
        if not tags:
            tags = [{"tag": "misses_move", "evidence": f"does not say: {move.line[:120]}"} if not keeps
                    else {"tag": "unfinished", "evidence": f"cut at the token limit: …{drawn[-60:]}"}]
        return drawn, tags


def opening_words(line: str, attempt: int) -> str:
    """The first words of the move's line that a small model's ``attempt``-th candidate is
    made to start with (3, then 2, then 1, then none): on those rails a 135M model says the
    line in its own way instead of opening with an agent's "I'm sorry for your loss".
    A line with figures in it (an account number, an amount, a time) is given up to its last
    figure on every attempt: a 135M model rewrites "44-1029" as "45-1029", and a customer
    reads such things off exactly. Never the whole line: the model always says the rest."""
    words = line.split()
    figures = [i for i, w in enumerate(words) if re.search(r"\d", w)]
    if figures and figures[-1] < len(words) - 1:
        return " ".join(words[:figures[-1] + 1]).rstrip(".,;:!?")
    if figures:  # the line ends on its figure: give it without the end of the sentence
        return " ".join(words).rstrip(".,;:!?") if len(words) > 2 else ""
    start = words[:max(0, 4 - attempt)]
    return " ".join(start[:-1] if len(start) >= len(words) else start)


# a small model often repeats the instruction before the line: "Derek's next line must say: ..."
_ECHO = re.compile(r"^\s*(?:(?:[A-Z][\w’'-]*(?:'s|’s)|your|my|the customer'?s)\s+)?next (?:line|sentence)"
                   r"(?:\s+(?:must|should|will|would))?(?:\s+(?:say|be|is|reads?))?\s*[:,-]\s*", re.IGNORECASE)


def clean_reply(text: str, name: str) -> str:
    """Strip the end marker, a leading speaker label and stray quotes from a reply, and
    cut a rambling reply (small models loop) to its first few sentences."""
    text = text.replace(END_TOKEN, "").strip()
    sentences = re.findall(r"[^.!?]+[.!?]+[\"')\]]*|[^.!?]+$", text)
    if len(sentences) > REPLY_MAX_SENTENCES:
        text = "".join(sentences[:REPLY_MAX_SENTENCES]).strip()
    words = text.split()
    if len(words) > REPLY_MAX_WORDS:  # one endless run-on sentence: stop at a clause boundary
        cut = " ".join(words[:REPLY_MAX_WORDS])
        boundary = max(cut.rfind(", "), cut.rfind("; "), cut.rfind(" - "))
        text = (cut[:boundary] if boundary > len(cut) // 2 else cut).rstrip(",;- ") + "…"
    text = re.sub(rf"^\s*({re.escape(name)}|{re.escape(name.split()[0])}|customer)\s*:\s*", "", text,
                  flags=re.IGNORECASE)
    text = _ECHO.sub("", text, count=1)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    if text.count('"') % 2 and '"' in (text[:1], text[-1:]):
        text = text.strip('"').strip()  # an unmatched quote at either end
    return text
