"""The watch folder: a file is queued once it stops growing, and content seen before is
skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import text

from likeness.config import Settings
from likeness.jobs.queue import JobQueue
from likeness.jobs.watch import FolderWatcher
from likeness.store import Database
from tests.conftest import data_file


def test_watch_folder(tmp_path: Path, db: Database, settings: Settings) -> None:
    watcher = FolderWatcher(tmp_path, db, JobQueue(db, settings), settings)
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
    assert [args for (args,) in jobs] == [{"video_id": queued}]
