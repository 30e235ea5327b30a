"""What access control costs: HTTP /detect throughput with an API key against the same
endpoint without the access check, side by side in one server.

    .venv/bin/python bench/auth.py              # about a minute
    .venv/bin/python bench/auth.py --breakdown  # also the check's parts; about 2 minutes

The app runs in this process under uvicorn on a loopback port, as `likeness serve` runs
it (the loaded model passed in, an embedded PostgreSQL of its own in build/bench-auth,
the admin key seeded by `bootstrap_api_key` as LIKENESS_BOOTSTRAP_API_KEY does, no job
worker). Routes are added to that app for the measurement only:

- `POST /bench/detect-open`: the very endpoint function of `POST /detect`
  (`routes.faces.detect`), registered without its access dependency. `/detect` with the
  key and this route share everything else (server, engine, middleware, the audit
  middleware included, which records nothing for either), so what differs between them
  is the access check and nothing else.
- with `--breakdown`, the same endpoint behind a part of the check only:
  `/bench/detect-hop` (a no-op in the thread pool: the hop the check makes) and
  `/bench/detect-lookup` (the hop, a database session from the pool and
  `AccessService.authenticate_key`: the check without its header parsing and role test).
- `GET /bench/open` and `GET /bench/guarded`: an empty answer, without and with the
  viewer dependency of every protected operation.

Figures:

1. Img/s of each /detect: the 12 single-face photos of shared/data sent by `--clients`
   (4) concurrent clients, one block at a time, the routes taking turns block by block
   (the order rotating and reversing), BLOCKS blocks each per round, so that the load of
   a shared machine falls on all alike. The ratio to the open /detect is the median of
   per-round ratios, the pooled one that of the summed times (target: within 3%).
   Beside it, the server process's CPU time per image (this process: uvicorn, the
   thread pool, the engine; not PostgreSQL's), steadier than throughput on a busy
   machine.
2. The check's wall time t alone: the latency difference of the two empty GETs (one at
   a time, taking turns request by request), and the ratio it implies at the measured
   /detect rate R: 1 - t x R, as if t were added to the time of every image. Measured
   on a server with nothing else to do, so it says what the check costs alone, not what
   it costs beside inference on a loaded machine; figure 1 says that.
3. `AccessService.authenticate_key` called in-process (a pooled session, the lookup).

The clients run in a process of their own, as real clients do (in the server's process
they would compete with it for the GIL), driven over a pipe; they send the key with every
request, and only the protected routes read it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

import httpx2
import uvicorn
from common import DATA, REPO, machine, median
from engine import HTTP_CLIENTS, free_port
from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from likeness.api import create_app
from likeness.api.auth import VIEWER
from likeness.api.routes import faces
from likeness.api.schemas import DetectOut
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.packs import resolve_pack
from likeness.services.access import AccessService

KEY = "lk_bench-admin-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
BLOCKS = 6  # blocks of the 12 photos per route and round, about 0.3 s each
GETS = 300  # empty GETs per route and round
DIRECT_CALLS = 2000
KEYED, OPEN = "/detect", "/bench/detect-open"
HOP, LOOKUP = "/bench/detect-hop", "/bench/detect-lookup"
GUARDED, UNGUARDED = "/bench/guarded", "/bench/open"
LABELS = {
    KEYED: "POST /detect with the API key",
    OPEN: "the same endpoint without the access check",
    HOP: "... behind a no-op hop to the thread pool",
    LOOKUP: "... behind the hop + session + authenticate_key",
}


def start(app: FastAPI, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """The app under uvicorn in a thread; back once GET /health answers 200."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 180
    while True:
        try:
            if httpx2.get(f"{url}/health").status_code == 200:
                return server, thread
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not come up")
        time.sleep(0.2)


def add_bench_routes(app: FastAPI) -> None:
    app.add_api_route(OPEN, faces.detect, methods=["POST"], response_model=DetectOut)

    async def hop() -> None:
        await run_in_threadpool(lambda: None)

    async def lookup(request: Request) -> None:
        def authenticate() -> None:
            with request.app.state.database.session() as session:
                request.app.state.access.authenticate_key(session, KEY)

        await run_in_threadpool(authenticate)

    app.add_api_route(HOP, faces.detect, methods=["POST"], response_model=DetectOut,
                      dependencies=[Depends(hop)])
    app.add_api_route(LOOKUP, faces.detect, methods=["POST"], response_model=DetectOut,
                      dependencies=[Depends(lookup)])

    async def empty() -> dict[str, str]:
        return {}

    app.add_api_route(UNGUARDED, empty, methods=["GET"])
    app.add_api_route(GUARDED, empty, methods=["GET"], dependencies=[VIEWER])


def clients(conn: Connection, url: str, concurrency: int) -> None:
    """The client process: answers each command of the pipe with its measurement."""
    photos = [p.read_bytes() for p in sorted((DATA / "faces").glob("*/*"))]
    sessions = [httpx2.Client(base_url=url, headers=AUTH, timeout=60)
                for _ in range(concurrency)]
    pool = ThreadPoolExecutor(concurrency)

    def post(path: str, index: int, data: bytes) -> None:
        sessions[index % concurrency].post(
            path, files={"file": ("photo.jpg", data)}).raise_for_status()

    def block(path: str) -> tuple[float, int]:
        """Seconds to send the photos once through `path`, `concurrency` at a time."""
        started = time.perf_counter()
        list(pool.map(post, [path] * len(photos), range(len(photos)), photos))
        return time.perf_counter() - started, len(photos)

    def gets() -> tuple[float, float]:
        """Median ms of GETS requests to each empty route, one at a time, taking turns
        request by request (ABBA...)."""
        timings: dict[str, list[float]] = {GUARDED: [], UNGUARDED: []}
        for index in range(2 * GETS):
            path = (GUARDED, UNGUARDED)[(index + index // 2) % 2]
            started = time.perf_counter()
            sessions[0].get(path).raise_for_status()
            timings[path].append((time.perf_counter() - started) * 1000)
        return statistics.median(timings[GUARDED]), statistics.median(timings[UNGUARDED])

    while (command := conn.recv()) is not None:
        kind, path = command
        conn.send(block(path) if kind == "block" else gets())
    pool.shutdown()
    for session in sessions:
        session.close()


class Rounds:
    """Per route and round: wall seconds, server CPU seconds and images."""

    def __init__(self, conn: Connection, routes: list[str]) -> None:
        self.conn = conn
        self.routes = routes
        self.wall: dict[str, list[float]] = {r: [] for r in routes}
        self.cpu: dict[str, list[float]] = {r: [] for r in routes}
        self.images: dict[str, list[int]] = {r: [] for r in routes}

    def block(self, path: str) -> tuple[float, float, int]:
        cpu = time.process_time()
        self.conn.send(("block", path))
        wall, images = self.conn.recv()
        return wall, time.process_time() - cpu, images

    def run(self, rounds: int) -> None:
        for path in self.routes:  # warm-up
            self.block(path)
        for _ in range(rounds):
            wall = dict.fromkeys(self.routes, 0.0)
            cpu = dict.fromkeys(self.routes, 0.0)
            images = dict.fromkeys(self.routes, 0)
            for index in range(BLOCKS):
                shift = index % len(self.routes)
                order = self.routes[shift:] + self.routes[:shift]
                for path in order[::-1] if index % 2 else order:
                    w, c, n = self.block(path)
                    wall[path] += w
                    cpu[path] += c
                    images[path] += n
            for path in self.routes:
                self.wall[path].append(wall[path])
                self.cpu[path].append(cpu[path])
                self.images[path].append(images[path])

    def rate(self, path: str) -> float:
        return median([n / w for n, w in zip(self.images[path], self.wall[path], strict=True)])

    def ratio(self, path: str) -> tuple[float, float, float, float]:
        """Throughput against the open /detect: median of rounds, pooled, min, max."""
        ratios = sorted((n / w) / (m / o) for n, w, m, o in zip(
            self.images[path], self.wall[path], self.images[OPEN], self.wall[OPEN],
            strict=True))
        pooled = ((sum(self.images[path]) / sum(self.wall[path]))
                  / (sum(self.images[OPEN]) / sum(self.wall[OPEN])))
        return median(ratios), pooled, ratios[0], ratios[-1]

    def cpu_ms(self, path: str) -> float:
        return sum(self.cpu[path]) / sum(self.images[path]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--clients", type=int, default=HTTP_CLIENTS,
                        help="concurrent /detect clients")
    parser.add_argument("--breakdown", action="store_true",
                        help="also /detect behind the check's parts (hop, lookup)")
    args = parser.parse_args()

    data_dir = REPO / "build" / "bench-auth"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(model="buffalo_s", model_dir=REPO / "build" / "bench-models",
                        data_dir=data_dir, worker_in_serve=False, log_level="warning",
                        bootstrap_api_key=KEY)
    engine = FaceEngine(resolve_pack(settings.model, settings.model_dir),
                        threads=settings.onnx_threads, workers=settings.inference_workers)
    app = create_app(settings, engine=engine)
    add_bench_routes(app)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server, thread = start(app, port)
    context = multiprocessing.get_context("spawn")
    conn, their_end = context.Pipe()
    load = context.Process(target=clients, args=(their_end, url, args.clients), daemon=True)
    try:
        photo = next((DATA / "faces").glob("*/*")).read_bytes()
        assert httpx2.post(f"{url}{KEYED}", files={"file": ("p.jpg", photo)}).status_code == 401
        assert httpx2.get(f"{url}{GUARDED}").status_code == 401
        load.start()

        detects = Rounds(conn, [KEYED, OPEN, HOP, LOOKUP] if args.breakdown else [KEYED, OPEN])
        detects.run(args.rounds)
        conn.send(("gets", ""))  # warm-up
        conn.recv()
        guarded_ms, open_ms = [], []
        for _ in range(args.rounds):
            conn.send(("gets", ""))
            guarded, unguarded = conn.recv()
            guarded_ms.append(guarded)
            open_ms.append(unguarded)
        conn.send(None)
        load.join(30)

        access: AccessService = app.state.access
        database = app.state.database
        direct = []
        for _ in range(DIRECT_CALLS):
            started = time.perf_counter()
            with database.session() as session:
                assert access.authenticate_key(session, KEY) is not None
            direct.append((time.perf_counter() - started) * 1000)
    finally:
        if load.is_alive():
            load.kill()
        server.should_exit = True
        thread.join(30)
        engine.close()

    check_ms = median([g - o for g, o in zip(guarded_ms, open_ms, strict=True)])
    implied = 1 - check_ms / 1000 * detects.rate(KEYED)
    print(f"Machine: {machine()}")
    print(f"Command: python bench/auth.py --rounds {args.rounds} --clients {args.clients}"
          f"{' --breakdown' if args.breakdown else ''}; model buffalo_s, {engine.workers} "
          f"workers x {settings.onnx_threads} thread; the app under uvicorn in-process, the "
          f"clients in another process; {BLOCKS} blocks of 12 single-face photos per route "
          "and round, interleaved; PostgreSQL 18 embedded\n")
    print(f"| /detect, {args.clients} concurrent clients | img/s | / without the check: "
          "median of rounds (pooled; range) | server CPU ms/img |")
    print("|---|---|---|---|")
    for path in detects.routes:
        ratio, pooled, low, high = detects.ratio(path)
        figure = "" if path == OPEN else (
            f"**{ratio:.1%}** ({pooled:.1%}; {low:.1%}-{high:.1%})")
        print(f"| {LABELS[path]} | {detects.rate(path):.1f} | {figure} | "
              f"{detects.cpu_ms(path):.2f} |")
    print("\n| the check alone | figure |")
    print("|---|---|")
    print(f"| GET of an empty route, 1 client: open / with the viewer check | "
          f"{median(open_ms):.2f} / {median(guarded_ms):.2f} ms |")
    print(f"| the check, t (median of per-round differences) | {check_ms:.2f} ms |")
    print(f"| /detect with / implied without: 1 - t x {detects.rate(KEYED):.1f} img/s | "
          f"**{implied:.1%}** |")
    print(f"| AccessService.authenticate_key in-process, with a pooled session | "
          f"{statistics.median(direct):.2f} ms |")


if __name__ == "__main__":
    main()
