"""Access control over HTTP, on the real stack: which operations need credentials, what
each role may do, event-limited keys, share links for guests, logins with a session
cookie and a CSRF token, secrets stored as hashes, throttling of wrong credentials, the
audit log and the bootstrap key."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.services.access import AccessService
from likeness.store import Database
from tests.conftest import ADMIN_KEY, AUTH, data_file

SELFIE = "edge/obama-480p.jpg"
# Operations anyone may call: they answer without credentials (never 401).
PUBLIC = {("GET", "/health"), ("POST", "/auth/login"), ("GET", "/share/{token}"),
          ("POST", "/share/{token}/match"), ("GET", "/share/{token}/photos/{photo}")}
# POSTs that read (recognition): a viewer may call them.
READ_LIKE = {("POST", "/detect"), ("POST", "/extract-embedding"), ("POST", "/recognize"),
             ("POST", "/verify"), ("POST", "/events/{event_id}/match")}
# A caller's own session and password: any role (a key has no password: 403 there).
SELF_SERVICE = {("POST", "/auth/logout"), ("POST", "/auth/password")}
ADMIN_ONLY = {("POST", "/api-keys"), ("GET", "/api-keys"), ("DELETE", "/api-keys/{key_id}"),
              ("GET", "/audit"), ("POST", "/webhooks"), ("GET", "/webhooks"),
              ("GET", "/webhooks/{webhook_id}"), ("DELETE", "/webhooks/{webhook_id}"),
              ("GET", "/webhooks/{webhook_id}/deliveries")}
CREDENTIAL_HEADERS = {"x-api-key", "authorization", "cookie", "x-csrf-token"}


# ---------------------------------------------------------------- helpers

@contextmanager
def own_app(settings: Settings, engine: FaceEngine, database: Database,
            **overrides: Any) -> Iterator[TestClient]:
    """An app of its own (its own throttles), started, with the bootstrap admin's key."""
    app = create_app(settings.model_copy(update=overrides), engine=engine, database=database)
    with TestClient(app, headers=AUTH) as admin:
        yield admin


@pytest.fixture
def admin(settings: Settings, engine: FaceEngine, db: Database,
          tmp_path: Path) -> Iterator[TestClient]:
    """A fresh app keeping originals (share links show them), as the bootstrap admin, on a
    database emptied after the test."""
    with own_app(settings, engine, db, storage_dir=tmp_path, keep_originals=True) as client:
        yield client


def anonymous(api: TestClient, **options: Any) -> TestClient:
    """A client of the same (started) app that sends no credentials at all."""
    guest = TestClient(api.app, **options)
    assert not CREDENTIAL_HEADERS & {name.lower() for name in guest.headers}
    assert not guest.cookies
    return guest


def operations(api: TestClient) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation the served OpenAPI document lists."""
    document = api.get("/openapi.json").json()
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in {"get", "post", "put", "patch", "delete"}]


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def new_key(api: TestClient, name: str, role: Role, event_id: int | None = None) -> str:
    response = api.post("/api-keys", json={"name": name, "role": role, "event_id": event_id})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"].startswith(body["prefix"]) and body["role"] == role
    return body["key"]


def as_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def new_event(api: TestClient, name: str) -> int:
    response = api.post("/events", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def image(relative: str) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (relative.rsplit("/", 1)[-1], data_file(relative).read_bytes(),
                     "image/jpeg")}


def ingest(api: TestClient, event_id: int, photo_id: str, relative: str,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return api.post(f"/events/{event_id}/photos", data={"photo_id": photo_id},
                    files=image(relative), headers=headers)


def ingested(api: TestClient, event_id: int, photo_id: str, relative: str) -> int:
    response = ingest(api, event_id, photo_id, relative)
    assert response.status_code == 201, response.text
    return response.json()["photo"]["id"]


def rows(db: Database, table: str) -> list[dict[str, Any]]:
    with db.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(f"SELECT * FROM {table}"))]


def count(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def in_clear(secret: str, table: list[dict[str, Any]]) -> list[str]:
    """The columns of `table` whose value contains `secret`."""
    return [column for row in table for column, value in row.items() if secret in str(value)]


# ---------------------------------------------------------------- 1. who needs credentials

def test_every_operation_but_the_public_ones_needs_credentials(admin: TestClient) -> None:
    guest = anonymous(admin)
    assert guest.get("/docs").status_code == 200
    assert guest.get("/openapi.json").status_code == 200
    ops = operations(guest)
    assert len(ops) > 40 and set(ops) >= PUBLIC | ADMIN_ONLY
    answers = {(method, path): guest.request(method, filled(path)).status_code
               for method, path in ops}
    refused = {op for op, code in answers.items() if code == 401}
    assert refused == set(ops) - PUBLIC, answers
    for op in PUBLIC:
        assert answers[op] in {200, 404, 422}, (op, answers[op])
    assert answers[("GET", "/health")] == 200
    assert guest.get("/share/not-a-real-token-at-all").status_code == 404
    # A 401 says how to authenticate.
    refused_once = guest.get("/people")
    assert refused_once.headers["www-authenticate"].lower().startswith("bearer")


def test_the_openapi_document_declares_security_on_every_protected_operation(
        admin: TestClient) -> None:
    document = anonymous(admin).get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"apiKey", "http"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            public = (method.upper(), path) in PUBLIC
            assert bool(operation.get("security")) != public, (method, path)
            if not public:
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
                for requirement in operation["security"]:
                    assert set(requirement) <= set(schemes)


# ---------------------------------------------------------------- 2. roles

def test_viewer_and_editor_keys_against_every_write(admin: TestClient) -> None:
    viewer = as_key(new_key(admin, "viewer key", Role.VIEWER))
    editor = as_key(new_key(admin, "editor key", Role.EDITOR))
    guest = anonymous(admin)
    writes = [op for op in operations(admin)
              if op[0] != "GET" and op not in READ_LIKE | PUBLIC | SELF_SERVICE]
    assert ("POST", "/people") in writes and ("DELETE", "/api-keys/{key_id}") in writes
    for method, path in writes:
        code = guest.request(method, filled(path), headers=viewer).status_code
        assert code == 403, (method, path, code)
    for method, path in sorted(ADMIN_ONLY):
        code = guest.request(method, filled(path), headers=editor).status_code
        assert code == 403, (method, path, code)
    for method, path in writes:
        if (method, path) not in ADMIN_ONLY:
            code = guest.request(method, filled(path), headers=editor).status_code
            assert code not in {401, 403}, (method, path, code)
    for method, path in sorted(ADMIN_ONLY):  # the viewer reads no admin data either
        assert guest.request(method, filled(path), headers=viewer).status_code == 403

    # The viewer reads and recognizes, with X-API-Key or as a bearer token.
    assert guest.get("/people", headers=viewer).status_code == 200
    bearer = {"Authorization": "Bearer " + viewer["X-API-Key"]}
    assert guest.get("/people", headers=bearer).status_code == 200
    recognized = guest.post("/recognize", files=image("faces/obama/obama_1.jpg"),
                            headers=viewer)
    assert recognized.status_code == 200, recognized.text
    # Self-service: a key may "log out" (nothing to end) but has no password to change.
    assert guest.post("/auth/logout", headers=viewer).status_code == 204
    changed = guest.post("/auth/password", headers=viewer,
                         json={"current_password": "whatever", "new_password": "whatever2"})
    assert changed.status_code == 403
    # Nothing was written by all that.
    assert admin.get("/people").json()["total"] == 0


def test_a_revoked_key_is_refused(admin: TestClient) -> None:
    key = new_key(admin, "short-lived", Role.VIEWER)
    guest = anonymous(admin)
    assert guest.get("/people", headers=as_key(key)).status_code == 200
    listed = {k["name"]: k for k in admin.get("/api-keys").json()}
    assert "key" not in listed["short-lived"]  # the secret is shown only once
    assert admin.delete(f"/api-keys/{listed['short-lived']['id']}").status_code == 204
    assert guest.get("/people", headers=as_key(key)).status_code == 401
    assert "short-lived" not in {k["name"] for k in admin.get("/api-keys").json()}
    assert admin.delete(f"/api-keys/{listed['short-lived']['id']}").status_code == 404


# ---------------------------------------------------------------- 3. event-limited keys

def test_an_event_limited_key_sees_only_its_event(admin: TestClient) -> None:
    event_a, event_b = new_event(admin, "A"), new_event(admin, "B")
    limited = as_key(new_key(admin, "A only", Role.EDITOR, event_id=event_a))
    guest = anonymous(admin)
    listed = guest.get("/events", headers=limited).json()
    assert listed["total"] == 1 and [e["id"] for e in listed["items"]] == [event_a]
    assert guest.get(f"/events/{event_a}", headers=limited).status_code == 200
    assert guest.get(f"/events/{event_b}", headers=limited).status_code == 403
    assert guest.get(f"/events/{event_b}/photos", headers=limited).status_code == 403
    refused = ingest(guest, event_b, "x", "faces/obama/obama_1.jpg", headers=limited)
    assert refused.status_code == 403 and f"event {event_a}" in refused.json()["detail"]
    assert guest.get("/people", headers=limited).status_code == 403
    assert guest.post("/events", json={"name": "C"}, headers=limited).status_code == 403
    created = ingest(guest, event_a, "mine", "faces/obama/obama_1.jpg", headers=limited)
    assert created.status_code == 201, created.text
    assert admin.get(f"/events/{event_b}").json()["photos"] == 0
    assert admin.get(f"/events/{event_a}").json()["photos"] == 1
    assert admin.post("/api-keys", json={"name": "nowhere", "role": "viewer",
                                         "event_id": 999_999}).status_code == 404


def test_an_event_limited_key_with_a_malformed_event_id_gets_a_client_error(
        admin: TestClient) -> None:
    event_a = new_event(admin, "A")
    limited = as_key(new_key(admin, "A only", Role.VIEWER, event_id=event_a))
    # Once a crash: auth compared int(path_params["event_id"]) before FastAPI validated it.
    guest = anonymous(admin, raise_server_exceptions=False)
    assert guest.get("/events/abc", headers=limited).status_code in {403, 422}
    assert guest.get(f"/events/{event_a}/photos/abc", headers=limited).status_code == 422


# ---------------------------------------------------------------- 4. share links

def test_a_share_link_lets_a_guest_find_their_photos_and_nothing_else(
        admin: TestClient, db: Database) -> None:
    event_a, event_b = new_event(admin, "Garden party"), new_event(admin, "Other party")
    obama = {ingested(admin, event_a, "o1", "faces/obama/obama_1.jpg"): "obama_1",
             ingested(admin, event_a, "o2", "faces/obama/obama_2.jpg"): "obama_2"}
    biden = ingested(admin, event_a, "b1", "faces/biden/biden_1.jpg")
    elsewhere = ingested(admin, event_b, "o3", "faces/obama/obama_3.jpg")
    created = admin.post(f"/events/{event_a}/share-links", json={})
    assert created.status_code == 201, created.text
    link = created.json()
    token = link["token"]
    assert link["url"] == f"/share/{token}" and link["expires_at"] is not None
    guest = anonymous(admin)

    opened = guest.get(f"/share/{token}")
    assert opened.status_code == 200, opened.text
    assert opened.json()["event"] == "Garden party" and opened.json()["photos"] == 3
    assert "Other party" not in opened.text

    before = count(db, "photos"), count(db, "photo_faces")
    found = guest.post(f"/share/{token}/match", files=image(SELFIE))
    assert found.status_code == 200, found.text
    urls = [p["image_url"] for p in found.json()["photos"]]
    assert sorted(urls) == sorted(f"/share/{token}/photos/{p}" for p in obama)
    assert (count(db, "photos"), count(db, "photo_faces")) == before  # the selfie is gone
    for url in urls:
        photo = guest.get(url)
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
        name = obama[int(url.rsplit("/", 1)[1])]
        assert photo.content == data_file(f"faces/obama/{name}.jpg").read_bytes()
    assert guest.get(f"/share/{token}/photos/{biden}").status_code == 200  # same event
    assert guest.get(f"/share/{token}/photos/{elsewhere}").status_code == 404

    made_up = "madeUpToken_0123456789abcdef"
    assert guest.get(f"/share/{made_up}").status_code == 404
    assert guest.post(f"/share/{made_up}/match", files=image(SELFIE)).status_code == 404
    assert guest.get(f"/share/{made_up}/photos/{biden}").status_code == 404

    listed = admin.get(f"/events/{event_a}/share-links").json()
    assert [(x["id"], x["revoked"]) for x in listed] == [(link["id"], False)]
    assert token not in str(listed)  # shown once
    assert admin.delete(f"/events/{event_b}/share-links/{link['id']}").status_code == 404
    assert admin.delete(f"/events/{event_a}/share-links/{link['id']}").status_code == 204
    assert guest.get(f"/share/{token}").status_code == 404
    assert guest.post(f"/share/{token}/match", files=image(SELFIE)).status_code == 404
    assert guest.get(urls[0]).status_code == 404
    assert admin.get(f"/events/{event_a}/share-links").json()[0]["revoked"] is True

    expiring = admin.post(f"/events/{event_a}/share-links", json={"expires_in_days": 0.00002})
    assert expiring.status_code == 201  # 1.7 s
    soon = expiring.json()["token"]
    assert guest.get(f"/share/{soon}").status_code == 200
    time.sleep(2.5)
    assert guest.get(f"/share/{soon}").status_code == 404
    assert guest.post(f"/share/{soon}/match", files=image(SELFIE)).status_code == 404
    assert guest.get(urls[0].replace(token, soon)).status_code == 404


def test_share_link_matches_are_throttled_per_link(settings: Settings, engine: FaceEngine,
                                                   db: Database, tmp_path: Path) -> None:
    with own_app(settings, engine, db, storage_dir=tmp_path,
                 share_matches_per_minute=2) as api:
        event = new_event(api, "party")
        first, second = (api.post(f"/events/{event}/share-links", json={}).json()["token"]
                         for _ in range(2))
        guest = anonymous(api)
        for _ in range(2):
            assert guest.post(f"/share/{first}/match", files=image(SELFIE)).status_code == 200
        throttled = guest.post(f"/share/{first}/match", files=image(SELFIE))
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 61
        assert guest.get(f"/share/{first}").status_code == 200  # only searches are limited
        assert guest.post(f"/share/{second}/match", files=image(SELFIE)).status_code == 200


# ---------------------------------------------------------------- 5. users and cookies

def test_login_cookie_csrf_password_change_and_logout(admin: TestClient,
                                                      session: Session) -> None:
    AccessService().add_user(session, "alice", "correct horse", Role.EDITOR)
    browser = anonymous(admin)
    login = {"username": "alice", "password": "correct horse"}

    wrong = browser.post("/auth/login", data={**login, "password": "incorrect horse"})
    assert wrong.status_code == 401 and not browser.cookies
    done = browser.post("/auth/login", data=login)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["username"] == "alice" and body["role"] == "editor" and body["csrf_token"]
    (cookie,) = done.headers.get_list("set-cookie")
    attributes = {part.strip().split("=")[0].lower(): part.strip()
                  for part in cookie.split(";")}
    assert cookie.startswith("likeness_session=")
    assert "httponly" in attributes and attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/" and "secure" not in attributes
    csrf = {"X-CSRF-Token": body["csrf_token"]}

    assert browser.get("/people").status_code == 200  # the cookie alone
    refused = browser.post("/people", json={"name": "No token"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    forged = browser.post("/people", json={"name": "Bad token"}, headers={"X-CSRF-Token": "x"})
    assert forged.status_code == 403
    assert browser.post("/people", json={"name": "By cookie"}, headers=csrf).status_code == 201
    assert [p["name"] for p in admin.get("/people").json()["items"]] == ["By cookie"]
    assert browser.get("/api-keys").status_code == 403  # an editor

    new = {"current_password": "correct horse", "new_password": "battery staple"}
    assert browser.post("/auth/password", json=new).status_code == 403  # no CSRF token
    mistaken = browser.post("/auth/password", headers=csrf,
                            json={**new, "current_password": "wrong horse"})
    assert mistaken.status_code == 422
    assert browser.post("/auth/password", json=new, headers=csrf).status_code == 204
    assert browser.get("/people").status_code == 401  # a new password ends the sessions
    browser.cookies.clear()
    assert browser.post("/auth/login", data=login).status_code == 401
    again = browser.post("/auth/login", data={**login, "password": "battery staple"})
    assert again.status_code == 200
    csrf = {"X-CSRF-Token": again.json()["csrf_token"]}
    assert browser.get("/people").status_code == 200

    assert browser.post("/auth/logout").status_code == 403  # a write: it needs the token
    assert browser.post("/auth/logout", headers=csrf).status_code == 204
    assert "likeness_session" not in browser.cookies
    assert browser.get("/people").status_code == 401


# ---------------------------------------------------------------- 6. secrets at rest

def test_secrets_are_stored_only_as_hashes(admin: TestClient, db: Database,
                                           session: Session) -> None:
    key = new_key(admin, "hashed", Role.VIEWER)
    keys = rows(db, "api_keys")
    assert in_clear(key, keys) == [] and in_clear(ADMIN_KEY, keys) == []
    (stored,) = (row for row in keys if row["name"] == "hashed")
    assert stored["key_hash"] == sha256(key) and len(stored["key_hash"]) == 64
    assert len(stored["prefix"]) < len(key) // 2

    AccessService().add_user(session, "bob", "a long passphrase", Role.VIEWER)
    (user,) = rows(db, "users")
    assert user["password_hash"].startswith("$argon2id$")
    assert in_clear("a long passphrase", [user]) == []
    browser = anonymous(admin)
    assert browser.post("/auth/login", data={"username": "bob",
                                             "password": "a long passphrase"}).status_code == 200
    cookie = browser.cookies["likeness_session"]
    (login,) = rows(db, "user_sessions")
    assert in_clear(cookie, [login]) == [] and login["token_hash"] == sha256(cookie)

    event = new_event(admin, "party")
    token = admin.post(f"/events/{event}/share-links", json={}).json()["token"]
    (link,) = rows(db, "share_links")
    assert in_clear(token, [link]) == [] and link["token_hash"] == sha256(token)


# ---------------------------------------------------------------- 7. throttling

def test_after_ten_wrong_keys_an_address_is_throttled_even_with_the_right_key(
        settings: Settings, engine: FaceEngine, db: Database) -> None:
    """Documented behaviour: after 10 failed attempts in a minute from one client address,
    every authenticated request from that address gets 429 (with Retry-After) until the
    minute has passed, even one with a right key; other addresses are not affected."""
    with own_app(settings, engine, db) as api:
        guest = anonymous(api)
        wrong = as_key("lk_this-key-is-wrong-0123456789")
        for attempt in range(10):
            assert guest.get("/people", headers=wrong).status_code == 401, attempt
        throttled = guest.get("/people", headers=wrong)
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 61
        right = guest.get("/people", headers=AUTH)
        assert right.status_code == 429 and "retry-after" in right.headers
        login = guest.post("/auth/login", data={"username": "x", "password": "y" * 8})
        assert login.status_code == 429
        assert guest.get("/health").status_code == 200  # public operations still answer
        elsewhere = anonymous(api, client=("192.0.2.7", 50000))
        assert elsewhere.get("/people", headers=AUTH).status_code == 200


def test_wrong_passwords_count_towards_the_throttle(settings: Settings, engine: FaceEngine,
                                                    db: Database) -> None:
    with own_app(settings, engine, db) as api:
        guest = anonymous(api)
        for _ in range(10):
            wrong = guest.post("/auth/login", data={"username": "nobody", "password": "p" * 8})
            assert wrong.status_code == 401
        assert guest.post("/auth/login", data={"username": "nobody",
                                               "password": "p" * 8}).status_code == 429


# ---------------------------------------------------------------- 8. audit log

def test_the_audit_log_records_successful_writes_and_who_made_them(
        admin: TestClient) -> None:
    editor = as_key(new_key(admin, "audit-editor", Role.EDITOR))
    viewer = as_key(new_key(admin, "audit-viewer", Role.VIEWER))
    guest = anonymous(admin)
    person = admin.post("/people", json={"name": "Doomed"}).json()["id"]
    assert admin.delete(f"/people/{person}").status_code == 204
    created = guest.post("/people", json={"name": "Kept"}, headers=editor)
    assert created.status_code == 201
    assert admin.delete("/people/999999").status_code == 404  # failed: not recorded
    assert guest.get("/people", headers=viewer).status_code == 200  # a read: not recorded
    assert guest.get("/audit", headers=viewer).status_code == 403
    assert guest.get("/audit", headers=editor).status_code == 403

    page = admin.get("/audit")
    assert page.status_code == 200, page.text
    entries = page.json()["items"]
    assert page.json()["total"] == len(entries)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry)
    assert set(by_action) == {"create_key", "create_person", "delete_person"}, entries
    (deleted,) = by_action["delete_person"]
    assert deleted["target"] == f"person_id={person}" and deleted["status"] == 204
    assert "bootstrap" in deleted["actor"]
    actors = sorted(e["actor"] for e in by_action["create_person"])
    assert len(actors) == 2 and "audit-editor" in actors[1] and "bootstrap" in actors[0]
    assert all(e["status"] == 201 for e in by_action["create_key"] + by_action["create_person"])
    assert not any("999999" in str(e["target"]) for e in entries)
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)


# ---------------------------------------------------------------- 9. bootstrap key

def test_the_bootstrap_key_exists_once_however_many_apps_start(
        settings: Settings, engine: FaceEngine, db: Database) -> None:
    for _ in range(2):
        with own_app(settings, engine, db) as api:
            assert api.get("/api-keys").status_code == 200
    with db.engine.connect() as connection:
        found = connection.execute(text("SELECT count(*) FROM api_keys WHERE key_hash = :h"),
                                   {"h": sha256(ADMIN_KEY)}).scalar_one()
    assert found == 1


def test_an_app_still_starts_after_the_bootstrap_key_was_revoked(
        admin: TestClient, settings: Settings, engine: FaceEngine, db: Database) -> None:
    second = as_key(new_key(admin, "second admin", Role.ADMIN))
    keys = {k["name"]: k["id"] for k in admin.get("/api-keys").json()}
    assert admin.delete(f"/api-keys/{keys['bootstrap']}", headers=second).status_code == 204
    assert admin.get("/people").status_code == 401  # revoked at once
    with own_app(settings, engine, db) as api:  # a restart with the same settings
        assert api.get("/health").status_code == 200
        assert api.get("/people").status_code == 401  # the revoked key stays revoked
    with db.engine.connect() as connection:
        found = connection.execute(text("SELECT count(*) FROM api_keys WHERE key_hash = :h"),
                                   {"h": sha256(ADMIN_KEY)}).scalar_one()
    assert found == 1


def test_a_key_revoked_elsewhere_stops_working_within_the_cache_time(
        settings: Settings, engine: FaceEngine, db: Database) -> None:
    """A verified key is trusted for KEY_CACHE_S without a query; revoked over HTTP it
    stops at once in that server, revoked by another process (the CLI) within that time."""
    with own_app(settings, engine, db) as api:
        key, other = (new_key(api, name, Role.VIEWER) for name in ("elsewhere", "here"))
        ids = {k["name"]: k["id"] for k in api.get("/api-keys").json()}
        for secret in (key, other):
            assert api.get("/people", headers=as_key(secret)).status_code == 200  # trusted
        with db.session() as session:  # the CLI, another process: its own service
            AccessService().revoke_key(session, ids["elsewhere"])
        assert api.get("/people", headers=as_key(key)).status_code == 200  # still trusted
        api.app.state.access._verified.clear()  # what KEY_CACHE_S later brings
        assert api.get("/people", headers=as_key(key)).status_code == 401
        assert api.delete(f"/api-keys/{ids['here']}").status_code == 204
        assert api.get("/people", headers=as_key(other)).status_code == 401  # at once
