"""Webhooks over HTTP: made, listed, revoked by administrators only; the secret shown once;
private targets refused unless allowed; the delivery log, paginated, after a real
delivery to a local receiver."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.enums import Role
from likeness.jobs.queue import JobQueue
from likeness.services.access import AccessService
from likeness.services.notifications import NotificationService, verify
from likeness.store import Database
from tests.services.test_notifications import SIGHTING, receiving


def test_webhooks_are_made_listed_and_revoked(client: TestClient, db: Database) -> None:
    refused = client.post("/webhooks", json={"url": "http://127.0.0.1:8123/hook",
                                             "events": ["sighting"]})
    assert refused.status_code == 400
    assert "private, loopback or link-local" in refused.json()["detail"]
    assert "webhook url" in refused.json()["detail"]
    assert client.post("/webhooks", json={"url": "http://x.example", "events": ["nope"]}
                       ).status_code == 422
    assert client.post("/webhooks", json={"url": "http://x.example", "events": []}
                       ).status_code == 422

    made = client.post("/webhooks", json={"url": "http://127.0.0.1:8123/hook",
                                          "events": ["sighting", "video.tagged", "sighting"],
                                          "allow_private": True})
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["sighting", "video.tagged"] and hook["allow_private"]
    assert hook["created_by"] and hook["url"] == "http://127.0.0.1:8123/hook"
    listed = client.get("/webhooks").json()
    assert [w["id"] for w in listed] == [hook["id"]]
    assert "secret" not in listed[0]  # shown once
    assert client.get(f"/webhooks/{hook['id']}").json() == listed[0]
    assert client.get(f"/webhooks/{hook['id']}/deliveries").json() == {
        "items": [], "total": 0, "limit": 50, "offset": 0}

    assert client.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert client.get("/webhooks").json() == []
    for gone in (client.get(f"/webhooks/{hook['id']}"),
                 client.get(f"/webhooks/{hook['id']}/deliveries"),
                 client.delete(f"/webhooks/{hook['id']}")):
        assert gone.status_code == 404


def test_only_administrators_manage_webhooks(client: TestClient, db: Database,
                                             session: Session) -> None:
    editor = AccessService().create_key(session, "editor", Role.EDITOR).secret
    body = {"url": "http://127.0.0.1:8123/", "events": ["sighting"], "allow_private": True}
    assert client.post("/webhooks", json=body, headers={"X-API-Key": editor}
                       ).status_code == 403
    assert client.get("/webhooks", headers={"X-API-Key": editor}).status_code == 403
    assert client.get("/webhooks", headers={"X-API-Key": ""}).status_code == 401


def test_the_delivery_log_after_a_real_delivery(client: TestClient, db: Database,
                                                session: Session, settings: Settings) -> None:
    notifications = NotificationService.from_settings(settings, JobQueue(db, settings))
    with receiving(500, 204) as receiver:
        made = client.post("/webhooks", json={"url": receiver.url, "events": ["sighting"],
                                              "allow_private": True}).json()
        for _ in range(3):
            notifications.publish(session, "sighting", SIGHTING)
        session.commit()
        log = client.get(f"/webhooks/{made['id']}/deliveries", params={"limit": 2}).json()
        assert log["total"] == 3 and len(log["items"]) == 2
        newest = log["items"][0]
        assert (newest["status"], newest["attempts"]) == ("pending", 0)
        first = notifications.deliver(session, newest["id"])  # the job's work, inline
        second = notifications.deliver(session, newest["id"])
        assert first is not None and second is not None
        requests = receiver.wait_for(2)
    assert all(verify(made["secret"], r.body, r.headers["X-Likeness-Signature"])
               for r in requests)
    entry = client.get(f"/webhooks/{made['id']}/deliveries").json()["items"][0]
    assert entry["id"] == newest["id"]
    assert (entry["status"], entry["attempts"], entry["response_status"], entry["error"]) == \
        ("delivered", 2, 204, None)
    assert entry["payload"]["data"] == SIGHTING and entry["delivered_at"]
    older = client.get(f"/webhooks/{made['id']}/deliveries",
                       params={"limit": 2, "offset": 2}).json()["items"]
    assert len(older) == 1 and older[0]["status"] == "pending"
