"""A worker killed in the middle of a scan: its job is retried by another worker and ends
with no duplicate detections or tags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import text

from likeness.config import Settings
from likeness.jobs.queue import JobQueue
from likeness.services.people import PeopleService, Upload
from likeness.services.videos import ScanOptions, VideoRecords
from likeness.store import Database
from tests.conftest import DATA, data_file


def start_worker(settings: Settings) -> subprocess.Popen:
    env = {**os.environ, "LIKENESS_DATA_DIR": str(settings.data_dir),
           "LIKENESS_MODEL_DIR": str(settings.model_dir), "LIKENESS_LOG_LEVEL": "warning",
           "LIKENESS_JOB_STALL_SECONDS": str(settings.job_stall_seconds),
           "LIKENESS_VIDEO_FPS": "8"}  # a slower scan, to be killed in the middle of
    return subprocess.Popen([sys.executable, "-m", "likeness.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scalar(db: Database, sql: str) -> object:
    with db.engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def test_killed_worker_job_completes_on_retry(db: Database, settings: Settings,
                                               people: PeopleService) -> None:
    with db.session() as session:
        people.register(session, "lin", [Upload("lin.png", (
            DATA / "faces/lin_manuel_miranda/lin_1.png").read_bytes())])
        video, _ = VideoRecords.register(session, data_file("video/hamilton_clip.mp4"), "clip",
                                         ScanOptions(fps=8))
    JobQueue(db, settings).defer_scan(video.id)
    first = start_worker(settings)
    try:
        deadline = time.monotonic() + 60
        while scalar(db, f"SELECT samples_done FROM videos WHERE id = {video.id}") < 8:
            assert time.monotonic() < deadline and first.poll() is None, "scan never started"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert scalar(db, f"SELECT status FROM videos WHERE id = {video.id}") == "scanning"
        assert scalar(db, "SELECT count(*) FROM detections") == 0  # nothing half-written
        second = start_worker(settings)
        try:
            deadline = time.monotonic() + 120
            while scalar(db, f"SELECT status FROM videos WHERE id = {video.id}") != "done":
                assert time.monotonic() < deadline, "the job was not retried"
                time.sleep(0.3)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    detections = scalar(db, "SELECT count(*) FROM detections")
    assert detections == scalar(db, "SELECT sum(detections) FROM tracks") > 0
    assert scalar(db, "SELECT count(DISTINCT (track_id, time_ms, bbox::text)) FROM detections"
                  ) == detections  # no duplicates
    assert scalar(db, "SELECT count(*) FROM video_tags") == 1
    # The scan's job (it queues a clustering pass of its own when it ends).
    assert scalar(db, "SELECT status FROM procrastinate_jobs WHERE task_name = 'scan_video'"
                  ) == "succeeded"
