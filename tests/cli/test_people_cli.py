"""People commands of the CLI, on the test session's database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from likeness.cli import app
from likeness.store import Database
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import DATA

runner = CliRunner()


@pytest.fixture
def gallery_dir(tmp_path: Path, db: Database) -> Path:
    """A folder per person, as enroll-dir and calibrate expect."""
    root = tmp_path / "gallery"
    for person, photos in {"obama": ["obama_1.jpg", "obama_2.jpg"], "biden": ["biden_1.jpg"],
                           "rose_leslie": ["rose_1.jpg"]}.items():
        (root / person).mkdir(parents=True)
        for name in photos:
            shutil.copy(DATA / "faces" / person / name, root / person / name)
    shutil.copy(DATA / "scenes" / "two_people.jpg", root / "obama" / "group.jpg")
    return root


def test_enroll_dir_then_identify(gallery_dir: Path, tmp_path: Path) -> None:
    first = runner.invoke(app, ["enroll-dir", str(gallery_dir)], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "group.jpg has 2 faces" in first.stdout  # reported, the others went on
    again = runner.invoke(app, ["enroll-dir", str(gallery_dir)], env={"COLUMNS": "200"})
    rows = {line.split("│")[1].strip(): line for line in again.stdout.splitlines()
            if line.startswith("│")}
    assert rows["obama"].split("│")[3:5] == [" 0        ", " 2              "]
    out = tmp_path / "drawn"
    result = runner.invoke(app, ["identify", str(DATA / "scenes/obama_and_biden.jpg"),
                                 "--json", "--draw", str(out)])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    names = sorted((f["person"] or {}).get("name", "?") for f in record["faces"])
    assert names == ["?", "biden", "obama"]
    assert cv2.imread(str(out / "obama_and_biden.jpg")) is not None


def test_enroll_people_show_and_rm() -> None:
    photos = [str(DATA / "faces/rose_leslie" / name) for name in ("rose_1.jpg", "rose_2.jpg")]
    enrolled = runner.invoke(app, ["enroll", "Rose Leslie", *photos])
    assert enrolled.exit_code == 0, enrolled.output
    assert "2 face(s) enrolled" in enrolled.stdout
    listing = runner.invoke(app, ["people", "list"])
    assert "Rose Leslie" in listing.stdout and "1 of 1 people" in listing.stdout
    person_id = next(line.split("│")[1].strip() for line in listing.stdout.splitlines()
                     if "Rose Leslie" in line)
    shown = runner.invoke(app, ["people", "show", person_id], env={"COLUMNS": "200"})
    assert "rose_1.jpg" in shown.stdout and "rose_2.jpg" in shown.stdout
    assert runner.invoke(app, ["people", "rm", person_id], input="n\n").exit_code == 1
    removed = runner.invoke(app, ["people", "rm", person_id, "--yes"])
    assert removed.exit_code == 0 and "deleted" in removed.stdout
    missing = runner.invoke(app, ["people", "show", person_id])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_enroll_rejects_a_bad_photo_and_stores_nothing(tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), cv2.imread(str(DATA / "edge/obama_small.jpg")) * 0)
    result = runner.invoke(app, ["enroll", "Obama", str(DATA / "faces/obama/obama_1.jpg"),
                                 str(blank)])
    assert result.exit_code == 1 and "no face found" in result.output
    assert "0 of 0 people" in runner.invoke(app, ["people", "list"]).stdout  # nobody made


def test_db_upgrade() -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.stdout


def test_calibrate_with_plot(tmp_path: Path) -> None:
    plot = tmp_path / "calibration.png"
    result = runner.invoke(app, ["calibrate", str(DATA / "faces"), "--plot", str(plot),
                                 "--people", "500"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "11 same-person pairs" in result.stdout and "55 different-person" in result.stdout
    assert "too few pairs (needs 1000)" in result.stdout
    assert "EER 0.000" in result.stdout
    # The recognition policy: too few pairs to read one off, so today's is kept.
    assert "Recognition policy for 500 people, at most 0.001 of strangers" in result.stdout
    lines = result.stdout.splitlines()
    for setting in ("LIKENESS_MATCH_THRESHOLD=0.43", "LIKENESS_REVIEW_THRESHOLD=0.3",
                    "LIKENESS_MATCH_MARGIN=0.0", "LIKENESS_MATCH_LOW_QUALITY_RAISE=0.0"):
        assert setting in lines
    assert plot.stat().st_size > 10_000
