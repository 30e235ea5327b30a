"""What access control costs: HTTP /detect throughput with an API key against the same
endpoint without the access check, side by side in one server.

    .venv/bin/python bench/auth.py            # --rounds N (default 9), about 1-2 minutes

The app runs in this process under uvicorn on a loopback port, as `likeness serve` runs
it (the loaded model passed in, an embedded PostgreSQL of its own in build/bench-auth,
the admin key seeded by `bootstrap_api_key`, as LIKENESS_BOOTSTRAP_API_KEY does; no job
worker). Two routes are added to that app for the measurement only:

- `POST /bench/detect-open`: the very endpoint function of `POST /detect`
  (`routes.faces.detect`), registered without its access dependency. `/detect` with the
  key and this route share everything else (server, engine, middleware, including the
  audit middleware, which records nothing for either), so the difference between them is
  the access check and nothing else.
- `GET /bench/open` and `GET /bench/guarded`: an empty answer, without and with the
  viewer dependency of every protected operation. Their latency difference (one request
  at a time, the two taking turns request by request) is the wall time of the check
  alone: the hop to the thread pool, a database session from the pool, the key's lookup
  by hash (and, at most once a minute, the write of its `last_used_at`).

Figures:

1. /detect with the key against the open /detect: the 12 single-face photos of
   shared/data sent HTTP_CLIENTS at a time, the two sides taking turns block by block
   (ABBA, BLOCKS blocks each per round), so that the load of a shared machine falls on
   both alike; the ratio is the median of per-round ratios, the pooled one that of the
   summed times (target: within 3%).
2. The check's wall time t (the median of per-round differences of medians), and the
   ratio it implies at the measured /detect rate R: 1 - t x R. That counts t as if it
   were added, alone on the machine, to the time of every image; the check mostly waits
   (thread pool, database) while other requests infer, so the true cost is lower: a
   bound, the design's main figure on a machine too noisy for figure 1 to resolve 3%.
3. `AccessService.authenticate_key` in-process (a pooled session, the lookup), for scale.

The client threads run in the same process as the server and share its GIL; that holds
for both sides of every comparison.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import uvicorn
from common import DATA, REPO, machine, median
from engine import HTTP_CLIENTS, free_port
from fastapi import FastAPI

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
BLOCKS = 6  # blocks of the 12 photos per side and round, about 0.4 s each
GETS = 300  # cheap GETs per side and round
DIRECT_CALLS = 2000


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    data_dir = REPO / "build" / "bench-auth"
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(model="buffalo_s", model_dir=REPO / "build" / "bench-models",
                        data_dir=data_dir, worker_in_serve=False, log_level="warning",
                        bootstrap_api_key=KEY)
    engine = FaceEngine(resolve_pack(settings.model, settings.model_dir),
                        threads=settings.onnx_threads, workers=settings.inference_workers)
    app = create_app(settings, engine=engine)
    app.add_api_route("/bench/detect-open", faces.detect, methods=["POST"],
                      response_model=DetectOut)

    async def empty() -> dict[str, str]:
        return {}

    app.add_api_route("/bench/open", empty, methods=["GET"])
    app.add_api_route("/bench/guarded", empty, methods=["GET"], dependencies=[VIEWER])

    photos = [p.read_bytes() for p in sorted((DATA / "faces").glob("*/*"))]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server, thread = start(app, port)
    try:
        clients = [httpx2.Client(base_url=url, timeout=60) for _ in range(HTTP_CLIENTS)]
        one = clients[0]
        assert one.post("/detect", files={"file": ("p.jpg", photos[0])}).status_code == 401
        assert one.get("/bench/guarded").status_code == 401

        with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
            def block_s(path: str, headers: dict[str, str]) -> float:
                """Seconds to send the photos once through `path`, HTTP_CLIENTS at a time."""
                def post(job: tuple[int, bytes]) -> None:
                    index, data = job
                    clients[index % HTTP_CLIENTS].post(
                        path, files={"file": ("photo.jpg", data)}, headers=headers
                    ).raise_for_status()

                started = time.perf_counter()
                list(pool.map(post, enumerate(photos)))
                return time.perf_counter() - started

            def round_rates() -> tuple[float, float]:
                """One round: BLOCKS blocks of each side, interleaved (ABBA...)."""
                keyed_s = open_s = 0.0
                for index in range(BLOCKS):
                    if index % 2 == 0:
                        keyed_s += block_s("/detect", AUTH)
                        open_s += block_s("/bench/detect-open", {})
                    else:
                        open_s += block_s("/bench/detect-open", {})
                        keyed_s += block_s("/detect", AUTH)
                images = BLOCKS * len(photos)
                return images / keyed_s, images / open_s

            round_rates()  # warm-up
            keyed, open_ = (list(side) for side in
                            zip(*(round_rates() for _ in range(args.rounds)), strict=True))

        def get_round() -> tuple[float, float]:
            """Median ms of GETS requests to each empty route, taking turns request by
            request, one at a time."""
            timings: dict[str, list[float]] = {"/bench/guarded": [], "/bench/open": []}
            for index in range(2 * GETS):
                path = ("/bench/guarded", "/bench/open")[(index + index // 2) % 2]
                started = time.perf_counter()
                one.get(path, headers=AUTH).raise_for_status()
                timings[path].append((time.perf_counter() - started) * 1000)
            return (statistics.median(timings["/bench/guarded"]),
                    statistics.median(timings["/bench/open"]))

        get_round()  # warm-up
        guarded_ms, open_ms = (list(side) for side in
                               zip(*(get_round() for _ in range(args.rounds)), strict=True))
        for client in clients:
            client.close()

        access: AccessService = app.state.access
        database = app.state.database
        direct = []
        for _ in range(DIRECT_CALLS):
            started = time.perf_counter()
            with database.session() as session:
                assert access.authenticate_key(session, KEY) is not None
            direct.append((time.perf_counter() - started) * 1000)
    finally:
        server.should_exit = True
        thread.join(30)
        engine.close()

    ratios = sorted(k / o for k, o in zip(keyed, open_, strict=True))
    ratio = median(ratios)
    # Every round sends the same images through each side: the ratio of the summed times.
    pooled = sum(1 / o for o in open_) / sum(1 / k for k in keyed)
    check_ms = median([g - o for g, o in zip(guarded_ms, open_ms, strict=True)])
    implied = 1 - check_ms / 1000 * median(keyed)
    print(f"Machine: {machine()}")
    print(f"Command: python bench/auth.py --rounds {args.rounds}; model buffalo_s, "
          f"{engine.workers} workers x {settings.onnx_threads} thread; uvicorn in-process; "
          f"{BLOCKS} x {len(photos)} single-face photos per side and round, interleaved; "
          f"{HTTP_CLIENTS} concurrent clients; PostgreSQL 18 embedded\n")
    print("| measurement | figure |")
    print("|---|---|")
    print(f"| POST /detect with the API key, {HTTP_CLIENTS} clients | {median(keyed):.1f} img/s |")
    print(f"| POST /detect's endpoint without the access check | {median(open_):.1f} img/s |")
    print(f"| with / without: median of {args.rounds} per-round ratios (pooled; range) | "
          f"**{ratio:.1%}** ({pooled:.1%}; {ratios[0]:.1%}-{ratios[-1]:.1%}) |")
    print(f"| GET of an empty route, 1 client: open / with the viewer check | "
          f"{median(open_ms):.2f} / {median(guarded_ms):.2f} ms |")
    print(f"| the check alone, t (median of per-round differences) | {check_ms:.2f} ms |")
    print(f"| /detect with / implied without, bound: 1 - t x {median(keyed):.1f} img/s | "
          f"**{implied:.1%}** |")
    print(f"| AccessService.authenticate_key in-process, with a pooled session | "
          f"{statistics.median(direct):.2f} ms |")


if __name__ == "__main__":
    main()
