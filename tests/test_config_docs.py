"""docs/configuration.md and .env.example are generated from the settings class: they
must match it, and the defaults they show must read back as the defaults."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from likeness import config_docs
from likeness.config import Settings

REGENERATE = "run `python -m likeness.config_docs`"


@pytest.mark.parametrize("name", sorted(config_docs.OUTPUTS))
def test_generated_file_is_current(name: str) -> None:
    path = config_docs.REPO / name
    if not path.is_file():
        pytest.fail(f"{name} is missing: {REGENERATE}")
    written, expected = path.read_text(encoding="utf-8"), config_docs.OUTPUTS[name]()
    if written != expected:
        diff = "\n".join(list(difflib.unified_diff(
            written.splitlines(), expected.splitlines(), f"{name} (written)",
            f"{name} (from Settings)", lineterm=""))[:40])
        pytest.fail(f"{name} is out of date: {REGENERATE}\n{diff}")


def test_every_setting_is_listed_with_a_description() -> None:
    listed = config_docs.settings_of()
    assert [s.name for s in listed] == list(Settings.model_fields)
    undocumented = [s.name for s in listed if not s.description]
    assert not undocumented, f"settings without a description= in config.py: {undocumented}"
    markdown, env_example = config_docs.render_markdown(), config_docs.render_env_example()
    for setting in listed:
        assert setting.env_names[0].startswith("LIKENESS_"), setting
        assert f"| `{setting.env_names[0]}` |" in markdown
        assert f"# {setting.env_names[0]}=" in env_example


@pytest.mark.parametrize("setting", [s for s in config_docs.settings_of() if s.default is not None],
                         ids=lambda s: s.env_names[0])
def test_shown_default_reads_back_as_the_default(setting: config_docs.Setting,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting a line of .env.example as it is changes nothing."""
    assert setting.default is not None
    monkeypatch.setenv(setting.env_names[0], setting.default)
    read = getattr(Settings(_env_file=None), setting.name)  # type: ignore[call-arg]
    assert read == config_docs.default_of(Settings.model_fields[setting.name])


def test_stale_names_the_file_that_differs(tmp_path: Path) -> None:
    assert config_docs.write(tmp_path) == list(config_docs.OUTPUTS)
    assert config_docs.stale(tmp_path) == []
    (tmp_path / config_docs.ENV_EXAMPLE).write_text("# edited by hand\n", encoding="utf-8")
    assert config_docs.stale(tmp_path) == [config_docs.ENV_EXAMPLE]
