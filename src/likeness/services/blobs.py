"""Moving existing blobs into the configured object storage (`likeness storage migrate`):
files kept by the filesystem backend, and videos uploaded before object storage held them
(under data_dir/videos), go to the default backend (S3, say), one at a time: the copy is
made, then the row points at it (only if the row still points at the old one), then the
local file is removed if asked. Stopped at any point, it resumes where it was: a row
moved is not seen again, and a copy made but not yet used is overwritten."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from likeness.errors import LikenessError
from likeness.storage import ObjectStorage
from likeness.store import blobs as store

BATCH = 200


@dataclass
class MigrationReport:
    moved: int = 0
    bytes: int = 0
    changed_meanwhile: int = 0  # rows that pointed elsewhere by the time their copy was made
    failed: list[str] = field(default_factory=list)  # "what: why"


@dataclass(frozen=True)
class BlobMigration:
    storage: ObjectStorage
    uploads_dir: Path  # where uploads were kept before object storage
    delete_local: bool = False

    def run(self, sessions: sessionmaker, on_moved: Callable[[str], None] = lambda _: None
            ) -> MigrationReport:
        report = MigrationReport()
        if self.storage.default.scheme != "fs":
            for column in store.LOCATION_COLUMNS:
                self._move_locations(sessions, column, report, on_moved)
        self._move_uploads(sessions, report, on_moved)
        return report

    def _move_locations(self, sessions: sessionmaker, column: str, report: MigrationReport,
                        on_moved: Callable[[str], None]) -> None:
        after = 0
        while True:
            with sessions() as session:
                batch = store.locations_in(session, column, "fs", after, BATCH)
            for row_id, old in batch:
                after = row_id
                key = old.removeprefix("fs://")
                path = self.storage.local_path(old)
                self._move(sessions, f"{column} of row {row_id}", path, key, report, on_moved,
                           partial(store.relocate, column=column, row_id=row_id, old=old),
                           partial(self.storage.delete, old))
            if len(batch) < BATCH:
                return

    def _move_uploads(self, sessions: sessionmaker, report: MigrationReport,
                      on_moved: Callable[[str], None]) -> None:
        after = 0
        while True:
            with sessions() as session:
                batch = store.uploads_under(session, self.uploads_dir, after, BATCH)
            for video_id, old in batch:
                after = video_id
                path = Path(old)
                self._move(sessions, f"video {video_id}", path, f"videos/{path.name}", report,
                           on_moved,
                           partial(store.relocate_upload, video_id=video_id, path=old),
                           partial(path.unlink, missing_ok=True))
            if len(batch) < BATCH:
                return

    def _move(self, sessions: sessionmaker, what: str, path: Path | None, key: str,
              report: MigrationReport, on_moved: Callable[[str], None],
              relocate: Callable[..., bool], remove_old: Callable[[], None]) -> None:
        """Copy `path` to `key`, then `relocate(session, new=location)`."""
        if path is None or not path.is_file():
            report.failed.append(f"{what}: the file {path} is missing")
            return
        try:
            size = path.stat().st_size
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            new = self.storage.put_file(key, path, content_type)
            with sessions() as session:
                used = relocate(session, new=new)
                session.commit()
        except (LikenessError, OSError) as exc:
            report.failed.append(f"{what}: {exc}")
            return
        if not used:
            report.changed_meanwhile += 1
            return
        report.moved += 1
        report.bytes += size
        if self.delete_local:
            try:
                remove_old()
            except (LikenessError, OSError) as exc:  # moved all the same: left behind
                report.failed.append(f"{what}: moved, but the local file stays: {exc}")
        on_moved(what)
