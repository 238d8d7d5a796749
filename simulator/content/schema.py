"""JSON Schemas for persona and rubric files, generated from the models the validator uses.

Checked in as ``simulator/content/schema/{persona,rubric}.schema.json`` (a test regenerates
them and compares, so they cannot drift). ``roleplay new`` copies them into the
workspace's ``schema/`` folder, and the files it writes start with
``# yaml-language-server: $schema=../schema/persona.schema.json``, so an editor with YAML
support completes keys and underlines mistakes as you type. The schema catches what one
file can get wrong on its own; ``roleplay validate`` also checks across files (a skill
that is not a criterion of the rubric, a rubric that does not exist) and YAML itself
(duplicate keys).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .persona import Persona
from .rubric import Rubric

PACKAGED = Path(__file__).parent / "schema"
MODELS = {"persona": Persona, "rubric": Rubric}
FOLDER = "schema"


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema of a ``kind`` file ("persona" or "rubric")."""
    model = MODELS[kind]
    schema = model.model_json_schema()
    schema["properties"].pop("id", None)  # set from the file name, never written in the file
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"roleplay {kind} file, format version 1", **{k: v for k, v in schema.items() if k != "title"}}


def schema_text(kind: str) -> str:
    return json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n"


def schema_line(kind: str) -> str:
    """The first line of a template: where an editor finds the schema."""
    return f"# yaml-language-server: $schema=../{FOLDER}/{kind}.schema.json"


def install_schemas(workspace: Path) -> list[Path]:
    """Copy the schemas into ``workspace/schema/`` (kept current); returns the paths."""
    from ..core.storage import atomic_write_text

    folder = Path(workspace) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in MODELS:
        target = folder / f"{kind}.schema.json"
        text = (PACKAGED / f"{kind}.schema.json").read_text(encoding="utf-8")
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            atomic_write_text(target, text)
        written.append(target)
    return written


if __name__ == "__main__":  # python -m simulator.content.schema: regenerate the checked-in schemas
    for name in MODELS:
        (PACKAGED / f"{name}.schema.json").write_text(schema_text(name), encoding="utf-8")
        print(PACKAGED / f"{name}.schema.json")
