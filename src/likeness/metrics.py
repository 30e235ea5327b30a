"""Metrics in the Prometheus format (prometheus-client), served by GET /metrics.

Two kinds:

- **Process-wide** figures, measured where the work happens, whichever transport asked for
  it (HTTP, gRPC, the job worker, a stream): inference time per stage and the images and
  faces analysed. Code times a stage with `timed("decode")` (a context manager and a
  decorator) or `observe("detect", seconds)`, and counts with `analysed(images, faces)`.
  These instruments belong to no registry: each app's registry reads them.
- **Per app**: `AppMetrics` holds the app's own registry (not prometheus-client's global
  one, so that several apps in one process, as in the tests, never collide) with its HTTP
  requests, and reads the rest at scrape time: the process-wide figures above, the
  database pool, and what the database holds (the job queue, the streams), through the
  callables it is given. A database that cannot be read makes `likeness_store_up` 0; the
  rest of the scrape still answers.

This module imports prometheus-client (and SQLAlchemy's pool class) and nothing of the
project's layers, so that any layer may time its work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.context_managers import Timer
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from likeness import __version__

if TYPE_CHECKING:
    from sqlalchemy.pool import Pool

    from likeness.store.metrics import StoreSnapshot

log = logging.getLogger(__name__)

# Inference stages, in the order an image goes through them. decode: bytes to pixels;
# detect: the detector on one image, with the alignment and quality of its faces; embed:
# the recognizer on one call's faces (a batch); attributes: age and gender, where the
# pack has them; search: one face's nearest people in the gallery.
STAGES = ("decode", "detect", "embed", "attributes", "search")
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A job runs from a fraction of a second (a photo) to an hour (a long video).
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# No `_created` series (a timestamp beside every counter and histogram): Prometheus's text
# format would store each as a series of its own, for nothing rate() needs.
disable_created_metrics()

_INFERENCE = Histogram("likeness_inference_seconds",
                       "Inference time per stage (decode, detect, embed, attributes, search)",
                       ["stage"], buckets=STAGE_BUCKETS, registry=None)
_STAGE = {name: _INFERENCE.labels(stage=name) for name in STAGES}  # every series from 0
_IMAGES = Counter("likeness_images", "Images and video frames analysed", registry=None)
_FACES = Counter("likeness_faces", "Faces found in analysed images; rate() gives faces "
                                   "per second", registry=None)


def observe(stage: str, seconds: float) -> None:
    """Record that `stage` (one of STAGES) took `seconds`."""
    _STAGE[stage].observe(seconds)


def timed(stage: str) -> Timer:
    """Time `stage` (one of STAGES): `with timed("decode"): ...`, or as a decorator."""
    return _STAGE[stage].time()


def analysed(images: int, faces: int) -> None:
    """Count `images` analysed, in which `faces` faces were found."""
    _IMAGES.inc(images)
    _FACES.inc(faces)


class _Inference:
    def collect(self) -> Iterator[Metric]:
        yield from _INFERENCE.collect()
        yield from _IMAGES.collect()
        yield from _FACES.collect()


class _Build:
    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("likeness_build_info", "This server's version",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        yield info


class _DatabasePool:
    """The SQLAlchemy pool's connections, read at scrape time."""

    def __init__(self, pool: Callable[[], Pool | None]) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        pool = self.pool()
        from sqlalchemy.pool import QueuePool  # here: the CLI imports this module light

        if not isinstance(pool, QueuePool):
            return  # no database yet, or a pool that does not count (NullPool)
        yield GaugeMetricFamily("likeness_db_pool_size", "Connections the database pool "
                                "keeps open", value=pool.size())
        yield GaugeMetricFamily("likeness_db_pool_checked_out", "Database connections in "
                                "use", value=pool.checkedout())
        yield GaugeMetricFamily("likeness_db_pool_idle", "Open database connections that "
                                "wait in the pool", value=pool.checkedin())
        yield GaugeMetricFamily("likeness_db_pool_overflow", "Connections open beyond the "
                                "pool's size", value=max(pool.overflow(), 0))
        max_overflow = getattr(pool, "_max_overflow", -1)  # no public accessor
        if isinstance(max_overflow, int) and max_overflow >= 0:
            yield GaugeMetricFamily("likeness_db_pool_limit", "The most connections the "
                                    "pool opens (size + overflow); more requests wait",
                                    value=pool.size() + max_overflow)


class _Store:
    """The job queue and the streams, read from the database at scrape time. Job runs
    are read as they end (after the last event read before), into a histogram of this
    app's: like any counter, it starts at 0 with the process (at its first scrape)."""

    def __init__(self, read: Callable[[int | None], StoreSnapshot]) -> None:
        self.read = read
        self.lock = threading.Lock()  # scrapes run in the thread pool, maybe two at once
        self.last_event: int | None = None
        self.runs = Histogram(
            "likeness_job_duration_seconds", "How long runs of jobs took, by queue, task "
            "and outcome (succeeded, failed, aborted, deferred_for_retry: failed and "
            "queued again), counted as they end",
            ["queue", "task", "outcome"], buckets=JOB_BUCKETS, registry=None)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("likeness_store_up", "1 when this scrape could read the "
                               "job queue and the streams from the database, else 0")
        snapshot: StoreSnapshot | None = None
        with self.lock:
            try:
                read = self.read(self.last_event)
            except Exception as exc:  # the database is down: say so, answer the rest
                log.warning("metrics: the job queue and streams could not be read: %s", exc)
            else:
                for run in read.runs:
                    self.runs.labels(run.queue, run.task, run.outcome).observe(run.seconds)
                self.last_event, snapshot = read.last_event, read
        up.add_metric([], 0 if snapshot is None else 1)
        yield up
        yield from self.runs.collect()
        if snapshot is None:
            return
        jobs = GaugeMetricFamily("likeness_jobs", "Jobs waiting (todo: the queue's depth) "
                                 "and running (doing), by queue", labels=["queue", "status"])
        for (queue, status), count in sorted(snapshot.jobs.items()):
            jobs.add_metric([queue, status], count)
        yield jobs
        waiting = GaugeMetricFamily("likeness_job_oldest_waiting_seconds",
                                    "How long the oldest job due in the queue has waited "
                                    "(0: none waits)", labels=["queue"])
        for queue in sorted({queue for queue, _ in snapshot.jobs}):
            waiting.add_metric([queue], snapshot.oldest_waiting_s.get(queue, 0.0))
        yield waiting
        yield GaugeMetricFamily("likeness_job_workers", "Job worker loops with a recent "
                                "heartbeat (a worker runs one, and one more for camera "
                                "streams when it has stream slots)", value=snapshot.workers)
        streams = GaugeMetricFamily("likeness_streams", "Camera streams by status (up, "
                                    "starting, reconnecting, down)", labels=["status"])
        for status, count in sorted(snapshot.streams.items()):
            streams.add_metric([status], count)
        yield streams


class AppMetrics:
    """One app's registry: its HTTP requests, the process-wide figures, the database pool
    and what the store holds (`store` reads it, with the job runs that ended after the
    event it is given; `pool` gives the pool, or None before the database opens)."""

    def __init__(self, *, store: Callable[[int | None], StoreSnapshot],
                 pool: Callable[[], Pool | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "likeness_http_request_duration_seconds",
            "HTTP requests by method, route template and status, until the last byte of "
            "the response is sent; the _count is the number of requests",
            ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=self.registry)
        self.in_progress = Gauge("likeness_http_requests_in_progress",
                                 "HTTP requests being answered", registry=self.registry)
        for collector in (_Build(), _Inference(), _DatabasePool(pool), _Store(store)):
            self.registry.register(collector)
        ProcessCollector(registry=self.registry)  # CPU, memory, open files
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format (version 0.0.4)."""
        return generate_latest(self.registry)
