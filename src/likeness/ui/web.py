"""What every page of the web UI shares: the templates, the signed-in user (a login's
session cookie; pages redirect to the login page without one), CSRF on every write, and
rendering. Pages are server-rendered; htmx swaps parts of them after a form is sent."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from likeness import __version__
from likeness.api.auth import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, client_address
from likeness.enums import Role
from likeness.errors import Forbidden, LikenessError, Unauthenticated
from likeness.services.access import Caller

HERE = Path(__file__).parent
STATIC_URL = "/ui/static"
CSRF_FIELD = "csrf_token"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(version=__version__, static=STATIC_URL, Role=Role)


def _ms(value: int | None) -> str:
    """Milliseconds as m:ss."""
    if value is None:
        return "-"
    return f"{value // 60000}:{value // 1000 % 60:02d}"


templates.env.filters["ms"] = _ms
templates.env.filters["pct"] = lambda value: f"{value * 100:.0f}%"


class LoginNeeded(Exception):
    """A page was asked for without a valid session: go to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def login_url(next_url: str = "/ui") -> str:
    return f"/ui/login?next={quote(next_url, safe='/')}"


def _identify(request: Request, token: str | None) -> Caller | None:
    if not token:
        return None
    state = request.app.state
    with state.database.session() as session:
        try:
            return state.access.identify(session, state.failures, client_address(request),
                                         token=token, missing="no session")
        except Unauthenticated:
            return None


def _user(needed: Role) -> Any:
    async def signed_in(request: Request) -> Caller:
        caller = await run_in_threadpool(_identify, request,
                                         request.cookies.get(SESSION_COOKIE))
        if caller is None or caller.csrf_token is None:  # pages take sessions, not keys
            raise LoginNeeded(str(request.url.path) + (f"?{request.url.query}"
                                                       if request.url.query else ""))
        caller.require(needed)
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, caller.csrf_token)
        request.state.caller = caller
        request.state.audited = needed != Role.VIEWER and request.method not in SAFE_METHODS
        return caller

    signed_in.__name__ = f"ui_{needed}"
    return Depends(signed_in)


async def _check_csrf(request: Request, expected: str) -> None:
    """Writes carry the session's token: htmx sends it as a header, plain forms as a
    hidden field."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else ""
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("this form has expired: reload the page and try again")


ViewerUser = Annotated[Caller, _user(Role.VIEWER)]
EditorUser = Annotated[Caller, _user(Role.EDITOR)]
AdminUser = Annotated[Caller, _user(Role.ADMIN)]


def db_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def page(request: Request, template: str, caller: Caller | None, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    """A page (or, for htmx, a fragment) rendered with what every template uses."""
    return templates.TemplateResponse(request, template, {
        "caller": caller, "csrf": caller.csrf_token if caller else None,
        "path": request.url.path, **context}, status_code=status_code)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def error_message(exc: LikenessError) -> str:
    return str(exc)
