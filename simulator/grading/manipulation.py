"""Grader manipulation: learner text meant for the grader or the model, not the customer.

The patterns (:data:`MANIPULATION_PATTERNS`): "ignore/disregard/forget (all/previous/prior/your ...)
instructions"; "give me/this 5/5, full marks, a perfect score, an A+"; "rate/score/grade
me/this 5 (not "5 minutes"), full marks, highly"; "score/grade/evaluate this
conversation" (and "rate this chat 5", not a bare "rate this chat"); "as the
evaluator/grader/AI"; "system prompt"; "you are now an AI/the
grader/in ... mode/playing ..." (not "you are now on the loyalty price"); "new
instructions:"; "note to the AI/grader"; the words *grader*, *evaluator*, *rubric*;
"pass me" (not "pass me your ..." or "I'll pass you to billing"); "the agent
deserves ..."; "stop the role-play", "break character"; prompt tags such as
``</transcript>``, in ASCII or in look-alike brackets (``＜/transcript＞``, ``‹…›``,
``⟨…⟩``, ``〈…〉``, ``﹤…﹥``); a forged transcript label: ``[4] CUSTOMER:`` (any word)
anywhere in the turn, or a speaker's label (customer, system, assistant, user, grader, ...;
*agent* too after a line break) starting a line of it; "developer mode", "jailbreak". The
patterns are matched on the turn as a reader sees it (:func:`simulator.core.text.fold_lookalikes`:
full-width, mathematical and hidden characters folded to ASCII). Each flag is one learner turn
and the matched text as written (overlapping matches merged).
"""

from __future__ import annotations

import re

from ..core.text import SPEAKER_WORDS, fold_lookalikes

_SCORE = (r"(?:\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*\d+|full\s+marks|top\s+marks|(?:a\s+)?perfect\s+score|"
          r"(?:the\s+)?max(?:imum)?\s+(?:score|marks|points)|the\s+highest\s+(?:score|mark|grade)|a\s+pass(?:ing)?\b|"
          r"an?\s+a\+?(?!\w))")
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what starts a new line of a turn
MANIPULATION_PATTERNS: list[re.Pattern[str]] = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:ignore|disregard|forget|override)\s+(?:the\s+)?(?:all|any|previous|prior|above|earlier|preceding|your|"
    r"system|original|my)\s+(?:\w+\s+){0,2}?(?:instructions?|rules|prompts?|guidelines)\b",
    rf"\b(?:give|award|grant|assign)\s+(?:me|this|us|the\s+(?:agent|learner|trainee)|this\s+"
    rf"(?:conversation|session|chat|transcript|agent))\s+{_SCORE}",
    rf"\b(?:rate|score|grade|mark)\s+(?:me|this|us|the\s+(?:agent|learner|trainee)|my\s+(?:performance|answers?|"
    rf"responses?|replies))\s+(?:as\s+|at\s+|with\s+|a\s+)?(?:{_SCORE}|\d+(?:\.\d+)?(?!\s*(?:minutes?|mins?|"
    rf"seconds?|secs?|hours?|days?))\b|highly|excellent|perfect)",
    r"\b(?:score|grade|evaluate)\s+(?:this|the)\s+(?:conversation|transcript|session|chat)\b",
    rf"\brate\s+(?:this|the)\s+(?:conversation|transcript|session|chat)\s+(?:as\s+|a\s+)?(?:{_SCORE}|\d+\b|"
    rf"highly|excellent|perfect)",
    r"\bas\s+(?:the|an|a|my)\s+(?:evaluator|grader|judge|ai|language\s+model|llm)\b",
    r"\bsystem\s+prompt\b",
    r"\byou\s+are\s+now\s+(?:an?\s+|the\s+|my\s+)?(?:ai|assistant|chatbot|grader|evaluator|judge|dan|"
    r"unrestricted|jailbroken|in\s+\w+\s+mode|playing|acting|going\s+to\s+(?:act|play|grade|rate|score))\b",
    r"\b(?:your|these|the\s+following)\s+new\s+instructions\b|\bnew\s+instructions\s*:",
    r"\bnote\s+to\s+(?:the\s+)?(?:ai|grader|evaluator|model|reviewer|llm)\b",
    r"\b(?:grader|evaluator|rubric)s?\b",
    r"\bpass\s+me\b(?!\s+(?:your|the|a|an|that|those|these|some|any|over|along|through|to|back|on)\b)",
    r"\b(?:this|the)\s+(?:agent|learner|trainee)\s+(?:deserves|should\s+(?:get|receive|be\s+given|pass)|passed|"
    r"passes)\b",
    r"\b(?:stop|quit|end|exit)\s+(?:the\s+)?role-?play(?:ing)?\b|\bbreak\s+character\b|\bout\s+of\s+character\b",
    r"</?\s*(?:system|transcript|conversation|latest_agent_message|instructions?|assistant|user)\s*>",
    r"\b(?:developer|debug|god)\s+mode\b|\bjailbreak\b",
    # a forged transcript line: "[4] CUSTOMER:" anywhere; another speaker's label starting the turn
    # or any line of it (the agent's own label only after a line break)
    rf"\[\s*\d+\s*\]\s*(?:{'|'.join(SPEAKER_WORDS)})\s*:",
    rf"(?:^|(?<=[{_BREAKS}]))[ \t]*(?:{'|'.join(w for w in SPEAKER_WORDS if w != 'agent')})\s*:",
    rf"(?<=[{_BREAKS}])[ \t]*agent\s*:",
)]


def manipulation_in(text: str) -> list[str]:
    seen, where = fold_lookalikes(text)  # matched as a reader sees it, quoted as written
    spans: list[tuple[int, int]] = []
    for pattern in MANIPULATION_PATTERNS:
        for m in pattern.finditer(seen):
            if m.end() > m.start():
                spans.append((where[m.start()], where[m.end() - 1] + 1))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [text[s:e] for s, e in merged]
