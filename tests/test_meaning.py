"""The meaning layer's first slice (issue 19): act files a trainer can read and edit, and
reading a learner's message into the acts it does, by embeddings on the built-in model or
by the stems fallback without it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import requires_builtin_model
from simulator import cli
from simulator.content.acts import load_acts, read_act
from simulator.content.library import load_library, validate_paths
from simulator.core import locations
from simulator.core.errors import FileFormatError

BUNDLED_ACTS = locations.bundled_library() / locations.RUBRICS / locations.ACTS
GOOD_ACT = """version: 1
id: {id}
name: Says what happens next
detects: The agent tells the customer what will happen next and when.
why: A customer who knows the next step stops chasing.
criteria: [clear-communication]
polarity: good
examples:
  positive:
    - "You'll get an email from us within the hour."
    - "Next, a technician calls you on Monday morning."
    - "The refund lands in three to five working days."
    - "I'll text you the booking number as soon as it's done."
    - "first the form, then we ring u back tomorrow"
    - "Tomorrow before noon the new card is posted."
    - "What happens now is the team reviews it by Friday."
    - "Expect a letter confirming this next week."
  negative:
    - "What happened next?"
    - "I don't know when that will happen."
    - "Did you get an email from us?"
    - "The technician was there on Monday."
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the act files -----------------------------------------------------------------------------

def test_bundled_act_files_all_load_and_name_rubric_criteria(workspace):
    found = load_acts(workspace, load_library(workspace).rubric())
    assert not found.problems, [str(p) for p in found.problems]
    assert len(found.acts) >= 21
    assert {"acknowledge-feeling", "open-question", "offer-fix", "brush-off"} <= set(found.acts)


def test_a_new_workspace_gets_the_acts(workspace):
    bundled = sorted(p.name for p in BUNDLED_ACTS.glob("*.yaml"))
    assert bundled and sorted(p.name for p in (workspace / "rubrics" / "acts").glob("*.yaml")) == bundled


def test_the_workspace_act_comes_first_and_the_bundled_ones_fill_in(workspace):
    acts = workspace / "rubrics" / "acts"
    shutil.rmtree(acts)  # a workspace made before acts existed
    _write(acts, "say-next-step", GOOD_ACT.format(id="say-next-step"))
    found = load_acts(workspace)
    assert "say-next-step" in found.acts
    assert "acknowledge-feeling" in found.acts  # from the bundled folder
    assert found.paths["say-next-step"].parent == acts


def test_the_acts_are_read_once_until_a_trainer_changes_a_file(workspace):
    """Every message is read against the acts: they are parsed again only when a file changes."""
    first = load_acts(workspace)
    assert load_acts(workspace) is first
    path = workspace / "rubrics" / "acts" / "greet.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("polarity: good", "polarity: nice"), encoding="utf-8")
    changed = load_acts(workspace)
    assert changed is not first and path in changed.broken
    path.write_text(text, encoding="utf-8")
    assert "greet" in load_acts(workspace).acts and not load_acts(workspace).broken


def test_a_broken_act_file_is_said_at_path_line_col_and_the_others_still_load(workspace):
    path = _write(workspace / "rubrics" / "acts", "greet",
                  (BUNDLED_ACTS / "greet.yaml").read_text(encoding="utf-8").replace("polarity: good", "polarity: nice"))
    found = load_acts(workspace)
    problems = found.broken[path]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("polarity:"))
    assert (problems[0].path, problems[0].line) == (path, line)
    assert "polarity" in problems[0].message and "good, fault" in problems[0].message
    assert found.paths["greet"].parent == BUNDLED_ACTS  # the bundled greet stands in for it
    assert "open-question" in found.acts


@pytest.mark.parametrize("change, where, says", [
    (lambda t: t.replace("id: say-next-step", "id: next-step"), "id:", "file's name"),
    (lambda t: t.replace("[clear-communication]", "[clear-comunication]"), "criteria:", "did you mean 'clear-communication'"),
    (lambda t: t.replace('    - "What happened next?"', '    - "Expect a letter confirming this next week."'),
     '    - "Expect a letter confirming this next week."', "also a positive example"),
    (lambda t: t.replace('    - "Did you get an email from us?"\n', ''), '    - "What happened next?"', "at least 4"),
    (lambda t: t.replace("detects:", "detect:"), "detect:", "did you mean 'detects'"),
])
def test_act_file_mistakes_are_one_line_each_at_the_right_place(workspace, tmp_path, change, where, says):
    path = _write(tmp_path / "rubrics" / "acts", "say-next-step", change(GOOD_ACT.format(id="say-next-step")))
    with pytest.raises(FileFormatError) as caught:
        read_act(path, load_library(workspace).rubric())
    problem = caught.value.problems[0]
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1].startswith(where.split("\n")[0]) or where in lines[problem.line - 1], \
        (str(problem), lines[problem.line - 1])
    assert says in problem.message and "\n" not in str(problem)


def test_roleplay_validate_checks_act_files_in_the_workspace_and_by_name(workspace, capsys):
    assert cli.main(["validate"]) == 0
    checked = int(re.search(r"all (\d+) files", capsys.readouterr().err).group(1))
    assert checked >= len(list(BUNDLED_ACTS.glob("*.yaml"))) + len(list((workspace / "personas").glob("*.yaml")))

    path = workspace / "rubrics" / "acts" / "thank.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("polarity: good", "polarity: great"), encoding="utf-8")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("polarity:"))
    assert cli.main(["validate"]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"acts/thank\.yaml:{line}:\d+: polarity: 'great' is not allowed", out), out

    assert cli.main(["validate", str(path)]) == 1  # the file named on its own is read as an act
    assert re.search(rf"thank\.yaml:{line}:\d+: polarity", capsys.readouterr().out)
    assert cli.main(["validate", str(BUNDLED_ACTS / "greet.yaml")]) == 0


def test_validate_paths_counts_the_acts_of_a_rubrics_folder(workspace):
    problems, checked = validate_paths([workspace / "rubrics"], workspace)
    assert not problems
    assert checked == 1 + len(list(BUNDLED_ACTS.glob("*.yaml")))


def test_the_library_is_unaffected_by_the_acts_folder(workspace):
    library = load_library(workspace)
    assert list(library.rubrics) == ["core-soft-skills"] and not library.broken


# -- reading a message -----------------------------------------------------------------------

LABELLED = Path(__file__).resolve().parent / "data" / "acts_labelled.yaml"
# held macro-F1 measured by benchmarks/meaning.py (stems 0.61, meaning 0.64; before the terms
# classifiers and the ~880 new act-file lines: 0.52 and 0.60), less a little room for changed lines
HELD_STEMS_FLOOR = 0.56
HELD_MEANING_FLOOR = 0.61


def _own_examples_misread(reader) -> list[str]:
    wrong = []
    for act in load_acts(None).acts.values():
        wrong += [f"{act.id} missed: {line}" for line in act.examples.positive if not reader.read(line).does(act.id)]
        wrong += [f"{act.id} wrongly: {line}" for line in act.examples.negative if reader.read(line).does(act.id)]
    return wrong


def _held_macro_f1(reader) -> float:
    import yaml

    rows = [m for m in yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["messages"] if m["split"] == "held"]
    if hasattr(reader, "cache"):  # embedded once per model and line, kept between runs (see embedding_reader)
        from simulator.practice.meaning import _sentences

        reader.cache.vectors([p for m in rows for p in _sentences(m["text"])], keep=True)
    readings = [reader.read(m["text"]) for m in rows]
    f1s = []
    for act in reader.acts:
        tp = sum(act in m["acts"] and r.does(act) for m, r in zip(rows, readings))
        fp = sum(act not in m["acts"] and r.does(act) for m, r in zip(rows, readings))
        fn = sum(act in m["acts"] and not r.does(act) for m, r in zip(rows, readings))
        if tp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


def test_without_the_model_the_stems_fallback_reads_and_says_so(workspace, monkeypatch):
    from simulator.practice import meaning

    monkeypatch.setattr(meaning, "embeddings_available", lambda: False)
    reading = meaning.read_message("I am so sorry about the mix-up. What happened when you called?", workspace)
    assert reading.method == "stems"
    assert {"apologise", "open-question"} <= set(reading.acts)
    assert "brush-off" not in reading.acts
    assert reading.scores[0][1] >= reading.scores[-1][1]


def test_the_stems_fallback_reads_every_act_files_own_examples_as_written():
    from simulator.practice.meaning import StemsReader

    assert _own_examples_misread(StemsReader(load_acts(None).acts)) == []


def test_a_trainers_new_example_line_teaches_the_fallback(workspace, monkeypatch):
    from simulator.practice import meaning

    monkeypatch.setattr(meaning, "embeddings_available", lambda: False)
    line = "Righto, your claim number is CX-99 and you'll hear from the loss adjuster on Thursday."
    before = meaning.read_message(line, workspace)
    _write(workspace / "rubrics" / "acts", "say-next-step", GOOD_ACT.format(id="say-next-step").replace(
        '  negative:', f'    - "{line}"\n  negative:'))
    after = meaning.read_message(line, workspace)
    assert "say-next-step" not in before.scores[0] and after.does("say-next-step")


def test_the_stems_fallback_beats_the_stem_rules_on_held_lines():
    """benchmarks/meaning.py: the stem rules of today score macro-F1 0.22 on the held lines;
    the fallback (terms classifiers, numpy) 0.61, its threshold chosen on tune."""
    pytest.importorskip("numpy")
    from simulator.practice.meaning import StemsReader

    assert _held_macro_f1(StemsReader(load_acts(None).acts)) >= HELD_STEMS_FLOOR


def test_without_numpy_the_fallback_reads_by_the_nearest_example_lines(workspace, monkeypatch):
    """The app runs without numpy (no [local] extra): the fallback is pure Python then."""
    from simulator.practice import meaning

    monkeypatch.setattr(meaning, "embeddings_available", lambda: False)
    monkeypatch.setattr(meaning, "_numpy_installed", lambda: False)
    monkeypatch.setattr(meaning, "_readers", {})
    reader = meaning.reader(workspace)
    assert reader.model is None
    reading = reader.read("I'm really sorry about the wait. What happened when you rang?")
    assert reading.method == "stems" and {"apologise", "open-question"} <= set(reading.acts)
    assert _own_examples_misread(meaning.StemsReader(load_acts(None).acts, nearest=True)) == []


def test_a_line_that_does_two_acts_teaches_both_readers():
    """A line in one act file may do a companion act too ("I'm so sorry about your father" is
    name-cause and an apology): it is not taught as a plain no for the companion."""
    from simulator.practice.meaning import COMPANION_TARGET, Example, targets

    rows = targets([Example("So sorry to hear about your dad.", frozenset({"name-cause"})),
                    Example("Sorry, what was the number?", frozenset(), frozenset({"apologise"}))],
                   ["name-cause", "apologise", "greet"])
    assert rows == [[1.0, COMPANION_TARGET, 0.0], [0.0, 0.0, 0.0]] and 0 < COMPANION_TARGET < 1


def test_a_slow_first_start_keeps_the_vectors_it_has_made(tmp_path):
    """The act files' lines are embedded a few at a time, each batch kept on disk as it
    comes: a worker never waits on one huge request, and a start cut short resumes."""
    pytest.importorskip("numpy")
    from simulator.core.errors import ModelError
    from simulator.practice.meaning import EMBED_BATCH, VectorCache

    lines = [f"Example line number {i}." for i in range(EMBED_BATCH * 2 + 3)]

    class Failing(CountingEmbedder):
        def embed(self, texts):
            if self.embedded:
                raise ModelError("local/smollm2-135m: the model's runtime crashed (SIGKILL)", kind="crashed")
            return super().embed(texts)

    with pytest.raises(ModelError):
        VectorCache(Failing()).vectors(lines, keep=True)
    again = CountingEmbedder()
    assert VectorCache(again).vectors(lines, keep=True).shape == (len(lines), 27)
    assert again.embedded == lines[EMBED_BATCH:]


class CountingEmbedder:
    """Stands in for the model: a vector from the letters of the text, and a count of calls."""

    key = "fake-model"

    def __init__(self):
        self.embedded: list[str] = []

    def embed(self, texts):
        self.embedded += texts
        return [[float(text.lower().count(c)) for c in "abcdefghijklmnopqrstuvwxyz?"] for text in texts]


def test_example_vectors_are_embedded_once_and_kept_on_disk(tmp_path):
    pytest.importorskip("numpy")
    from simulator.practice.meaning import VectorCache

    first = CountingEmbedder()
    VectorCache(first).vectors(["Hello there.", "Sorry about that."], keep=True)
    assert first.embedded == ["Hello there.", "Sorry about that."]
    again = CountingEmbedder()  # the next start of the app: read from the user data folder
    rows = VectorCache(again).vectors(["Sorry about that.", "Hello there.", "New line?"], keep=True)
    assert again.embedded == ["New line?"] and rows.shape == (3, 27)
    assert list((locations.data_dir() / "cache" / "embeddings").glob("fake-model.npz"))


def test_learner_messages_are_kept_in_memory_only(tmp_path):
    pytest.importorskip("numpy")
    from simulator.practice.meaning import VectorCache

    embedder = CountingEmbedder()
    cache = VectorCache(embedder)
    cache.vectors(["my card number is 4929 1234"], keep=False)
    cache.vectors(["my card number is 4929 1234"], keep=False)
    assert embedder.embedded == ["my card number is 4929 1234"]
    assert not (locations.data_dir() / "cache" / "embeddings").exists()


def test_a_damaged_vector_cache_only_costs_time(tmp_path):
    pytest.importorskip("numpy")
    from simulator.practice.meaning import VectorCache

    folder = locations.data_dir() / "cache" / "embeddings"
    folder.mkdir(parents=True)
    (folder / "fake-model.npz").write_bytes(b"not a numpy file")
    embedder = CountingEmbedder()
    assert VectorCache(embedder).vectors(["Hello there."], keep=True).shape == (1, 27)
    assert VectorCache(CountingEmbedder()).vectors(["Hello there."], keep=True).shape == (1, 27)


@pytest.fixture(scope="module")
def embedding_reader(request, tmp_path_factory):
    """The built-in model's reader of the bundled acts. Its vectors (keyed by the model file and
    the text, so never stale) are kept in pytest's cache folder between runs when there is one."""
    from simulator.practice import meaning

    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("meaning-vectors")) if cache is not None else tmp_path_factory.mktemp("vectors")
    return meaning.EmbeddingReader(load_acts(None).acts, meaning.VectorCache(meaning.BuiltinEmbedder(), folder))


@requires_builtin_model
def test_the_built_in_models_worker_embeds_text():
    import os

    from simulator.models import local_process

    vectors = local_process.embed("smollm2-135m", ["That sounds so stressful.", "What is the account number?"])
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) >= 256
    assert all(isinstance(x, float) for x in vectors[0]) and vectors[0] != vectors[1]
    assert local_process.embed("smollm2-135m", ["That sounds so stressful."])[0] == pytest.approx(vectors[0], abs=1e-4)
    assert local_process.worker("smollm2-135m").pid not in (None, os.getpid())  # in the worker, not the app


@requires_builtin_model
def test_on_the_built_in_model_messages_are_read_by_embeddings(workspace, embedding_reader):
    from simulator.practice import meaning

    if embedding_reader.cache.path.exists():  # lines beyond the shipped vectors, as if the app had run before
        target = locations.data_dir() / "cache" / "embeddings"
        target.mkdir(parents=True)
        shutil.copy(embedding_reader.cache.path, target / embedding_reader.cache.path.name)

    reading = meaning.read_message("I'm so sorry for the mix-up. What happened when you rang us?", workspace)
    assert reading.method == "embeddings"
    assert {"apologise", "open-question"} <= set(reading.acts)


@requires_builtin_model
def test_embeddings_read_every_act_files_own_examples_as_written(embedding_reader):
    assert _own_examples_misread(embedding_reader) == []


@requires_builtin_model
def test_embeddings_on_the_built_in_model_beat_the_stem_rules_on_held_lines(embedding_reader):
    """benchmarks/meaning.py: macro-F1 on the held lines 0.64 (threshold, penalties and blend
    chosen on tune), against 0.22 for the stem rules of today. Far from the issue's 0.85: see
    the README."""
    assert _held_macro_f1(embedding_reader) >= HELD_MEANING_FLOOR


def test_a_crashed_runtime_costs_the_embeddings_not_the_reading(workspace, monkeypatch):
    pytest.importorskip("numpy")
    from simulator.core.errors import ModelError
    from simulator.practice import meaning

    class Crashing(CountingEmbedder):
        def __init__(self):
            super().__init__()

        def embed(self, texts):
            raise ModelError("local/smollm2-135m: the model's runtime crashed (SIGILL)", kind="crashed")

    monkeypatch.setattr(meaning, "embeddings_available", lambda: True)
    monkeypatch.setattr(meaning, "BuiltinEmbedder", Crashing)
    monkeypatch.setattr(meaning, "_readers", {})  # not a reader an earlier test built on the real runtime
    reading = meaning.read_message("Thanks so much for calling, have a lovely evening.", workspace)
    assert reading.method == "stems" and "close" in reading.acts
