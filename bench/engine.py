"""Engine, HTTP and whole-process throughput against InsightFace's FaceAnalysis.

    make bench            # or: .venv/bin/python bench/engine.py --rounds 5
    .venv/bin/python bench/engine.py --process-only    # `likeness detect` and --help only

Prints Markdown tables. Rates are medians over `--rounds` rounds; in each round the
reference and Likeness run back to back, and the ratio is the median of per-round ratios.
The whole-process table times fresh processes, start-up included: `likeness detect --json`
on PROCESS_PHOTOS photos against a plain script running FaceAnalysis on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import httpx2
import numpy as np
from common import DATA, REPO, machine, median, pack_directory, rates, reference_analysis

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.packs import resolve_pack
from likeness.media import ImageLimits
from likeness.services.faces import detect_in_bytes

HTTP_CLIENTS = 4
PROCESS_PHOTOS = 64
HELP_RUNS = 7

# What a user of InsightFace writes: the same model files, FaceAnalysis, one JSON line a
# photo (the box, score, landmarks and normed embedding, as `likeness detect --json` gives).
REFERENCE_SCRIPT = """
import json, sys
import cv2
from insightface.app import FaceAnalysis
app = FaceAnalysis(name=sys.argv[1], providers=["CPUExecutionProvider"])
app.prepare(ctx_id=-1, det_size=(640, 640))
for path in sys.argv[2:]:
    img = cv2.imread(path)
    faces = app.get(img)
    print(json.dumps({"file": path, "faces": [
        {"bbox": [round(float(v), 2) for v in f.bbox], "embedding": f.normed_embedding.tolist(),
         "det_score": round(float(f.det_score), 4),
         "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in f.kps]}
        for f in faces], "image_width": img.shape[1], "image_height": img.shape[0]}),
        flush=True)
"""


def latency_ms(fn: Callable[[np.ndarray], object], images: list[np.ndarray]) -> float:
    timings = []
    for image in images * 2:
        started = time.perf_counter()
        fn(image)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BENCH_KEY = "lk_bench-admin-key-0123456789abcdef"


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """`likeness serve` in a subprocess on a free loopback port; yields its URL."""
    port = free_port()
    env = {**os.environ, "LIKENESS_PORT": str(port), "LIKENESS_LOG_LEVEL": "warning",
           "LIKENESS_MODEL": settings.model, "LIKENESS_MODEL_DIR": str(settings.model_dir),
           "LIKENESS_BOOTSTRAP_API_KEY": BENCH_KEY}
    server = subprocess.Popen([sys.executable, "-m", "likeness.cli", "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{url}/health").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not come up")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def http_table(engine: FaceEngine, settings: Settings, payloads: list[bytes],
               rounds: int) -> None:
    """Bytes to faces with HTTP_CLIENTS concurrent callers: in-process against HTTP
    /detect on `likeness serve`, rounds alternating."""
    limits = ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)
    with running_server(settings) as url, ThreadPoolExecutor(HTTP_CLIENTS) as pool:
        clients = [httpx2.Client(base_url=url, timeout=60, headers={"X-API-Key": BENCH_KEY})
                   for _ in range(HTTP_CLIENTS)]

        def post(job: tuple[int, bytes]) -> None:
            index, data = job
            response = clients[index % HTTP_CLIENTS].post(
                "/detect", files={"file": ("photo.jpg", data)})
            response.raise_for_status()

        def over_http() -> int:
            list(pool.map(post, enumerate(payloads)))
            return len(payloads)

        def in_process() -> int:
            list(pool.map(lambda data: detect_in_bytes(engine, data, limits), payloads))
            return len(payloads)

        local, served = rates(rounds, in_process, over_http)
        for client in clients:
            client.close()
    ratio = median([s / loc for s, loc in zip(served, local, strict=True)])
    print("\n| bytes to faces, single-face photos, decoding included | img/s |")
    print("|---|---|")
    print(f"| in-process, {HTTP_CLIENTS} threads | {median(local):.1f} |")
    print(f"| HTTP /detect, {HTTP_CLIENTS} concurrent clients | {median(served):.1f} |")
    print(f"| HTTP / in-process (median of rounds) | **{ratio:.0%}** |")


def likeness_command() -> list[str]:
    """The `likeness` console script beside this Python, as a user runs it."""
    script = Path(sys.executable).parent / "likeness"
    return [str(script)] if script.exists() else [sys.executable, "-m", "likeness.cli"]


def process_seconds(command: list[str], env: dict[str, str], lines: int) -> float:
    """Wall time of a fresh process; it must succeed and print `lines` JSON lines."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    printed = sum(line.startswith("{") for line in done.stdout.splitlines())
    if done.returncode != 0 or printed != lines:
        raise RuntimeError(f"{command[0]} exited {done.returncode} with {printed} of {lines} "
                           f"lines: {done.stderr[-2000:]}")
    return elapsed


def process_table(settings: Settings, pack_dir: Path, rounds: int) -> None:
    """Fresh processes, start-up and model loading included: `likeness detect --json` on
    PROCESS_PHOTOS photos against a plain FaceAnalysis script, rounds alternating; and
    `likeness --help`."""
    sources = sorted((DATA / "faces").glob("*/*")) + sorted((DATA / "scenes").glob("*"))
    env = {**os.environ, "LIKENESS_MODEL": settings.model, "LIKENESS_LOG_LEVEL": "warning",
           "LIKENESS_MODEL_DIR": str(settings.model_dir), "COLUMNS": "200"}
    with tempfile.TemporaryDirectory(prefix="likeness-bench-") as tmp:
        photos = []
        for index in range(PROCESS_PHOTOS):
            source = sources[index % len(sources)]
            photos.append(Path(tmp) / f"{index:02d}_{source.name}")
            shutil.copyfile(source, photos[-1])
        files = [str(p) for p in photos]
        reference = [sys.executable, "-c", REFERENCE_SCRIPT, str(pack_dir), *files]
        likeness = [*likeness_command(), "detect", "--json", *files]
        for command in (reference, likeness):  # warm-up: file caches, compiled bytecode
            process_seconds(command, env, len(files))
        ref_s, ours_s = [], []
        for _ in range(rounds):
            ref_s.append(process_seconds(reference, env, len(files)))
            ours_s.append(process_seconds(likeness, env, len(files)))
    helps = []
    for _ in range(HELP_RUNS):
        started = time.perf_counter()
        subprocess.run([*likeness_command(), "--help"], env=env, capture_output=True,
                       check=True)
        helps.append(time.perf_counter() - started)
    ratio = median([r / o for r, o in zip(ref_s, ours_s, strict=True)])
    n = len(files)
    print(f"\n| whole process, {n} photos ({len(sources)} files cycled), JSON lines out "
          "| seconds | img/s |")
    print("|---|---|---|")
    print(f"| python script: FaceAnalysis, app.get per photo | {median(ref_s):.2f} | "
          f"{n / median(ref_s):.1f} |")
    print(f"| likeness detect --json | {median(ours_s):.2f} | {n / median(ours_s):.1f} |")
    print(f"| likeness detect / FaceAnalysis script (median of rounds) | **{ratio:.2f}x** | |")
    print(f"| likeness --help (median of {HELP_RUNS} runs) | {median(helps):.2f} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurement")
    parser.add_argument("--process-only", action="store_true",
                        help="only the whole-process table (likeness detect, --help)")
    args = parser.parse_args()

    settings = Settings(model="buffalo_s", model_dir=REPO / "build" / "bench-models")
    pack = resolve_pack(settings.model, settings.model_dir)
    pack_dir = pack_directory(pack, REPO / "build" / "bench-pack")
    if args.process_only:
        print(f"Machine: {machine()}")
        print(f"Command: python bench/engine.py --process-only --rounds {args.rounds}; "
              "model buffalo_s; FaceAnalysis det_size 640x640")
        process_table(settings, pack_dir, args.rounds)
        return
    engine = FaceEngine(pack, threads=settings.onnx_threads,
                        workers=settings.inference_workers)
    reference = reference_analysis(pack_dir)

    single_paths = sorted((DATA / "faces").glob("*/*"))
    # The 3 multi-face scenes, 4 times over: a bulk call of 12 images like the single-face
    # set (3 images on 2 workers would leave one idle through a whole detection).
    multi_paths = [DATA / "scenes" / n for n in
                   ("two_people.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg")] * 4
    sets = {"single-face photos": single_paths, "multi-face photos (3 scenes x 4)": multi_paths}

    print(f"Machine: {machine()}")
    print(f"Command: python bench/engine.py --rounds {args.rounds}; model buffalo_s; "
          f"Likeness {engine.workers} workers x {settings.onnx_threads} thread; "
          "FaceAnalysis det_size 640x640, default ONNX Runtime threads\n")
    print("| workload | FaceAnalysis img/s | Likeness one-by-one img/s | Likeness batched "
          "img/s | faces/s (batched) | batched / FaceAnalysis (median of rounds) "
          "| latency ms FA / Likeness |")
    print("|---|---|---|---|---|---|---|")
    for name, paths in sets.items():
        images = [cv2.imread(str(p)) for p in paths]
        faces = sum(len(f) for f in engine.analyze_batch(images))

        def ref_loop(images: list[np.ndarray] = images) -> int:
            for image in images:
                reference.get(image)
            return len(images)

        def one_by_one(images: list[np.ndarray] = images) -> int:
            for image in images:
                engine.analyze(image)
            return len(images)

        def batched(images: list[np.ndarray] = images) -> int:
            engine.analyze_batch(images)
            return len(images)

        ref, single, batch = rates(args.rounds, ref_loop, one_by_one, batched)
        ratio = median([b / r for b, r in zip(batch, ref, strict=True)])
        print(f"| {name} ({len(images)} images, {faces} faces) | {median(ref):.1f} | "
              f"{median(single):.1f} | {median(batch):.1f} | "
              f"{median(batch) * faces / len(images):.1f} | **{ratio:.2f}x** | "
              f"{latency_ms(reference.get, images):.0f} / "
              f"{latency_ms(engine.analyze, images):.0f} |")

    if not args.no_http:
        http_table(engine, settings, [p.read_bytes() for p in single_paths] * 2, args.rounds)
    engine.close()
    process_table(settings, pack_dir, args.rounds)


if __name__ == "__main__":
    main()
