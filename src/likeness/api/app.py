"""The FastAPI application: one engine per process, errors mapped in one place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from likeness import __version__
from likeness.api.engine_holder import EngineHolder
from likeness.api.errors import install_error_handlers
from likeness.api.limits import BodySizeLimit
from likeness.api.routes import faces, people
from likeness.config import Settings, get_settings
from likeness.engine import FaceEngine
from likeness.store import Database

# Multipart framing and base64 (4/3 of the bytes) on top of the largest accepted file.
BODY_OVERHEAD = 4 / 3
BODY_SLACK = 64 * 1024


def create_app(settings: Settings | None = None, engine: FaceEngine | None = None,
               database: Database | None = None) -> FastAPI:
    """The app. Without `engine`, the model named by `settings` loads in the background;
    without `database`, the one `settings` names is opened (and migrated) at start-up.
    What the caller passes in, the caller closes."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = database or await run_in_threadpool(Database.open, settings)
        holder = EngineHolder(engine)
        if engine is None:
            holder.load_in_background(lambda: FaceEngine.from_settings(settings))
        app.state.engine_holder = holder
        try:
            yield
        finally:
            if engine is None:
                holder.wait()
                holder.close()
            if database is None:
                app.state.database.close()

    app = FastAPI(title="Likeness", version=__version__, lifespan=lifespan,
                  description="Self-hosted face recognition on InsightFace models.")
    app.state.settings = settings
    app.add_middleware(BodySizeLimit,
                       max_bytes=int(settings.max_upload_bytes * BODY_OVERHEAD) + BODY_SLACK)
    install_error_handlers(app)
    app.include_router(faces.router)
    app.include_router(people.router)
    return app
