"""Customer moves: what the customer does this turn, decided by the engine from the file.

A small model cannot carry a character on its own, so the engine decides what the
customer says and the model only voices it. Each learner turn gets one move:

========== ======================================================================================
move       when (first that applies)
========== ======================================================================================
accept     the state says the problem is resolved: thank the agent and say goodbye
give_up    the state says the customer gives up
time_up    the turn limit is reached
reveal     a hidden fact was earned this turn: tell it
clarify    the learner used a word this customer would not understand: ask what it means
answer     the learner asked for something a fact covers: give that fact, nothing more
push_back  the learner brushed the customer off
dont_know  the learner asked for a detail the file does not hold: say so, invent nothing
soften     the learner acknowledged the customer: ease a little, and say what is still needed
press      anything else: press toward the goal, in the customer's own words
========== ======================================================================================

Every move carries ``line``: a first-person draft built only from the persona's own
words (facts, hidden facts, goal, situation, example lines). It is what the model is
asked to voice, what a candidate is checked against, and, when no candidate passes
the audit, the line that is said.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..core.text import jargon_in, split_sentences, stems
from .audit import repetition

if TYPE_CHECKING:
    from ..content.persona import Persona

_QUESTION = re.compile(r"\?|^\s*(what|which|when|where|who|how|why|can you|could you|would you|do you|did you|"
                       r"have you|are you|is it|is there|tell me|please (confirm|give|tell|send)|confirm)\b",
                       re.IGNORECASE | re.MULTILINE)
_DETAIL_ASK = re.compile(r"\b(number|reference|id|date|when|what time|address|email|name|code|digits|amount|"
                         r"how much|how many|postcode|zip|card|account|birth|order|model|version|serial)\b",
                         re.IGNORECASE)
_ANY_DETAIL = stems("number numbers details detail reference id please confirm")
_ID_ASK = re.compile(r"\b(account|order|booking|reference|details|number|id|customer)\b", re.IGNORECASE)
_ADVERBS = {"always", "also", "just", "still", "never", "often", "usually", "already", "only", "really", "even",
            "actually", "probably", "first"}
_IRREGULAR = {"is": "am", "was": "was", "has": "have", "does": "do", "goes": "go", "isn't": "am not",
              "doesn't": "don't", "hasn't": "haven't", "wasn't": "wasn't", "'s": "'m"}
_OBJECT_AFTER = {"to", "for", "about", "a", "an", "the", "that", "up", "in", "on", "back", "with", "and", "by",
                 "at", "from", "if", "when", "off", "out", "again", "too", "later", "now", "today", "tomorrow",
                 "know", "is", "was", "it", "this", "some", "any", "into", "over"}


@dataclass
class Move:
    """What the customer does this turn and the first-person line that carries it."""

    kind: str
    line: str
    why: str = ""
    fact: int | None = None  # index of the fact given
    hidden: int | None = None  # index of the hidden fact told
    word: str | None = None  # the jargon word asked about

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


def pronoun(persona: "Persona") -> str:
    """'he' or 'she' (or 'they'): how the file speaks of the customer."""
    text = " ".join([*persona.facts, *(h.fact for h in persona.hidden), persona.character.background,
                     persona.character.goal]).lower()
    he = len(re.findall(r"\b(he|his|him|himself)\b", text))
    she = len(re.findall(r"\b(she|her|hers|herself)\b", text))
    they = len(re.findall(r"\b(they|their|them|themselves)\b", text))
    best = max((he, "he"), (she, "she"), (they, "they"))
    return best[1] if best[0] else "he"


def first_person(text: str, persona: "Persona") -> str:
    """A fact the file writes about the customer ("His address is 24 Linden Way"), as the
    customer says it ("My address is 24 Linden Way")."""
    p = pronoun(persona)
    forms = {"he": ("he", "his", "him", "himself"), "she": ("she", "her", "her", "herself"),
             "they": ("they", "their", "them", "themselves")}[p]
    subject, possessive, obj, reflexive = forms
    words = re.split(r"(\s+|[.,;:!?()\"'])", text)
    out: list[str] = []
    conjugate = False
    for i, word in enumerate(words):
        low = word.lower()
        if not word or word.isspace() or not re.search(r"\w", word):
            out.append(word)
            continue
        upper = word[:1].isupper()
        if low == subject:
            out.append("I")
            conjugate = True
            continue
        if low == reflexive:
            out.append("Myself" if upper else "myself")
            continue
        if p == "she" and low == "her":
            following = next((w.lower() for w in words[i + 1:] if w and not w.isspace()), "")
            is_object = not re.match(r"\w", following) or following in _OBJECT_AFTER
            out.append(("Me" if upper else "me") if is_object else ("My" if upper else "my"))
            continue
        if low == possessive:
            out.append("My" if upper else "my")
            continue
        if low == obj:
            out.append("Me" if upper else "me")
            continue
        if low in (f"{subject}'s", f"{subject}’s"):
            out.append("I'm")
            continue
        if conjugate:
            if low in _ADVERBS:
                out.append(word)
                continue
            conjugate = False
            if low in _IRREGULAR:
                out.append(_IRREGULAR[low])
            elif p != "they" and re.fullmatch(r"[a-z]+ies", low) and len(low) > 4:
                out.append(word[:-3] + "y")
            elif p != "they" and re.fullmatch(r"[a-z]+(ches|shes|sses|xes|zzes|oes)", low):
                out.append(word[:-2])
            elif p != "they" and re.fullmatch(r"[a-z]+[^s's]s", low):
                out.append(word[:-1])
            else:
                out.append(word)
            continue
        out.append(word)
    line = "".join(out).strip()
    return line[:1].upper() + line[1:] if line else line


_STAGE_DIRECTION = re.compile(r"^\s*if (?:asked|they ask)[^,]*,\s*(?:he|she|they)\s+(?:first\s+)?"
                              r"(?:says?|claims?|tells? (?:them|the agent))\s+(?:that\s+)?", re.IGNORECASE)


def spoken_fact(fact: str, persona: "Persona") -> str:
    """A fact as the customer says it. A fact written as a stage direction ("If asked what
    the payment is for, she first says it is to help her nephew; this is the story she was
    told to give") gives only what is said ("It is to help my nephew.")."""
    text = " ".join(fact.split())
    if m := _STAGE_DIRECTION.match(text):
        text = re.split(r"\s*;\s*", text[m.end():])[0]
    return first_person(_sentence(text), persona)


def goal_line(persona: "Persona") -> str:
    """The persona's goal as the customer would say it ("I need to get the $45 back.")."""
    goal = " ".join(persona.character.goal.split())
    goal = re.sub(r"^on the surface:\s*", "", goal, flags=re.IGNORECASE)
    goal = re.split(r"\s*\bunderneath\b", goal, flags=re.IGNORECASE)[0].rstrip(" .;,:")
    goal = first_person(_sentence(goal), persona)
    first = goal.split()[0].lower() if goal.split() else ""
    if first in ("a", "an", "the", "my", "some", "no", "one", "two"):
        return f"I want {goal[:1].lower()}{goal[1:]}"
    if first in ("i", "i'm", "i've", "i'd"):
        return goal
    return f"I need to {goal[:1].lower()}{goal[1:]}"


def _lower_first(text: str) -> str:
    """Lower-case the first letter, except the pronoun I ("I need …" stays as it is)."""
    return text if re.match(r"I\b", text) else text[:1].lower() + text[1:]


def _sentence(text: str) -> str:
    text = " ".join(text.split()).strip()
    return text if text[-1:] in ".!?…" else text + "."


def _is_question(message: str) -> bool:
    return bool(_QUESTION.search(message))


def _best_fact(persona: "Persona", message: str) -> tuple[int | None, int]:
    """The fact the learner asks for: most content words shared with the question, not
    counting words any detail shares ("number", "details"): "What's the account number?"
    is not a question about "a house number 42 at the other end of the street"."""
    asked = stems(" ".join(s for s in split_sentences(message) if _is_question(s)) or message) - _ANY_DETAIL
    best, score = None, 0
    for i, fact in enumerate(persona.facts):
        overlap = len(asked & stems(fact))
        if overlap > score:
            best, score = i, overlap
    return best, score


@dataclass
class MoveContext:
    """What the move depends on besides the persona: this turn's decision and the state."""

    message: str
    ending: str | None
    reveal: list[int]  # hidden facts earned this turn
    dismissive: bool
    acknowledged: bool
    jargon: list[str]
    given: list[int]  # facts already told
    said: list[str]  # earlier customer lines
    asked: int | None = None  # the fact the question asks for, read by meaning (practice.conditions)
    frustration: int = 5  # after this turn: a calm caller presses, thanks and says goodbye politely
    offering: bool = False  # the message offers or commits ("…would that be okay?" asks for consent, not a fact)


def choose(persona: "Persona", ctx: MoveContext) -> Move:
    """The customer's move for this turn (rules in the module docstring)."""
    c = persona.character
    said = [stems(s) for s in ctx.said]

    def fresh(options: list[str]) -> str:
        """The first option not said before, nearly or exactly (so the customer never repeats):
        not 70% the same content words, and not what the audit calls a repeat."""
        for option in options:
            words = stems(option)
            if option and not any(words and len(words & before) / len(words) >= 0.7 for before in said) \
                    and repetition(option, ctx.said) is None:
                return option
        return options[-1] if options else ""

    goal = goal_line(persona)
    calm = ctx.frustration <= 3
    if ctx.ending == "resolved":
        thanks = [e for e in c.examples if re.search(r"\bthank", e, re.IGNORECASE)]
        line = fresh([*(f"{t} Goodbye." for t in thanks),
                      *(["Thank you so much, that's a weight off my mind. Goodbye."] if calm else []),
                      "Okay. That sorts it. Thank you, bye."])
        return Move("accept", line, "the state says resolved")
    if ctx.ending == "gave_up":
        return Move("give_up", fresh([f"Forget it. I only wanted this: {_lower_first(goal)} I'm done here. Bye.",
                                      "Forget it. I'm done here. Bye."]), "the state says the customer gives up")
    if ctx.ending == "turn_limit":
        return Move("time_up", "I have to go now. I still need this sorted, so I'll be back. Bye.",
                    "the turn limit is reached")
    if ctx.reveal:
        i = ctx.reveal[0]
        return Move("reveal", first_person(_sentence(persona.hidden[i].fact), persona), "earned this turn", hidden=i)
    words = jargon_in(ctx.message, ctx.jargon)
    if words:
        word = words[0]
        return Move("clarify", fresh([f"{word}? What does that mean?", f"Sorry, what is {word}? Plain words, please.",
                                      f"I don't know what {word} means."]),
                    "the learner used jargon", word=word)
    if _is_question(ctx.message):
        fact, score = ((ctx.asked, 1) if ctx.asked is not None else (None, 0) if ctx.offering
                       else _best_fact(persona, ctx.message))
        if fact is not None and score >= 1:
            line = spoken_fact(persona.facts[fact], persona)
            if fact in ctx.given:
                # asked again: say so, without reading the same words out a second time
                line = fresh([f"I already said: {line}", f"Like I said, {_lower_first(line)}",
                              "I just told you that.", "I've already told you that. Please keep up."])
            return Move("answer", line, "the learner asked for it", fact=fact)
        if _DETAIL_ASK.search(ctx.message):
            # "can you confirm your account details?": the customer gives the reference the file holds
            ids = [i for i, f in enumerate(persona.facts) if re.search(r"\d", f) and i not in ctx.given]
            if ids and _ID_ASK.search(ctx.message):
                return Move("answer", spoken_fact(persona.facts[ids[0]], persona),
                            "the learner asked for the customer's details", fact=ids[0])
            return Move("dont_know", fresh(["I don't know that off the top of my head. I'd have to check.",
                                            f"I don't have that to hand. {goal}"]), "the file does not say")
    examples = [e for e in c.examples if not re.search(r"\bthank", e, re.IGNORECASE)]
    # the file's text is wrapped YAML: join its lines before splitting, or a sentence breaks at the wrap
    situation = [first_person(_sentence(s), persona) for s in split_sentences(" ".join(c.situation.split()))]
    if ctx.dismissive:
        return Move("push_back", fresh([*examples, f"That's not good enough. {goal}", "No. That's not an answer.",
                                        "Are you even listening to me?"]),
                    "the learner brushed the customer off")
    if ctx.acknowledged:
        return Move("soften", fresh([f"Okay. {goal}", f"Right. {goal}", *situation, "Okay. So what happens now?"]),
                    "the learner acknowledged the customer")
    pushes = (["Sorry, could you tell me what happens next?", "I don't mean to be a nuisance, but what can be done?"]
              if calm else ["So what happens now?", "And? What are you doing about it?", "I'm still waiting for an answer."])
    return Move("press", fresh([goal, *situation, *examples, *pushes]), "pressing toward the goal")
