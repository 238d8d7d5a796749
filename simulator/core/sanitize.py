"""Text that came from someone else, made safe for where it goes.

One place for the rules every layer must apply the same way to names and values it did not
write itself: the learner's name (whatever it came from: the config, ``ROLEPLAY_LEARNER``,
``run --learner``, the app's question, a session file read back), a spreadsheet cell
(OWASP's CSV-injection rule) and a Markdown table cell.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any, Iterable

LEARNER_MAX = 80  # characters, as the config file allows
_KEEP_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiners: part of some scripts' and emoji's spelling
_MD_ESCAPE = {c: "\\" + c for c in "\\|<["}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def learner_name(raw: Any) -> str:
    """The learner's name or id as it is kept and shown: control and format characters
    (newlines, escapes, bidi overrides) made spaces, every run of spaces one space, at most 80
    characters. "" for no name (None, empty, or not text)."""
    if not isinstance(raw, str):
        return ""
    kept = "".join(c if c in _KEEP_FORMAT or unicodedata.category(c) not in ("Cc", "Cf") else " "
                   for c in raw)
    return " ".join(kept.split())[:LEARNER_MAX].strip()


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet shows and never runs: text starting with
    ``= + - @``, a tab or a carriage return gets a leading ``'`` (OWASP). Numbers stay numbers
    (-1.5 is written as a number, not as text); None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """A CSV table (header row first), every cell through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def md_cell(value: Any) -> str:
    """Text for one Markdown table cell (or list item): line breaks and control characters
    collapsed to a space; ``\\ | < [`` escaped, so it can neither end its cell or row, nor start
    a heading or a row of its own, nor become an HTML tag or a link when the report is rendered."""
    text = "" if value is None else str(value)
    text = " ".join("".join(c if unicodedata.category(c) != "Cc" else " " for c in text).split())
    return "".join(_MD_ESCAPE.get(c, c) for c in text)
