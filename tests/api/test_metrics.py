"""GET /metrics on the real stack: scraped and parsed as Prometheus would, after real
requests (a real photo through the real model), a real job run by a real worker, streams
and the database pool; a key needed unless `metrics_public`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import StreamStatus
from likeness.store import Database
from likeness.store.models import Stream
from tests.conftest import AUTH, data_file, free_port

PHOTO = "faces/obama/obama_1.jpg"  # one face
# What a /detect and a /recognize of one photo with one face run: each stage's count.
STAGE_RUNS = {"decode": 2, "detect": 2, "embed": 2, "search": 1}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **kwargs: Any) -> Samples:
    """Every sample of GET /metrics, by name and labels."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(samples, "likeness_http_request_duration_seconds_count", method=method,
                 route=route, status=str(status))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample, labels in samples if sample == name}


@contextmanager
def own_app(settings: Settings, engine: FaceEngine, database: Database,
            **overrides: Any) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=overrides), engine=engine, database=database)
    with TestClient(app) as client:
        yield client


def test_requests_and_inference_counted_by_route_template(client: TestClient,
                                                          db: Database) -> None:
    before = scrape(client)
    photo = {"file": ("o.jpg", data_file(PHOTO).read_bytes(), "image/jpeg")}
    detected = client.post("/detect", files=photo)
    assert detected.status_code == 200 and len(detected.json()["faces"]) == 1
    recognized = client.post("/recognize", files=photo)
    assert recognized.status_code == 200 and len(recognized.json()["faces"]) == 1
    assert client.get("/people").status_code == 200
    for person_id in (1, 2, 999_999):  # raw ids never become labels
        assert client.get(f"/people/{person_id}").status_code == 404
    for path in ("/no/such/page", "/people/1/nothing", "/wp-login.php"):
        assert client.get(path).status_code == 404
    assert client.request("BREW", "/people").status_code == 405
    assert client.get("/ui/static/app.css").status_code == 200  # a mounted app's file
    after = scrape(client)

    def moved(method: str, route: str, status: int) -> float:
        return requests(after, method, route, status) - requests(before, method, route, status)

    assert moved("POST", "/detect", 200) == 1
    assert moved("POST", "/recognize", 200) == 1
    assert moved("GET", "/people", 200) == 1
    assert moved("GET", "/people/{person_id}", 404) == 3
    assert moved("GET", "unmatched", 404) == 3
    assert moved("other", "/people", 405) == 1
    assert moved("GET", "/ui/static/{path}", 200) == 1
    assert moved("GET", "/metrics", 200) == 1  # the first scrape
    routes = label_values(after, "likeness_http_request_duration_seconds_count", "route")
    assert not any(str(n) in route for route in routes for n in (1, 2, 999_999))
    assert "/wp-login.php" not in routes and "/no/such/page" not in routes
    # the histogram: cumulative buckets, +Inf equal to the count, a positive sum
    labels = {"method": "POST", "route": "/detect", "status": "200"}
    infinite = value(after, "likeness_http_request_duration_seconds_bucket", le="+Inf",
                     **labels)
    assert infinite == requests(after, "POST", "/detect", 200)
    assert value(after, "likeness_http_request_duration_seconds_sum", **labels) > 0
    buckets = sorted((float(dict(k)["le"]), v) for (name, k), v in after.items()
                     if name == "likeness_http_request_duration_seconds_bucket"
                     and {key: val for key, val in k if key != "le"} == labels)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)

    # inference: two requests of one image with one face each, through every stage
    def stage(samples: Samples, name: str) -> tuple[float, float]:
        return (value(samples, "likeness_inference_seconds_count", stage=name),
                value(samples, "likeness_inference_seconds_sum", stage=name))

    for name, runs in STAGE_RUNS.items():
        (count_before, sum_before), (count_after, sum_after) = stage(before, name), stage(
            after, name)
        assert count_after - count_before == runs, name
        assert 0 < sum_after - sum_before < 10, name
    for name in ("decode", "detect", "embed", "attributes", "search"):  # every series
        assert ("likeness_inference_seconds_count", frozenset({("stage", name)})) in after
    assert value(after, "likeness_images_total") - value(before, "likeness_images_total") == 2
    assert value(after, "likeness_faces_total") - value(before, "likeness_faces_total") == 2
    assert value(after, "likeness_http_requests_in_progress") == 1  # the scrape itself
    assert value(after, "likeness_store_up") == 1
    assert value(after, "process_resident_memory_bytes") > 0


def test_queue_depth_job_durations_and_workers(client: TestClient, settings: Settings,
                                               engine: FaceEngine, db: Database) -> None:
    jobs = client.app.state.jobs  # type: ignore[attr-defined]
    run = {"queue": "clusters", "task": "cluster_faces", "outcome": "succeeded"}
    empty = scrape(client)  # runs are counted from here on
    assert value(empty, "likeness_jobs", queue="clusters", status="todo") == 0
    assert {"scans", "photos", "clusters"} <= label_values(empty, "likeness_jobs", "queue")
    assert label_values(empty, "likeness_jobs", "status") == {"todo", "doing"}
    runs_before = value(empty, "likeness_job_duration_seconds_count", **run)
    assert jobs.defer_clustering(None) is not None  # no worker in this app: it waits
    time.sleep(0.2)
    waiting = scrape(client)
    assert value(waiting, "likeness_jobs", queue="clusters", status="todo") == 1
    assert value(waiting, "likeness_jobs", queue="scans", status="todo") == 0
    assert value(waiting, "likeness_job_oldest_waiting_seconds", queue="clusters") >= 0.2
    assert value(waiting, "likeness_job_oldest_waiting_seconds", queue="scans") == 0
    assert value(waiting, "likeness_job_workers") == 0

    # a worker (a second app's) runs it; the first app counts the run once it has settled
    with own_app(settings, engine, db, worker_in_serve=True) as worker:
        deadline = time.monotonic() + 60
        while True:
            running = scrape(worker, headers=AUTH)
            done = scrape(client)
            if value(done, "likeness_job_duration_seconds_count", **run) > runs_before:
                break
            assert time.monotonic() < deadline, "the run was not counted"
            time.sleep(0.3)
        assert value(running, "likeness_job_workers") >= 1  # with stream slots, 2 loops
    assert value(done, "likeness_jobs", queue="clusters", status="todo") == 0
    assert value(done, "likeness_jobs", queue="clusters", status="doing") == 0
    assert value(done, "likeness_job_oldest_waiting_seconds", queue="clusters") == 0
    assert value(done, "likeness_job_duration_seconds_count", **run) == runs_before + 1
    assert 0 <= value(done, "likeness_job_duration_seconds_sum", **run) < 30
    assert value(done, "likeness_job_duration_seconds_bucket", le="+Inf", **run) == (
        runs_before + 1)
    assert value(done, "likeness_job_duration_seconds_bucket", le="3600.0", **run) == (
        runs_before + 1)
    # counted once: later scrapes read only what ended after
    time.sleep(0.5)
    again = scrape(client)
    assert value(again, "likeness_job_duration_seconds_count", **run) == runs_before + 1


def test_streams_by_status_and_database_pool(client: TestClient, db: Database) -> None:
    with db.session() as session:
        for name, status in (("door", StreamStatus.UP), ("yard", StreamStatus.UP),
                             ("garage", StreamStatus.RECONNECTING),
                             ("attic", StreamStatus.DOWN)):
            session.add(Stream(name=name, url=f"rtsp://127.0.0.1:1/{name}", fps=5,
                               status=status))
        session.commit()
    samples = scrape(client)
    assert {status: value(samples, "likeness_streams", status=status)
            for status in StreamStatus} == {"up": 2, "starting": 0, "reconnecting": 1,
                                            "down": 1}
    assert value(samples, "likeness_db_pool_size") == 10
    assert value(samples, "likeness_db_pool_limit") == 30
    # the connections open now: those checked out (the scrape's own) and the idle ones
    opened = (value(samples, "likeness_db_pool_checked_out")
              + value(samples, "likeness_db_pool_idle")
              + value(samples, "likeness_db_pool_overflow"))
    assert value(samples, "likeness_db_pool_checked_out") >= 0 and opened >= 1
    pool = db.engine.pool
    with db.engine.connect(), db.engine.connect():  # two more in use, during a scrape
        held = scrape(client)
        assert value(held, "likeness_db_pool_checked_out") >= 2
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


def test_metrics_need_a_viewer_key_unless_public(client: TestClient, settings: Settings,
                                                 engine: FaceEngine, db: Database) -> None:
    refused = client.get("/metrics", headers={"X-API-Key": ""})
    assert refused.status_code == 401 and "credentials" in refused.json()["detail"]
    wrong = client.get("/metrics", headers={"X-API-Key": "lk_wrong-key-0123456789abcdef"})
    assert wrong.status_code == 401
    operation = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert operation["security"] and "401" in operation["responses"]

    with own_app(settings, engine, db, metrics_public=True, max_upload_mb=0.01) as anyone:
        samples = scrape(anyone)  # no credentials at all
        assert value(samples, "likeness_store_up") == 1
        operation = anyone.get("/openapi.json").json()["paths"]["/metrics"]["get"]
        assert "security" not in operation and "401" not in operation["responses"]
        assert "text/plain" in operation["responses"]["200"]["content"]
        # refused before routing (the body is too large): still the route's template
        too_large = anyone.post("/detect", content=b"x" * 200_000,
                                headers={"Content-Type": "image/jpeg"})
        assert too_large.status_code == 413
        assert requests(scrape(anyone), "POST", "/detect", 413) == 1
        assert anyone.get("/people").status_code == 401  # the rest still needs a key


def test_scrape_answers_while_the_database_is_down(settings: Settings,
                                                   engine: FaceEngine) -> None:
    """Nothing listens at the database's address: the scrape still answers, with
    likeness_store_up 0 and the process's own figures."""
    nowhere = Database(f"postgresql+psycopg://likeness@127.0.0.1:{free_port()}/likeness")
    try:
        with own_app(settings, engine, nowhere, metrics_public=True) as anyone:
            assert anyone.get("/health").status_code == 503
            samples = scrape(anyone)
            assert value(samples, "likeness_store_up") == 0
            assert requests(samples, "GET", "/health", 503) == 1
            assert not label_values(samples, "likeness_jobs", "queue")
            assert ("likeness_inference_seconds_count",
                    frozenset({("stage", "detect")})) in samples
    finally:
        nowhere.engine.dispose()

