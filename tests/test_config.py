"""Model selection precedence and config file errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.core.errors import FileFormatError
from simulator.models.config import BUILTIN_MODEL, load_settings


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def user_config(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.yaml"


def test_default_is_builtin(workspace):
    s = load_settings(workspace)
    assert s.persona.model == BUILTIN_MODEL and s.evaluator.model == BUILTIN_MODEL
    assert s.evaluator.temperature == 0.0  # the judge runs at temperature 0


def test_precedence_flag_env_workspace_user(workspace, tmp_path, monkeypatch):
    write(user_config(tmp_path), "persona:\n  model: user/model\n  temperature: 0.3\nevaluator:\n  model: user/judge\n")
    s = load_settings(workspace)
    assert s.persona.model == "user/model" and s.persona.temperature == 0.3
    assert "config.yaml:2" in s.persona.sources["model"]

    write(workspace / "roleplay.yaml", "persona:\n  model: workspace/model\n")
    s = load_settings(workspace)
    assert s.persona.model == "workspace/model" and s.persona.temperature == 0.3  # per key
    assert s.evaluator.model == "user/judge"

    monkeypatch.setenv("ROLEPLAY_MODEL", "env/model")
    monkeypatch.setenv("ROLEPLAY_EVALUATOR_MODEL", "env/judge")
    s = load_settings(workspace)
    assert (s.persona.model, s.evaluator.model) == ("env/model", "env/judge")
    assert s.persona.sources["model"] == "environment ROLEPLAY_MODEL"

    s = load_settings(workspace, model="flag/model", evaluator_model="flag/judge")
    assert (s.persona.model, s.evaluator.model) == ("flag/model", "flag/judge")
    assert s.persona.sources["model"] == "--model"


@pytest.mark.parametrize("text,line,col,needle", [
    ("persona:\n  modle: x\n", 2, 3, "did you mean 'model'"),
    ("persona:\n  temperature: 5\n", 2, 16, "at most 2"),
    ("persona:\n  api_key_env: sk-abcdefghijklmnop1234\n", 2, 16, "looks like a key"),
    ("persona:\n  api_key_env: openai_api_key\n", 2, 16, "NAME of an environment variable"),
    ("persona: [a, b]\n", 1, 10, "must be a mapping"),
    ("persona:\n\tmodel: x\n", 2, 1, "tab"),
    ("version: 3\n", 1, 10, "upgrade roleplay"),
])
def test_config_errors_name_the_place(workspace, tmp_path, text, line, col, needle):
    path = write(user_config(tmp_path), text)
    with pytest.raises(FileFormatError) as err:
        load_settings(workspace)
    problem = err.value.problems[0]
    assert (problem.line, problem.col) == (line, col), str(problem)
    assert needle in problem.message
    assert problem.path == path


def test_config_command_masks_the_key(workspace, tmp_path, monkeypatch):
    write(workspace / "roleplay.yaml", "persona:\n  model: openai/gpt-4o-mini\n  api_key_env: MY_TEST_KEY\n")
    secret = "sk-live-1234567890abcdefSECRET"
    monkeypatch.setenv("MY_TEST_KEY", secret)
    out = subprocess.run([sys.executable, "-m", "simulator", "config"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "openai/gpt-4o-mini" in out.stdout and "roleplay.yaml:2" in out.stdout
    assert secret not in out.stdout and "SECRET" not in out.stdout
    assert "$MY_TEST_KEY = sk-" in out.stdout


def test_broken_config_is_one_line_error(workspace):
    write(workspace / "roleplay.yaml", "persona:\n  modle: x\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "config"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "roleplay.yaml:2:3" in out.stderr


def test_the_learner_is_kept_in_the_user_config_with_the_rest(workspace, monkeypatch):
    import subprocess
    import sys

    from simulator.core import locations
    from simulator.models.config import load_settings

    monkeypatch.delenv("ROLEPLAY_LEARNER")
    path = locations.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version: 1\nevaluator:\n  model: openai/gpt-4o-mini\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "config", "--learner", "L-0142"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and "learner: L-0142" in out.stdout
    settings = load_settings(workspace)
    assert settings.learner == "L-0142" and settings.evaluator.model == "openai/gpt-4o-mini"


def test_a_small_model_behind_a_server_can_be_marked_not_capable(workspace):
    """Issue 13: a 135M model served by llama.cpp looks like any hosted model by its name;
    `capable: false` gives it the built-in model's rules (no director, vetted replies, rule
    hints, grades from evidence) without what needs the model in-process."""
    from simulator.models.config import load_settings

    (workspace / "roleplay.yaml").write_text("persona:\n  model: openai/smollm2\n  api_base: http://127.0.0.1:8080/v1\n"
                                             "  capable: false\nevaluator:\n  model: openai/smollm2\n"
                                             "  api_base: http://127.0.0.1:8080/v1\n  capable: false\n")
    settings = load_settings(workspace)
    persona, evaluator = settings.persona.capabilities, settings.evaluator.capabilities
    assert not persona.director and not persona.steady_character and not persona.prefill
    assert not evaluator.judge and not evaluator.coach
    assert "roleplay.yaml" in settings.persona.sources["capable"]
    (workspace / "roleplay.yaml").write_text("persona:\n  model: openai/gpt-4o-mini\n")
    assert load_settings(workspace).persona.capabilities.director


def test_saving_settings_keeps_the_users_comments_and_key_order(workspace):
    """Issue 18, fault 11: the app's saves (a role's model, a gateway, the learner) edit only
    the lines of the keys they change; every comment, blank line and key order stays."""
    from simulator.core import locations
    from simulator.models.config import save_learner, save_role_model

    path = locations.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Sam's roleplay settings: the team's gateway\n"
                    "version: 1\n"
                    "\n"
                    "learner: Sam  # as the trainer knows me\n"
                    "evaluator:\n"
                    "  model: openai/grader   # the team's judge\n"
                    "  api_base: https://llm-proxy.example.com\n"
                    "  api_key_env: ROLEPLAY_PROXY_KEY\n"
                    "  # below: the customer; keep it cheap\n"
                    "persona:\n"
                    "  temperature: 0.9  # livelier\n"
                    "  model: openai/customer\n"
                    "# end\n")
    save_role_model("persona", "openai/customer-2", "https://llm-proxy.example.com", "ROLEPLAY_PROXY_KEY")
    save_role_model("evaluator", "local/smollm2-135m")  # the built-in model: no address, no key
    save_learner("Sam  Smith")
    assert path.read_text() == ("# Sam's roleplay settings: the team's gateway\n"
                                "version: 1\n"
                                "\n"
                                "learner: Sam Smith  # as the trainer knows me\n"
                                "evaluator:\n"
                                "  model: local/smollm2-135m   # the team's judge\n"
                                "  # below: the customer; keep it cheap\n"
                                "persona:\n"
                                "  temperature: 0.9  # livelier\n"
                                "  model: openai/customer-2\n"
                                "  api_base: https://llm-proxy.example.com\n"
                                "  api_key_env: ROLEPLAY_PROXY_KEY\n"
                                "# end\n")
    settings = load_settings(workspace)
    assert settings.persona.temperature == 0.9 and settings.evaluator.api_base is None


@pytest.mark.parametrize("before,after", [
    # only comments: the settings go below them
    ("# my settings, to come\n", "# my settings, to come\nversion: 1\npersona:\n  model: openai/x\n"),
    # no version: it goes first, below a heading comment; a new section goes at the end
    ("# heading\nlearner: Sam\n", "# heading\nversion: 1\nlearner: Sam\npersona:\n  model: openai/x\n"),
    # Windows line breaks stay
    ("version: 1\r\npersona:\r\n  model: a  # mine\r\n", "version: 1\r\npersona:\r\n  model: openai/x  # mine\r\n"),
    # a section written as {...}: its value is replaced in place, the comment after it kept
    ("version: 1\npersona: {model: a, temperature: 0.2}  # short\n",
     "version: 1\npersona: {model: openai/x, temperature: 0.2}  # short\n"),
])
def test_a_save_edits_the_file_in_place_whatever_its_layout(workspace, before, after):
    from simulator.core import locations
    from simulator.models.config import save_role_model

    path = locations.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(before.encode())
    save_role_model("persona", "openai/x")
    assert path.read_bytes().decode() == after
