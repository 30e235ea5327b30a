"""The `likeness` command line on real photos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from likeness.cli import app
from likeness.config import Settings, get_settings
from tests.conftest import data_file

runner = CliRunner()


@pytest.fixture(autouse=True)
def _cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     settings: Settings) -> Iterator[None]:
    """buffalo_s from the wheel whatever ~/.insightface holds, and the test session's
    database."""
    monkeypatch.setenv("LIKENESS_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_detect_json_lines_and_drawings(tmp_path: Path) -> None:
    files = [str(data_file("scenes/two_people.jpg")), str(data_file("faces/biden/biden_2.jpg"))]
    out = tmp_path / "drawn"
    result = runner.invoke(app, ["detect", *files, "--json", "--draw", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == files
    assert [len(line["faces"]) for line in lines] == [2, 1]
    assert len(lines[0]["faces"][0]["embedding"]) == 512
    assert lines[0]["image_width"] == 1126
    drawn = cv2.imread(str(out / "two_people.jpg"))
    original = cv2.imread(files[0])
    assert drawn.shape == original.shape and (drawn != original).any()
    assert (out / "biden_2.jpg").is_file()


def test_detect_table_and_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    result = runner.invoke(app, ["detect", str(data_file("scenes/kit_with_rose.jpg")),
                                 str(bad)], env={"COLUMNS": "250"})
    assert result.exit_code == 1  # one file failed; the others were still processed
    assert "kit_with_rose" in result.stdout and "not a recognised image" in result.stdout


def test_compare_same_and_different_people() -> None:
    same = runner.invoke(app, ["compare", str(data_file("faces/obama/obama_1.jpg")),
                               str(data_file("faces/obama/obama_2.jpg")), "--json"])
    assert same.exit_code == 0, same.output
    verdict = json.loads(same.stdout)
    assert verdict["same_person"] is True and verdict["similarity"] > verdict["threshold"]
    assert verdict["threshold"] == pytest.approx(0.30)
    other = runner.invoke(app, ["compare", str(data_file("faces/obama/obama_1.jpg")),
                                str(data_file("faces/biden/biden_1.jpg")), "--json"])
    assert json.loads(other.stdout)["same_person"] is False
    strict = runner.invoke(app, ["compare", str(data_file("faces/obama/obama_1.jpg")),
                                 str(data_file("faces/obama/obama_2.jpg")), "--json",
                                 "--threshold", "0.99"])
    assert json.loads(strict.stdout)["same_person"] is False


def test_compare_without_a_face(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), 255 * (cv2.imread(str(data_file("edge/obama_small.jpg"))) > 300))
    result = runner.invoke(app, ["compare", str(data_file("faces/obama/obama_1.jpg")),
                                 str(blank)])
    assert result.exit_code == 1
    assert "no face found in" in result.output and "blank.png" in result.output


def test_models_lists_buffalo_s_and_the_licence() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "buffalo_s" in result.stdout and "w600k_mbf.onnx" in result.stdout
    assert "non-commercial" in result.stdout


def test_serve_fails_fast_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIKENESS_MODEL", "buffalo_l")
    get_settings.cache_clear()
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "buffalo_l" in result.output and "Looked in" in result.output


def test_legacy_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("ONNX_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    monkeypatch.setenv("INSIGHTFACE_MODEL", "buffalo_l")
    monkeypatch.setenv("DET_SIZE", "480")
    settings = Settings()
    assert settings.port == 9000 and settings.model == "buffalo_l"
    assert settings.onnx_providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert settings.det_size == (480, 480)
    monkeypatch.setenv("LIKENESS_DET_SIZE", "640,480")
    assert Settings().det_size == (640, 480)
