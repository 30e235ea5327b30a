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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import procrastinate
from procrastinate import JobContext, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.psycopg_connector import PsycopgConnector
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from sqlalchemy import make_url

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.errors import FetchFailed, LikenessError, NotFound, VectorIndexUnavailable
from likeness.media.files import clear_stale_scratch
from likeness.services.clusters import ClusterService
from likeness.services.events import EventService
from likeness.services.notifications import MAX_ATTEMPTS, NotificationService
from likeness.services.streams import StreamService
from likeness.services.videos import VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database, vectors

log = logging.getLogger(__name__)

SCAN_QUEUE = "scans"
PHOTO_QUEUE = "photos"
CLUSTER_QUEUE = "clusters"
NOTIFY_QUEUE = "notifications"
# A download that failed for a transient reason is retried 3 times: at once, 5 and 10 s
# later (procrastinate waits linear_wait x the attempts before).
URL_RETRY = RetryStrategy(max_attempts=3, linear_wait=5)
# A webhook delivery is tried MAX_ATTEMPTS times: 3, 9, 27, ... 2187 s apart (~55 min).
DELIVERY_RETRY = RetryStrategy(max_attempts=MAX_ATTEMPTS - 1, exponential_wait=3)
WORKER_CONCURRENCY = 2  # a long video scan does not hold up photo downloads
HEARTBEAT_SHARE = 0.25  # heartbeats come 4 times per stall period
STREAM_QUEUE = "streams"  # camera streams: long jobs, run by a worker loop of their own
VECTOR_QUEUE = "vectors"  # the outbox to an external vector index (store/vectors.py)
VECTOR_DRAIN_CRON = "* * * * * */10"  # every 10 s (procrastinate's sixth column: seconds)


class StreamRetry(BaseRetryStrategy):
    """A camera stream's job always comes back: at once when its worker stopped (it runs
    again when one starts), after a growing wait (up to a minute) when it failed."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0})
        return RetryDecision(retry_in={"seconds": min(60, 2 ** min(job.attempts, 6))})


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
        self.app.task(name="deliver_webhook", queue=NOTIFY_QUEUE, retry=DELIVERY_RETRY,
                      pass_context=True)(self._deliver_webhook)
        self.app.task(name="run_stream", queue=STREAM_QUEUE, retry=StreamRetry())(
            self._run_stream)
        self._stream_threads: ThreadPoolExecutor | None = None
        if settings.vector_backend == "milvus":  # pgvector has no outbox to drain
            self.app.periodic(cron=VECTOR_DRAIN_CRON, periodic_id="vectors")(
                self.app.task(name="drain_vector_outbox", queue=VECTOR_QUEUE,
                              queueing_lock="drain_vector_outbox")(
                    self._drain_vector_outbox))

    def _scan_video(self, video_id: int) -> None:
        runtime = self._runtime
        assert runtime is not None, "tasks run inside a worker"
        service = VideoService.from_settings(
            runtime.engine, runtime.settings, clusters=self,
            notifier=NotificationService.from_settings(runtime.settings, self),
            storage=runtime.storage)
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

    def _cluster_faces(self, event_id: int | None, rebuild: bool = False,
                       cameras: bool = False) -> None:
        runtime = self._runtime
        assert runtime is not None, "tasks run inside a worker"
        service = ClusterService.from_settings(runtime.settings)
        with runtime.database.session() as session:
            try:
                (service.rebuild if rebuild else service.update)(
                    session, event_id, runtime.engine.model_name, cameras=cameras)
            except NotFound:  # the event was deleted meanwhile
                log.info("clustering of event %s skipped: it is gone", event_id)

    def _deliver_webhook(self, context: JobContext, delivery_id: int) -> None:
        runtime = self._runtime
        assert runtime is not None and context.job is not None, "tasks run inside a worker"
        service = NotificationService.from_settings(runtime.settings, self)
        last = (context.job.attempts or 0) >= (DELIVERY_RETRY.max_attempts or 0)
        with runtime.database.session() as session:
            attempt = service.deliver(session, delivery_id, last_attempt=last)
        if attempt is not None and attempt.status == "pending":  # procrastinate retries
            raise FetchFailed(f"delivery {delivery_id}: {attempt.error}", transient=True)

    def _drain_vector_outbox(self, timestamp: int) -> None:
        """Apply the outbox to the external vector index; a failure waits for the next
        run (the rows stay in the outbox until the index has them)."""
        runtime = self._runtime
        assert runtime is not None, "tasks run inside a worker"
        try:
            vectors.drain(runtime.database.engine)
        except VectorIndexUnavailable as exc:
            log.warning("vector outbox not drained: %s", exc)

    def defer_scan(self, video_id: int) -> int:
        """Queue a scan; the job's id."""
        return self._defer("scan_video", SCAN_QUEUE, video_id=video_id)

    def defer_photo_url(self, photo_id: int) -> int:
        """Queue the download and analysis of a photo given by URL; the job's id."""
        return self._defer("ingest_photo_url", PHOTO_QUEUE, photo_id=photo_id)

    def defer_clustering(self, event_id: int | None, rebuild: bool = False,
                         cameras: bool = False) -> int | None:
        """Queue a clustering pass (a `rebuild`: from scratch) of the video unknowns
        (None), of an event's faces or of the cameras' unknowns; the job's id, or None
        when the same pass is already waiting (it will see the new faces too). Passes of
        one clustering never run at once."""
        scope = "cameras" if cameras else "videos" if event_id is None else f"event-{event_id}"
        try:
            return self._defer("cluster_faces", CLUSTER_QUEUE, lock=f"clusters-{scope}",
                               queueing_lock=f"clusters-{scope}-{rebuild}",
                               event_id=event_id, rebuild=rebuild, cameras=cameras)
        except AlreadyEnqueued:
            return None

    def defer_delivery(self, delivery_id: int, connection: Any | None = None) -> int:
        """Queue a webhook delivery; the job's id. With `connection` (a psycopg connection
        in a transaction) the job is queued in that transaction, with the delivery's row."""
        if connection is None:
            return self._defer("deliver_webhook", NOTIFY_QUEUE, lock=f"delivery-{delivery_id}",
                               delivery_id=delivery_id)
        return self._deferrer.configure_task(  # no pool of its own is used: no lock needed
            "deliver_webhook", queue=NOTIFY_QUEUE, lock=f"delivery-{delivery_id}",
            connection=connection).defer(delivery_id=delivery_id)

    def _defer(self, task: str, queue: str, lock: str | None = None,
               queueing_lock: str | None = None, **arguments: int | bool | None) -> int:
        with self._defer_lock, self._deferrer.open():
            return self._deferrer.configure_task(task, queue=queue, lock=lock,
                                                 queueing_lock=queueing_lock
                                                 ).defer(**arguments)

    async def _run_stream(self, stream_id: int) -> None:
        """Run a camera stream (in a thread of the stream slots) until it is deleted or
        its source ends; cancelled (the worker stops), it stops and the job comes back."""
        runtime = self._runtime
        assert runtime is not None and self._stream_threads is not None, \
            "tasks run inside a worker"
        service = StreamService.from_settings(
            runtime.engine, runtime.settings,
            notifier=NotificationService.from_settings(runtime.settings, self), clusters=self)
        stop = threading.Event()
        running = asyncio.get_running_loop().run_in_executor(
            self._stream_threads, service.run, runtime.database.sessions, stream_id, stop)
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            stop.set()  # the stream stops within a second or so: wait for it, whatever
            while not running.done():  # else its last writes race the next worker's
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([running])
            raise

    def defer_stream(self, stream_id: int) -> int | None:
        """Queue a stream's job (one per stream: None when it is queued already)."""
        try:
            return self._defer("run_stream", STREAM_QUEUE, lock=f"stream-{stream_id}",
                               queueing_lock=f"stream-{stream_id}", stream_id=stream_id)
        except AlreadyEnqueued:
            return None

    async def run_worker(self, runtime: WorkerRuntime) -> None:
        """Process jobs until cancelled; meanwhile put dead workers' jobs back. Camera
        streams run on a worker loop of their own, `stream_slots` at once, so that they
        never hold up scans, downloads or deliveries."""
        self._runtime = runtime
        stall = self.settings.job_stall_seconds
        slots = self.settings.stream_slots
        clear_stale_scratch(self.settings.work_dir)  # what a killed worker left
        async with self.app.open_async():
            requeue = asyncio.create_task(self._requeue_stalled(stall))
            workers = [self.app.run_worker_async(
                queues=[SCAN_QUEUE, PHOTO_QUEUE, CLUSTER_QUEUE, NOTIFY_QUEUE, VECTOR_QUEUE],
                concurrency=WORKER_CONCURRENCY,
                wait=True, install_signal_handlers=False,
                update_heartbeat_interval=stall * HEARTBEAT_SHARE,
                # A job whose wake-up signal was missed waits a second, not five.
                fetch_job_polling_interval=1,
                stalled_worker_timeout=stall)]
            if slots:
                self._stream_threads = ThreadPoolExecutor(slots, "likeness-stream")
                workers.append(self.app.run_worker_async(
                    queues=[STREAM_QUEUE], concurrency=slots, name="streams",
                    shutdown_graceful_timeout=0,
                    wait=True, install_signal_handlers=False,
                    update_heartbeat_interval=stall * HEARTBEAT_SHARE,
                    stalled_worker_timeout=stall))
            running = [asyncio.ensure_future(worker) for worker in workers]
            try:
                await asyncio.gather(*running)
            finally:  # one loop failing stops the other (a cancelled gather has waited)
                for worker in running:
                    if not worker.done():
                        worker.cancel()
                await asyncio.wait(running)
                requeue.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await requeue
                if self._stream_threads is not None:
                    self._stream_threads.shutdown(wait=False)

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
