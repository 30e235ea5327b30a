"""How many concurrent 5 fps camera streams one machine sustains.

    python bench/streams.py [--seconds 20] [--most 16]   # needs the ffmpeg CLI

Each camera is the shared clip re-encoded at 720p (H.264, no B-frames, a keyframe every
half second), published in a loop at its own speed by an `ffmpeg -re` to an RTSP server on
loopback (tests/services/test_streams.py's relay), as a camera on the LAN would send it. The
cameras (ffmpeg and the relays) run in a process of their own, on the same cores: a real
deployment does not pay for them, so the figures are pessimistic. Likeness reads every
camera through its real path (StreamService.run, as a worker's stream slot runs it: PyAV
over RTSP/TCP, the engine, the tracker, decisions and sightings in PostgreSQL), Lin-Manuel
Miranda enrolled. For 1, 2, 4, 6, ... streams it measures each analysed frame's latency
(from its packet's arrival to its faces tracked and decided), its lag behind the camera's
clock (queueing before the read included), the frames analysed per second and those
dropped, and the CPU time Likeness spent per analysed frame (all its threads: decoding
every frame of the camera, inference, tracking, SQL), which does not depend on what else
runs on the machine: cores x 1000 ms / (that x 5 fps) is how many streams the cores could
carry if nothing else ran. The load column is the machine's 1-minute load average. A
count is sustained when every stream gets at least 95% of its 5 fps and the p99 of both
latency and lag is at most 250 ms. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from common import REPO, machine

sys.path.insert(0, str(REPO))

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.people import PeopleService, Upload
from likeness.services.streams import FrameStats, StreamRecords, StreamService
from likeness.store import Database

FPS = 5.0
LATENCY_P99_MS = 250.0
MIN_RATE = 0.95  # of FPS
WARMUP_S = 6.0  # connecting, probing, the first keyframe
FACES = REPO.parent / "shared" / "data" / "faces" / "lin_manuel_miranda"


def farm(count: int, clip: Path) -> tuple[subprocess.Popen[str], list[str]]:
    """A process running `count` cameras; their URLs, once they publish."""
    code = ("import sys, time\n"
            "from tests.services.test_streams import Camera\n"
            "from pathlib import Path\n"
            f"cameras = [Camera(Path({str(clip)!r})) for _ in range({count})]\n"
            "print(' '.join(c.url for c in cameras), flush=True)\n"
            "sys.stdin.read()\n"
            "for c in cameras: c.close()\n")
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    urls = process.stdout.readline().split()
    time.sleep(1.5)  # the publishers announce their streams
    return process, urls


def measure(count: int, clip: Path, service: StreamService, database: Database,
            seconds: float) -> dict[str, float]:
    process, urls = farm(count, clip)
    camera_cpu = psutil.Process(process.pid)
    frames: list[list[tuple[float, FrameStats]]] = [[] for _ in urls]
    stop = threading.Event()
    with database.session() as session:
        ids = [StreamRecords().add(session, f"camera {i}", url, FPS).stream.id
               for i, url in enumerate(urls)]
    threads = []
    for index, stream_id in enumerate(ids):
        def run(index: int = index, stream_id: int = stream_id) -> None:
            service.run(database.sessions, stream_id, stop,
                        on_frame=lambda stats: frames[index].append((time.monotonic(),
                                                                     stats)))
        threads.append(threading.Thread(target=run, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(WARMUP_S)
    started = time.monotonic()
    own = psutil.Process().cpu_times()
    psutil.cpu_percent()
    camera_cpu.cpu_percent()
    for child in camera_cpu.children(recursive=True):
        child.cpu_percent()
    time.sleep(seconds)
    ended = time.monotonic()
    spent = psutil.Process().cpu_times()
    busy = psutil.cpu_percent()
    cameras = camera_cpu.cpu_percent() + sum(c.cpu_percent()
                                             for c in camera_cpu.children(recursive=True))
    stop.set()
    for thread in threads:
        thread.join(30)
    assert process.stdin is not None
    process.stdin.close()
    process.wait(30)
    with database.session() as session:
        for stream_id in ids:
            StreamRecords().delete(session, stream_id)
    window = [[s for t, s in stream if started <= t <= ended] for stream in frames]
    latency = np.array([s.latency_ms for stream in window for s in stream] or [np.inf])
    lag = np.array([s.lag_ms for stream in window for s in stream] or [np.inf])
    rates = [len(stream) / (ended - started) for stream in window]
    dropped = sum(s[-1].dropped - s[0].dropped for s in window if s)
    analysed = sum(len(s) for s in window)
    return {"streams": count, "rate": min(rates), "dropped": dropped / max(1, analysed +
                                                                            dropped),
            "p50": float(np.percentile(latency, 50)), "p99": float(np.percentile(latency, 99)),
            "lag99": float(np.percentile(lag, 99)), "cpu": busy,
            "cameras": cameras / psutil.cpu_count(),
            "cpu_ms": 1000 * (spent.user + spent.system - own.user - own.system) /
            max(1, analysed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured per count")
    parser.add_argument("--most", type=int, default=16, help="streams at most")
    arguments = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg CLI is needed (apt-get install ffmpeg)")
    from tests.services.test_streams import camera_clip

    work = REPO / "build" / "bench-streams"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "db", ignore_errors=True)
    settings = Settings(data_dir=work / "db")
    engine = FaceEngine.from_settings(settings)
    database = Database.open(settings)
    with database.session() as session:
        PeopleService.from_settings(engine, settings).register(
            session, "lin", [Upload(p.name, p.read_bytes()) for p in sorted(FACES.glob("*"))])
    clip = camera_clip(work, height=720)
    service = StreamService.from_settings(engine, settings)
    print(f"Machine: {machine()}; 720p H.264 cameras over RTSP/TCP on loopback, {FPS:g} "
          f"frames analysed per second each, {arguments.seconds:g} s measured after a "
          f"{WARMUP_S:g} s warm-up; the cameras' own processes run on the same cores\n")
    print("| streams | analysed fps (slowest stream) | dropped | latency p50 | latency p99 "
          "| lag p99 | CPU per frame | machine busy (cameras' share) | load | sustained |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    count, failures = 1, 0
    while count <= arguments.most and failures < 2:
        row = measure(count, clip, service, database, arguments.seconds)
        ok = row["rate"] >= MIN_RATE * FPS and max(row["p99"], row["lag99"]) <= LATENCY_P99_MS
        failures += not ok
        print(f"| {count} | {row['rate']:.2f} | {row['dropped']:.1%} | {row['p50']:.0f} ms "
              f"| {row['p99']:.0f} ms | {row['lag99']:.0f} ms | {row['cpu_ms']:.0f} ms "
              f"| {row['cpu']:.0f}% ({row['cameras']:.0f}%) | {os.getloadavg()[0]:.1f} "
              f"| {'yes' if ok else 'no'} |", flush=True)
        count = 2 if count == 1 else count + 2
    database.close()
    engine.close()


if __name__ == "__main__":
    main()
