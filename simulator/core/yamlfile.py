"""Safe, position-aware YAML reading for the files people write by hand.

``read_yaml`` parses with PyYAML's *safe* composer and builds plain Python values
itself, so that:

* no tag can build an object (``!!python/object`` and friends are errors);
* duplicate keys are errors, pointing at the second one;
* aliases cannot blow up memory (expanded values are counted and capped);
* files over :data:`MAX_BYTES` are refused before they are read;
* every value and key keeps its ``line:col`` so later validation can say where.

All failures are :class:`~simulator.core.errors.FileFormatError` with one-line messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import FileFormatError, Problem

MAX_BYTES = 256 * 1024
MAX_VALUES = 20_000  # expanded values per file: far above any real file, far below an alias bomb
MAX_DEPTH = 40

Loc = tuple[Any, ...]

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR,
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# libyaml's parser, when PyYAML has it: the same nodes, tags and marks, twenty times faster
# (most of the time of loading a library). A file it rejects is parsed again by the
# pure-Python parser, whose messages are the ones explained below.
FAST_LOADER = getattr(yaml, "CSafeLoader", None)


@dataclass
class Document:
    """Parsed YAML plus where each value and key sits in the file (1-based)."""

    path: Path
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Position of ``loc`` (its key when ``key``), else of its nearest known parent."""
        loc = tuple(loc)
        while True:
            table = (self.keys, self.values) if key else (self.values, self.keys)
            for positions in table:
                if loc in positions:
                    return positions[loc]
            if not loc:
                return (1, 1)
            loc = loc[:-1]

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.path, line, col, message)


def _pos(mark: yaml.Mark | None) -> tuple[int, int]:
    if mark is None:
        return (1, 1)
    return (mark.line + 1, mark.column + 1)


def _unclosed(err: yaml.MarkedYAMLError) -> str:
    """What ``err`` leaves open (a quote, '[' or '{') when its real cause is where that began."""
    context, problem = err.context or "", err.problem or ""
    if err.context_mark is None:
        return ""
    if "quoted scalar" in context and ("end of stream" in problem or "document separator" in problem):
        return "quote"
    if context.startswith("while parsing a flow") and problem.startswith("expected ','"):
        return "[" if "sequence" in context else "{"
    return ""


def _syntax_mark(err: yaml.MarkedYAMLError) -> yaml.Mark | None:
    return err.context_mark if _unclosed(err) else (err.problem_mark or err.context_mark)


def _syntax_message(err: yaml.MarkedYAMLError) -> str:
    problem = (err.problem or err.context or "invalid YAML").strip()
    unclosed = _unclosed(err)
    if unclosed == "quote":
        return "the quote that starts here is never closed — end the text with the same quote mark"
    if unclosed:
        end, kind = ("]", "list") if unclosed == "[" else ("}", "mapping")
        return (f"the '{unclosed}' {kind} that starts here is not closed — put ', ' between its items "
                f"and end it with '{end}'")
    if "expected a single document" in (err.context or ""):
        return "more than one YAML document ('---') — keep one document per file"
    if "'\\t'" in problem or "\\t" in problem and "cannot start any token" in problem:
        return "tab character here — YAML indents with spaces only; replace the tab with spaces"
    if problem.startswith("found character '\\t'"):
        return "tab character here — YAML indents with spaces only; replace the tab with spaces"
    if "unacceptable character" in problem:
        return "control or binary character here — the file must be plain UTF-8 text; remove it"
    if "mapping values are not allowed here" in problem:
        return ("unexpected ':' — quote text that contains ': ' (for example \"Note: ...\"), "
                "or check the indentation of this line")
    if "expected <block end>" in problem or "did not find expected key" in problem:
        return "bad indentation — this line does not line up with the keys above it; align it with its siblings"
    if "could not find expected ':'" in problem:
        return "a key without ':' — write `key: value`, or indent this line under the key it continues"
    if "unknown escape character" in problem:
        return (f"{problem} — inside double quotes a backslash starts an escape; write \\\\ for a "
                "backslash, or use single quotes")
    if "found undefined alias" in problem:
        return f"{problem} — define the anchor (&name) before using *name, or write the value out"
    if "expected a single document" in problem:
        return "more than one YAML document ('---') — keep one document per file"
    if "found unexpected end of stream" in problem or "found unexpected end" in problem:
        return f"{problem} — a quote or bracket is not closed"
    return f"{problem} — fix the YAML syntax here"


class _Walker:
    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.values: dict[Loc, tuple[int, int]] = {}
        self.keys: dict[Loc, tuple[int, int]] = {}
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used
        self.open: set[int] = set()  # ids of the collections being walked (to catch an alias inside itself)

    def fail(self, node: yaml.Node, message: str) -> FileFormatError:
        line, col = _pos(node.start_mark)
        return FileFormatError([Problem(self.path, line, col, message)])

    def walk(self, node: yaml.Node, loc: Loc, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(node, f"too many values (over {MAX_VALUES:,}, usually aliases that expand "
                                  "into each other) — write the values out without anchors and aliases")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep — flatten the structure")
        self.values.setdefault(loc, _pos(node.start_mark))
        if id(node) in self.open:
            raise self.fail(node, "an alias is used inside the value of its own anchor, so it never ends "
                                  "— write the values out instead of the alias")
        if isinstance(node, yaml.CollectionNode):
            self.open.add(id(node))
            try:
                return self._collection(node, loc, depth)
            finally:
                self.open.discard(id(node))
        return self.scalar(node)

    def _collection(self, node: yaml.CollectionNode, loc: Loc, depth: int) -> Any:
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise self._bad_tag(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "merge keys ('<<') are not supported — write the keys out")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(key_node, "a key must be a plain word, not a list or mapping")
                key = self.scalar(key_node)
                if isinstance(key, str):
                    key = key.strip()
                if key in result:
                    first_line = self.keys[loc + (key,)][0]
                    raise self.fail(key_node, f"duplicate key '{key}' (first set on line {first_line}) "
                                              "— keep only one of them")
                self.keys[loc + (key,)] = _pos(key_node.start_mark)
                result[key] = self.walk(value_node, loc + (key,), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise self._bad_tag(node)
            return [self.walk(item, loc + (i,), depth + 1) for i, item in enumerate(node.value)]

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR:
            return node.value  # what the constructor returns for text, without its bookkeeping
        if node.tag == _TIMESTAMP:
            return node.value  # dates stay as the text the trainer wrote
        if node.tag not in _PLAIN_SCALARS:
            raise self._bad_tag(node)
        return self.constructor.construct_object(node, deep=True)

    def _bad_tag(self, node: yaml.Node) -> FileFormatError:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return self.fail(node, f"the tag '{tag}' is not allowed — these files hold plain text, numbers "
                               "and lists; remove the tag")


def _compose(text: str) -> yaml.Node | None:
    if FAST_LOADER is not None and "\t" not in text:  # it lets tabs pass where PyYAML (rightly) stops
        try:
            return yaml.compose(text, Loader=FAST_LOADER)
        except (yaml.YAMLError, RecursionError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def read_yaml(path: Path, *, what: str = "file") -> Document:
    """Read one YAML file safely; raise :class:`FileFormatError` when it cannot be used."""
    path = Path(path)

    def fail(message: str, line: int = 1, col: int = 1) -> FileFormatError:
        return FileFormatError([Problem(path, line, col, message)])

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise fail(f"the file is {size / 1024:,.0f} KiB; a {what} may be at most "
                       f"{MAX_BYTES // 1024} KiB — remove pasted material or split it")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail(f"no such {what} file — check the path") from None
    except IsADirectoryError:
        raise fail(f"this is a folder, not a {what} file") from None
    except OSError as exc:
        raise fail(f"cannot read the file ({exc.strerror or exc}) — check its permissions") from None

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts exc.start after the BOM; columns count characters, not bytes
        before = raw.removeprefix(b"\xef\xbb\xbf")[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8")) + 1
        raise fail("not UTF-8 text (binary data or another encoding) — save the file as UTF-8 text",
                   line, col) from None
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise fail("binary data (a NUL byte) — the file must be plain UTF-8 text", line, col)
    # YAML also breaks lines at these; most editors do not, so every later line:col would be off
    odd = re.search("\r(?!\n)|[\x85\u2028\u2029]", text)
    if odd:
        offset = odd.start()
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        raise fail(f"unusual line break character (U+{ord(odd.group()):04X}) — replace it with a normal "
                   "line break or a space", line, col)
    if not text.strip() or not re.sub(r"(?m)^\s*#.*$", "", text).strip():
        raise fail(f"the file is empty — a {what} needs its keys; copy a bundled example to start from")

    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        line, col = _pos(_syntax_mark(exc))
        raise fail(_syntax_message(exc), line, col) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML ({exc}) — fix the syntax") from None
    except RecursionError:
        raise fail("nested too deeply — flatten the structure") from None

    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        raise fail(f"the file is empty — a {what} needs its keys; copy a bundled example to start from")
    walker = _Walker(path)
    try:
        data = walker.walk(root, ())
    except RecursionError:
        raise fail("nested too deeply — flatten the structure") from None
    if not isinstance(data, dict):
        line, col = _pos(root.start_mark)
        raise fail(f"a {what} must be a mapping of keys (like `name: ...`), not a "
                   f"{'list' if isinstance(data, list) else 'single value'}", line, col)
    return Document(path=path, data=data, values=walker.values, keys=walker.keys)
