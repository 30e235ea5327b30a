"""likeness ingest (a folder, a URL list; resumable) and likeness events."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from likeness.cli import app
from likeness.config import get_settings
from likeness.store import Database
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import DATA
from tests.web import serving

runner = CliRunner()


def photo_keys(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT photo_key FROM photos ORDER BY photo_key"))
                    .scalars())


def photo_sources(db: Database) -> list[tuple[str, str, str | None]]:
    """(photo_key, source, source_url) of the stored photos."""
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT photo_key, source, source_url FROM photos ORDER BY photo_key"))]


def test_ingest_a_folder_is_resumable(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    shutil.copytree(DATA / "scenes", folder / "scenes")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    first = runner.invoke(app, ["ingest", "gala", str(folder)], env={"COLUMNS": "200"})
    assert first.exit_code == 1, first.output  # the broken photo is reported
    assert "broken.jpg" in first.stdout and "created event 1" in first.stdout
    assert "4 photos stored with 8 faces" in first.stdout
    shutil.copy(DATA / "faces/biden/biden_1.jpg", folder / "biden.jpg")
    (folder / "broken.jpg").unlink()
    again = runner.invoke(app, ["ingest", "1", str(folder)], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert "1 photos stored with 1 faces; 4 already stored" in again.stdout
    assert photo_sources(db) == [(key, "upload", None) for key in (
        "biden.jpg", "scenes/kit_harington.jpg", "scenes/kit_with_rose.jpg",
        "scenes/obama_and_biden.jpg", "scenes/two_people.jpg")]
    listed = runner.invoke(app, ["events", "list"], env={"COLUMNS": "200"})
    assert "gala" in listed.stdout and "9" in listed.stdout
    assert runner.invoke(app, ["events", "rm", "1"]).exit_code == 0
    assert photo_keys(db) == []


def test_ingest_a_url_list_refuses_private_addresses_by_default(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(DATA) as site:
        urls = tmp_path / "urls.txt"
        photos = [f"{site}/faces/obama/obama_1.jpg", f"{site}/faces/rose_leslie/rose_1.jpg"]
        urls.write_text(f"# two photos\n{photos[0]}\n{photos[1]}\n")
        refused = runner.invoke(app, ["ingest", "web", str(urls)], env={"COLUMNS": "200"})
        assert refused.exit_code == 1 and "loopback" in refused.stdout
        monkeypatch.setenv("LIKENESS_FETCH_ALLOW_PRIVATE", "true")
        get_settings.cache_clear()
        allowed = runner.invoke(app, ["ingest", "web", str(urls)], env={"COLUMNS": "200"})
    assert allowed.exit_code == 0, allowed.output
    assert "2 photos stored with 2 faces" in allowed.stdout
    # stored as the HTTP API stores a URL's photo: from its URL, the URL its id
    assert photo_sources(db) == [(url, "url", url) for url in sorted(photos)]
