"""The web UI: server-rendered pages (Jinja2 + htmx) in the same app, under /ui, and the
guest page of share links. Pages call the same services as the HTTP API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from likeness.api.errors import status_for
from likeness.errors import LikenessError
from likeness.ui import pages
from likeness.ui.web import HERE, STATIC_URL, LoginNeeded, is_htmx, login_url, page, templates


def install_ui(app: FastAPI) -> None:
    """Mount the pages and their assets; UI errors become pages or inline messages."""
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="ui-static")
    for router in pages.routers:
        app.include_router(router)
    api_error = cast(Callable[[Request, Exception], Awaitable[Response]],
                     app.exception_handlers[LikenessError])

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": login_url(exc.next_url)})
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(LikenessError)
    async def likeness_error(request: Request, exc: LikenessError) -> Response:
        if not request.url.path.startswith("/ui"):
            return await api_error(request, exc)
        request.state.audited = False  # refused: no change to record
        if is_htmx(request):  # shown above the page; not a failed request to the browser
            return templates.TemplateResponse(
                request, "_flash.html", {"message": str(exc), "kind": "error"},
                headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        caller = getattr(request.state, "caller", None)
        return page(request, "error.html", caller, status_code=status_for(exc),
                    title="That did not work", message=str(exc))


__all__ = ["install_ui"]
