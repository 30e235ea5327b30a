"""The FastAPI application: one engine per process, errors mapped in one place, the
background parts supervised in one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool

from likeness import __version__
from likeness.api.auth import AuditTrail
from likeness.api.engine_holder import EngineHolder
from likeness.api.errors import install_error_handlers, install_openapi
from likeness.api.limits import BodySizeLimit
from likeness.api.routes import (
    access,
    clusters,
    events,
    faces,
    live,
    metrics,
    people,
    share,
    streams,
    videos,
    webhooks,
)
from likeness.api.supervisor import Supervisor
from likeness.config import Settings, get_settings
from likeness.engine import FaceEngine
from likeness.jobs.queue import JobQueue, WorkerRuntime, WorkerThread
from likeness.jobs.watch import FolderWatcher
from likeness.media.files import clear_stale_scratch
from likeness.rpc.server import GrpcServer
from likeness.services.access import AccessService, Throttle
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.ui import install_ui

log = logging.getLogger(__name__)

# Multipart framing and base64 (4/3 of the bytes) on top of the largest accepted file.
BODY_OVERHEAD = 4 / 3
BODY_SLACK = 64 * 1024


def create_app(settings: Settings | None = None, engine: FaceEngine | None = None,
               database: Database | None = None) -> FastAPI:
    """The app. Without `engine`, the model named by `settings` loads in the background;
    without `database`, the one `settings` names is opened (and migrated) at start-up.
    Once the model is loaded, a job worker, a folder watcher and a gRPC server start if
    settings ask. What the caller passes in, the caller closes."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = database or await run_in_threadpool(Database.open, settings)
        await run_in_threadpool(_prepare_access, app, settings)
        await run_in_threadpool(clear_stale_scratch, settings.work_dir)  # a killed server's
        app.state.jobs = JobQueue(app.state.database, settings)
        holder = EngineHolder(engine)
        supervisor = Supervisor(holder, app.state.database)
        supervisor.expect("worker", settings.worker_in_serve)
        supervisor.expect("watcher", settings.watch_dir is not None)
        supervisor.expect("grpc", settings.grpc_port is not None)

        def start_background(loaded: FaceEngine | None) -> None:
            if loaded is None:
                supervisor.fail_pending("the model failed to load")
                return
            storage = app.state.storage
            if settings.worker_in_serve:
                runtime = WorkerRuntime(loaded, app.state.database, settings, storage)
                supervisor.start("worker", lambda: WorkerThread(app.state.jobs, runtime))
            if settings.watch_dir is not None:
                watch_dir = settings.watch_dir
                supervisor.start("watcher", lambda: FolderWatcher(
                    watch_dir, app.state.database, app.state.jobs, settings, storage))
            if settings.grpc_port is not None:
                port = settings.grpc_port
                supervisor.start("grpc", lambda: GrpcServer(
                    loaded, app.state.database, settings, storage, settings.host, port,
                    clusters=app.state.jobs))

        if engine is None:
            holder.load_in_background(lambda: FaceEngine.from_settings(settings),
                                      start_background)
        else:
            start_background(engine)
        app.state.engine_holder = holder
        app.state.supervisor = supervisor
        try:
            yield
        finally:
            holder.wait()
            supervisor.stop()
            if engine is None:
                holder.close()
            if database is None:
                app.state.database.close()

    app = FastAPI(title="Likeness", version=__version__, lifespan=lifespan,
                  description="Self-hosted face recognition on InsightFace models. Every "
                              "error body is {\"detail\": \"...\"} (GET /health answers "
                              "503 with its own body, each component's state). Live "
                              "recognition is the WebSocket /ws/recognize, not in this "
                              "document: see docs/live.md.")
    app.state.settings = settings
    app.state.storage = ObjectStorage.from_settings(settings)
    app.state.access = AccessService(settings.session_days)
    app.state.failures = Throttle(settings.auth_failures_per_minute)
    app.state.share_matches = Throttle(settings.share_matches_per_minute)
    app.add_middleware(AuditTrail, access=app.state.access,
                       database=lambda: app.state.database)
    app.add_middleware(BodySizeLimit,
                       max_bytes=int(settings.max_upload_bytes * BODY_OVERHEAD) + BODY_SLACK,
                       large={path: int(settings.max_video_mb * 1e6) + BODY_SLACK
                              for path in ("/videos", "/ui/videos")})
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(faces.router)
    app.include_router(people.router)
    app.include_router(videos.router)
    app.include_router(events.router)
    app.include_router(clusters.router)
    app.include_router(share.router)
    app.include_router(share.guest)
    app.include_router(access.router)
    app.include_router(live.router)
    app.include_router(streams.router)
    app.include_router(webhooks.router)
    metrics.instrument(app)  # GET /metrics, and the outermost middleware: timings
    install_ui(app)
    return app


def _prepare_access(app: FastAPI, settings: Settings) -> None:
    """Seed the bootstrap admin key; say how to get in when nobody can yet."""
    access: AccessService = app.state.access
    try:
        _seed_access(access, app.state.database, settings)
    except (OperationalError, InterfaceError) as exc:  # requests will answer 503 meanwhile
        log.warning("the database is unavailable; access control not checked: %s", exc.orig)


def _seed_access(access: AccessService, database: Database, settings: Settings) -> None:
    with database.session() as session:
        access.bootstrap(session, settings.bootstrap_api_key)
