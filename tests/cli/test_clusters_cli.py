"""likeness clusters: an event ingested from a folder of the dev set is clustered before
`ingest` ends; clusters are listed, named, hidden and rebuilt as a user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from likeness.cli import app
from likeness.store import Database
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import DATA

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_ingested_event_is_clustered_named_and_rebuilt(db: Database, tmp_path: Path
                                                         ) -> None:
    folder = tmp_path / "gala"
    people = sorted(p.name for p in (DATA / "celeba_dev").iterdir())[:3]
    for person in people:
        shutil.copytree(DATA / "celeba_dev" / person, folder / person)
    run("ingest", "gala", str(folder))
    clusters = json.loads(run("clusters", "list", "--event", "1", "--json"))
    assert len(clusters) >= len(people) and all(c["event_id"] == 1 for c in clusters)
    biggest = clusters[0]
    listing = run("clusters", "list", "--event", "1")
    assert f"{len(clusters)} open cluster(s) of event 1" in listing

    faces = run("clusters", "faces", str(biggest["id"]))
    assert f"cluster {biggest['id']}: {biggest['size']} face(s)" in faces
    named = run("clusters", "name", str(biggest["id"]), "--name", "Guest of honour")
    assert "is new person 1 (Guest of honour)" in named and "face(s) enrolled" in named
    assert "Guest of honour" in run("people", "list")
    refused = runner.invoke(app, ["clusters", "name", str(biggest["id"]), "--person", "1"])
    assert refused.exit_code == 1 and "already named" in refused.output

    other = clusters[1]["id"]
    assert "hidden" in run("clusters", "hide", str(other))
    assert "face(s) clustered" in run("clusters", "rebuild", "--event", "1")
    hidden = json.loads(run("clusters", "list", "--event", "1", "--status", "hidden",
                            "--json"))
    assert [c["id"] for c in hidden] == [other]
    missing = runner.invoke(app, ["clusters", "faces", "999"])
    assert missing.exit_code == 1 and "cluster 999 does not exist" in missing.output
