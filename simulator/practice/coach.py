"""The coach's hint without a model: one next step read from the conversation itself.

A model too small to coach (the built-in 135M one answered a hint request with the
customer's opening line) gets this instead; the first rule that applies gives the tip:

=====================  =======================================================================
when                   the tip
=====================  =======================================================================
jargon                 the learner's last message used a word this customer would not know:
                       say it in plain words (the jargon entry's own, when it gives them)
asked twice            the customer's last line says they already told you: use it (the turn)
turns running out      two learner turns or fewer left before the turn limit: make the offer
upset, not heard       frustration is 7 or more and neither of the last two learner messages
                       acknowledged it (:data:`ACKNOWLEDGE_ACTS`): name the feeling and its
                       cause first
a question waiting     the customer's last line asked something: answer it first (quoted)
never acknowledged     no learner message has acknowledged the customer yet
more to the story      three or more learner turns, a hidden fact still unrevealed: ask an open
                       question about why this matters to the customer now (the fact itself
                       is never named)
goal not addressed     no learner message made an offer (:data:`OFFER_ACTS`): say what you can
                       do, toward the goal
otherwise              summarise what the customer said and check it
=====================  =======================================================================

What a learner message does is its reading by the meaning layer
(:mod:`simulator.practice.meaning`), the same acts the grade and the advice read: the
readings passed in (``readings``, by turn index), else the one stored on the turn when it was
sent (``Turn.acts``). A turn with neither is read by the old word rules
(:func:`simulator.core.text.acknowledges` and :data:`_OFFER`), so a hint never waits for a
model. **An offer** is one definition everywhere (:func:`is_offer`): a message that does
``offer-fix`` or ``commit``.

Nothing here calls a model; the hidden facts are never quoted. :func:`advice_problem` is the
check a model's tip (or a judge's better reply) must pass before a learner sees it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from ..core.text import acknowledges, jargon_in, plain_words, split_sentences, stems

if TYPE_CHECKING:
    from ..content.persona import Persona
    from .meaning import Reading
    from .sessions import Turn

OFFER_ACTS = frozenset({"offer-fix", "commit"})  # an offer, for the coach, the grade and the advice
ACKNOWLEDGE_ACTS = frozenset({"acknowledge-feeling", "name-cause", "own-mistake", "reassure", "apologise"})

# the fallback for a message with no reading (the word rules of before the meaning layer)
_OFFER = re.compile(r"\b(i'?ll|i will|i can(?! (see|hear|imagine|understand|tell))|what i can do|i'?ve (just )?(credited|refunded|booked|sent|set|changed|"
                    r"opened|arranged)|we can|let me)\b", re.IGNORECASE)


def stored_reading(turn: "Turn") -> "Reading | None":
    """The reading made when a learner turn was sent (``Turn.acts``), or None (not read then)."""
    if turn.speaker != "learner" or turn.read_by not in ("embeddings", "stems"):
        return None
    from .meaning import reading_of

    return reading_of(turn)  # a stored reading: nothing is read again


def reading_for(turn: "Turn", readings: "Mapping[int, Reading] | None" = None) -> "Reading | None":
    """A learner turn's reading: the one passed in, else the one stored on the turn, else None."""
    if readings is not None and turn.index in readings:
        return readings[turn.index]
    return stored_reading(turn)


def is_offer(text: str, reading: "Reading | None" = None) -> bool:
    """Does the message make an offer: ``offer-fix`` or ``commit`` (the word rule without a reading)."""
    if reading is not None:
        return any(reading.does(act) for act in OFFER_ACTS)
    return bool(_OFFER.search(text))


def acknowledges_customer(text: str, reading: "Reading | None" = None) -> bool:
    """Does the message acknowledge the customer (a feeling, its cause, a mistake owned, a worry
    eased, an apology): one of :data:`ACKNOWLEDGE_ACTS` (the word rule without a reading)."""
    if reading is not None:
        return any(reading.does(act) for act in ACKNOWLEDGE_ACTS)
    return acknowledges(text)


_TOLD = re.compile(r"\b(i (just|already) (told|gave|said)|i('ve| have) (already )?(told|given|said)|"
                   r"as i (said|told you)|you already asked)\b", re.IGNORECASE)
_LABEL = re.compile(r"^\s*(customer|agent|user|assistant|coach|caller|representative|rep)\s*:", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<[^>]*>|\[\d\s*-\s*\d\]|^\W*$")
_FIRST_PERSON = re.compile(r"^\s*(i|i'm|i've|my|we|we're|our)\b", re.IGNORECASE)


def advice_problem(text: str, turns: list["Turn"], *, customer_name: str = "", rewrite: bool = False) -> str | None:
    """Why a model's advice cannot be shown, or None when it can. Advice must not be empty or
    a template placeholder, not a transcript line ("Customer: …"), and not a copy of what was
    said (eight words in a row from one turn). A tip (``rewrite`` False) speaks to the agent,
    so it does not open in the first person as a customer would; a rewrite (a better reply in
    the agent's place) may, but must differ from every learner turn."""
    clean = " ".join((text or "").split())
    if len(clean) < 8 or _PLACEHOLDER.search(clean):
        return "empty or a template placeholder"
    if _LABEL.match(clean):
        return "a transcript line, not advice"
    words = re.findall(r"[a-z0-9$']+", clean.lower())
    grams = {tuple(words[i:i + 8]) for i in range(len(words) - 7)}
    for turn in turns:
        if turn.speaker not in ("learner", "customer"):
            continue
        said = re.findall(r"[a-z0-9$']+", turn.text.lower())
        if said == words or any(tuple(said[i:i + 8]) in grams for i in range(len(said) - 7)):
            return f"a copy of turn {turn.index}"
        if rewrite and turn.speaker == "learner" and stems(turn.text) and stems(turn.text) == stems(clean):
            return f"the same as turn {turn.index}"
    if not rewrite and _FIRST_PERSON.match(clean) and not re.search(r"\byou(r)?\b", clean, re.IGNORECASE):
        return "a customer's line, not advice to the agent"
    first = customer_name.split()[0] if customer_name else ""
    if first and re.match(rf"^\s*{re.escape(first)}\s*:", clean):
        return "a customer's line, not advice to the agent"
    return None


def rule_hint(persona: "Persona", turns: list["Turn"], *, frustration: int, revealed: list[int],
              jargon: list[str], readings: "Mapping[int, Reading] | None" = None) -> str:
    """One short tip for the learner's next message (rules in the module docstring).
    ``readings``: the learner turns' readings by turn index, when the caller has them."""
    first = persona.name.split()[0]
    said = [t for t in turns if t.speaker == "learner"]
    learner = [t.text for t in said]
    read = [reading_for(t, readings) for t in said]
    customer = [t.text for t in turns if t.speaker == "customer"]
    if learner and (words := jargon_in(learner[-1], jargon)):
        if plain := plain_words(jargon, words[0]):
            return f"You said \"{words[0]}\": {first} may not know it. Say \"{plain}\" instead, then check it made sense."
        return (f"You said \"{words[0]}\": {first} may not know it. Say what it means for them in plain words, "
                "then check it made sense.")
    spoken = [t for t in turns if t.speaker in ("learner", "customer")]
    if spoken and spoken[-1].speaker == "customer" and _TOLD.search(spoken[-1].text):
        told = next((t.index for t in reversed(spoken[:-1]) if t.speaker == "customer"), None)
        return (f"{first} already told you that" + (f" (turn {told})" if told is not None else "")
                + ". Say it back to show you heard it, and move on without asking again.")
    left = (persona.end.max_turns or 20) - len(learner)
    if 0 < left <= 2:
        return (f"{'One turn' if left == 1 else 'Two turns'} left before the call ends: make your offer now, "
                f"plainly, and ask {first} if it works.")
    if frustration >= 7 and not any(acknowledges_customer(t.text, r) for t, r in zip(said[-2:], read[-2:])):
        return (f"{first} is upset ({frustration}/10). Before anything else, name the feeling and its cause in "
                f"{first}'s own terms, and own what went wrong.")
    last = customer[-1] if customer else ""
    questions = [s for s in split_sentences(last) if s.endswith("?")]
    if questions:
        return f"Answer {first}'s question first: \"{questions[-1]}\" Then ask one open question."
    if not any(acknowledges_customer(t.text, r) for t, r in zip(said, read)):
        return f"Acknowledge how {first} feels about this before you start solving it."
    if len(learner) >= 3 and len(revealed) < len(persona.hidden):
        return (f"There may be more to {first}'s story. Ask one open question about why this matters to them "
                "today, and listen before you offer anything.")
    if not any(is_offer(t.text, r) for t, r in zip(said, read)):
        return f"Tell {first} plainly what you can do now, and by when."
    return f"Sum up what {first} has told you in one sentence and check you have it right."
