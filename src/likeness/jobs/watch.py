"""A watch folder: new video files are registered and their scans queued."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from likeness.config import Settings
from likeness.errors import InvalidInput, LikenessError
from likeness.jobs.queue import JobQueue
from likeness.media.video import VIDEO_SUFFIXES
from likeness.services.videos import ScanOptions, VideoRecords
from likeness.storage import ObjectStorage
from likeness.store import Database

log = logging.getLogger(__name__)


class FolderWatcher:
    """Polls `directory` (recursively). A video file is taken once its size and mtime held
    still over two polls (it has stopped growing); content already registered (sha256) is
    skipped, so a copy or a rename is not scanned twice."""

    def __init__(self, directory: Path, database: Database, jobs: JobQueue,
                 settings: Settings, storage: ObjectStorage, interval: float = 2.0) -> None:
        self.directory = directory.expanduser()
        self.database = database
        self.jobs = jobs
        self.options = ScanOptions(settings.video_fps)
        self.records = VideoRecords.from_settings(settings, jobs, storage=storage)
        self.interval = interval
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._taken: set[Path] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="likeness-watch", daemon=True)

    def poll(self) -> list[int]:
        """One look at the folder; the ids of the videos queued."""
        queued = []
        for path in sorted(self.directory.rglob("*")):
            if path in self._taken or path.suffix.lower() not in VIDEO_SUFFIXES or \
                    not path.is_file():
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._sizes.get(path) != signature or stat.st_size == 0:
                self._sizes[path] = signature  # new or still growing: look again later
                continue
            self._taken.add(path)
            try:
                with self.database.session() as session:
                    added = self.records.add_file(session, path, self.options)
            except InvalidInput as exc:  # not a video: skipped for good
                log.warning("watch folder: skipping %s: %s", path, exc)
                continue
            except LikenessError as exc:  # storage or database away: tried again later
                self._taken.discard(path)
                log.warning("watch folder: %s not taken yet: %s", path, exc)
                continue
            if added.created:
                queued.append(added.state.video.id)
                log.info("watch folder: queued %s as video %s", path, added.state.video.id)
        return queued

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # keep watching through a passing database outage
                log.exception("watch folder: poll failed")

    def start(self) -> None:
        log.info("watching %s for new videos", self.directory)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
