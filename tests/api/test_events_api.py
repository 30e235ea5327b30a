"""Events over HTTP: ingest by upload, by URL (downloaded by the app's own worker) and by
embedding; match; isolation; clear 4xx errors that store nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.store import Database
from tests.conftest import AUTH, DATA, data_file
from tests.web import serving

SELFIE = "edge/obama-480p.jpg"


@pytest.fixture
def api(settings: Settings, engine: FaceEngine, db: Database,
        tmp_path: Path) -> Iterator[TestClient]:
    """An app with its own job worker, allowed to download from the local test server."""
    local = settings.model_copy(update={"worker_in_serve": True, "fetch_allow_private": True,
                                        "storage_dir": tmp_path})
    with TestClient(create_app(local, engine=engine, database=db), headers=AUTH) as client:
        yield client


@pytest.fixture
def strict_api(client: TestClient, db: Database) -> TestClient:
    """The default settings: private addresses refused."""
    return client


def new_event(api: TestClient, name: str = "party") -> int:
    response = api.post("/events", json={"name": name, "metadata": {"city": "Lisbon"}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def add(api: TestClient, event_id: int, photo_id: str, **fields: object) -> tuple[int, dict]:
    files = {}
    if "path" in fields:
        path = str(fields.pop("path"))
        files["file"] = (path, data_file(path).read_bytes())
    response = api.post(f"/events/{event_id}/photos", data={"photo_id": photo_id, **fields},
                        files=files or None)
    return response.status_code, response.json()


def match(api: TestClient, event_id: int, **params: object) -> list[str]:
    response = api.post(f"/events/{event_id}/match", params=params,
                        files={"file": ("me.jpg", data_file(SELFIE).read_bytes())})
    assert response.status_code == 200, response.text
    return [m["photo_id"] for m in response.json()["matches"]]


def wait_ready(api: TestClient, event_id: int, photo: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/events/{event_id}/photos/{photo}").json()
        if body["status"] != "pending":
            return body
        time.sleep(0.2)
    raise AssertionError(f"photo {photo} still pending after {timeout}s")


def test_ingest_three_ways_and_match(api: TestClient) -> None:
    event = new_event(api)
    code, body = add(api, event, "group", path="scenes/obama_and_biden.jpg")
    assert code == 201 and body["created"] and len(body["photo"]["faces"]) == 3
    assert add(api, event, "group", path="scenes/obama_and_biden.jpg")[0] == 200  # idempotent
    add(api, event, "biden", path="faces/biden/biden_1.jpg")

    with serving(DATA) as site:
        code, body = add(api, event, "by-url", image_url=f"{site}/faces/obama/obama_2.jpg")
        assert code == 202 and body["job_id"] and body["photo"]["status"] == "pending"
        ready = wait_ready(api, event, body["photo"]["id"])
        assert ready["status"] == "ready" and len(ready["faces"]) == 1
        code, body = add(api, event, "missing", image_url=f"{site}/nothing.jpg")
        assert wait_ready(api, event, body["photo"]["id"])["status"] == "failed"

    selfie = api.post("/detect", files={"file": ("s.jpg", data_file(SELFIE).read_bytes())})
    embedding = selfie.json()["faces"][0]["embedding"]
    code, body = add(api, event, "by-embedding", embedding=json.dumps(embedding))
    assert code == 201 and body["photo"]["faces"][0]["bbox"] is None

    assert match(api, event) == ["by-embedding", "group", "by-url"]
    response = api.post(f"/events/{event}/match", data={"user_embedding": json.dumps(embedding)})
    found = response.json()
    assert found["matches"][0]["photo_id"] == "by-embedding"
    assert found["threshold"] == pytest.approx(0.30)
    assert match(api, event, top_k=1) == ["by-embedding"]

    listed = api.get(f"/events/{event}").json()
    assert listed["photos"] == 5 and listed["faces"] == 6 and listed["metadata"]["city"]
    other = new_event(api, "other")
    assert match(api, other) == []  # isolated
    assert api.delete(f"/events/{event}").status_code == 204
    assert api.get(f"/events/{event}").status_code == 404
    assert api.get("/events").json()["total"] == 1


def test_bad_requests_get_clear_errors_and_store_nothing(strict_api: TestClient) -> None:
    api = strict_api
    event = new_event(api)
    cases = [
        ({"image_url": "http://127.0.0.1:8100/x.jpg"}, 400, "loopback"),
        ({"image_url": "http://169.254.169.254/latest/meta-data"}, 400, "link-local"),
        ({"image_url": "file:///etc/passwd"}, 400, "http or https"),
        ({"embedding": "[1, 2"}, 400, "JSON array"),
        ({"embedding": json.dumps([0.1] * 100)}, 400, "512 numbers"),
        ({"embedding": json.dumps(["a"] * 512)}, 400, "JSON array of numbers"),
        ({}, 400, "exactly one"),
    ]
    for fields, status, message in cases:
        code, body = add(api, event, "p", **fields)
        assert (code, message in body["detail"]) == (status, True), (fields, body)
    code, body = add(api, event, "p", path="edge/rgba_32bit.png",
                     embedding=json.dumps([0.1] * 512))
    assert code == 400
    response = api.post(f"/events/{event}/photos", data={"photo_id": "p"},
                        files={"file": ("x.jpg", b"\xff\xd8\xff\xe0 truncated")})
    assert response.status_code == 400
    assert add(api, 999_999, "p", path="faces/biden/biden_1.jpg")[0] == 404
    assert api.get(f"/events/{event}").json()["photos"] == 0
    blank = api.post(f"/events/{event}/match",
                     files={"file": ("blank.png", _blank_png())})
    assert blank.status_code == 422 and "no face" in blank.json()["detail"]
    assert api.post(f"/events/{event}/match").status_code == 400
    assert api.get("/photos/12345/annotated").status_code == 404


def _blank_png() -> bytes:
    return cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()
