"""Issue 18, fault 5: a key is never written where only the NAME of the variable holding it
belongs (``api_key_env``): not by the gateway dialog, not by save_role_model, and a config
file that holds one is refused at its place. The dialog masks what is typed."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from simulator.core import locations
from simulator.core.errors import FileFormatError, RoleplayError
from simulator.models.config import load_settings, save_role_model

# The shapes that passed before: no dash, or hex (made-up values, never real keys).
KEYS = [
    "gsk_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6",  # Groq
    "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567",  # Hugging Face
    "0123456789abcdef0123456789abcdef",  # 32 hex
    "0123456789ABCDEF0123456789ABCDEF",  # 32 hex in capitals: a valid name by the letters alone
    "sk-proj-" + "Ab1" * 16,  # OpenAI
    "AKIAIOSFODNN7EXAMPLE",  # AWS key id: capitals and digits only
    "QWERTYUIOPASDFGHJKLZXCVBNMQWERTYUIOP",  # 36 capitals, no digit
]
NAMES = ["OPENAI_API_KEY", "ROLEPLAY_PROXY_KEY", "AZURE_OPENAI_API_KEY", "HF_TOKEN", "_PRIVATE_KEY", "K2",
         "GROQ_API_KEY_2"]


@pytest.mark.parametrize("key", KEYS)
def test_a_key_in_the_config_file_is_refused_at_its_place_without_repeating_it(workspace, key):
    path = locations.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"persona:\n  model: openai/gpt-4o-mini\n  api_key_env: {key}\n")
    with pytest.raises(FileFormatError) as err:
        load_settings(workspace)
    problem = err.value.problems[0]
    assert (problem.line, problem.col) == (3, 16)
    assert "looks like a key" in str(err.value) and "ROLEPLAY_PROXY_KEY" in str(err.value)
    assert key not in str(err.value)


@pytest.mark.parametrize("key", KEYS)
def test_saving_a_key_as_the_variable_name_is_refused_and_nothing_is_written(workspace, key):
    path = locations.user_config_file()
    with pytest.raises(RoleplayError) as err:
        save_role_model("persona", "openai/customer", "https://llm-proxy.example.com", key)
    assert "looks like a key" in str(err.value) and key not in str(err.value)
    assert not path.exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_variable_name_is_saved(workspace, name):
    path = save_role_model("persona", "openai/customer", "https://llm-proxy.example.com", name)
    assert load_settings(workspace).persona.api_key_env == name
    assert f"api_key_env: {name}" in path.read_text()


@pytest.mark.parametrize("value", ["openai_api_key", "MY-KEY", "1KEY", "MY KEY", "K" * 65])
def test_only_a_short_name_in_capitals_digits_and_underscores_is_a_variable_name(workspace, value):
    with pytest.raises(RoleplayError, match="NAME of an environment variable|looks like a key"):
        save_role_model("persona", "openai/customer", None, value)


async def test_the_gateway_dialog_masks_the_key_field_and_refuses_a_key(workspace):
    from fakes import ScriptedModel
    from test_tui import SIZE, make_app, settle

    from simulator.tui.forms import GatewayModal
    from simulator.tui.models_screen import ModelsScreen

    key = KEYS[0]
    app = make_app(workspace, ScriptedModel())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        await pilot.press("g")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, GatewayModal)
        field = modal.query_one("#gateway-key", Input)
        assert field.password  # what is typed shows as dots
        modal.query_one("#gateway-url", Input).value = "https://llm-proxy.example.com"
        await pilot.press("enter")
        assert app.screen.focused is field
        await pilot.press(*key, "enter")  # pasted, or typed
        await pilot.pause()
        # refused at the key field: the dialog stays, says why, and the key is gone from it
        assert app.screen is modal and app.screen.focused is field and field.value == ""
        said = str(modal.query_one("#gateway-error", Static).render())
        assert "looks like a key" in said and "ROLEPLAY_PROXY_KEY" in said and key not in said
        assert not locations.user_config_file().exists()
        assert key not in app.export_screenshot()

        await pilot.press(*"ROLEPLAY_PROXY_KEY", "enter")  # on to the customer model, then the evaluator's
        await pilot.pause()
        assert str(modal.query_one("#gateway-error", Static).render()) == ""
        app.screen.focused.value = "openai/customer"
        await pilot.press("enter")
        app.screen.focused.value = "openai/grader"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        text = locations.user_config_file().read_text()
        assert "api_key_env: ROLEPLAY_PROXY_KEY" in text and key not in text
        settings = load_settings(workspace)
        assert settings.persona.api_base == "https://llm-proxy.example.com"
        assert settings.evaluator.model == "openai/grader"
