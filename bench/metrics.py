"""What metrics cost: the request middleware on a cheap route, and a scrape of GET /metrics.

    .venv/bin/python bench/metrics.py             # about a minute
    .venv/bin/python bench/metrics.py --jobs 0    # without filling the job tables

The app runs in this process under uvicorn on loopback ports, as `likeness serve` runs it
(the loaded model passed in, an embedded PostgreSQL of its own in build/bench-metrics, no
job worker). Figures:

1. The middleware alone, in-process: an empty ASGI app called directly and through
   `RequestMetrics` (the route's template, the latency histogram, the in-progress gauge),
   `--calls` calls each, in interleaved blocks; microseconds per request.
2. Over HTTP: two copies of the app, the same but for the middleware (taken out of the
   second before it starts), each with an empty route `GET /bench/empty`, requested one
   at a time by a client in another process, the two apps taking turns request by
   request (ABBA...); the median latency of each, and the difference per round.
3. A scrape: GET /metrics (one client, median of SCRAPES) and the store's part alone
   (`store.metrics.read` in-process), with the job tables empty and then holding
   `--jobs` finished jobs (run by a real procrastinate worker on a no-op task): the
   first scrape after they ran reads their runs (up to store.metrics.MAX_RUNS), the
   later ones only what ended since.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import threading
import time
from multiprocessing.connection import Connection

import httpx2
import procrastinate
import uvicorn
from common import REPO, machine, median
from engine import free_port
from fastapi import FastAPI
from procrastinate.psycopg_connector import PsycopgConnector
from sqlalchemy import make_url
from starlette.types import Message, Receive, Scope, Send

from likeness.api import create_app
from likeness.api.routes.metrics import RequestMetrics
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.engine.packs import resolve_pack
from likeness.metrics import AppMetrics
from likeness.store import Database
from likeness.store import metrics as store_metrics

KEY = "lk_bench-admin-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
EMPTY = "/bench/empty"
GETS = 400  # GETs per app and round
BLOCK = 2000  # in-process calls per block
SCRAPES = 30
BENCH_QUEUE = "bench"


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


def add_empty_route(app: FastAPI) -> None:
    async def empty() -> dict[str, str]:
        return {}

    app.add_api_route(EMPTY, empty, methods=["GET"])


def clients(conn: Connection, urls: list[str]) -> None:
    """The client process: per command, GETS requests to each URL's empty route, taking
    turns (ABBA...), and the median ms of each; or SCRAPES scrapes of one URL."""
    sessions = [httpx2.Client(base_url=url, headers=AUTH, timeout=60) for url in urls]
    while (command := conn.recv()) is not None:
        kind, argument = command
        if kind == "gets":
            timings: list[list[float]] = [[] for _ in urls]
            for index in range(2 * GETS):
                which = (index + index // 2) % 2
                started = time.perf_counter()
                sessions[which].get(EMPTY).raise_for_status()
                timings[which].append((time.perf_counter() - started) * 1000)
            conn.send([statistics.median(t) for t in timings])
        else:
            times, size = [], 0
            for _ in range(SCRAPES):
                started = time.perf_counter()
                answer = sessions[argument].get("/metrics")
                answer.raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
                size = len(answer.content)
            conn.send((times[0], statistics.median(times[1:]), size))
    for session in sessions:
        session.close()


def in_process(metrics: AppMetrics, app: FastAPI, rounds: int) -> tuple[float, float]:
    """Microseconds per call of an empty ASGI app: bare, and through RequestMetrics."""
    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = RequestMetrics(bare, metrics, app.router.routes)
    scope = {"type": "http", "method": "GET", "path": EMPTY, "root_path": "",
             "headers": [], "query_string": b"", "route": None}
    route = next(r for r in app.router.routes if getattr(r, "path", None) == EMPTY)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_: Message) -> None:
        pass

    async def block(target: object) -> float:
        started = time.perf_counter()
        for _ in range(BLOCK):
            call = dict(scope, route=route)
            await target(call, receive, send)  # type: ignore[operator]
        return (time.perf_counter() - started) / BLOCK * 1e6

    async def run() -> tuple[list[float], list[float]]:
        plain, timed = [], []
        await block(bare)
        await block(wrapped)
        for index in range(rounds * 5):
            order = (bare, wrapped) if index % 2 else (wrapped, bare)
            for target in order:
                (plain if target is bare else timed).append(await block(target))
        return plain, timed

    plain, timed = asyncio.run(run())
    return median(plain), median(timed)


def fill_jobs(database: Database, count: int) -> float:
    """`count` finished jobs of a no-op task, run by a real worker; seconds it took."""
    dsn = make_url(database.url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    jobs = procrastinate.App(connector=PsycopgConnector(conninfo=dsn))

    @jobs.task(name="bench_noop", queue=BENCH_QUEUE)
    def noop(index: int) -> None:
        pass

    async def run() -> None:
        async with jobs.open_async():
            for first in range(0, count, 1000):
                await noop.batch_defer_async(*({"index": i} for i in range(
                    first, min(first + 1000, count))))
            await jobs.run_worker_async(queues=[BENCH_QUEUE], concurrency=8, wait=False,
                                        install_signal_handlers=False)

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def read_store_ms(database: Database) -> tuple[float, float, int]:
    """ms of a read of every run there is (after event 0), of a read of what ended since
    (median of SCRAPES), and the runs the first one read."""
    def read(after: int) -> tuple[float, store_metrics.StoreSnapshot]:
        started = time.perf_counter()
        with database.session() as session:
            snapshot = store_metrics.read(session, queues=["scans", "photos", "clusters"],
                                          stall_seconds=60, after_event=after)
        return (time.perf_counter() - started) * 1000, snapshot

    everything, snapshot = read(0)
    since = [read(snapshot.last_event)[0] for _ in range(SCRAPES)]
    return everything, statistics.median(since), len(snapshot.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--jobs", type=int, default=10_000,
                        help="finished jobs in the tables for the second scrape figure")
    args = parser.parse_args()

    data_dir = REPO / "build" / "bench-metrics"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(model="buffalo_s", model_dir=REPO / "build" / "bench-models",
                        data_dir=data_dir, worker_in_serve=False, log_level="warning",
                        bootstrap_api_key=KEY)
    engine = FaceEngine(resolve_pack(settings.model, settings.model_dir),
                        threads=settings.onnx_threads, workers=settings.inference_workers)
    database = Database.open(settings)
    timed_app = create_app(settings, engine=engine, database=database)
    bare_app = create_app(settings, engine=engine, database=database)
    bare_app.user_middleware = [m for m in bare_app.user_middleware
                                if m.cls is not RequestMetrics]
    for app in (timed_app, bare_app):
        add_empty_route(app)
    plain_us, timed_us = in_process(timed_app.state.metrics, timed_app, args.rounds)

    servers = [start(app, free_port()) for app in (timed_app, bare_app)]
    urls = [f"http://127.0.0.1:{server.config.port}" for server, _ in servers]
    context = multiprocessing.get_context("spawn")
    conn, their_end = context.Pipe()
    load = context.Process(target=clients, args=(their_end, urls), daemon=True)
    try:
        load.start()
        conn.send(("gets", None))  # warm-up
        conn.recv()
        rounds = []
        for _ in range(args.rounds):
            conn.send(("gets", None))
            rounds.append(conn.recv())
        conn.send(("scrape", 0))
        _, scrape_empty_ms, size_empty = conn.recv()
        _, read_empty_ms, _ = read_store_ms(database)
        fill_s = fill_jobs(database, args.jobs) if args.jobs else 0.0
        time.sleep(store_metrics.SETTLE_SECONDS + 1)
        conn.send(("scrape", 0))
        catch_up_ms, scrape_full_ms, size_full = conn.recv()
        read_all_ms, read_full_ms, runs_read = read_store_ms(database)
        conn.send(None)
        load.join(30)
    finally:
        if load.is_alive():
            load.kill()
        for server, thread in servers:
            server.should_exit = True
            thread.join(30)
        database.close()
        engine.close()

    with_ms = median([r[0] for r in rounds])
    without_ms = median([r[1] for r in rounds])
    difference = median([r[0] - r[1] for r in rounds])
    print(f"Machine: {machine()}")
    print(f"Command: python bench/metrics.py --rounds {args.rounds} --jobs {args.jobs}; "
          f"the apps under uvicorn in-process, the client in another process; "
          f"PostgreSQL 18 embedded\n")
    print("| the request middleware | figure |")
    print("|---|---|")
    print(f"| in-process, an empty ASGI app: bare / through RequestMetrics | "
          f"{plain_us:.1f} / {timed_us:.1f} µs: **{timed_us - plain_us:.1f} µs** per "
          "request |")
    print(f"| GET {EMPTY} over HTTP, 1 client: without / with the middleware | "
          f"{without_ms:.3f} / {with_ms:.3f} ms |")
    print(f"| the difference, median of {args.rounds} rounds of {GETS} GETs each | "
          f"{difference * 1000:.0f} µs |")
    print("\n| a scrape | GET /metrics | store.metrics.read in-process | body |")
    print("|---|---|---|---|")
    print(f"| no jobs | {scrape_empty_ms:.1f} ms | {read_empty_ms:.1f} ms | "
          f"{size_empty / 1024:.0f} KiB |")
    if args.jobs:
        print(f"| {args.jobs} finished jobs (run in {fill_s:.0f} s): the first scrape after, "
              f"reading their {runs_read} runs | {catch_up_ms:.1f} ms | {read_all_ms:.1f} ms "
              "| |")
        print(f"| ... the later scrapes | {scrape_full_ms:.1f} ms | {read_full_ms:.1f} ms | "
              f"{size_full / 1024:.0f} KiB |")

if __name__ == "__main__":
    main()
