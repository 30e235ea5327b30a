"""The watch folder: a file is queued once it stops growing, and content seen before is
skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from likeness.config import Settings
from likeness.jobs.queue import JobQueue
from likeness.jobs.watch import FolderWatcher
from likeness.storage import ObjectStorage
from likeness.store import Database
from tests.conftest import data_file


@pytest.mark.parametrize("where", ["filesystem", "s3"])
def test_watch_folder(tmp_path: Path, db: Database, settings: Settings, where: str,
                      request: pytest.FixtureRequest) -> None:
    """With S3 storage the file is copied to the bucket (any worker can scan it); with
    filesystem storage it is read where it is."""
    if where == "s3":
        settings = request.getfixturevalue("s3_settings")
    storage = ObjectStorage.from_settings(settings)
    watcher = FolderWatcher(tmp_path, db, JobQueue(db, settings), settings, storage)
    clip = data_file("video/hamilton_clip.mp4").read_bytes()
    growing = tmp_path / "incoming" / "clip.mp4"
    growing.parent.mkdir()
    growing.write_bytes(clip[: len(clip) // 2])
    (tmp_path / "notes.txt").write_text("not a video")
    assert watcher.poll() == []  # first sight
    with growing.open("ab") as stream:
        stream.write(clip[len(clip) // 2 :])
    assert watcher.poll() == []  # still growing
    (queued,) = watcher.poll()  # stopped growing
    assert watcher.poll() == []
    shutil.copy(growing, tmp_path / "copy.mp4")  # the same content again
    assert watcher.poll() == [] and watcher.poll() == []
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    assert watcher.poll() == [] and watcher.poll() == []  # refused, logged, skipped
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM videos")).scalar() == 1
        jobs = connection.execute(text("SELECT args FROM procrastinate_jobs")).all()
        path, location = connection.execute(text("SELECT path, location FROM videos")).one()
    assert [args for (args,) in jobs] == [{"video_id": queued}]
    if where == "s3":
        assert path is None and location.startswith(f"s3://{settings.s3_bucket}/videos/")
        assert storage.size(location) == len(clip)
    else:
        assert path == str(growing) and location is None
