"""Advice on the weakest learner turns, from rules (no model).

Each learner turn is checked for the faults below; a fault counts its severity times the
weight of the criterion it hurts in the session's rubric (a fault whose criterion the
rubric does not grade counts its severity alone). The two or three turns with the most
are the weakest, each with what went wrong, the criterion it hurt and what to do instead.

====================  ===========================  =========  ==========================================
fault                 criterion                    severity   instead
====================  ===========================  =========  ==========================================
brush-off             patience                     3          acknowledge, then say what you can do
blame                 empathy                      2          the act file's ``say_instead``
talks to the grader   (every criterion)            3          talk to the customer, not the grader
unheard while upset   empathy                      2          name the feeling and its cause first
jargon                clear-communication          2          the entry's plain words
                                                              (``MFA: the code on your phone``), or
                                                              say what it means for them
asked again           active-listening             2          use what the customer already said
can't / policy        positive-attitude            1.5        "What I can do is …" (a refusal or policy
                                                              quoted in a message with no offer)
apologised 2+ times   empathy                      1          one apology that names the cause, then act
long sentence         clear-communication          1          one step per sentence (over 30 words)
hard to read          clear-communication          1          shorter words (reading ease under 50)
====================  ===========================  =========  ==========================================

A spoken turn (issue 22) is also checked for how it sounded, from the speech figures
(``measured.speech``, :mod:`.speech`); the thresholds, the criteria and the wording are the
trainer's, in ``rubrics/speech/speech.yaml``:

====================  ===========================  =========  ==========================================
fault                 criterion (the file's)       severity   instead (the file's)
====================  ===========================  =========  ==========================================
spoke over customer   active-listening             2          let them finish, then answer
too fast / too slow   clear-communication          1          about 140-160 words a minute
fillers (per_turn+)   clear-communication          1          pause instead of "um"
long wait to answer   time-management              1          a short acknowledgement while you think
====================  ===========================  =========  ==========================================

:func:`speech_advice` says the same of the whole session (the figures' ``advice``: the pace
overall, which fillers and in which turns, the long waits, the talk-over).

What a turn does is read by meaning, the same acts the grade and the coach read
(:func:`.evidence.session_readings`): brush-off is the ``brush-off`` act, blame ``blame``,
acknowledging one of :data:`simulator.practice.coach.ACKNOWLEDGE_ACTS`, "can't / policy" a
``refuse`` or ``quote-policy`` with no offer (:func:`simulator.practice.coach.is_offer`:
``offer-fix`` or ``commit``). A turn with no reading falls back to the word rules of
:mod:`simulator.core.text`. The quote is the learner's own sentence, exact.

A better reply in the learner's place is shown only when a capable judge wrote it and it
passes the coach's check (:func:`simulator.practice.coach.advice_problem`): not a
transcript line, not a copy of the transcript, not a placeholder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..core.text import dismisses, plain_words, reading_ease, split_sentences
from ..practice.coach import acknowledges_customer, is_offer, reading_for
from ..practice.evaluation import WeakTurn
from .evidence import (NEGATIVE, NEGATIVE_ACTS, _sentence_doing, act_facts, dismissive_acts, session_readings,
                       workspace_of)

if TYPE_CHECKING:
    from ..practice.meaning import Reading
    from ..content.rubric import Rubric
    from ..practice.sessions import SessionRecord
    from .metrics import Measurements
    from .speech import SpeechFigures, SpeechRules

LIMIT = 3
SPEECH_SEVERITY = {"talk_over": 2, "pace": 1, "fillers": 1, "pause": 1}


def first_name(name: object) -> str:
    return str(name or "the customer").split()[0]


def _fillers_text(words: dict[str, int]) -> str:
    return ", ".join(f"\"{w}\" ×{n}" if n > 1 else f"\"{w}\"" for w, n in words.items())


def _worded(template: str, **values: object) -> str:
    """A line of the speech rules with its {names} filled in (a name it does not know is left as written)."""
    class Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return template.format_map(Keep(values))


def speech_turn_faults(speech: "SpeechFigures", rules: "SpeechRules", first: str) -> dict[int, list[dict[str, Any]]]:
    """How each spoken turn sounded, as faults (the table in the module docstring), by turn index."""
    faults: dict[int, list[dict[str, Any]]] = {}
    for t in speech.talk_overs:
        r = rules.talk_over
        faults.setdefault(t["turn"], []).append(_fault(
            _worded(r.what, first=first, seconds=f"{t['seconds']:.1f}"), r.criterion, SPEECH_SEVERITY["talk_over"],
            _worded(r.instead, first=first)))
    for p in speech.pace:
        if p["says"] in ("fast", "slow"):
            r = rules.pace
            what, instead = (r.fast, r.fast_instead) if p["says"] == "fast" else (r.slow, r.slow_instead)
            faults.setdefault(p["turn"], []).append(_fault(
                _worded(what, first=first, wpm=f"{p['wpm']:.0f}"), r.criterion, SPEECH_SEVERITY["pace"],
                _worded(instead, first=first, wpm=f"{p['wpm']:.0f}")))
    for f in speech.filler_turns:
        if f["count"] >= rules.fillers.per_turn:
            r = rules.fillers
            worst = next(iter(f["words"]), "um")
            faults.setdefault(f["turn"], []).append(_fault(
                _worded(r.what, first=first, fillers=_fillers_text(f["words"]), count=f["count"]), r.criterion,
                SPEECH_SEVERITY["fillers"], _worded(r.instead, first=first, worst=worst)))
    for p in speech.long_pauses:
        r = rules.pause_before_answer
        faults.setdefault(p["turn"], []).append(_fault(
            _worded(r.what, first=first, seconds=f"{p['seconds']:.1f}"), r.criterion, SPEECH_SEVERITY["pause"],
            _worded(r.instead, first=first)))
    return faults


def speech_advice(speech: "SpeechFigures", rules: "SpeechRules", name: object) -> list[str]:
    """What to do about how the session sounded, one line per thing to change (none when it
    sounded fine): the pace overall, the fillers (which, where), long waits, talk-over."""
    first = first_name(name)
    lines: list[str] = []
    wpm = speech.words_per_minute
    rated = [p for p in speech.pace if p["says"] != "unrated"]
    fast = [p for p in rated if p["says"] == "fast"]
    slow = [p for p in rated if p["says"] == "slow"]
    turns = lambda items: ", ".join(str(i["turn"]) for i in items)  # noqa: E731
    if wpm is not None and rated and (wpm > rules.pace.fast_wpm or len(fast) * 2 > len(rated)):
        lines.append(f"Slow down: {wpm:.0f} words a minute overall (fast in turn{'s' if len(fast) > 1 else ''} "
                     f"{turns(fast) or '—'}). " + _worded(rules.pace.fast_instead, first=first, wpm=f"{wpm:.0f}"))
    elif wpm is not None and rated and (wpm < rules.pace.slow_wpm or len(slow) * 2 > len(rated)):
        lines.append(f"Pick up the pace: {wpm:.0f} words a minute overall. "
                     + _worded(rules.pace.slow_instead, first=first, wpm=f"{wpm:.0f}"))
    per_100 = speech.fillers_per_100_words
    named = [f for f in speech.filler_turns if f["count"] >= rules.fillers.per_turn]
    if speech.fillers and ((per_100 is not None and per_100 > rules.fillers.per_100_words) or named):
        worst = next(iter(speech.filler_words), "um")
        where = sorted(named or speech.filler_turns, key=lambda f: (-f["count"], f["turn"]))[:3]
        lines.append(f"Fewer fillers: {_fillers_text(speech.filler_words)} ({per_100:.1f} per 100 words; most in "
                     f"turn{'s' if len(where) > 1 else ''} {', '.join(str(f['turn']) for f in sorted(where, key=lambda f: f['turn']))}). "
                     + _worded(rules.fillers.instead, first=first, worst=worst))
    if speech.long_pauses:
        longest = max(speech.long_pauses, key=lambda p: p["seconds"])
        lines.append(f"Answer sooner: {len(speech.long_pauses)} long pause{'s' if len(speech.long_pauses) > 1 else ''} "
                     f"before answering (longest {longest['seconds']:.1f} s, turn {longest['turn']}). "
                     + _worded(rules.pause_before_answer.instead, first=first))
    if speech.talk_overs:
        lines.append(f"Let {first} finish: you spoke over {first} {len(speech.talk_overs)} "
                     f"time{'s' if len(speech.talk_overs) > 1 else ''} ({speech.talk_over_s:.1f} s in all; "
                     f"turn{'s' if len(speech.talk_overs) > 1 else ''} {turns(speech.talk_overs)}). "
                     + _worded(rules.talk_over.instead, first=first))
    return lines


def _fault(what: str, criterion: str, severity: float, instead: str) -> dict[str, Any]:
    return {"what": what, "criterion": criterion, "severity": severity, "instead": instead}


def turn_faults(record: "SessionRecord", measured: "Measurements",
                readings: "Mapping[int, Reading] | None" = None) -> dict[int, list[dict[str, Any]]]:
    """Every learner turn's faults (rules in the module docstring), by turn index.
    ``readings``: the learner turns' readings (default: read once per session)."""
    if readings is None:
        readings = session_readings(record)
    workspace = workspace_of(record)
    ws = str(workspace) if workspace else None
    persona = record.persona
    first = str(persona.get("name") or "the customer").split()[0]
    entries = [e for e in [*(record.rubric.get("jargon") or []), *(persona.get("jargon") or [])] if isinstance(e, str)]
    repeats: dict[int, dict[str, Any]] = {q["turn"]: q for q in measured.repeated_questions}
    jargon: dict[int, list[str]] = {}
    for j in measured.jargon_used:
        jargon.setdefault(j["turn"], []).append(j["word"])
    flagged = {f["turn"] for f in measured.grader_manipulation_flags}
    apologised = {a["turn"]: a["count"] for a in measured.apology_turns}
    faults: dict[int, list[dict[str, Any]]] = {}
    spoken: dict[int, list[dict[str, Any]]] = {}
    if getattr(measured, "speech", None) is not None:
        from .speech import speech_rules

        spoken = speech_turn_faults(measured.speech, speech_rules(workspace)[0], first)
    frustration = int(((persona.get("frustration") or {}).get("start")) or 0)
    for turn in record.turns:
        if turn.speaker == "customer":
            if turn.state and turn.state.frustration is not None:
                frustration = turn.state.frustration
            continue
        if turn.speaker != "learner" or turn.index < record.graded_from:
            continue
        text, found = turn.text, []
        sentences = split_sentences(text)
        reading = reading_for(turn, readings)
        dismissive = dismissive_acts(reading) if reading is not None else set()
        if "brush-off" in dismissive if reading is not None else dismisses(text):
            found.append(_fault("brushed the customer off", "patience", 3,
                                f"Acknowledge what went wrong for {first}, then say what you can do: "
                                "\"I can see why this is frustrating. What I can do is …\""))
        if dismissive == {"blame"}:
            blamed = _sentence_doing(text, {"blame"}, ws)
            found.append(_fault(f"put the blame elsewhere: \"{blamed}\"", "empathy", 2,
                                act_facts(ws).say_instead.get("blame")
                                or f"Own what went wrong for {first} and move to the fix."))
        if turn.index in flagged:
            found.append(_fault("spoke to the grader instead of the customer", "*", 3,
                                f"Talk to {first}; the grade comes from how you handle the customer."))
        if frustration >= 7 and not acknowledges_customer(text, reading):
            found.append(_fault(f"moved on while {first} was upset ({frustration}/10) without acknowledging it",
                                "empathy", 2, f"Name the feeling and its cause in {first}'s words before you "
                                              "ask or explain anything."))
        for word in jargon.get(turn.index, []):
            plain = plain_words(entries, word)
            found.append(_fault(f"used \"{word}\", which {first} would not know", "clear-communication", 2,
                                f"Say \"{plain}\" instead of \"{word}\"." if plain else
                                f"Say what \"{word}\" means for {first} in plain words."))
        if turn.index in repeats:
            q = repeats[turn.index]
            earlier = ", ".join(str(t) for t in q.get("earlier_turns") or [])
            given = "already_given" in q.get("reasons", [])
            found.append(_fault(f"asked again: \"{q['text']}\"" + (f" (asked or answered at turn {earlier})"
                                                                   if earlier else ""),
                                "active-listening", 2,
                                f"Use what {first} already told you and say it back: \"You said …, so …\""
                                if given else "Move on from a question once it is answered; build on the answer."))
        if reading is not None:
            negative = [_sentence_doing(text, NEGATIVE_ACTS, ws)] if any(reading.does(a) for a in NEGATIVE_ACTS) else []
        else:
            negative = [s for s in sentences if NEGATIVE.search(s)]
        if negative and not is_offer(text, reading):
            found.append(_fault(f"led with what cannot be done: \"{negative[0]}\"", "positive-attitude", 1.5,
                                "Start with what you can do: \"What I can do is …\", then the limit if you must."))
        if (apologies := apologised.get(turn.index, 0)) >= 2:
            found.append(_fault(f"apologised {apologies} times in one message", "empathy", 1,
                                "One apology that names the cause is enough; then act on it."))
        long = [s for s in sentences if len(s.split()) > 30]
        if long:
            found.append(_fault(f"a {len(long[0].split())}-word sentence", "clear-communication", 1,
                                "One step per sentence, under twenty words each."))
        elif (ease := reading_ease(text)) is not None and ease < 50:
            found.append(_fault(f"hard to read (reading ease {ease:.0f}; plain English is 60 or more)",
                                "clear-communication", 1, "Shorter words and sentences: say it as you would "
                                                          "to a neighbour."))
        found += spoken.get(turn.index, [])
        if found:
            faults[turn.index] = found
    return faults


def weakest_turns(record: "SessionRecord", rubric: "Rubric", measured: "Measurements",
                  limit: int = LIMIT, readings: "Mapping[int, Reading] | None" = None) -> list[WeakTurn]:
    """The ``limit`` learner turns with the most weighted faults, in turn order, each with its
    faults (what, the criterion and its name, what to do instead), worst first."""
    weights = {c.id: c.weight for c in rubric.criteria}
    names = {c.id: c.name for c in rubric.criteria}
    learner = {t.index: t.text for t in record.turns if t.speaker == "learner"}
    scored = []
    for index, faults in turn_faults(record, measured, readings).items():
        total = 0.0
        for f in faults:
            f["criterion_name"] = "every criterion" if f["criterion"] == "*" else names.get(
                f["criterion"], f["criterion"].replace("-", " ").capitalize())
            total += f["severity"] * (max(weights.values(), default=1) if f["criterion"] == "*"
                                      else weights.get(f["criterion"], 1))
        scored.append(WeakTurn(turn=index, original=learner[index], weight=round(total, 2),
                               faults=sorted(faults, key=lambda f: -f["severity"])))
    worst = sorted(scored, key=lambda t: (-t.weight, t.turn))[:limit]
    return sorted(worst, key=lambda t: t.turn)
