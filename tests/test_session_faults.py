"""Issue 18, item 4, faults 1 and 2: a failed journal write never makes a session
unreadable, and one damaged session never breaks a list (it is one unreadable row with
the reason; every other session is listed, in the CLI and in the app)."""

from __future__ import annotations


import contextlib
import copy
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes import ScriptedModel
from test_tui import settle

from simulator.content.library import load_library
from simulator.core.errors import RoleplayError, SessionError
from simulator.practice.engine import Conversation
from simulator.practice.scripted import save_record, scripted_record
from simulator.practice.sessions import read_journal, read_session, scan_sessions
from simulator.review.index import session_index, summary_line

DANA = "overcharged-loyal-customer"
LINES = ["Dana, I'm sorry, a bill that nearly doubled with no warning must be a real shock.",
         "Here's what I can do: a $45 credit today, or the $70 loyalty price. Which would you prefer?"]


def saved(workspace: Path, persona_id: str = DANA, stamp: str = "0900", outcome: str = "resolved"):
    """A finished session saved as the app saves one: journal and session.json."""
    library = load_library(workspace)
    persona = library.persona(persona_id)
    record = scripted_record(persona, library.rubric_for(persona), LINES, ["Okay."], outcome=outcome)
    record.session_id = f"20261101-{stamp}00-{persona_id}-0001"
    return save_record(record, workspace)


def null_text(folder: Path) -> None:
    """The first learner turn's text made null, in the journal and in session.json."""
    journal = folder / "journal.jsonl"
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    next(e for e in events if e.get("speaker") == "learner")["text"] = None
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    data = json.loads((folder / "session.json").read_text())
    next(t for t in data["turns"] if t["speaker"] == "learner")["text"] = None
    (folder / "session.json").write_text(json.dumps(data))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, timeout=120)


# -- fault 1: a failed journal write ----------------------------------------------------------

FULL_DISK = textwrap.dedent("""
    import asyncio, resource, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from fakes import ScriptedModel
    from simulator.content.library import load_library
    from simulator.core.errors import SessionError
    from simulator.practice.engine import Conversation
    from simulator.practice.sessions import read_session

    workspace = Path(sys.argv[1])
    library = load_library(workspace)
    dana = library.persona("overcharged-loyal-customer")
    conversation = Conversation.start(dana, library.rubric_for(dana), ScriptedModel(replies=["First.", "Second."]),
                                      workspace=workspace, use_director=False)
    asyncio.run(conversation.send("One."))
    journal = conversation.record.folder / "journal.jsonl"
    before = journal.read_bytes()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails (EFBIG) instead of killing us
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 40, hard))  # the disk fills mid-line
    try:
        asyncio.run(conversation.send("Two, and a long message: " + "x" * 400))
        print("the send did not fail")
    except SessionError as exc:
        print("failed:", exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
    print("as it was:", journal.read_bytes() == before)
    asyncio.run(conversation.send("Three."))
    record = read_session(conversation.record.folder)
    print("texts:", [t.text for t in record.turns][1:])
""")


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGXFSZ"), reason="needs RLIMIT_FSIZE and SIGXFSZ")
def test_a_journal_write_that_fills_the_disk_leaves_the_journal_as_it_was(workspace):
    """With the file size capped mid-line, send() fails; with space again the next send()
    works, and the session still reads, every turn before and after in it."""
    tests = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(workspace), str(tests)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "failed:" in out.stdout and "cannot save the turn" in out.stdout
    assert "as it was: True" in out.stdout  # the torn line was cut back off
    assert "texts: ['One.', 'First.', 'Three.', 'Second.']" in out.stdout


async def test_a_torn_last_line_does_not_cost_the_turns_written_after_it(workspace):
    """A crash mid-write leaves a torn last line; the session resumed and continued keeps
    every turn (the torn line is cut before the next append), and so does a last event
    whole but with no newline after it."""
    library = load_library(workspace)
    dana = library.persona(DANA)
    conversation = Conversation.start(dana, library.rubric_for(dana), ScriptedModel(replies=["Ok."]),
                                      workspace=workspace, use_director=False)
    await conversation.send("Hello.")
    journal = conversation.record.folder / "journal.jsonl"
    with journal.open("a") as handle:
        handle.write('{"type":"turn","index":3,"speaker":"lear')  # killed mid-write
    again = Conversation.resume(read_journal(conversation.record.folder), ScriptedModel(replies=["Fine."]),
                                use_director=False)
    await again.send("Are you there?")
    journal.write_bytes(journal.read_bytes().rstrip(b"\n"))  # a whole last event, its newline lost
    third = Conversation.resume(read_journal(conversation.record.folder), ScriptedModel(replies=["Yes."]),
                                use_director=False)
    await third.send("Good.")
    record = read_journal(conversation.record.folder)
    assert [t.text for t in record.turns][1:] == ["Hello.", "Ok.", "Are you there?", "Fine.", "Good.", "Yes."]


async def test_a_line_separator_inside_a_message_does_not_split_its_journal_line(workspace):
    """JSON leaves U+2028 and U+0085 as they are; they end a line for str.splitlines, not for
    the journal (only a newline ends an event)."""
    library = load_library(workspace)
    dana = library.persona(DANA)
    conversation = Conversation.start(dana, library.rubric_for(dana), ScriptedModel(replies=["Ok\u0085then."]),
                                      workspace=workspace, use_director=False)
    await conversation.send("First line\u2028second line.")
    await conversation.send("Done.")
    record = read_session(conversation.record.folder)
    assert [t.text for t in record.turns][1:3] == ["First line\u2028second line.", "Ok\u0085then."]


def test_a_damaged_middle_line_falls_back_to_session_json_else_says_where(workspace):
    record = saved(workspace)
    journal = record.folder / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:25] + "\n"  # line 3 damaged, lines after it whole
    journal.write_text("".join(lines))
    again = read_session(record.folder)
    assert [t.text for t in again.turns] == [t.text for t in record.turns] and again.outcome == "resolved"
    (record.folder / "session.json").unlink()
    with pytest.raises(SessionError, match=r"journal\.jsonl:3:1: damaged journal line"):
        read_session(record.folder)


# -- fault 2: one damaged session never breaks a list ----------------------------------------

def test_a_session_with_a_null_text_is_one_unreadable_row_in_every_list(workspace):
    damaged = saved(workspace, stamp="0900")
    saved(workspace, "rude-missing-parcel", stamp="1000", outcome="gave_up")
    null_text(damaged.folder)
    where = f"{damaged.folder.name}/journal.jsonl:3:1"
    for args, good in ((["sessions"], "rude-missing-parcel"), (["export", "--all"], "rude-missing-parcel"),
                       (["report", str(workspace)], "# Cohort report: 1 sessions"), (["progress"], "1 session,")):
        out = cli(*args)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (args, out.stderr)
        assert good in out.stdout, args  # the readable session is counted
        if args[0] != "progress":  # the damaged one is listed with where and what
            assert where in out.stdout and "text: expected text, got null" in out.stdout, args
    with pytest.raises(SessionError, match="text: expected text, got null"):
        read_session(damaged.folder)


# The fuzz: many damaged variants of one real session, each beside a good session.

WRONG = [None, True, False, 0, -7, 2.5, 10 ** 30, float("nan"), "", "text", [], [None], [1, "a"], {}, {"a": None},
         {"frustration": "high", "revealed": "all"}]


def _paths(value, path=()):
    """Every path into a JSON value (keys and indexes)."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _mutate(doc, rng: random.Random):
    """``doc`` with one value of a random place replaced by a wrong type, or one key dropped."""
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return rng.choice(WRONG)
    path = rng.choice(paths)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(WRONG))
    return doc


def _damage_text(text: str, rng: random.Random) -> bytes:
    """The file's text broken as a disk or an editor breaks it."""
    kind = rng.randrange(5)
    data = text.encode()
    if kind == 0:  # cut short
        return data[:rng.randrange(len(data))]
    if kind == 1:  # a byte that is not UTF-8
        at = rng.randrange(len(data))
        return data[:at] + b"\xff\xfe" + data[at + 1:]
    if kind == 2:  # nested deeper than any reader recurses
        at = rng.randrange(len(data))
        return data[:at] + b"[" * 100_000 + b"]" * 100_000 + data[at:]
    if kind == 3:  # another JSON value entirely
        return rng.choice([b"[]", b"null", b"5", b'"session"', b"{}", b"[" * 100_000 + b"]" * 100_000])
    return b""  # emptied


def _variant(journal: str, snapshot: str, rng: random.Random) -> tuple[bytes | None, bytes | None, str]:
    """A damaged (journal, session.json) pair; session.json None: there is none."""
    events = [json.loads(line) for line in journal.splitlines()]
    target = rng.choice(["journal", "journal", "snapshot", "both"])
    new_journal, new_snapshot = journal.encode(), snapshot.encode()
    if target in ("journal", "both"):
        if rng.random() < 0.75:
            n = rng.randrange(len(events))
            events[n] = _mutate(events[n], rng)
            new_journal = "".join(json.dumps(e) + "\n" for e in events).encode()
        else:
            new_journal = _damage_text(journal, rng)
    if target in ("snapshot", "both"):
        new_snapshot = (json.dumps(_mutate(json.loads(snapshot), rng)).encode() if rng.random() < 0.75
                        else _damage_text(snapshot, rng))
    return new_journal, (None if target == "journal" and rng.random() < 0.5 else new_snapshot), target


def _named_variants(journal: str, snapshot: str) -> list[tuple[bytes | None, bytes | None, str]]:
    """The damage the issue names, each in the journal alone, in both files, and in a
    session.json with no journal beside it."""
    def learner_text_null(turns):
        next(t for t in turns if t.get("speaker") == "learner")["text"] = None

    def state(value):
        def change(turns):
            for turn in turns:
                if turn.get("state") is not None:
                    turn["state"] = copy.deepcopy(value)
        return change

    out: list[tuple[bytes | None, bytes | None, str]] = []
    deep = "[" * 100_000 + "]" * 100_000
    for name, change in (("text null", learner_text_null), ("state text", state("calm")),
                         ("state list", state([1, 2])), ("state wrong inside", state(WRONG[-1]))):
        events = [json.loads(line) for line in journal.splitlines()]
        change(events)
        damaged_journal = "".join(json.dumps(e) + "\n" for e in events).encode()
        data = json.loads(snapshot)
        change(data["turns"])
        damaged_snapshot = json.dumps(data).encode()
        out += [(damaged_journal, snapshot.encode(), name), (damaged_journal, damaged_snapshot, name),
                (damaged_journal, None, name), (None, damaged_snapshot, name)]
    lines = journal.splitlines(keepends=True)
    assert lines[0].startswith('{"type":"header",')
    out += [(('{"type":"header","persona":' + deep + lines[0][len('{"type":"header"'):] + "".join(lines[1:])).encode(),
             None, "deep header"),
            ("".join(lines[:2] + [deep + "\n"] + lines[2:]).encode(), snapshot.encode(), "deep line"),
            (None, deep.encode(), "deep snapshot"), (journal[:len(journal) // 2].encode(), None, "cut"),
            (None, snapshot[:len(snapshot) // 2].encode(), "cut snapshot"), (b"[]\n", None, "not an event")]
    return out


def test_fuzz_damaged_sessions_are_read_or_refused_and_every_list_survives(workspace):
    """300 damaged variants of a real session (wrong types, missing keys, cut short, not
    UTF-8, nested 100,000 deep, null texts, wrong-typed state): reading gives a record or a
    one-line RoleplayError, never another exception; the history index, `roleplay
    sessions`' lines, the CSV export and the progress figures list the good session and
    the damaged one (readable or unreadable) every time."""
    from simulator.grading.metrics import measure
    from simulator.review.export import sessions_csv
    from simulator.review.progress import progress, progress_lines

    good = saved(workspace, "rude-missing-parcel", stamp="1000")
    victim = saved(workspace, stamp="0900")
    journal = (victim.folder / "journal.jsonl").read_text()
    snapshot = (victim.folder / "session.json").read_text()
    personas = list(load_library(workspace).personas.values())
    rng = random.Random(18)
    variants = [*_named_variants(journal, snapshot), *(_variant(journal, snapshot, rng) for _ in range(300))]
    readable = refused = 0
    for n, (new_journal, new_snapshot, target) in enumerate(variants):
        if new_journal is None:
            (victim.folder / "journal.jsonl").unlink(missing_ok=True)
        else:
            (victim.folder / "journal.jsonl").write_bytes(new_journal)
        if new_snapshot is None:
            (victim.folder / "session.json").unlink(missing_ok=True)
        else:
            (victim.folder / "session.json").write_bytes(new_snapshot)
        try:
            record = read_session(victim.folder)
        except RoleplayError as exc:
            refused += 1
            assert "\n" not in str(exc) and victim.folder.name in str(exc), (n, target, str(exc))
        else:
            readable += 1
            measure(record)
        rows = session_index(workspace)
        assert [r.folder for r in rows] == [good.folder.name, victim.folder.name], (n, target)
        assert rows[0].status != "unreadable" and "cannot be summarised" not in rows[1].reason, (n, target)
        lines = [summary_line(r) for r in rows]
        assert all("\n" not in line for line in lines)
        csv = sessions_csv(scan_sessions(workspace))
        assert good.session_id in csv and victim.folder.name in csv, (n, target)
        progress_lines(progress(rows, personas))
    assert readable > 50 and refused > 50  # both kinds were tried



@contextlib.asynccontextmanager
async def library_shown(workspace: Path):
    """The app on ``workspace``, its library loaded and listing every persona."""
    from textual.widgets import DataTable

    from simulator.tui.app import RoleplayApp

    app = RoleplayApp(workspace, model_factory=lambda settings: ScriptedModel(), clock=lambda: 0.0,
                      cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        personas = app.screen.query_one("#personas", DataTable)
        assert not personas.loading and personas.row_count == len(load_library(workspace).personas)
        yield pilot


async def history_shown(pilot):
    """History opened from the library and loaded (its spinner stopped): its table."""
    from textual.widgets import DataTable

    from simulator.tui.history import HistoryScreen

    await pilot.press("h")
    await settle(pilot)
    assert isinstance(pilot.app.screen, HistoryScreen) and pilot.app.screen.loaded
    sessions = pilot.app.screen.query_one("#sessions", DataTable)
    assert not sessions.loading
    return sessions


def test_the_state_types_checked_on_read_are_the_engine_s():
    from typing import get_type_hints

    from simulator.practice.engine import ConversationState
    from simulator.practice.sessions import STATE_TYPES

    assert STATE_TYPES == get_type_hints(ConversationState)


async def test_the_app_lists_personas_and_history_beside_a_damaged_session(workspace):
    """In the app: the library shows every persona (not "the library could not be loaded"),
    and History lists the good session and the damaged one as one unreadable row with its
    reason (not a spinner turning forever)."""
    damaged = saved(workspace, stamp="0900")
    good = saved(workspace, "rude-missing-parcel", stamp="1000", outcome="gave_up")
    null_text(damaged.folder)
    async with library_shown(workspace) as pilot:
        home = pilot.app.screen
        assert home.data.library_error is None and home.data.complete
        assert home.query_one("#personas").get_row("rude-missing-parcel")[4] == "gave up"  # Last, from the good one
        sessions = await history_shown(pilot)
        assert sessions.row_count == 2
        assert sessions.get_row(good.folder.name)[1] == "Derek Halvorsen"
        assert sessions.get_row(damaged.folder.name)[3] == "unreadable"
        sessions.move_cursor(row=sessions.get_row_index(damaged.folder.name))
        await pilot.pause()
        detail = str(pilot.app.screen.query_one("#history-detail").render())
        assert "journal.jsonl:3:1" in detail and "text: expected text, got null" in detail


async def test_an_unexpected_error_listing_sessions_keeps_the_personas_and_stops_the_spinner(workspace, monkeypatch):
    """The app's callers of the history index: whatever listing the sessions raises, the
    library keeps its personas and History says what broke instead of spinning."""
    import simulator.review.index as index

    def broken(*args, **kwargs):
        raise TypeError("a bug in the index")

    monkeypatch.setattr(index, "session_index", broken)
    async with library_shown(workspace) as pilot:
        assert "a bug in the index" in pilot.app.screen.data.library_error  # said, the personas kept
        sessions = await history_shown(pilot)
        assert sessions.row_count == 0
        assert any("a bug in the index" in str(n.message) for n in pilot.app._notifications)


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGXFSZ"), reason="needs RLIMIT_FSIZE and SIGXFSZ")
@pytest.mark.parametrize("cap_kb", [1, 8])  # the journal's header fails / the first session.json fails
def test_a_session_that_cannot_start_leaves_no_folder_and_says_so(workspace, tmp_path, cap_kb):
    """The disk is full as `roleplay run` starts: one line that the session did not start, and
    no empty or half-made folder left behind to be listed as unreadable for ever."""
    import os

    script = tmp_path / "script.txt"
    script.write_text("Hello there.\n")
    code = ("import resource, signal, sys\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({cap_kb * 1024}, resource.RLIM_INFINITY))\n"
            "from simulator.cli import main\nsys.exit(main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "--workspace", str(workspace), "run", "--persona", DANA,
                          "--script", str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ROLEPLAY_MODEL": "local/none-such"})
    assert out.returncode == 1
    assert "cannot start the session" in out.stderr and "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("roleplay:")]) == 1
    assert list((workspace / "sessions").iterdir()) == []
