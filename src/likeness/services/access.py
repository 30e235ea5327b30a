"""Who may call: users (argon2 passwords, session cookies with a CSRF token), API keys,
event share links for guests, the audit log, and throttling of failed attempts. Every
secret is stored as a hash and shown once; lookups go by hash, so they take the same time
whatever the secret."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error
from sqlalchemy.orm import Session

from likeness.enums import Role
from likeness.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    Rejected,
    Throttled,
    Unauthenticated,
)
from likeness.services.pages import Page
from likeness.store import access as store
from likeness.store import events as event_store
from likeness.store.models import ApiKey, AuditEntry, ShareLink, User

log = logging.getLogger(__name__)

KEY_PREFIX = "lk_"
MIN_PASSWORD = 8
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
# A verified key is trusted this long without a query (the check then costs no database
# round trip; bench/auth.py). A revocation applies at once in the process that made it,
# within this time in the others (the CLI, other servers).
KEY_CACHE_S = 10.0
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so a wrong name takes as long as a wrong
# password and does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("likeness: no such user")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, and what they may do."""

    kind: str  # key | user
    id: int
    name: str
    role: Role
    event_id: int | None = None  # an event-limited key sees only this event
    csrf_token: str | None = None  # cookie sessions: writes must echo it

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id} ({self.name})"

    def require(self, needed: Role, event_id: int | None = None, *,
                any_event: bool = False) -> None:
        """Refuse (Forbidden) unless the role allows `needed` and, for an event-limited
        key, the call concerns its event (`any_event`: a listing cut down to it)."""
        if not self.role.allows(needed):
            raise Forbidden(f"the {self.role} role may not do this ({needed} or above may)")
        if self.event_id is not None and not any_event and event_id != self.event_id:
            raise Forbidden(f"this key is limited to event {self.event_id}")


@dataclass(frozen=True, slots=True)
class Login:
    token: str  # the session cookie's value, known to the client only
    csrf_token: str
    user: User
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class NewShareLink:
    link: ShareLink
    token: str  # shown once


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Rejected(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise Rejected("a password has at most 1024 characters")
    return password


@dataclass(frozen=True)
class AccessService:
    """Users, keys, share links and the audit log; the database alone."""

    session_days: float = 14
    _verified: dict[str, tuple[Caller, float]] = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------ API keys

    def authenticate_key(self, session: Session, secret: str) -> Caller | None:
        hashed = digest(secret)
        cached = self._verified.get(hashed)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        key = store.key_by_hash(session, hashed)
        if key is None or not hmac.compare_digest(key.key_hash, hashed):
            self._verified.pop(hashed, None)
            return None
        now = datetime.now(UTC)
        if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
            store.touch_key(session, key.id)
            session.commit()
        caller = Caller("key", key.id, key.name, key.role, key.event_id)
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[hashed] = (caller, time.monotonic() + KEY_CACHE_S)
        return caller

    def create_key(self, session: Session, name: str, role: Role,
                   event_id: int | None = None, created_by: str | None = None,
                   secret: str | None = None) -> NewKey:
        """A new key (random, or `secret` as given); its secret is shown once."""
        if event_id is not None:
            event_store.get_event(session, event_id)
        secret = secret or KEY_PREFIX + secrets.token_urlsafe(32)
        key = store.add_key(session, {
            "name": name, "prefix": secret[:10], "key_hash": digest(secret), "role": role,
            "event_id": event_id, "created_by": created_by})
        session.commit()
        return NewKey(key, secret)

    def ensure_key(self, session: Session, secret: str, name: str = "bootstrap") -> bool:
        """An admin key with this secret exists (LIKENESS_BOOTSTRAP_API_KEY); whether it
        was created now."""
        if len(secret) < 16:
            raise InvalidInput("the bootstrap API key must have at least 16 characters")
        known = store.key_by_hash(session, digest(secret), revoked=True)
        if known is not None:
            if known.revoked_at is not None:
                log.warning("the API key of LIKENESS_BOOTSTRAP_API_KEY was revoked: it stays "
                            "revoked (unset the variable or choose another key)")
            session.commit()
            return False
        self.create_key(session, name, Role.ADMIN, created_by="LIKENESS_BOOTSTRAP_API_KEY",
                        secret=secret)
        return True

    def bootstrap(self, session: Session, key: str | None) -> None:
        """At start: the bootstrap admin key exists if one is set; a warning says how to
        get in when nobody can yet."""
        if key and self.ensure_key(session, key):
            log.info("created the admin API key of LIKENESS_BOOTSTRAP_API_KEY")
        if not self.has_users(session) and not self.keys(session):
            log.warning("nobody can use this service yet: create an admin with "
                        "`likeness users add NAME --role admin` (or an API key with "
                        "`likeness keys add NAME --role admin`), or set "
                        "LIKENESS_BOOTSTRAP_API_KEY")

    def keys(self, session: Session) -> list[ApiKey]:
        return store.list_keys(session)

    def revoke_key(self, session: Session, key_id: int) -> None:
        store.revoke_key(session, key_id)
        session.commit()
        for hashed, (caller, _) in list(self._verified.items()):
            if caller.id == key_id:
                del self._verified[hashed]

    # ------------------------------------------------------------ users

    def add_user(self, session: Session, username: str, password: str, role: Role) -> User:
        if not username or len(username) > 100 or not username.isprintable():
            raise InvalidInput("a username is 1-100 printable characters")
        user = store.add_user(session, username, _HASHER.hash(check_password(password)), role)
        session.commit()
        return user

    def users(self, session: Session) -> list[User]:
        return store.list_users(session)

    def has_users(self, session: Session) -> bool:
        return store.count_users(session) > 0

    def user(self, session: Session, username: str) -> User:
        user = store.user_named(session, username)
        if user is None:
            raise NotFound(f"no user is called {username!r}")
        return user

    def remove_user(self, session: Session, username: str) -> None:
        store.delete_user(session, self.user(session, username).id)
        session.commit()

    def set_password(self, session: Session, username: str, password: str) -> None:
        """A new password; the user's sessions end."""
        user = self.user(session, username)
        store.set_password(session, user.id, _HASHER.hash(check_password(password)))
        store.end_sessions(session, user_id=user.id)
        session.commit()

    def change_password(self, session: Session, user_id: int, current: str, new: str
                        ) -> None:
        user = store.get_user(session, user_id)
        if not _verify(user.password_hash, current):
            raise Rejected("the current password is wrong")
        self.set_password(session, user.username, new)

    # ------------------------------------------------------------ sessions

    def login(self, session: Session, username: str, password: str) -> Login | None:
        """A new session, or None when the name or the password is wrong."""
        user = store.user_named(session, username)
        if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None:
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(days=self.session_days)
        store.add_session(session, user.id, digest(token), csrf, expires)
        session.commit()
        return Login(token, csrf, user, expires)

    def identify(self, session: Session, failures: Throttle, address: str, *,
                 key: str | None = None, token: str | None = None,
                 missing: str = "credentials are required") -> Caller:
        """The caller of an API key (or else a session token), for any transport. Wrong
        ones count against the client address; past the limit every attempt is refused
        (Throttled) until the window passes."""
        failures.refuse(address)
        if key:
            caller, wrong = self.authenticate_key(session, key), "the API key is wrong or revoked"
        elif token:
            caller = self.authenticate_session(session, token)
            wrong = "the session has expired; log in again"
        else:
            raise Unauthenticated(missing)
        if caller is None:
            failures.hit(address)
            raise Unauthenticated(wrong)
        return caller

    def authenticate_session(self, session: Session, token: str) -> Caller | None:
        found = store.session_by_token(session, digest(token))
        if found is None:
            return None
        login, user = found
        return Caller("user", user.id, user.username, user.role, csrf_token=login.csrf_token)

    def logout(self, session: Session, token: str) -> None:
        store.end_sessions(session, token_hash=digest(token))
        session.commit()

    # ------------------------------------------------------------ share links

    def create_share_link(self, session: Session, event_id: int,
                          expires_in_days: float | None, created_by: str | None
                          ) -> NewShareLink:
        event_store.get_event(session, event_id)
        token = secrets.token_urlsafe(24)
        expires = (datetime.now(UTC) + timedelta(days=expires_in_days)
                   if expires_in_days is not None else None)
        link = store.add_share_link(session, {
            "event_id": event_id, "prefix": token[:6], "token_hash": digest(token),
            "created_by": created_by, "expires_at": expires})
        session.commit()
        return NewShareLink(link, token)

    def share_links(self, session: Session, event_id: int) -> list[ShareLink]:
        event_store.get_event(session, event_id)
        return store.share_links_of(session, event_id)

    def revoke_share_link(self, session: Session, event_id: int, link_id: int) -> None:
        store.revoke_share_link(session, event_id, link_id)
        session.commit()

    def shared_event(self, session: Session, token: str) -> int:
        """The event a live share link opens; an unknown, revoked or expired one is not
        found (guests learn nothing more)."""
        link = store.live_share_link(session, digest(token))
        if link is None:
            raise NotFound("this share link does not exist or has expired")
        return link.event_id

    # ------------------------------------------------------------ audit

    def record(self, session: Session, actor: str, action: str, target: str | None,
               status: int) -> None:
        store.add_audit(session, actor, action, target, status)
        session.commit()

    def audit(self, session: Session, *, limit: int = 50, offset: int = 0
              ) -> Page[AuditEntry]:
        rows, total = store.audit_page(session, limit=limit, offset=offset)
        return Page(list(rows), total, limit, offset)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except Argon2Error:
        return False


class Throttle:
    """At most `limit` events per `window_s` seconds per key (a client address, a share
    token), in this process; `retry_after` says how long to wait once the limit is hit."""

    def __init__(self, limit: int, window_s: float = 60) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and now - events[0] > self.window_s:
            events.popleft()
        return events

    def refuse(self, key: str) -> None:
        """Raise Throttled when `key` has used up its failed attempts."""
        wait = self.retry_after(key)
        if wait is not None:
            raise Throttled(f"too many failed attempts from this address; wait {wait} s",
                            retry_after=wait)

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait, when `key` has used up its events; else None."""
        now = time.monotonic()
        with self._lock:
            events = self._recent(key, now)
            if len(events) < self.limit:
                return None
            return max(1, int(self.window_s - (now - events[0])) + 1)

    def hit(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(key, now).append(now)
            if len(self._events) > 10_000:  # forget quiet keys
                for quiet in [k for k, v in self._events.items() if not v][:5_000]:
                    del self._events[quiet]
