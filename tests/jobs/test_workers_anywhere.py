"""Workers anywhere: one API (this process) and two `likeness worker` processes, each with
a data directory of its own and no file shared (as three machines), one PostgreSQL and an
S3 server. 20 videos uploaded and 500 event photos given by URL are queued; one worker is
killed with SIGKILL in the middle of a scan. Every job ends done exactly once: nothing
lost, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.store import Database
from tests.conftest import AUTH, DATA, data_file
from tests.web import serving

VIDEOS = 20
PHOTOS = 500
SAMPLE_FPS = 4  # 12 samples in each 3-second video: long enough to be killed in


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """20 different 3-second videos: stretches of the Hamilton clip from different
    starts (different content, so none is taken for another)."""
    folder = tmp_path_factory.mktemp("videos")
    clips = []
    for index in range(VIDEOS):
        clip = folder / f"part{index:02}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{index * 0.3:.1f}", "-t", "3",
                        "-i", str(data_file("video/hamilton_clip.mp4")), "-an", "-vf",
                        "scale=-2:360", "-c:v", "libx264", "-preset", "ultrafast",
                        str(clip)], check=True)
        clips.append(clip)
    return clips


def start_worker(data_dir: Path, settings: Settings, database_url: str) -> subprocess.Popen:
    """A worker as on another machine: the database URL and S3 settings, nothing else
    in common with the API or the other worker."""
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir),
           "LIKENESS_MODEL_DIR": str(settings.model_dir), "LIKENESS_LOG_LEVEL": "warning",
           "LIKENESS_DATABASE_URL": database_url, "LIKENESS_STORAGE": "s3",
           "LIKENESS_S3_BUCKET": str(settings.s3_bucket),
           "LIKENESS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
           "LIKENESS_S3_ACCESS_KEY_ID": "test", "LIKENESS_S3_SECRET_ACCESS_KEY": "test",
           "LIKENESS_JOB_STALL_SECONDS": str(settings.job_stall_seconds),
           "LIKENESS_FETCH_ALLOW_PRIVATE": "true", "LIKENESS_STREAM_SLOTS": "0"}
    return subprocess.Popen([sys.executable, "-m", "likeness.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def api(s3_settings: Settings, engine: FaceEngine, db: Database,
        tmp_path: Path) -> Iterator[TestClient]:
    """The API process: it queues, it runs no job."""
    settings = s3_settings.model_copy(update={
        "worker_in_serve": False, "data_dir": tmp_path / "api", "fetch_allow_private": True})
    with TestClient(create_app(settings, engine=engine, database=db), headers=AUTH) as client:
        yield client


def count(db: Database, sql: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar() or 0)


@pytest.mark.timeout(660)  # its own deadlines say what is late
def test_two_workers_without_shared_files_do_every_job_exactly_once(
        api: TestClient, db: Database, s3_settings: Settings, videos: list[Path],
        tmp_path: Path) -> None:
    for clip in videos:
        response = api.post("/videos", files={"file": (clip.name, clip.read_bytes())},
                            params={"fps": SAMPLE_FPS})
        assert response.status_code == 202, response.text
    photos = sorted(DATA.glob("celeba_dev/*/*.jpg"))[:PHOTOS]
    assert len(photos) == PHOTOS
    event = api.post("/events", json={"name": "gala"}).json()["id"]
    with serving(DATA / "celeba_dev") as base:
        for photo in photos:
            relative = photo.relative_to(DATA / "celeba_dev").as_posix()
            response = api.post(f"/events/{event}/photos", data={
                "photo_id": relative, "image_url": f"{base}/{relative}"})
            assert response.status_code == 202, response.text

        doomed_dir, survivor_dir = tmp_path / "machine-a", tmp_path / "machine-b"
        doomed = start_worker(doomed_dir, s3_settings, db.url)
        survivor = start_worker(survivor_dir, s3_settings, db.url)
        try:
            # The doomed worker is in the middle of a scan when the video it downloaded
            # to its own scratch space is there and the scan has made progress.
            deadline = time.monotonic() + 180
            while not (list((doomed_dir / "tmp").glob("download-*/*.mp4"))
                       and count(db, "SELECT count(*) FROM videos WHERE status = 'scanning'"
                                 " AND samples_done > 0")):
                assert time.monotonic() < deadline, "the first worker never scanned"
                assert doomed.poll() is None and survivor.poll() is None, "a worker died"
                time.sleep(0.05)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)

            deadline = time.monotonic() + 420
            while count(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name IN "
                            "('scan_video', 'ingest_photo_url') AND status = 'succeeded'"
                        ) < VIDEOS + PHOTOS:
                assert time.monotonic() < deadline, "jobs were lost"
                assert survivor.poll() is None, "the surviving worker died"
                time.sleep(0.5)
        finally:
            for worker in (doomed, survivor):
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(30)

    # Every job once, each succeeded; the killed one was taken up again.
    assert count(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                     "'scan_video'") == VIDEOS
    assert count(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                     "'ingest_photo_url'") == PHOTOS
    assert count(db, "SELECT count(*) FROM procrastinate_jobs WHERE task_name IN "
                     "('scan_video', 'ingest_photo_url') AND status <> 'succeeded'") == 0
    assert count(db, "SELECT count(*) FROM procrastinate_events e JOIN procrastinate_jobs j"
                     " ON j.id = e.job_id WHERE j.task_name = 'scan_video' AND e.type = "
                     "'started'") > VIDEOS  # the killed scan was started again
    # Every video scanned once: done, each detection stored once.
    assert count(db, "SELECT count(*) FROM videos WHERE status = 'done' AND path IS NULL "
                     "AND location LIKE 's3://%'") == VIDEOS
    detections = count(db, "SELECT count(*) FROM detections")
    assert detections == count(db, "SELECT sum(detections) FROM tracks") > 0
    assert count(db, "SELECT count(DISTINCT (track_id, time_ms, bbox::text)) FROM "
                     "detections") == detections
    # Every photo analysed once, each face stored once.
    assert count(db, "SELECT count(*) FROM photos WHERE status = 'ready'") == PHOTOS
    faces = count(db, "SELECT count(*) FROM photo_faces")
    assert faces >= PHOTOS * 0.9
    assert count(db, "SELECT count(DISTINCT (photo_id, bbox::text)) FROM photo_faces"
                 ) == faces
    # Nothing but scratch space on the machines: the videos are in the bucket only.
    for machine in (tmp_path / "api", survivor_dir):
        kept = [p for p in machine.rglob("*.mp4") if "tmp" not in p.relative_to(machine).parts]
        assert kept == []
    assert not list((survivor_dir / "tmp").rglob("*.mp4"))  # its downloads cleaned up
