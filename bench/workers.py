"""Scan throughput with 1 and 2 worker processes, videos in S3.

    python bench/workers.py [--videos 8] [--seconds 10] [--rounds 3]   # needs ffmpeg

The videos (stretches of the shared clip at 720p, different content each) are uploaded
to an S3 server (moto's, on loopback) through VideoRecords, as the API does, and queued.
Then `likeness worker` processes, each with a data directory of its own (as on separate
machines; they download the video to their own scratch space), scan them; the clock runs
from the first scan's start (after the workers have loaded the model) to the last scan
done. The reference in the same run: VideoService.scan in this process on
the local file (no queue, no download). Sampled frames per second at 1 frame a second of
video, and the ratio to the reference. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DATA, REPO, machine

sys.path.insert(0, str(REPO))

from sqlalchemy import text

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.jobs.queue import JobQueue
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database

REFERENCE = "reference: VideoService.scan in-process, local files"


def make_videos(count: int, seconds: float, folder: Path) -> list[Path]:
    clip = DATA / "video" / "hamilton_clip.mp4"
    videos = []
    for index in range(count):
        video = folder / f"part{index:02}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-ss",
                        f"{index * 0.25:.2f}", "-t", str(seconds), "-i", str(clip), "-an",
                        "-vf", "scale=-2:720", "-c:v", "libx264", "-preset", "veryfast",
                        str(video)], check=True)
        videos.append(video)
    return videos


def empty(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE videos, procrastinate_jobs RESTART IDENTITY CASCADE"))


def count(database: Database, sql: str) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar() or 0)


def run_workers(settings: Settings, database: Database, videos: list[Path], workers: int,
                inference_workers: int, work: Path) -> float:
    """Seconds for `workers` processes to scan every video, from their start."""
    empty(database)
    storage = ObjectStorage.from_settings(settings)
    records = VideoRecords.from_settings(settings, JobQueue(database, settings),
                                         storage=storage)
    with database.session() as session:
        for video in videos:
            with video.open("rb") as stream:
                records.add_upload(session, stream, video.name, ScanOptions(fps=1))
    env = {**os.environ, "LIKENESS_MODEL_DIR": str(settings.model_dir),
           "LIKENESS_LOG_LEVEL": "warning", "LIKENESS_DATABASE_URL": database.url,
           "LIKENESS_STORAGE": "s3", "LIKENESS_S3_BUCKET": str(settings.s3_bucket),
           "LIKENESS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
           "LIKENESS_S3_ACCESS_KEY_ID": "bench", "LIKENESS_S3_SECRET_ACCESS_KEY": "bench",
           "LIKENESS_STREAM_SLOTS": "0",
           "LIKENESS_INFERENCE_WORKERS": str(inference_workers)}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "likeness.cli", "worker"],
        env={**env, "LIKENESS_DATA_DIR": str(work / f"worker-{workers}-{index}")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for index in range(workers)]
    try:
        while not count(database, "SELECT count(*) FROM videos WHERE status <> 'queued'"):
            time.sleep(0.02)
        started = time.perf_counter()
        while count(database, "SELECT count(*) FROM videos WHERE status IN ('done', 'failed')"
                    ) < len(videos):
            if any(p.poll() is not None for p in processes):
                raise SystemExit("a worker died")
            time.sleep(0.2)
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log

    with tempfile.TemporaryDirectory(prefix="likeness-bench-") as folder:
        work = Path(folder)
        s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        s3.start()
        host, port = s3.get_host_and_port()
        settings = Settings(data_dir=work / "api", model_dir=work / "models", storage="s3",
                            s3_bucket="bench", s3_endpoint_url=f"http://{host}:{port}",
                            s3_access_key_id="bench", s3_secret_access_key="bench",
                            s3_create_bucket=True)
        database = Database.open(settings)
        engine = FaceEngine.from_settings(settings)
        try:
            videos = make_videos(args.videos, args.seconds, work)
            samples = args.videos * int(args.seconds)
            configs = ((1, 0), (2, 0), (2, 1))
            times: dict[str, list[float]] = {}
            for _ in range(args.rounds):  # each round runs every configuration
                empty(database)
                started = time.perf_counter()
                service = VideoService.from_settings(engine, settings)
                with database.session() as session:
                    registered = [VideoRecords.register(session, v, v.name,
                                                        ScanOptions(fps=1))[0] for v in videos]
                for video in registered:
                    service.scan(database.sessions, video.id)
                times.setdefault(REFERENCE, []).append(time.perf_counter() - started)
                for workers, inference in configs:
                    threads = "one per core" if inference == 0 else str(inference)
                    label = f"{workers} worker process(es), inference threads {threads}"
                    times.setdefault(label, []).append(
                        run_workers(settings, database, videos, workers, inference, work))
        finally:
            engine.close()
            database.close()
            s3.stop()
    print(f"\n{machine()}\n")
    print(f"{args.videos} videos of {args.seconds:g} s at 720p, sampled at 1 fps "
          f"({samples} frames), uploaded to S3 (moto, loopback); median of {args.rounds} "
          "rounds, each running every configuration\n")
    print("| scanned by | seconds | frames/s | vs reference (median of per-round ratios) |")
    print("|---|---:|---:|---:|")
    for label, runs in times.items():
        seconds = statistics.median(runs)
        ratio = statistics.median(r / t for r, t in zip(times[REFERENCE], runs, strict=True))
        print(f"| {label} | {seconds:.1f} | {samples / seconds:.1f} | {ratio:.2f}x |")

if __name__ == "__main__":
    main()
