"""Validating hand-written YAML against pydantic models, with errors people can act on.

Each file format is a pydantic model (fields documented in place). :func:`load_model`
reads a file with :func:`~simulator.core.yamlfile.read_yaml`, validates it, and turns every
pydantic error into a :class:`~simulator.core.errors.Problem` at the right ``line:col``
that says what to write instead (with a did-you-mean for unknown keys and choices).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema

from ..core.errors import FileFormatError, Problem
from ..core.yamlfile import Document, Loc, read_yaml

M = TypeVar("M", bound=BaseModel)


class FileModel(BaseModel):
    """Base for every model read from a file: unknown keys are errors, numbers are
    accepted where text is expected (``account: 441029``), text is stripped."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)


def _one_or_many(value: Any) -> Any:
    """Forgive a single item where a list is expected: ``skills: empathy``."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [value]
    if value is None:
        return []
    return value


TextList = Annotated[list[str], BeforeValidator(_one_or_many)]


def _jargon_entries(value: Any) -> Any:
    """A jargon list: each entry a word (``MFA``), or a word with plain words for it, written
    ``MFA: the code on your phone`` (YAML reads that as a one-key mapping; it is kept as the
    text ``MFA: the code on your phone``)."""
    value = _one_or_many(value)
    if not isinstance(value, list):
        return value
    return [f"{next(iter(item))}: {next(iter(item.values()))}"
            if isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), (str, int, float))
            else item for item in value]


JargonList = Annotated[list[str], BeforeValidator(_jargon_entries), WithJsonSchema({
    "type": "array", "items": {"anyOf": [
        {"type": "string"},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {"type": "string"},
         "description": "a word and plain words for it: MFA: the code on your phone"}]}})]


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "the file"


def _describe_type(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}' (yes/no)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        short = value if len(value) <= 40 else value[:37] + "..."
        return f"'{short}'"
    return f"'{value}'"


def suggest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The nested model class reached by following ``loc`` through ``model``'s fields."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        # unwrap list[X] / Optional[X] / Annotated[...] to reach a model class
        for _ in range(4):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                break
            if not args:
                break
            annotation = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0])
        current = annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_help(model: type[BaseModel], loc: Loc) -> str:
    parent = _model_at(model, loc[:-1])
    if parent is None or not loc:
        return ""
    info = parent.model_fields.get(loc[-1]) if isinstance(loc[-1], str) else None
    return (info.description or "") if info else ""


def translate(error: dict[str, Any], model: type[BaseModel], doc: Document) -> Problem:
    """Turn one pydantic error into a positioned, actionable one-line problem."""
    loc: Loc = tuple(p for p in error["loc"] if p != "[key]")
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    name = dotted(loc)
    if kind == "missing":
        helptext = _field_help(model, loc)
        where = dotted(loc[:-1])
        inside = "" if not loc[:-1] else f" under {where}"
        message = f"missing required key '{loc[-1]}'{inside} — add `{loc[-1]}: ...`"
        if helptext:
            message += f" ({helptext})"
        return doc.problem(loc[:-1], message, key=True)
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = [k for k, f in parent.model_fields.items() if not f.exclude] if parent else []
        hint = suggest(loc[-1], allowed)
        listing = f"; allowed here: {', '.join(allowed)}" if allowed and not hint else ""
        return doc.problem(loc, f"unknown key '{loc[-1]}'{hint}{listing}", key=True)
    if kind == "literal_error":
        expected = [str(v).strip("'") for v in ctx.get("expected", "").replace(" or ", ", ").split(", ")]
        hint = suggest(str(value), expected)
        return doc.problem(loc, f"{name}: {_describe_type(value)} is not allowed — write one of "
                                f"{', '.join(expected)}{hint}")
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        helptext = _field_help(model, loc)
        bound = next(iter(ctx.values()), "")
        relation = {"greater_than_equal": "at least", "less_than_equal": "at most",
                    "greater_than": "more than", "less_than": "less than"}[kind]
        extra = f" ({helptext})" if helptext else ""
        return doc.problem(loc, f"{name}: {value} is out of range — it must be {relation} {bound}{extra}")
    if kind in {"string_type", "str_type"}:
        return doc.problem(loc, f"{name} must be text, found {_describe_type(value)} — write it as a "
                                "quoted string")
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        extra = f" ({_field_help(model, loc)})" if _field_help(model, loc) else ""
        return doc.problem(loc, f"{name} must be a whole number, found {_describe_type(value)} — write "
                                f"digits, like 3{extra}")
    if kind in {"float_type", "float_parsing"}:
        extra = f" ({_field_help(model, loc)})" if _field_help(model, loc) else ""
        return doc.problem(loc, f"{name} must be a number, found {_describe_type(value)} — write digits, "
                                f"like 3 or 3.5{extra}")
    if kind in {"bool_type", "bool_parsing"}:
        return doc.problem(loc, f"{name} must be true or false, found {_describe_type(value)} — write "
                                "true or false")
    if kind in {"list_type", "tuple_type"}:
        return doc.problem(loc, f"{name} must be a list, found {_describe_type(value)} — write "
                                "`[a, b]` or one `- item` per line")
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return doc.problem(loc, f"{name} must be a mapping of keys (`key: value` lines indented under "
                                f"it), found {_describe_type(value)}")
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        extra = f" ({_field_help(model, loc)})" if _field_help(model, loc) else ""
        return doc.problem(loc, f"{name} needs at least {least} item{'s' if least != 1 else ''} — add "
                                f"{'one' if least == 1 else least}{extra}")
    if kind == "too_long":
        return doc.problem(loc, f"{name} has too many items — at most {ctx.get('max_length')}")
    if kind == "string_too_short":
        return doc.problem(loc, f"{name} is empty — write some text")
    if kind == "string_too_long":
        return doc.problem(loc, f"{name} is too long — at most {ctx.get('max_length')} characters")
    if kind == "value_error":
        message = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
        return doc.problem(loc, f"{name}: {message}")
    return doc.problem(loc, f"{name}: {error['msg']}")


def _explained_by_typo(error: dict[str, Any], errors: list[dict[str, Any]], model: type[BaseModel]) -> bool:
    """A missing key whose misspelling sits beside it: the unknown-key error already says
    "did you mean", so a second error (pointing elsewhere, often first) would only confuse."""
    if error["type"] != "missing":
        return False
    parent, wanted = tuple(error["loc"][:-1]), error["loc"][-1]
    fields = _model_at(model, parent)
    allowed = [k for k, f in fields.model_fields.items() if not f.exclude] if fields else []
    return any(e["type"] == "extra_forbidden" and tuple(e["loc"][:-1]) == parent
               and difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1, cutoff=0.6) == [wanted]
               for e in errors)


def validate(doc: Document, model: type[M]) -> M:
    """Validate a read document; raise :class:`FileFormatError` listing every problem."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [translate(e, model, doc) for e in errors if not _explained_by_typo(e, errors, model)]
        problems.sort(key=lambda p: (p.line, p.col))
        raise FileFormatError(problems) from None


def check_version(doc: Document, supported: int, what: str) -> None:
    version = doc.data.get("version", supported)
    if version != supported and isinstance(version, int) and version > supported:
        raise FileFormatError([doc.problem(("version",), f"this {what} is format version {version}, "
                                            f"but this roleplay reads version {supported} — upgrade roleplay")])


def load_model(path: Path, model: type[M], *, what: str, version: int = 1) -> tuple[M, Document]:
    """Read, version-check and validate one file. Fields marked ``exclude`` are set by
    the loader (like a persona's id, which is its file name) and may not be written."""
    doc = read_yaml(Path(path), what=what)
    check_version(doc, version, what)
    derived = [k for k, f in model.model_fields.items() if f.exclude and k in doc.data]
    if derived:
        key = derived[0]
        raise FileFormatError([doc.problem((key,), f"'{key}' is not written in the file — a {what}'s {key} "
                                                   "is its file name without .yaml; remove this line", key=True)])
    return validate(doc, model), doc
