"""The persona audit on a labelled set of customer replies (tests/data/audit_labelled.yaml):
real built-in model output that is wrong, and clean lines in each persona's voice.

Run as a script to print the figures per tag: python tests/test_audit.py"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.content.library import load_library  # noqa: E402
from simulator.practice.audit import AuditContext, audit_reply  # noqa: E402

DATA = Path(__file__).parent / "data" / "audit_labelled.yaml"


def figures() -> dict:
    library = load_library(ROOT)
    items = yaml.safe_load(DATA.read_text(encoding="utf-8"))["replies"]
    per_tag = Counter()
    caught_tag = Counter()
    bad = caught = clean = false_alarms = 0
    alarms_by_tag = Counter()
    misses, alarms = [], []
    for item in items:
        persona = library.persona(item["persona"])
        rubric = library.rubric_for(persona)
        ctx = AuditContext(persona=persona, jargon=[*persona.jargon, *rubric.jargon],
                           earlier_customer=[persona.opening, *item.get("earlier", [])],
                           earlier_text=persona.opening, last_learner=item["learner"])
        found = {f.tag for f in audit_reply(item["reply"], ctx)}
        if item["tags"]:
            bad += 1
            caught += bool(found)
            if not found:
                misses.append(item["reply"])
            for tag in item["tags"]:
                per_tag[tag] += 1
                caught_tag[tag] += tag in found
        else:
            clean += 1
            false_alarms += bool(found)
            if found:
                alarms.append((item["reply"], sorted(found)))
            for tag in found:
                alarms_by_tag[tag] += 1
    return {"bad": bad, "caught": caught, "clean": clean, "false_alarms": false_alarms, "misses": misses,
            "alarms": alarms, "recall_by_tag": {t: (caught_tag[t], n) for t, n in per_tag.items()},
            "alarms_by_tag": dict(alarms_by_tag)}


def test_labelled_set_is_large_and_balanced():
    items = yaml.safe_load(DATA.read_text(encoding="utf-8"))["replies"]
    bad = [i for i in items if i["tags"]]
    assert len(items) >= 80 and len(bad) * 2 >= len(items) - 2


def test_audit_catches_bad_replies_and_spares_clean_ones():
    f = figures()
    recall = f["caught"] / f["bad"]
    false_alarm_rate = f["false_alarms"] / f["clean"]
    assert recall >= 0.9, f"recall {recall:.0%}; missed: {f['misses']}"
    assert false_alarm_rate <= 0.05, f"false alarms {false_alarm_rate:.0%}: {f['alarms']}"


def test_each_tag_fires_on_most_of_its_examples():
    for tag, (caught, total) in figures()["recall_by_tag"].items():
        assert caught / total >= 0.75, f"{tag}: {caught}/{total}"


if __name__ == "__main__":
    f = figures()
    print(f"bad replies caught: {f['caught']}/{f['bad']} ({f['caught'] / f['bad']:.0%}); "
          f"clean replies flagged: {f['false_alarms']}/{f['clean']} ({f['false_alarms'] / f['clean']:.0%})")
    for tag, (caught, total) in sorted(f["recall_by_tag"].items()):
        print(f"  {tag:<16} recall {caught}/{total}   false alarms {f['alarms_by_tag'].get(tag, 0)}")
    for miss in f["misses"]:
        print("  missed:", miss)
    for alarm in f["alarms"]:
        print("  false alarm:", alarm)
