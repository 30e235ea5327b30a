"""Every query on users, sessions, API keys, share links and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from likeness.enums import Role
from likeness.errors import Conflict, NotFound
from likeness.store.models import ApiKey, AuditEntry, ShareLink, User, UserSession

# ---------------------------------------------------------------- users


def add_user(session: Session, username: str, password_hash: str, role: Role) -> User:
    user = User(username=username, password_hash=password_hash, role=role)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"the username {username!r} is taken") from exc
    return user


def user_named(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def set_password(session: Session, user_id: int, password_hash: str) -> None:
    session.execute(update(User).where(User.id == user_id).values(
        password_hash=password_hash, password_changed_at=func.now()))


def delete_user(session: Session, user_id: int) -> None:
    session.delete(get_user(session, user_id))


# ---------------------------------------------------------------- sessions

def add_session(session: Session, user_id: int, token_hash: str, csrf_token: str,
                expires_at: datetime) -> None:
    session.add(UserSession(user_id=user_id, token_hash=token_hash, csrf_token=csrf_token,
                            expires_at=expires_at))


def session_by_token(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    row = session.execute(select(UserSession, User).join(User, User.id == UserSession.user_id)
                          .where(UserSession.token_hash == token_hash,
                                 UserSession.expires_at > func.now())).first()
    return (row[0], row[1]) if row else None


def end_sessions(session: Session, *, token_hash: str | None = None,
                 user_id: int | None = None) -> None:
    """End one session (by its token) or every session of a user."""
    query = delete(UserSession)
    if token_hash is not None:
        query = query.where(UserSession.token_hash == token_hash)
    if user_id is not None:
        query = query.where(UserSession.user_id == user_id)
    session.execute(query)


# ---------------------------------------------------------------- API keys

def add_key(session: Session, values: dict[str, Any]) -> ApiKey:
    key = ApiKey(**values)
    session.add(key)
    session.flush()
    return key


def key_by_hash(session: Session, key_hash: str, *, revoked: bool = False) -> ApiKey | None:
    """The key of this hash; a revoked one only when `revoked`."""
    query = select(ApiKey).where(ApiKey.key_hash == key_hash)
    return session.scalar(query if revoked else query.where(ApiKey.revoked_at.is_(None)))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))
                                .order_by(ApiKey.id)))


def revoke_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound(f"API key {key_id} does not exist")
    key.revoked_at = datetime.now().astimezone()
    return key


def touch_key(session: Session, key_id: int) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=func.now()))


# ---------------------------------------------------------------- share links

def add_share_link(session: Session, values: dict[str, Any]) -> ShareLink:
    link = ShareLink(**values)
    session.add(link)
    session.flush()
    return link


def live_share_link(session: Session, token_hash: str) -> ShareLink | None:
    """The link of this token unless it is revoked or expired."""
    return session.scalar(select(ShareLink).where(
        ShareLink.token_hash == token_hash, ShareLink.revoked_at.is_(None),
        (ShareLink.expires_at.is_(None)) | (ShareLink.expires_at > func.now())))


def share_links_of(session: Session, event_id: int) -> list[ShareLink]:
    return list(session.scalars(select(ShareLink).where(ShareLink.event_id == event_id)
                                .order_by(ShareLink.id)))


def revoke_share_link(session: Session, event_id: int, link_id: int) -> None:
    link = session.get(ShareLink, link_id)
    if link is None or link.event_id != event_id:
        raise NotFound(f"share link {link_id} does not exist in event {event_id}")
    if link.revoked_at is None:
        link.revoked_at = datetime.now().astimezone()


# ---------------------------------------------------------------- audit

def add_audit(session: Session, actor: str, action: str, target: str | None,
              status: int) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, status=status))


def audit_page(session: Session, *, limit: int, offset: int
               ) -> tuple[Sequence[AuditEntry], int]:
    total = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), total
