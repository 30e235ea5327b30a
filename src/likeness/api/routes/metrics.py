"""GET /metrics in the Prometheus text format, and the middleware that times every HTTP
request by its route template (`/people/{person_id}`, never the raw URL: the labels stay
few whatever clients ask for). Whether a scrape needs a viewer key is the app's setting
`metrics_public`, so `instrument` adds the route to each app with the dependency it
needs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from time import perf_counter

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy.pool import Pool
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from likeness.api.auth import VIEWER
from likeness.api.errors import declare
from likeness.metrics import AppMetrics
from likeness.store import metrics as store_metrics

PATH = "/metrics"
UNMATCHED = "unmatched"  # the route label of every path no route answers
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUILTIN_QUEUE = "builtin"  # procrastinate's own tasks, which this app never defers


def instrument(app: FastAPI) -> None:
    """Give `app` its metrics: the registry (app.state.metrics), the request middleware
    (the outermost one, as this runs after the others are added) and GET /metrics."""
    state = app.state
    settings = state.settings

    def read_store(after_event: int | None) -> store_metrics.StoreSnapshot:
        queues = {task.queue for task in state.jobs.app.tasks.values()} - {BUILTIN_QUEUE}
        with state.database.session() as session:
            return store_metrics.read(session, queues=sorted(queues), after_event=after_event,
                                      stall_seconds=settings.job_stall_seconds)

    def pool() -> Pool | None:
        database = getattr(state, "database", None)
        return database.engine.pool if database is not None else None

    state.metrics = AppMetrics(store=read_store, pool=pool)
    app.add_middleware(RequestMetrics, metrics=state.metrics, routes=app.router.routes)
    app.add_api_route(
        PATH, scrape, methods=["GET"], tags=["metrics"], response_class=Response,
        dependencies=[] if settings.metrics_public else [VIEWER],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                         "description": "The Prometheus text format, version 0.0.4"},
                   **declare(503)})


def scrape(request: Request) -> Response:
    """Metrics for Prometheus: HTTP requests by route and status, inference time per stage,
    images and faces analysed, the job queue, streams by status, the database pool, the
    process. Needs a viewer key unless the server's `metrics_public` setting is on."""
    metrics: AppMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


class RouteTemplates:
    """The template of the route that answered a request (or would have: a body refused
    before routing), with the prefixes its router was included under; UNMATCHED for a
    path no route answers."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = routes  # the app's, read at the first request: every route is added
        self._templates: dict[int, str] | None = None  # id(route) -> its full template
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def _read_routes(self) -> dict[int, str]:
        templates: dict[int, str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for context in iter_route_contexts(self.routes):
            template = context.path_format
            if template is None:
                continue
            templates[id(context.original_route)] = template
            if isinstance(context.original_route, Mount):  # anything below its prefix
                pattern = compile_path(template.removesuffix("/{path}") + "/{path:path}")[0]
            else:
                pattern = compile_path(template)[0]
            patterns.append((pattern, template))
        self._patterns, self._templates = patterns, templates
        return templates

    def __call__(self, scope: Scope, path: str) -> str:
        """The template, from the scope the app has answered (the route it chose), else
        from `path`: the request's path below the app's root, as it arrived (a mount
        changes the scope's)."""
        templates = self._templates if self._templates is not None else self._read_routes()
        route = scope.get("route")
        if route is not None:
            return templates.get(id(route)) or str(getattr(route, "path_format", UNMATCHED))
        return next((template for pattern, template in self._patterns
                     if pattern.match(path)), UNMATCHED)


class RequestMetrics:
    """Times each HTTP request from its arrival to the last byte of its response, and
    counts it by method, route template and status (500 when the app raised)."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics, routes: Sequence[BaseRoute]
                 ) -> None:
        self.app = app
        self.metrics = metrics
        self.template = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status, done = 500, False
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) if root else scope["path"]

        def record() -> None:
            nonlocal done
            done = True
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.request(method, self.template(scope, path), status,
                                 perf_counter() - started)

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                record()

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.in_progress.dec()
            if not done:  # no complete response: the app raised, or the client left
                record()
