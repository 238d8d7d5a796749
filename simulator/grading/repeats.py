"""Repeated questions: what a customer has already given (information types) and what the
learner has already asked.

For ``repeated_questions``, each learner question — and each request
for information such as "I'll need your account number" or "Please confirm your
email" — is checked against a small vocabulary of information types: account number,
order/reference number, email, phone, address, name, date and amount (:data:`INFO_TYPES`:
a pattern for asking for it, a pattern for its value). It is flagged ``already_given``
when an earlier customer turn contains a value of that type: an email address, a money
amount ($, £, €, or "... dollars"), a date (a month name with a day or year, 3/14/2026,
2026-03-14, "the 3rd"), a street address ("12 Oak Street"), the customer's own name (a
part of ``persona.name`` or "my name is ..."), and — for account, order and phone
numbers, which look alike — a number of at least 5 (order: 4, phone: 7) digits in a
sentence that names the type ("my account number is 44-1029") or in the answer to a
learner turn that asked for it ("It's 44-1029."). A question that itself contains such
a value is a read-back for confirmation ("Is your account number 44-1029?") and is
flagged neither for that type nor as asked before. "When did it start?" is not treated
as asking for a date, and "Did you get the email?" is not asking for an email address.
A question is flagged ``asked_before`` when an earlier learner question is the same
after lowercasing and dropping punctuation and leading fillers, or when both have at
least two content-word stems (:func:`simulator.core.text.stems` after dropping
contractions, minus fillers and generic asking verbs such as *give, tell, confirm,
need*) and their Jaccard overlap is at least 0.75. One entry per flagged
sentence, with all its reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..core.text import split_sentences, stems
from .questions import strip_fillers, tokenise


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _id_values(min_digits: int) -> Callable[[str], bool]:
    pattern = re.compile(r"(?<![$£€\d.,])#?\b[A-Za-z]{0,4}[-#]?\d(?:[- ]?\d)*[A-Za-z0-9]*\b(?![.,]\d)")

    def found(text: str) -> bool:
        return any(_digits(m.group(0)) >= min_digits for m in pattern.finditer(text))
    return found


_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = re.compile(
    rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b|"
    rf"\b{_MONTHS}\s+\d{{4}}\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b|"
    r"\bthe\s+\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"[$£€]\s?\d[\d,]*(?:\.\d+)?|"
                     r"\b\d[\d,]*(?:\.\d+)?\s?(?:dollars|bucks|pounds|euros|usd|gbp|eur)\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_STREET = re.compile(r"\b\d{1,5}\s+(?:[A-Za-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|close|"
                     r"court|ct|boulevard|blvd|place|pl|terrace|crescent)\b", re.IGNORECASE)
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")


@dataclass(frozen=True)
class InfoType:
    """A kind of information a customer gives once: how it is asked for, how its value looks."""

    name: str
    ask: re.Pattern[str]
    value: Callable[[str, list[str]], bool]  # (sentence, customer name parts) -> contains a value
    keyword: re.Pattern[str] | None = None  # the value counts only near this word, or after being asked


def _name_value(text: str, names: list[str]) -> bool:
    return bool(re.search(r"\bmy name(?:'s| is)\s+\w", text, re.IGNORECASE)) or any(
        name_pattern(n).search(text) for n in names)


INFO_TYPES: list[InfoType] = [
    InfoType("account_number",
             re.compile(r"\b(?:account|acct|customer|membership|member)\s*(?:number|no\.?|num|#|id)\b", re.I),
             lambda s, _n: _id_values(5)(s),
             re.compile(r"\b(?:account|acct|a/c|customer (?:number|id)|member(?:ship)? (?:number|id))\b", re.I)),
    InfoType("order_number",
             re.compile(r"\b(?:order|reference|ref|tracking|confirmation|booking|case|ticket|invoice|parcel)\s*"
                        r"(?:number|no\.?|num|#|id|code)\b", re.I),
             lambda s, _n: _id_values(4)(s),
             re.compile(r"\b(?:order|reference|ref|tracking|confirmation|booking|case|ticket|invoice|parcel|"
                        r"package)\b", re.I)),
    InfoType("email",
             re.compile(r"\be-?mail address\b|\b(?:what|which)(?:'s| is)?\s+(?:your|the)\s+(?:best\s+|current\s+|"
                        r"new\s+)?e-?mail\b|\b(?:give|tell|confirm|provide|share|spell|read)\s+(?:me\s+|us\s+)?"
                        r"(?:your|the)\s+(?:best\s+|current\s+|new\s+)?e-?mail\b|\byour e-?mail\s*\?", re.I),
             lambda s, _n: bool(_EMAIL.search(s))),
    InfoType("phone",
             re.compile(r"\b(?:phone|mobile|cell|telephone|contact|landline)\s*(?:number|no\.?|#)\b|"
                        r"\bnumber (?:to|we can|i can) (?:call|reach|text)\b|\bbest number\b", re.I),
             lambda s, _n: any(_digits(m.group(0)) >= 7 for m in _PHONE.finditer(s)),
             re.compile(r"\b(?:phone|mobile|cell|landline|telephone|call|text|reach)\b", re.I)),
    InfoType("address",
             re.compile(r"\b(?:your|the|postal|home|billing|shipping|delivery|mailing|street)\s+address\b|"
                        r"\bwhere do you live\b", re.I),
             lambda s, _n: bool(_STREET.search(s))),
    InfoType("name",
             re.compile(r"\byour (?:full |first |last |sur)?name\b|\bname on the account\b|"
                        r"\baccount holder'?s? name\b|\b(?:full|first|last) name\b|\bsurname\b|"
                        r"\bwho am i (?:speaking|talking) (?:to|with)\b", re.I),
             _name_value),
    InfoType("date",
             re.compile(r"\b(?:what|which)\s+(?:date|day)\b|\b(?:the|a|that)\s+date\b|\bdate (?:of|when|on which)\b",
                        re.I),
             lambda s, _n: bool(_DATE.search(s))),
    InfoType("amount",
             re.compile(r"\bhow much\b(?!\s+(?:data|time|longer|speed|storage|usage|bandwidth|space|notice|"
                        r"more time)\b)|\b(?:the|what|which|that)\s+(?:amount|total|figure)\b|"
                        r"\bwhat (?:were|was) you (?:charged|billed)\b|\bwhat did you (?:use to )?pay\b|"
                        r"\bwhat (?:was|is) (?:your|the) (?:bill|charge|price)\b", re.I),
             lambda s, _n: bool(_AMOUNT.search(s))),
]

REQUEST = re.compile(r"\bi(?:'ll| will|'d| would)?\s+(?:just\s+)?need\b|\b(?:give|provide|confirm|tell|share|spell|"
                      r"read out)\s+(?:me\s+|us\s+)?(?:your|the)\b|\blet me have\b|\bcan i (?:take|get|have)\b",
                      re.IGNORECASE)
_GENERIC_STEMS = {"give", "tell", "confi", "let", "pleas", "need", "get", "check", "just", "mind", "like", "want",
                  "know", "quick", "also", "again", "sure", "provi", "share", "ask", "okay", "sorry", "thank",
                  "great", "perfe", "alrig", "right", "well", "now", "then"}


def question_stems(text: str) -> set[str]:
    text = re.sub(r"n['’]t\b", "", text.lower())  # "don't" -> "do", a stop word
    text = re.sub(r"['’](?:s|re|ve|ll|d|m)\b", "", text)  # "what's" -> "what"
    return stems(text) - _GENERIC_STEMS


def normalised(text: str) -> str:
    return " ".join(strip_fillers(tokenise(text)))


def asks_for(info: InfoType, sentence: str) -> bool:
    return bool(info.ask.search(sentence))


def given_in(info: InfoType, text: str, names: list[str], asked_just_before: bool) -> bool:
    for sentence in split_sentences(text):
        if info.value(sentence, names) and (info.keyword is None or asked_just_before
                                            or info.keyword.search(sentence)):
            return True
    return False


_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"}


def name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", re.IGNORECASE)


def name_parts(full_name: Any) -> list[str]:
    if not isinstance(full_name, str):
        return []
    parts = [p.strip(".,'\"()") for p in full_name.split()]
    return [p for p in parts if len(p) >= 2 and p.lower().rstrip(".") not in _TITLES]
