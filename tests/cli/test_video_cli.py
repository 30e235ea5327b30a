"""`likeness scan` on the Hamilton clip."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from likeness.cli import app
from likeness.store import Database
from likeness.store import videos as store
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import DATA

runner = CliRunner()


def test_scan_prints_who_appears_when(db: Database) -> None:
    lin = str(DATA / "faces/lin_manuel_miranda/lin_1.png")
    assert runner.invoke(app, ["enroll", "Lin-Manuel", lin]).exit_code == 0
    result = runner.invoke(app, ["scan", str(DATA / "video/hamilton_clip.mp4"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    (person,) = record["people"]
    assert person["name"] == "Lin-Manuel" and record["tracks"]["unknown"] >= 5
    table = runner.invoke(app, ["scan", str(DATA / "video/hamilton_clip.mp4"),
                                "--keyframes"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "Lin-Manuel" in table.stdout
    assert "unknown" in table.stdout
    with db.session() as session:  # the rescan used keyframes, as asked
        assert store.get_video(session, record["video_id"]).keyframes


def test_scan_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["scan", str(bad)])
    assert result.exit_code == 1 and "bad.mp4" in result.output
