"""The job queue (procrastinate, in the same PostgreSQL), its tasks and its workers.

A worker sends heartbeats; a worker that dies (kill -9, a lost machine) stops sending them,
and any live worker puts its jobs back on the queue after `job_stall_seconds`. A scan
stores its results in one transaction that replaces an earlier attempt's, so a retried
job ends with no duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from sqlalchemy import make_url

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import LikenessError, NotFound
from likeness.services.clusters import ClusterService
from likeness.services.events import EventService
from likeness.services.videos import VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database

log = logging.getLogger(__name__)

SCAN_QUEUE = "scans"
PHOTO_QUEUE = "photos"
CLUSTER_QUEUE = "clusters"
# A download that failed for a transient reason is retried 3 times: at once, 5 and 10 s
# later (procrastinate waits linear_wait x the attempts before).
URL_RETRY = RetryStrategy(max_attempts=3, linear_wait=5)
WORKER_CONCURRENCY = 2  # a long video scan does not hold up photo downloads
HEARTBEAT_SHARE = 0.25  # heartbeats come 4 times per stall period


@dataclass
class WorkerRuntime:
    """What the tasks of this process work with."""

    engine: FaceEngine
    database: Database
    settings: Settings
    storage: ObjectStorage


class JobQueue:
    def __init__(self, database: Database, settings: Settings) -> None:
        dsn = make_url(database.url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.settings = settings
        self.app = procrastinate.App(connector=PsycopgConnector(conninfo=dsn))
        # Deferring is synchronous (API threads, the CLI) and must not share the worker's
        # async App: a separate one, opened for each defer on a single connection, one
        # defer at a time (two threads would close the pool under each other).
        self._deferrer = procrastinate.App(connector=SyncPsycopgConnector(
            conninfo=dsn, min_size=1, max_size=1))
        self._defer_lock = threading.Lock()
        self._runtime: WorkerRuntime | None = None
        self.app.task(name="scan_video", queue=SCAN_QUEUE, retry=3)(self._scan_video)
        self.app.task(name="ingest_photo_url", queue=PHOTO_QUEUE, retry=URL_RETRY,
                      pass_context=True)(self._ingest_photo_url)
        self.app.task(name="cluster_faces", queue=CLUSTER_QUEUE, retry=3)(self._cluster_faces)

    def _scan_video(self, video_id: int) -> None:
        runtime = self._runtime
        assert runtime is not None, "tasks run inside a worker"
        service = VideoService.from_settings(runtime.engine, runtime.settings, clusters=self)
        try:
            service.scan(runtime.database.sessions, video_id)
        except LikenessError as exc:  # a bad video: marked failed, not worth a retry
            log.warning("scan of video %s failed: %s", video_id, exc)

    def _ingest_photo_url(self, context: JobContext, photo_id: int) -> None:
        runtime = self._runtime
        assert runtime is not None and context.job is not None, "tasks run inside a worker"
        service = EventService.from_settings(runtime.engine, runtime.storage, runtime.settings,
                                             clusters=self)
        last = (context.job.attempts or 0) >= (URL_RETRY.max_attempts or 0)
        with runtime.database.session() as session:
            service.complete_url(session, photo_id, last_attempt=last)

    def _cluster_faces(self, event_id: int | None, rebuild: bool = False) -> None:
        runtime = self._runtime
        assert runtime is not None, "tasks run inside a worker"
        service = ClusterService.from_settings(runtime.settings)
        with runtime.database.session() as session:
            try:
                (service.rebuild if rebuild else service.update)(
                    session, event_id, runtime.engine.model_name)
            except NotFound:  # the event was deleted meanwhile
                log.info("clustering of event %s skipped: it is gone", event_id)

    def defer_scan(self, video_id: int) -> int:
        """Queue a scan; the job's id."""
        return self._defer("scan_video", SCAN_QUEUE, video_id=video_id)

    def defer_photo_url(self, photo_id: int) -> int:
        """Queue the download and analysis of a photo given by URL; the job's id."""
        return self._defer("ingest_photo_url", PHOTO_QUEUE, photo_id=photo_id)

    def defer_clustering(self, event_id: int | None, rebuild: bool = False) -> int | None:
        """Queue a clustering pass (a `rebuild`: from scratch) of the video unknowns
        (None) or of an event's faces; the job's id, or None when the same pass is
        already waiting (it will see the new faces too). Passes of one clustering never
        run at once."""
        scope = "videos" if event_id is None else f"event-{event_id}"
        try:
            return self._defer("cluster_faces", CLUSTER_QUEUE, lock=f"clusters-{scope}",
                               queueing_lock=f"clusters-{scope}-{rebuild}",
                               event_id=event_id, rebuild=rebuild)
        except AlreadyEnqueued:
            return None

    def _defer(self, task: str, queue: str, lock: str | None = None,
               queueing_lock: str | None = None, **arguments: int | bool | None) -> int:
        with self._defer_lock, self._deferrer.open():
            return self._deferrer.configure_task(task, queue=queue, lock=lock,
                                                 queueing_lock=queueing_lock
                                                 ).defer(**arguments)

    async def run_worker(self, runtime: WorkerRuntime) -> None:
        """Process jobs until cancelled; meanwhile put dead workers' jobs back."""
        self._runtime = runtime
        stall = self.settings.job_stall_seconds
        async with self.app.open_async():
            requeue = asyncio.create_task(self._requeue_stalled(stall))
            try:
                await self.app.run_worker_async(
                    queues=[SCAN_QUEUE, PHOTO_QUEUE, CLUSTER_QUEUE], concurrency=WORKER_CONCURRENCY,
                    wait=True, install_signal_handlers=False,
                    update_heartbeat_interval=stall * HEARTBEAT_SHARE,
                    stalled_worker_timeout=stall)
            finally:
                requeue.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await requeue

    async def _requeue_stalled(self, stall: float) -> None:
        manager = self.app.job_manager
        while True:
            for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stall):
                log.warning("job %s (%s) lost its worker: queued again", job.id,
                            job.task_name)
                await manager.retry_job(job)
            await asyncio.sleep(stall * HEARTBEAT_SHARE)


class WorkerThread:
    """A worker inside another process (`likeness serve`), on its own event loop."""

    def __init__(self, queue: JobQueue, runtime: WorkerRuntime) -> None:
        self._queue = queue
        self._runtime = runtime
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._run, name="likeness-worker",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._queue.run_worker(self._runtime))
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    def stop(self, timeout: float = 30) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout)
