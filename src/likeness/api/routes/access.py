"""Logging in and out, API keys and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import JSONResponse

from likeness.api.auth import (
    ADMIN,
    SESSION_COOKIE,
    AdminDep,
    ViewerDep,
    failed,
    refuse_if_throttled,
)
from likeness.api.deps import AccessDep, SessionDep, SettingsDep
from likeness.api.errors import COMMON, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    AuditEntryOut,
    AuditPage,
    LoginOut,
    NewApiKeyOut,
    PasswordIn,
    page_of,
)
from likeness.errors import Conflict, Forbidden

router = APIRouter(tags=["access"], responses=COMMON)

KeyId = Annotated[int, path_id("API key")]


@router.post("/auth/login", response_model=LoginOut, responses=declare(401, 429))
def login(request: Request, session: SessionDep, access: AccessDep, settings: SettingsDep,
          username: Annotated[str, Form(min_length=1, max_length=100)],
          password: Annotated[str, Form(min_length=1, max_length=1024)]) -> JSONResponse:
    """A session cookie (HttpOnly, SameSite=Lax) for the user; writes made with it send
    the returned csrf_token as X-CSRF-Token. Failed attempts are throttled per address."""
    refuse_if_throttled(request)
    done = access.login(session, username, password)
    if done is None:
        raise failed(request, "wrong username or password")
    body = LoginOut(username=done.user.username, role=done.user.role,
                    csrf_token=done.csrf_token, expires_at=done.expires_at)
    response = JSONResponse(body.model_dump(mode="json"))
    response.set_cookie(SESSION_COOKIE, done.token, expires=done.expires_at, httponly=True,
                        samesite="lax", secure=settings.cookie_secure, path="/")
    return response


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, access: AccessDep, caller: ViewerDep
           ) -> Response:
    """End this session (the cookie's)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        access.logout(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordIn, session: SessionDep, access: AccessDep,
                    caller: ViewerDep) -> Response:
    """Change the logged-in user's password; their sessions end (log in again)."""
    if caller.kind != "user":
        raise Forbidden("only a logged-in user has a password to change")
    access.change_password(session, caller.id, body.current_password, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api-keys", response_model=NewApiKeyOut, status_code=status.HTTP_201_CREATED,
             responses=declare(404))
def create_key(body: ApiKeyIn, session: SessionDep, access: AccessDep, caller: AdminDep
               ) -> NewApiKeyOut:
    """A new key, shown this once (only its hash is kept)."""
    new = access.create_key(session, body.name, body.role, body.event_id, caller.label)
    return NewApiKeyOut(**ApiKeyOut.of(new.key).model_dump(), key=new.secret)


@router.get("/api-keys", dependencies=[ADMIN], response_model=list[ApiKeyOut])
def list_keys(session: SessionDep, access: AccessDep) -> list[ApiKeyOut]:
    """The keys that work (revoked ones are not listed): prefix, name, role, last use."""
    return [ApiKeyOut.of(k) for k in access.keys(session)]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404, 409))
def revoke_key(key_id: KeyId, session: SessionDep, access: AccessDep, caller: AdminDep
               ) -> Response:
    """The key stops working at once. A key cannot revoke itself (the CLI can)."""
    if caller.kind == "key" and caller.id == key_id:
        raise Conflict("a key cannot revoke itself; use another admin key or the CLI")
    access.revoke_key(session, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", dependencies=[ADMIN], response_model=AuditPage)
def audit(session: SessionDep, access: AccessDep, limit: Limit = 50, offset: Offset = 0
          ) -> AuditPage:
    """Who (key or user) changed what, newest first."""
    return page_of(AuditPage, access.audit(session, limit=limit, offset=offset),
                   AuditEntryOut.of)
