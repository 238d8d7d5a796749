"""The coach's hint without a model: one next step read from the conversation itself.

A model too small to coach (the built-in 135M one answered a hint request with the
customer's opening line) gets this instead; the first rule that applies gives the tip:

=====================  =======================================================================
when                   the tip
=====================  =======================================================================
jargon                 the learner's last message used a word this customer would not know:
                       say it in plain words
upset, not heard       frustration is 7 or more and neither of the last two learner messages
                       acknowledged it: name the feeling and its cause first
a question waiting     the customer's last line asked something: answer it first (quoted)
never acknowledged     no learner message has acknowledged the customer yet
more to the story      three or more learner turns, a hidden fact still unrevealed: ask an open
                       question about why this matters to the customer now (the fact itself
                       is never named)
goal not addressed     the learner has not said what they can do: say it, toward the goal
otherwise              summarise what the customer said and check it
=====================  =======================================================================

Nothing here calls a model; the hidden facts are never quoted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.text import acknowledges, jargon_in, split_sentences

if TYPE_CHECKING:
    from ..content.persona import Persona
    from .sessions import Turn

_OFFER = re.compile(r"\b(i'?ll|i will|i can(?! (see|hear|imagine|understand|tell))|what i can do|i'?ve (just )?(credited|refunded|booked|sent|set|changed|"
                    r"opened|arranged)|we can|let me)\b", re.IGNORECASE)


def rule_hint(persona: "Persona", turns: list["Turn"], *, frustration: int, revealed: list[int],
              jargon: list[str]) -> str:
    """One short tip for the learner's next message (rules in the module docstring)."""
    first = persona.name.split()[0]
    learner = [t.text for t in turns if t.speaker == "learner"]
    customer = [t.text for t in turns if t.speaker == "customer"]
    if learner and (words := jargon_in(learner[-1], jargon)):
        return (f"You said \"{words[0]}\": {first} may not know it. Say what it means for them in plain words, "
                "then check it made sense.")
    if frustration >= 7 and not any(acknowledges(text) for text in learner[-2:]):
        return (f"{first} is upset ({frustration}/10). Before anything else, name the feeling and its cause in "
                f"{first}'s own terms, and own what went wrong.")
    last = customer[-1] if customer else ""
    questions = [s for s in split_sentences(last) if s.endswith("?")]
    if questions:
        return f"Answer {first}'s question first: \"{questions[-1]}\" Then ask one open question."
    if not any(acknowledges(text) for text in learner):
        return f"Acknowledge how {first} feels about this before you start solving it."
    if len(learner) >= 3 and len(revealed) < len(persona.hidden):
        return (f"There may be more to {first}'s story. Ask one open question about why this matters to them "
                "today, and listen before you offer anything.")
    if not any(_OFFER.search(text) for text in learner):
        return f"Tell {first} plainly what you can do now, and by when."
    return f"Sum up what {first} has told you in one sentence and check you have it right."
