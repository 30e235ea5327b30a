"""Settings, for administrators: API keys (a new key's secret is shown once), users and
their passwords, and the audit log. The same AccessService calls as the HTTP API's
/api-keys and /audit and the CLI's `likeness users`.

Anyone else signed in who opens /ui/settings gets a "not allowed" page with status 200:
a 4xx document makes the browser log a failed load, and the page is a message for a person
(programs get their 403 from the HTTP API). Every write here still needs AdminUser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from likeness.api.deps import AccessDep
from likeness.api.params import Offset, path_id
from likeness.enums import Role
from likeness.errors import Conflict, InvalidInput, NotFound
from likeness.services.access import AccessService, Caller, NewKey
from likeness.ui.web import AdminUser, DbSession, ViewerUser, is_htmx, page

router = APIRouter(include_in_schema=False)

KeyId = Annotated[int, path_id("API key")]
UserId = Annotated[int, path_id("user")]
AUDIT_PAGE = 25
NAME_MAX = 200  # api_keys.name


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"the role is one of {', '.join(Role)}") from None


def _event_id(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("the event is given by its id, a number (or left empty)")
    return int(value)


def _context(session: Session, access: AccessService, audit_offset: int = 0) -> dict[str, Any]:
    return {"keys": access.keys(session), "users": access.users(session),
            "audit": access.audit(session, limit=AUDIT_PAGE, offset=audit_offset)}


def _answer(request: Request, session: Session, access: AccessService, caller: Caller,
            area: str, **context: Any) -> HTMLResponse:
    """After a write: the section that changed (htmx), or the whole page (a plain form)."""
    if is_htmx(request):
        listed: dict[str, Any] = {area: access.keys(session) if area == "keys"
                                  else access.users(session)}
        return page(request, f"_settings_{area}.html", caller, area=area, **listed,
                    **context)
    return page(request, "settings.html", caller, area=area, **_context(session, access),
                **context)


@router.get("/ui/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, access: AccessDep,
                  caller: ViewerUser, audit: Offset = 0) -> HTMLResponse:
    if not caller.role.allows(Role.ADMIN):
        return page(request, "settings_forbidden.html", caller)
    return page(request, "settings.html", caller, **_context(session, access, audit))


@router.get("/ui/settings/audit", response_class=HTMLResponse)
def audit_log(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
              offset: Offset = 0) -> HTMLResponse:
    return page(request, "_settings_audit.html", caller,
                audit=access.audit(session, limit=AUDIT_PAGE, offset=offset))


# ---------------------------------------------------------------- API keys

@router.post("/ui/settings/keys", response_class=HTMLResponse)
def create_key(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
               name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
               event: Annotated[str, Form()] = "") -> HTMLResponse:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise InvalidInput(f"a key's name is 1-{NAME_MAX} printable characters")
    new: NewKey = access.create_key(session, name, _role(role), _event_id(event),
                                    created_by=caller.label)
    return _answer(request, session, access, caller, "keys", new_key=new)


@router.post("/ui/settings/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
               key_id: KeyId) -> HTMLResponse:
    named = next((key.name for key in access.keys(session) if key.id == key_id), None)
    access.revoke_key(session, key_id)
    return _answer(request, session, access, caller, "keys",
                   message=f"Revoked the key {named or key_id}: it no longer works.")


# ---------------------------------------------------------------- users

def _username(session: Session, access: AccessService, user_id: int) -> str:
    for user in access.users(session):
        if user.id == user_id:
            return user.username
    raise NotFound(f"user {user_id} does not exist")


@router.post("/ui/settings/users", response_class=HTMLResponse)
def add_user(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
             username: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
             password: Annotated[str, Form()] = "") -> HTMLResponse:
    user = access.add_user(session, username.strip(), password, _role(role))
    return _answer(request, session, access, caller, "users",
                   message=f"Added {user.username} ({user.role}): they can sign in now.")


@router.post("/ui/settings/users/{user_id}/password", response_model=None)
def set_password(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
                 user_id: UserId, password: Annotated[str, Form()] = "") -> Response:
    username = _username(session, access, user_id)
    access.set_password(session, username, password)
    if caller.kind == "user" and caller.id == user_id:  # their own: this session ended
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": "/ui/login"})
        return RedirectResponse("/ui/login", status_code=303)
    return _answer(request, session, access, caller, "users",
                   message=f"Set a new password for {username}; their sessions have ended.")


@router.post("/ui/settings/users/{user_id}/remove", response_class=HTMLResponse)
def remove_user(request: Request, session: DbSession, access: AccessDep, caller: AdminUser,
                user_id: UserId) -> HTMLResponse:
    if caller.kind == "user" and caller.id == user_id:
        raise Conflict("you cannot remove yourself: another administrator can")
    username = _username(session, access, user_id)
    access.remove_user(session, username)
    return _answer(request, session, access, caller, "users",
                   message=f"Removed {username}; their sessions have ended.")
