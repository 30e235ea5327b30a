"""Signing in and out, and the home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from likeness.api.auth import SESSION_COOKIE, client_address
from likeness.services.overview import overview
from likeness.ui.web import HERE, DbSession, ViewerUser, page

router = APIRouter(include_in_schema=False)


def _safe_next(next_url: str) -> str:
    """Only a page of ours: never another site (an open redirect)."""
    return next_url if next_url.startswith("/ui") and "//" not in next_url else "/ui"


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=303)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml",
                        headers={"cache-control": "public, max-age=86400"})


@router.get("/ui/login", response_class=HTMLResponse)
def login_page(request: Request, session: DbSession, next: str = "/ui") -> HTMLResponse:
    return page(request, "login.html", None, next=_safe_next(next),
                has_users=request.app.state.access.has_users(session))


@router.post("/ui/login", response_model=None)
def login(request: Request, session: DbSession,
          username: Annotated[str, Form(max_length=100)],
          password: Annotated[str, Form(max_length=1024)],
          next: Annotated[str, Form(max_length=2000)] = "/ui") -> Response:
    state = request.app.state
    address = client_address(request)
    wait = state.failures.retry_after(address)
    done = None if wait is not None else state.access.login(session, username, password)
    if done is None:
        if wait is None:
            state.failures.hit(address)
        error = (f"too many failed sign-ins; wait {wait} s" if wait is not None
                 else "wrong username or password")
        return page(request, "login.html", None, status_code=200, error=error,
                    next=_safe_next(next), has_users=state.access.has_users(session))
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, done.token, expires=done.expires_at, httponly=True,
                        samesite="lax", secure=state.settings.cookie_secure, path="/")
    return response


@router.post("/ui/logout")
def logout(request: Request, session: DbSession, caller: ViewerUser) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.access.logout(session, token)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui", response_class=HTMLResponse)
def home(request: Request, session: DbSession, caller: ViewerUser) -> HTMLResponse:
    health = request.app.state.supervisor.report()
    return page(request, "home.html", caller, overview=overview(session), health=health)


@router.get("/ui/scans", response_class=HTMLResponse)
def scans(request: Request, session: DbSession, caller: ViewerUser) -> HTMLResponse:
    """The running scans, polled by the home page."""
    return page(request, "_scans.html", caller, overview=overview(session))
