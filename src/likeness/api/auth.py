"""Access control for HTTP, in one dependency: who is calling (an API key in X-API-Key or
`Authorization: Bearer`, or a login's session cookie) and whether their role, and for an
event-limited key its event, allow the operation. Cookie-authenticated writes must carry
the session's CSRF token in X-CSRF-Token. Wrong credentials are throttled per client
address. Public operations (health, docs, login, share pages) do not use it."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from likeness.enums import Role
from likeness.errors import Forbidden, Unauthenticated
from likeness.services.access import AccessService, Caller

SESSION_COOKIE = "likeness_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="An API key (`likeness keys add`, POST /api-keys)")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="A login's session (POST /auth/login); writes also need "
                                   f"the {CSRF_HEADER} header")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def refuse_if_throttled(request: Request) -> None:
    request.app.state.failures.refuse(client_address(request))


def failed(request: Request, message: str) -> Unauthenticated:
    """Count a failed attempt of the client's and give the error to raise."""
    request.app.state.failures.hit(client_address(request))
    return Unauthenticated(message)


def _authenticate(request: Request, key: str | None, cookie: str | None) -> Caller:
    access: AccessService = request.app.state.access
    with request.app.state.database.session() as session:
        return access.identify(
            session, request.app.state.failures, client_address(request), key=key,
            token=cookie, missing="credentials are required: an API key in X-API-Key or "
                                  "Authorization: Bearer, or a login session")


def _check(request: Request, caller: Caller, needed: Role) -> None:
    event = str(request.path_params.get("event_id", ""))
    listing = request.method == "GET" and request.url.path.rstrip("/") == "/events"
    caller.require(needed, int(event) if event.isdigit() else None, any_event=listing)
    if caller.csrf_token is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), caller.csrf_token.encode()):
            raise Forbidden(f"a write with a session cookie needs the {CSRF_HEADER} header "
                            "(the csrf_token of POST /auth/login)")


def _allow(needed: Role) -> Any:
    async def allowed(request: Request,
                      key: Annotated[str | None, Depends(_key_header)],
                      bearer: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(_bearer)],
                      cookie: Annotated[str | None, Depends(_cookie)]) -> Caller:
        caller = await run_in_threadpool(
            _authenticate, request, key or (bearer.credentials if bearer else None), cookie)
        _check(request, caller, needed)
        request.state.caller = caller
        request.state.audited = needed != Role.VIEWER
        return caller

    allowed.__name__ = f"allow_{needed}"
    return Depends(allowed)


# The dependency of every protected operation: reads and recognition, writes, and
# administration.
VIEWER = _allow(Role.VIEWER)
EDITOR = _allow(Role.EDITOR)
ADMIN = _allow(Role.ADMIN)
ViewerDep = Annotated[Caller, VIEWER]
EditorDep = Annotated[Caller, EDITOR]
AdminDep = Annotated[Caller, ADMIN]


class AuditTrail:
    """Records every successful write (an operation that needs the editor or admin role):
    who, which operation, on what, with what status; after the response is sent."""

    def __init__(self, app: ASGIApp, access: AccessService, database: Any) -> None:
        self.app = app
        self.access = access
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, recording_send)
        state = scope.get("state") or {}
        caller = state.get("caller")
        if caller is not None and state.get("audited") and 200 <= status < 300:
            endpoint = scope.get("endpoint")
            action = getattr(endpoint, "__name__", scope["method"] + " " + scope["path"])
            target = " ".join(f"{k}={v}" for k, v in (scope.get("path_params") or {}).items())
            await run_in_threadpool(self._record, caller.label, action, target or None,
                                    status)

    def _record(self, actor: str, action: str, target: str | None, status: int) -> None:
        with self.database().session() as session:
            self.access.record(session, actor, action, target, status)
