"""The persona audit: what is wrong with a customer reply, and the evidence for it.

After the manner of τ²-bench's review of its simulated users, every customer reply is
tagged, each tag with the words that fired it:

===================  ===========================================================================
tag                  fires when the reply …
===================  ===========================================================================
``empty``            has no words
``speaks_as_agent``  talks as the support side: offers help, apologises for the company, checks
                     "your account", thanks the caller for calling, calls itself an agent
``leaks_prompt``     pastes instruction text or placeholders: field names ("Situation:"),
                     bracketed placeholders ("[insert image]"), role labels, "as a customer"
``invents_detail``   names a number, amount, date, time, name or id found neither in the persona
                     file nor earlier in the conversation
``repeats``          says again what an earlier customer reply said, loops inside itself, or says
                     the learner's own sentence (six words or more) as the customer's
``off_topic``        has nothing that connects to the persona's situation, goal, facts or
                     character, nor to what the learner just said
``echoes_jargon``    uses a word this customer would not understand, instead of asking what it means
``reveals_early``    tells a hidden fact that has not been earned yet
``ends_early``       says goodbye or walks out while the conversation's state says it goes on
``too_long``         runs past what a customer says in one message
===================  ===========================================================================

The audit guards a live session (a tagged reply is not shown: the engine picks another
candidate or builds one from the file) and reviews a saved one (``roleplay audit``).
It knows nothing about models; it reads text, the persona and the state.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, Iterable

from ..core.text import jargon_in, split_sentences, stems

if TYPE_CHECKING:
    from ..content.persona import Persona
    from .sessions import SessionRecord

TAGS = ("empty", "speaks_as_agent", "leaks_prompt", "invents_detail", "repeats", "off_topic",
        "echoes_jargon", "reveals_early", "ends_early", "too_long")

TAG_LABELS = {
    "empty": "empty reply",
    "speaks_as_agent": "speaks as the agent",
    "leaks_prompt": "leaks instructions or placeholders",
    "invents_detail": "invents a detail",
    "repeats": "repeats itself",
    "off_topic": "off topic",
    "echoes_jargon": "echoes jargon",
    "reveals_early": "reveals a hidden fact early",
    "ends_early": "ends the call early",
    "too_long": "too long",
}

MAX_WORDS = 60
MAX_SENTENCES = 4

_AGENT = re.compile("|".join([
    r"\bhow (can|may|could) (i|we) (help|assist)",
    r"\b(is there )?anything else (i|we) can (help|do|assist)",
    r"\bif there'?s anything else\b",
    r"\b(i'?d|i would|i'?ll|i will|we'?d|we would) be (happy|glad|delighted) to (help|assist)",
    r"\bhappy to help\b",
    r"\bthank(s| you) for (contacting|calling|reaching out|your patience|choosing|being a)",
    r"\b(we|i) apologi[sz]e for (the|any) (inconvenience|delay|confusion|trouble)",
    r"\bsorry for (the|any) inconvenience\b",
    r"\bsorry for (the|any|this) (unexpected )?(error|mistake|confusion|delay|wait|mix-?up)\b",
    r"\b(let me|i'?ll|i will|i need to|i have to|i'?ll have to|i can) (check|look (at|into|up)|pull up|review|verify|access) (your|the customer'?s?) (account|order|booking|file|details|records?|bill)",
    r"\b(can|could|may) i (have|get|take) your (account|order|booking|name|number|details|email|phone)",
    r"\bas an? (ai|agent|assistant|representative|language model)\b",
    r"\b(customer service|support) (staff|team member|representative|agent|rep)\b",
    r"\bi'?m (an?|the|your) (ai|agent|assistant|representative|rep)\b",
    r"\bour (valued )?customers?\b", r"\b(via|on|through|visit) our (website|app|site|portal|system)\b",
    r"\bwe value (you|your)\b",
    r"\bplease (hold|bear with me)\b",
    r"\bi (can|will|'ll) (help|assist) you\b",
    r"\bi understand your (frustration|concern)s?\b",
    r"\bi'?m (so |very |really )?sorry (for|about) your (loss|misfortune|frustration|experience|trouble|inconvenience|"
    r"pain|stress|situation)",
    r"\b(i'?d|i would) love to help\b", r"\bi'?m glad to have you\b", r"\bglad (i|we) could help\b",
    r"\byou'?ve got a great idea\b", r"\bhow can i make (this|that|it) right\b",
    r"\bi (can'?t|cannot|am unable to) help you\b", r"\bi'?ll take care of (it|this|that)\b",
    r"\bi hope (that|this) helps\b", r"\b(let me|i'?ll|i will|i'?m going to) (just )?make sure\b",
    r"\bi'?ll (send|issue|process|arrange|refund|credit) (you|it|a|the)\b", r"\bwhat a great\b",
    r"\byour (address|account number|order number|booking reference|account) (is|was|has)\b",
    r"\bhave a (great|nice|good|wonderful) day\b",
    # the customer's own family and things, spoken of as the agent would: "your daughter", "your flight"
    r"\byour (son|daughter|wife|husband|mother|mum|mom|father|dad|kids|children|granddaughter|grandson|"
    r"sister|brother|partner|baby|family|flight|booking|bill|order|parcel|package|pension|reservation|"
    r"invoice|claim|wrist|washer|thermostat|landlord|flat|neighbours?|granddaughter)\b",
]), re.IGNORECASE)

_LEAK = re.compile("|".join([
    r"(^|\n|\.\s|\s)(situation|goal|personality|background|style|facts?|hidden|mood|instructions?|"
    r"character|persona|brief|opening|examples?|example lines|say this|your move|move|reply|note)\s*:",
    r"\[[^\]]*\]", r"<[^>]*>", r"\{[^}]*\}", r"\binsert (an? )?(image|name|number|link|here)\b",
    r"(^|\n)\s*(agent|customer|user|assistant|system|representative|support|[A-Z])\s*:",
    r"\bas (a|the) customer\b", r"\bin character\b", r"\brole-?play\b", r"reveal_when|calms_when|rises_when",
    r"\bhidden fact\b", r"\bsystem prompt\b", r"\bmy instructions\b",
    r"\bcould be (written|rephrased|said|put) as\b", r"\b(a|the) (revised|rewritten|rephrased) version\b", r"\b\d{1,2}\s*/\s*10\b",
    r"\bfrustration (level|is|of|at)\b", r"\byou are playing\b", r"\byour (goal|situation|personality)\b",
    r"\bnext line\b", r"\b(revised|edited|rewritten|improved|corrected) (version|text|line|message)\b",
    r"\bhere'?s (the|a|an|your|my) (text|version|line|message|reply|response|script|draft)\b",
    r"\b(the|your) script\b", r"\bnext sentence\b", r"\bthe (customer|agent) (asks|says|replies|said)\b",
    r"\b(he|she) (replies|answers)\b", r"\bedits? for\b", r"\bmust say\b", r"\bin your own words\b",
    r"\n",
    # narration instead of speech: He said, "..."
    r"^\s*(he|she|they|the customer|the caller) (said|says|asked|asks|added|adds)\s*[,:]?\s*[\"“']",
    r"^\s*(he|she|the customer|the caller) (replied|replies|answered|answers)\b",
]), re.IGNORECASE)

_GOODBYE = re.compile(
    r"\b(good ?bye|bye\b|bye-bye|see you|have a (nice|good|great) (day|one)|talk (to you )?later|"
    r"i'?m (done|leaving|hanging up)|forget it|i'?ll take my business|i'?m (cancel+ing|going elsewhere)|"
    r"that'?s all(,| for) (today|now)|thanks?,? bye)", re.IGNORECASE)

_NUMBER = re.compile(r"[$£€]?\d[\d,.:/-]*\d|[$£€]?\d")
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = ("january february march april may june july august september october november "
           "december").split()
# capitalised words that are not details (a customer may say them in any conversation)
_COMMON_CAPS = set("""i i'm i've i'll i'd ok okay oh hi hello hey yes no yeah yep nope sure thanks thank please sorry
well look listen fine right great good so and but or if then now what why how when where who which is are was
do does did can could would should will just really honestly seriously wow god mr mrs ms dr sir madam
the a an this that these those it it's its my your you you're we they he she me us them our their
unbelievable wait hold hang excuse again also still because about after before until maybe perhaps
english internet wi-fi wifi email app phone tv pm am""".split())
# words that any customer may use without them tying to the file
_GENERIC = {stem for w in """thank thanks fine okay sure right good great sorry please help need want know tell
mean understand wait long time today really again happen happened next call calling phone help sorted sort
work working problem issue fix fixed money pay paid just still honestly seriously unbelievable listen look
yes yeah agree deal check sound sounds hear heard give gave said says saying asked answer question explain
wrong clear simple exactly actually please much better worse worst happy upset angry annoyed frustrated
waiting minutes hours days week weeks month months year years""".split() for stem in stems(w)}
# content words with nothing to do with any customer's problem: a reply made of these is off topic


_SENTENCE_START = re.compile(r"(^|[.!?…:;\"“(]\s*|\n\s*|\s[-–—]\s*)$")


@dataclass
class Finding:
    """One tag on one reply, with the words that fired it."""

    tag: str
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuditContext:
    """What the audit needs to know about the conversation so far."""

    persona: "Persona"
    jargon: list[str] = field(default_factory=list)
    revealed: list[int] = field(default_factory=list)  # hidden facts earned (indices)
    earlier_customer: list[str] = field(default_factory=list)  # earlier customer replies, opening first
    earlier_text: str = ""  # everything said before this reply (learner and customer)
    last_learner: str = ""
    ending: str | None = None  # the ending the state decided for this reply (resolved, gave_up, turn_limit)

    def known_text(self) -> str:
        return f"{persona_text(self.persona, self.revealed)}\n{self.earlier_text}\n{self.last_learner}"


def persona_text(persona: "Persona", revealed: Iterable[int] = (), *, with_hidden: bool = False) -> str:
    """Everything in the persona file the customer may draw on (hidden facts only once earned)."""
    c = persona.character
    parts = [persona.name, persona.title, persona.brief, persona.opening, c.background, c.situation, c.goal,
             c.personality, c.style, *c.examples, *persona.facts, persona.end.resolved_when]
    revealed = set(revealed)
    parts += [h.fact for i, h in enumerate(persona.hidden) if with_hidden or i in revealed]
    return "\n".join(p for p in parts if p)


def topic_text(persona: "Persona") -> str:
    """What the customer's problem is about: situation, goal, facts, opening, examples, all hidden facts."""
    c = persona.character
    return "\n".join([persona.opening, c.situation, c.goal, *c.examples, *persona.facts,
                      *(h.fact for h in persona.hidden), persona.end.resolved_when])


def _norm_number(token: str) -> str:
    return token.strip("$£€.,:/-").replace(",", "")


def _numbers(text: str) -> set[str]:
    return {_norm_number(m.group(0)) for m in _NUMBER.finditer(text)} - {""}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z'’-]*", text.lower()))


def invented_details(text: str, known: str) -> list[str]:
    """Numbers, dates and names in ``text`` that ``known`` never mentions."""
    found: list[str] = []
    known_numbers = _numbers(known)
    known_digits = re.sub(r"\D", " ", known)
    for m in _NUMBER.finditer(text):
        token = _norm_number(m.group(0))
        if not token or token in known_numbers:
            continue
        parts = [p for p in re.split(r"[.:/-]", token) if p]
        # "$65.00" or "10:00" against "$65" / "10": every part that is not zeros must be known
        if all(p in known_numbers or p.strip("0") == "" or re.search(rf"(?<!\d){re.escape(p)}(?!\d)", known_digits)
               for p in parts):
            continue
        if len(token) == 1 and token in "123456789":  # "one or two things", "give me 2 minutes"
            continue
        found.append(m.group(0))
    known_addresses = {t.strip(".,;:!?)'\"").lower() for t in re.findall(r"\S+@\S+|\bhttps?://\S+|\bwww\.\S+", known)}
    for token in re.findall(r"\S+@\S+|\bhttps?://\S+|\bwww\.\S+", text):
        if token.strip(".,;:!?)'\"").lower() not in known_addresses:
            found.append(token)
    known_words = _words(known)
    for word in re.findall(r"[A-Za-z][A-Za-z'’-]*", text):
        low = word.lower()
        if low in _WEEKDAYS or low in _MONTHS:
            if low not in known_words:
                found.append(word)
    for m in re.finditer(r"\b[A-Z][a-zA-Z'’-]+\b|\b[A-Z]{2,}\d*\b", text):
        word = m.group(0)
        low = word.lower().rstrip("'’s").rstrip("'’")
        if low in _COMMON_CAPS or word.lower() in _COMMON_CAPS or low in _WEEKDAYS or low in _MONTHS:
            continue
        if low in known_words or word.lower() in known_words or low + "s" in known_words:
            continue
        if _SENTENCE_START.search(text[:m.start()]) and not word.isupper():
            continue  # a capital at a sentence start says nothing
        found.append(word)
    return found


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def repetition(text: str, earlier: list[str]) -> str | None:
    """Evidence that ``text`` repeats an earlier reply or loops inside itself, else None."""
    norm = _normalised(text)
    if not norm:
        return None
    for before in earlier:
        other = _normalised(before)
        if not other:
            continue
        if norm == other or (min(len(norm), len(other)) >= 12
                             and SequenceMatcher(None, norm, other).ratio() >= 0.8) or (
                len(norm) >= 30 and (norm in other or other in norm)):
            return f"same as an earlier reply: \"{before[:80]}\""
    sentences = [_normalised(s) for s in split_sentences(text)]
    seen: set[str] = set()
    for s in sentences:
        if len(s) >= 8 and s in seen:
            return f"says twice: \"{s[:80]}\""
        seen.add(s)
    words = norm.split()
    grams: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 3):
        gram = tuple(words[i:i + 4])
        grams[gram] = grams.get(gram, 0) + 1
        if grams[gram] >= 2:  # "I just told you that I just told you."
            return f"loops: \"{' '.join(gram)}\" twice"
    return None


def echo(text: str, learner: str) -> str | None:
    """Evidence that ``text`` says the learner's own sentence (six words or more) as the customer's."""
    theirs = [_normalised(s) for s in split_sentences(learner)]
    for sentence in split_sentences(text):
        mine = _normalised(sentence)
        if len(mine.split()) < 6:
            continue
        for other in theirs:
            if other and (mine in other or other in mine and len(other.split()) >= 6
                          or SequenceMatcher(None, mine, other).ratio() >= 0.8):
                return f"says the learner's words: \"{sentence[:80]}\""
    return None


def _asks_meaning(sentence: str, word: str) -> bool:
    s = sentence.lower()
    return "?" in s or bool(re.search(r"\b(what|mean|means|meaning|no idea|don'?t know what|never heard)\b", s))


def audit_reply(text: str, ctx: AuditContext) -> list[Finding]:
    """Every tag that fires on ``text`` in this context, with its evidence (empty: a clean reply)."""
    findings: list[Finding] = []
    stripped = text.strip()
    if not re.search(r"\w", stripped):
        return [Finding("empty", "no words")]
    unquoted = re.sub(r"(?<!\w)'[^']{3,}'(?!\w)|\"[^\"]{3,}\"|“[^”]{3,}”", "…", stripped)  # the agent's words, quoted
    if m := _AGENT.search(unquoted):
        findings.append(Finding("speaks_as_agent", m.group(0).strip()))
    first = ctx.persona.name.split()[0] if ctx.persona.name else ""
    if m := (_LEAK.search(stripped) or (first and re.match(rf"\s*{re.escape(first)}\b[^.!?]{{0,20}}\b(said|says|replies|"
                                                            rf"replied|asks|asked|answers|answered)\b", stripped))):
        findings.append(Finding("leaks_prompt", m.group(0).strip()))
    # a hidden fact's details are not invented (told early, they are tagged reveals_early below)
    invented = invented_details(stripped, ctx.known_text() + "\n" + "\n".join(h.fact for h in ctx.persona.hidden))
    if invented:
        findings.append(Finding("invents_detail", ", ".join(dict.fromkeys(invented))))
    if evidence := repetition(stripped, ctx.earlier_customer) or echo(stripped, ctx.last_learner):
        findings.append(Finding("repeats", evidence))
    reply_stems = stems(stripped) - _GENERIC
    if len(reply_stems) >= 3:
        topic = stems(topic_text(ctx.persona)) | stems(ctx.last_learner) | stems(" ".join(ctx.earlier_customer))
        if not reply_stems & topic:
            findings.append(Finding("off_topic", ", ".join(sorted(reply_stems)[:6])))
    for word in jargon_in(stripped, ctx.jargon):
        sentence = next((s for s in split_sentences(stripped) if jargon_in(s, [word])), stripped)
        if not _asks_meaning(sentence, word):
            findings.append(Finding("echoes_jargon", word))
            break
    for i, hidden in enumerate(ctx.persona.hidden):
        if i in ctx.revealed:
            continue
        if evidence := _reveals(stripped, hidden.fact, ctx):
            findings.append(Finding("reveals_early", f"hidden fact {i + 1}: {evidence}"))
            break
    if ctx.ending is None and (m := _GOODBYE.search(stripped)):
        findings.append(Finding("ends_early", m.group(0)))
    words = len(stripped.split())
    sentences = len(split_sentences(stripped))
    if words > MAX_WORDS or sentences > MAX_SENTENCES:
        findings.append(Finding("too_long", f"{words} words, {sentences} sentences"))
    return findings


def _reveals(text: str, fact: str, ctx: AuditContext) -> str | None:
    """Evidence that ``text`` tells the hidden ``fact``: most of its words, or a detail only it has."""
    public = persona_text(ctx.persona, ctx.revealed) + "\n" + ctx.earlier_text + "\n" + ctx.last_learner
    fact_stems = stems(fact) - stems(public)
    said = stems(text)
    if len(fact_stems) >= 3 and (len(fact_stems & said) / len(fact_stems) >= 0.5 or len(fact_stems & said) >= 3):
        return ", ".join(sorted(fact_stems & said)[:5])
    distinctive = (_numbers(fact) - _numbers(public)) | {
        w for w in re.findall(r"\b[A-Z][a-z]{2,}\b", fact) if w.lower() not in _words(public)
        and w.lower() not in _COMMON_CAPS}
    told = [d for d in distinctive if (d in _numbers(text) if d[:1].isdigit() else
                                       re.search(rf"\b{re.escape(d)}\b", text))]
    return ", ".join(sorted(told)) if told else None


# -- a whole session ----------------------------------------------------------------------------

@dataclass
class TurnAudit:
    index: int
    text: str
    findings: list[Finding]
    fallback: bool = False  # the line was built from the file because no candidate passed

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "fallback": self.fallback,
                "tags": [f.to_dict() for f in self.findings]}


def audit_session(record: "SessionRecord") -> list[TurnAudit]:
    """Audit every customer reply of a saved session (the opening is the file's own line)."""
    persona = record.persona_snapshot()
    rubric = record.rubric_snapshot()
    jargon = [*persona.jargon, *rubric.jargon]
    results: list[TurnAudit] = []
    earlier_customer: list[str] = []
    said: list[str] = []  # everything before the reply under audit
    last_learner = ""
    revealed: list[int] = []
    for turn in record.turns:
        if turn.speaker not in ("learner", "customer"):
            continue
        if turn.speaker == "learner":
            last_learner = turn.text
        elif turn.index > 0:
            state = turn.state
            ending = state.outcome if state and state.outcome in ("resolved", "gave_up", "turn_limit") else None
            revealed = list(state.revealed or revealed) if state else revealed
            ctx = AuditContext(persona=persona, jargon=jargon, revealed=revealed,
                               earlier_customer=list(earlier_customer), earlier_text="\n".join(said),
                               last_learner=last_learner, ending=ending)
            fallback = any(g.get("verdict") == "fallback" for g in turn.guard)
            results.append(TurnAudit(turn.index, turn.text, audit_reply(turn.text, ctx), fallback))
        if turn.speaker == "customer":
            earlier_customer.append(turn.text)
        said.append(turn.text)
    return results


def summary(audits: list[TurnAudit]) -> dict[str, Any]:
    """Counts for a report: replies, clean share, fallbacks, tags."""
    counts = {tag: 0 for tag in TAGS}
    for audit in audits:
        for tag in {f.tag for f in audit.findings}:
            counts[tag] += 1
    clean = sum(1 for a in audits if not a.findings)
    return {"replies": len(audits), "clean": clean,
            "clean_share": round(clean / len(audits), 3) if audits else None,
            "fallbacks": sum(1 for a in audits if a.fallback),
            "tags": {k: v for k, v in counts.items() if v}}


def report_lines(audits: list[TurnAudit]) -> list[str]:
    """Plain lines for a report or the terminal."""
    s = summary(audits)
    if not audits:
        return ["No customer replies to audit."]
    lines = [f"{s['clean']} of {s['replies']} customer replies passed the audit"
             + (f"; {s['fallbacks']} built from the persona file" if s["fallbacks"] else "") + "."]
    for audit in audits:
        for finding in audit.findings:
            lines.append(f"turn {audit.index}: {TAG_LABELS[finding.tag]} — {finding.evidence}")
    return lines
