"""Clusters over HTTP with the app's own worker: a scan's unknown tracks and an event's
photos are clustered by queued jobs, as are the cameras' unknown sightings (listed with
scope=cameras); a cluster is named once, merged, hidden, a face taken out; errors are 4xx
with a message."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.streams import StreamRecords
from likeness.store import Database
from tests.conftest import AUTH, DATA, data_file
from tests.services.test_sighting_clusters import STRANGERS, photo_sightings

DEV = DATA / "celeba_dev"
IDENTITIES = sorted(p.name for p in DEV.iterdir() if p.is_dir())[:4]


@pytest.fixture
def api(settings: Settings, engine: FaceEngine, db: Database) -> Iterator[TestClient]:
    """An app that runs its own job worker, as `likeness serve` does."""
    with TestClient(create_app(settings.model_copy(update={"worker_in_serve": True}),
                               engine=engine, database=db), headers=AUTH) as client:
        yield client


def eventually(check: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.3)
    raise AssertionError("timed out")


def jobs_done(db: Database, task: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task "
            "AND status = 'succeeded'"), {"task": task}).scalar_one()


def scanned_clusters(api: TestClient, db: Database) -> list[dict]:
    video = api.post("/videos", files={"file": ("clip.mp4", data_file(
        "video/hamilton_clip.mp4").read_bytes())}).json()["video"]
    eventually(lambda: api.get(f"/videos/{video['id']}").json()["status"] == "done")
    eventually(lambda: jobs_done(db, "cluster_faces"))
    return api.get("/clusters").json()["items"]


def test_a_video_cluster_is_named_once(api: TestClient, db: Database) -> None:
    clusters = scanned_clusters(api, db)
    assert len(clusters) == 1
    lin = clusters[0]
    assert lin["size"] == 2 and lin["status"] == "open" and lin["event_id"] is None
    assert lin["videos"][0]["first_ms"] < lin["videos"][0]["last_ms"]
    thumbnail = api.get(lin["thumbnail_urls"][0])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    faces = api.get(f"/clusters/{lin['id']}/faces").json()
    assert faces["total"] == 2 and faces["items"][0]["weight"] >= faces["items"][1]["weight"]

    both = api.post(f"/clusters/{lin['id']}/name", json={"name": "Lin", "person_id": 1})
    assert both.status_code == 422
    named = api.post(f"/clusters/{lin['id']}/name", json={"name": "Lin-Manuel Miranda"})
    assert named.status_code == 200, named.text
    body = named.json()
    assert body["created"] and body["enrolled"] >= 1 and body["videos"] == [
        lin["videos"][0]["video_id"]]
    people = api.get(f"/videos/{body['videos'][0]}/people").json()
    assert [(p["name"], p["source"]) for p in people] == [("Lin-Manuel Miranda", "cluster")]
    assert api.get("/clusters").json()["total"] == 0
    assert api.get("/clusters", params={"status": "named"}).json()["items"][0][
        "person_id"] == body["person_id"]
    again = api.post(f"/clusters/{lin['id']}/name", json={"person_id": body["person_id"]})
    assert again.status_code == 409 and "already named" in again.json()["detail"]
    photo = (DATA / "faces" / "lin_manuel_miranda").iterdir().__next__()
    recognized = api.post("/recognize", files={"file": (photo.name, photo.read_bytes())})
    assert recognized.json()["faces"][0]["person"]["name"] == "Lin-Manuel Miranda"


def test_an_events_guests_are_clustered_as_photos_arrive(api: TestClient, db: Database) -> None:
    event = api.post("/events", json={"name": "gala"}).json()
    for person in IDENTITIES:
        for path in sorted((DEV / person).iterdir()):
            response = api.post(f"/events/{event['id']}/photos",
                                files={"file": (path.name, path.read_bytes())},
                                data={"photo_id": f"{person}/{path.name}"})
            assert response.status_code == 201, response.text
    page = eventually(lambda: (p := api.get(f"/events/{event['id']}/clusters").json())[
        "total"] >= len(IDENTITIES) and sum(c["size"] for c in p["items"]) >= 30 and p)
    for cluster in page["items"]:
        people = {face["photo_id"].split("/")[0] for face in cluster["faces"]}
        assert len(people) == 1, people  # no cluster mixes two guests
        assert all(isinstance(face["photo"], int) and face["bbox"] for face in cluster["faces"])
    few = api.get(f"/events/{event['id']}/clusters", params={"faces_per_cluster": 2}).json()
    assert all(len(c["faces"]) == min(2, c["size"]) for c in few["items"])

    first, second = page["items"][:2]
    face = first["faces"][0]["id"]
    assert api.delete(f"/clusters/{first['id']}/faces/{face}").status_code == 204
    assert api.delete(f"/clusters/{first['id']}/faces/{face}").status_code == 404
    merged = api.post(f"/clusters/{first['id']}/merge", json={"cluster_id": second["id"]})
    assert merged.status_code == 200 and merged.json()["size"] == \
        first["size"] - 1 + second["size"]
    assert api.get(f"/clusters/{second['id']}").status_code == 404
    hidden = api.patch(f"/clusters/{first['id']}", json={"hidden": True})
    assert hidden.json()["status"] == "hidden"
    assert first["id"] not in {c["id"] for c in
                               api.get(f"/events/{event['id']}/clusters").json()["items"]}

    queued = api.post(f"/events/{event['id']}/clusters")
    assert queued.status_code == 202
    eventually(lambda: jobs_done(db, "cluster_faces") >= 2)
    after = api.get(f"/events/{event['id']}/clusters", params={"status": "hidden"}).json()
    assert [c["id"] for c in after["items"]] == [first["id"]]
    faces = {f["id"] for f in api.get(f"/clusters/{first['id']}/faces",
                                      params={"limit": 500}).json()["items"]}
    assert face not in faces  # taken out for good


def test_cluster_errors_are_clear(api: TestClient, db: Database) -> None:
    assert api.get("/clusters/99").status_code == 404
    assert api.post("/clusters/99/name", json={"name": "x"}).json()["detail"] == \
        "cluster 99 does not exist"
    assert api.post("/clusters/1/name", json={}).status_code == 422
    assert api.post("/clusters/1/merge", json={"cluster_id": True}).status_code == 422
    assert api.get("/events/99/clusters").status_code == 404
    assert api.post("/events/99/clusters").status_code == 404
    assert api.get("/clusters", params={"status": "lost"}).status_code == 422
    assert api.get("/clusters", headers={"X-API-Key": ""}).status_code == 401


def test_the_cameras_clusters_are_listed_with_their_scope(
        api: TestClient, db: Database, engine: FaceEngine) -> None:
    """Unknown sightings (of CelebA photos, as a stream records them) clustered by a job
    queued over HTTP, listed with scope=cameras and never among the videos' clusters."""
    with db.session() as session:  # no job: no worker tries to read it
        stream_id = StreamRecords().add(session, "Gate", "rtsp://127.0.0.1:9/x").stream.id
        first = photo_sightings(session, engine, stream_id, STRANGERS[0], 4)
        photo_sightings(session, engine, stream_id, STRANGERS[1], 4)

    queued = api.post("/clusters", params={"scope": "cameras"})
    assert queued.status_code == 202 and queued.json()["job_id"]
    page = eventually(lambda: (p := api.get("/clusters", params={"scope": "cameras"}).json())[
        "total"] == 2 and p)
    assert api.get("/clusters").json()["total"] == 0  # videos: the default scope
    for cluster in page["items"]:
        assert cluster["scope"] == "cameras" and cluster["videos"] == []
        assert [(c["stream_id"], c["stream"]) for c in cluster["cameras"]] == [
            (stream_id, "Gate")]
    target = next(c for c in page["items"] if set(c["faces"]) <= set(first))
    faces = api.get(f"/clusters/{target['id']}/faces").json()["items"]
    assert all(f["stream"] == "Gate" and f["first_seen_at"] for f in faces)
    named = api.post(f"/clusters/{target['id']}/name", json={"name": "Gate regular"}).json()
    assert named["sightings"] == target["size"] and named["enrolled"] >= 1
    sightings = api.get("/sightings", params={"person_id": named["person_id"]}).json()
    assert sightings["total"] == target["size"]
    assert {s["decision"] for s in sightings["items"]} == {"match"}

    assert api.get("/clusters", params={"scope": "event"}).status_code == 422
    assert api.post("/clusters", params={"scope": "all"}).status_code == 422
