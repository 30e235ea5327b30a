"""Video scanning speed against the usual pipeline, in the same run.

    python bench/video.py          # needs the ffmpeg CLI for the inputs and the reference

The shared clip is re-encoded at 360p, 720p and 1080p (H.264, a keyframe every 2 s) and
looped to 64 s. Likeness scans each through its real path (PyAV decoding, the engine,
tracking, decisions, PostgreSQL writes) at 1 sample/s and in keyframe mode. The usual
pipeline: the ffmpeg CLI extracts one JPEG per second, then each JPEG goes through
InsightFace's FaceAnalysis. Prints Markdown: video-seconds scanned per wall-second.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
from common import REPO, machine, pack_directory, reference_analysis

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.packs import resolve_pack
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.store import Database

CLIP = REPO.parent / "shared" / "data" / "video" / "hamilton_clip.mp4"
HEIGHTS = (360, 720, 1080)
LOOPS = 6  # 7 plays of the 9.2 s clip


def prepare(height: int, directory: Path) -> Path:
    out = directory / f"hamilton_{height}p_64s.mp4"
    if not out.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(LOOPS), "-i",
                        str(CLIP), "-vf", f"scale=-2:{height}", "-c:v", "libx264", "-preset",
                        "veryfast", "-g", "60", "-an", str(out)], check=True)
    return out


def reference_seconds(video: Path, analysis: Any) -> float:  # insightface: untyped
    """Wall time of ffmpeg's one JPEG per second, then FaceAnalysis on each."""
    with tempfile.TemporaryDirectory() as frames:
        started = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-vf", "fps=1", "-q:v",
                        "2", f"{frames}/%05d.jpg"], check=True)
        for path in sorted(Path(frames).glob("*.jpg")):
            analysis.get(cv2.imread(str(path)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg CLI is needed (apt-get install ffmpeg)")
    work = REPO / "build" / "bench-video"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "db", ignore_errors=True)
    settings = Settings(data_dir=work / "db")
    engine = FaceEngine(resolve_pack("buffalo_s", settings.model_dir),
                        threads=settings.onnx_threads, workers=settings.inference_workers)
    database = Database.open(settings)
    service = VideoService.from_settings(engine, settings)
    reference = reference_analysis(pack_directory(engine, REPO / "build" / "bench-pack"))
    print(f"Machine: {machine()}; clip looped to 64 s, H.264 keyframe every 2 s; "
          "Likeness stores every detection, track and tag in PostgreSQL\n")
    print("| video | Likeness 1 sample/s | Likeness keyframes | ffmpeg JPEGs + FaceAnalysis "
          "| 1 sample/s vs usual pipeline |")
    print("|---|---|---|---|---|")
    for height in HEIGHTS:
        video = prepare(height, work)
        with database.session() as session:
            video_id = VideoRecords.register(session, video, video.name, ScanOptions())[0].id
        rates, duration = {}, 0.0
        for keyframes in (False, True):  # the same video, scanned in each mode
            with database.session() as session:
                service.set_options(session, video_id, ScanOptions(keyframes=keyframes))
            started = time.perf_counter()
            scanned = service.scan(database.sessions, video_id)
            duration = scanned.duration_ms / 1000
            rates[keyframes] = duration / (time.perf_counter() - started)
        usual = duration / reference_seconds(video, reference)
        print(f"| {height}p, {duration:.0f} s | {rates[False]:.1f}x realtime | "
              f"{rates[True]:.1f}x | {usual:.1f}x | **{rates[False] / usual:.2f}x** |",
              flush=True)
    database.close()
    engine.close()


if __name__ == "__main__":
    main()
