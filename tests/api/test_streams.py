"""Camera streams over HTTP, run by the app's own worker (as `likeness serve` runs it):
a real RTSP camera on loopback (tests/services/test_streams.py), Lin-Manuel Miranda
enrolled and sighted, a drop and a reconnection, the app restarted under a running stream,
and the stream deleted; with nobody enrolled, his unknown sightings clustered by the worker
and named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import StreamStatus
from likeness.jobs.queue import JobQueue
from likeness.media import decode_image
from likeness.services.streams import StreamRecords
from likeness.store import Database
from likeness.store.models import Cluster
from tests.conftest import AUTH, DATA
from tests.services.test_streams import Camera, camera_clip, wait_for


@pytest.fixture
def serve(settings: Settings, engine: FaceEngine, db: Database
          ) -> Callable[[], TestClient]:
    """Apps that run their own job worker, with two stream slots."""
    configured = settings.model_copy(update={"worker_in_serve": True, "stream_slots": 2})
    return lambda: TestClient(create_app(configured, engine=engine, database=db),
                              headers=AUTH)


@pytest.fixture
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    opened = Camera(camera_clip(tmp_path_factory.mktemp("clip")))
    yield opened
    opened.close()


def register(api: TestClient, name: str, folder: str) -> int:
    photos = sorted((DATA / "faces" / folder).glob("*"))
    files = [("files", (p.name, p.read_bytes())) for p in photos]
    person = api.post("/people", json={"name": name}).json()
    assert api.post(f"/people/{person['id']}/faces", files=files).status_code == 201
    return person["id"]


def stream_in(api: TestClient, stream_id: int, status: str) -> dict | None:
    stream = api.get(f"/streams/{stream_id}").json()
    return stream if stream["status"] == status else None


def test_a_camera_stream_end_to_end(serve: Callable[[], TestClient], db: Database,
                                    camera: Camera) -> None:
    with serve() as api:
        lin = register(api, "lin", "lin_manuel_miranda")
        hook = api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                           "events": ["sighting"], "allow_private": True})
        assert hook.status_code == 201, hook.text
        created = api.post("/streams", json={"name": "Front door", "url": camera.url,
                                             "fps": 4})
        assert created.status_code == 201, created.text
        stream = created.json()
        assert stream["status"] == "starting" and stream["url"] == camera.url
        stream_id = stream["id"]
        up = wait_for("up", lambda: stream_in(api, stream_id, "up"), 45)
        assert up["error"] is None

        page = wait_for("Lin sighted", lambda: api.get(
            "/sightings", params={"person_id": lin, "decision": "match"}).json()["items"], 45)
        sighting = page[0]
        assert sighting["name"] == "lin" and sighting["stream"] == "Front door"
        assert sighting["stream_id"] == stream_id and sighting["detections"] >= 2
        thumbnail = api.get(sighting["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == \
            "image/jpeg"
        listed = wait_for("Lin among the people last seen", lambda: [
            s for s in api.get("/streams").json()["items"]
            if [p["name"] for p in s["people"]] == ["lin"]], 10)
        assert listed[0]["frames"] > 0 and listed[0]["last_frame_at"]
        since = api.get("/sightings", params={"since": "2999-01-01T00:00:00"}).json()
        assert since["total"] == 0
        # The sighting was published: a delivery of it is logged for the webhook.
        deliveries = wait_for("a sighting delivery", lambda: api.get(
            f"/webhooks/{hook.json()['id']}/deliveries").json()["items"], 15)
        data = deliveries[-1]["payload"]["data"]
        assert deliveries[-1]["event"] == "sighting" and data["stream"] == "Front door"
        assert any(d["payload"]["data"]["person"] == {"id": lin, "name": "lin"}
                   for d in api.get(f"/webhooks/{hook.json()['id']}/deliveries")
                   .json()["items"])

        camera.kill()  # the camera drops ...
        dropped = wait_for("reconnecting", lambda: stream_in(api, stream_id, "reconnecting"),
                           20)
        assert dropped["error"]
        camera.start()  # ... and comes back on the same address
        again = wait_for("up again", lambda: stream_in(api, stream_id, "up"), 30)
        assert again["frames"] >= dropped["frames"]

    # The app stopped: its worker stopped the stream and gave its job back ...
    with db.session() as session:
        stopped = StreamRecords().get(session, stream_id)
        assert stopped.status == StreamStatus.DOWN and "no worker" in (stopped.error or "")
        job = session.execute(text("SELECT status FROM procrastinate_jobs WHERE task_name = "
                                   "'run_stream'")).scalars().all()
        assert job == ["todo"]
    with serve() as api:  # ... which the next worker runs
        resumed = wait_for("resumed by the new worker",
                           lambda: (s := stream_in(api, stream_id, "up")) and
                           s["frames"] > again["frames"] and s, 45)
        assert resumed["error"] is None
        assert api.delete(f"/streams/{stream_id}").status_code == 204
        assert api.get(f"/streams/{stream_id}").status_code == 404
        assert api.delete(f"/streams/{stream_id}").status_code == 404
        wait_for("the camera's reader gone", lambda: camera.relay.readers == 0, 10)
        assert api.get("/sightings").json()["total"] == 0  # they went with it


def test_stream_urls_are_checked(serve: Callable[[], TestClient], tmp_path: Path) -> None:
    with serve() as api:
        for body in ({"name": "x", "url": "ftp://cam/x"},
                     {"name": "x", "url": "http://127.0.0.1:8080/cam.m3u8"},
                     {"name": "x", "url": "rtsp://cam/x", "fps": 0},
                     {"name": "", "url": "rtsp://cam/x"}):
            response = api.post("/streams", json=body)
            assert response.status_code in (400, 422), (body, response.text)
        video = tmp_path / "cam.mp4"
        video.write_bytes(b"x")
        assert api.post("/streams", json={"name": "x", "url": str(video)}).status_code == 403
        assert api.get("/streams").json()["total"] == 0
        added = api.post("/streams", json={"name": "yard",
                                           "url": "rtsp://admin:pw@127.0.0.1:9/h264"})
        assert added.status_code == 201
        assert added.json()["url"] == "rtsp://admin:***@127.0.0.1:9/h264"
        assert added.json()["fps"] == 5
        assert api.get("/sightings/1/thumbnail").status_code == 404


def start_worker(settings: Settings) -> subprocess.Popen:
    """`likeness worker` in a process of its own, with the stream slots of the settings."""
    env = {**os.environ, "LIKENESS_DATA_DIR": str(settings.data_dir),
           "LIKENESS_MODEL_DIR": str(settings.model_dir), "LIKENESS_LOG_LEVEL": "warning",
           "LIKENESS_JOB_STALL_SECONDS": str(settings.job_stall_seconds)}
    return subprocess.Popen([sys.executable, "-m", "likeness.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_worker_killed_mid_stream_hands_it_to_another(db: Database, settings: Settings,
                                                        camera: Camera) -> None:
    with db.session() as session:
        stream_id = StreamRecords(JobQueue(db, settings)).add(session, "porch", camera.url,
                                                              fps=3).stream.id

    def stream() -> Any:
        with db.session() as session:
            return StreamRecords().get(session, stream_id).stream

    first = start_worker(settings)
    try:
        wait_for("up", lambda: stream().status == StreamStatus.UP, 90)
        first.send_signal(signal.SIGKILL)  # no chance to say goodbye
        first.wait(10)
        frames = stream().frames
        wait_for("the camera's reader gone", lambda: camera.relay.readers == 0, 10)
        second = start_worker(settings)
        try:  # its worker finds the job stalled, and runs it again
            wait_for("resumed", lambda: (s := stream()).status == StreamStatus.UP
                     and s.frames > frames, 90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        stopped = stream()
        assert stopped.status == StreamStatus.DOWN and "no worker" in (stopped.error or "")
    finally:
        if first.poll() is None:
            first.kill()


def test_unknown_sightings_are_clustered_and_named_over_http(
        serve: Callable[[], TestClient], db: Database, engine: FaceEngine,
        camera: Camera) -> None:
    """Nobody enrolled: the worker clusters the camera's unknown sightings as their faces
    leave; Lin-Manuel Miranda's cluster is named over HTTP, his sightings become his, and
    the camera recognises him on the clip's next loop."""
    photo = next((DATA / "faces" / "lin_manuel_miranda").iterdir()).read_bytes()
    lin = engine.analyze(decode_image(photo))[0].require_embedding()

    def lin_cluster(api: TestClient) -> dict | None:
        """The cameras' cluster most like his photo, once one is like it."""
        with db.session() as session:
            likeness = {c.id: float(np.asarray(c.weighted_sum) @ lin
                                    / np.linalg.norm(np.asarray(c.weighted_sum)))
                        for c in session.query(Cluster).filter(Cluster.size > 0)}
        best = max(likeness, key=likeness.__getitem__, default=None)
        if best is None or likeness[best] < 0.4:
            return None
        cluster = api.get(f"/clusters/{best}").json()
        return cluster if cluster["size"] >= 2 else None

    with serve() as api:
        stream_id = api.post("/streams", json={"name": "Porch", "url": camera.url,
                                               "fps": 4}).json()["id"]
        cluster = wait_for("his cluster", lambda: lin_cluster(api), 90)
        assert cluster["scope"] == "cameras" and cluster["event_id"] is None
        assert [c["stream"] for c in cluster["cameras"]] == ["Porch"]
        assert cluster["cameras"][0]["sightings"] == cluster["size"]
        listed = api.get("/clusters", params={"scope": "cameras"}).json()["items"]
        assert cluster["id"] in [c["id"] for c in listed]
        assert api.get("/clusters").json()["total"] == 0  # the videos' list: none of these
        faces = api.get(f"/clusters/{cluster['id']}/faces").json()["items"]
        assert {f["stream_id"] for f in faces} == {stream_id}
        assert all(f["first_seen_at"] and f["video_id"] is None for f in faces)

        named = api.post(f"/clusters/{cluster['id']}/name",
                         json={"name": "Lin-Manuel Miranda"})
        assert named.status_code == 200, named.text
        body = named.json()
        assert body["created"] and body["enrolled"] >= 1 and body["videos"] == []
        assert body["sightings"] >= cluster["size"]
        his = api.get("/sightings", params={"person_id": body["person_id"]}).json()["items"]
        relabelled = {s["id"] for s in his}
        assert {f["id"] for f in faces} <= relabelled
        assert all(s["decision"] == "match" and s["name"] == "Lin-Manuel Miranda"
                   for s in his)
        # The clip loops: next time he comes, the camera knows him.
        wait_for("recognised live", lambda: [
            s for s in api.get("/sightings", params={"person_id": body["person_id"],
                                                      "decision": "match"}).json()["items"]
            if s["id"] not in relabelled], 45)
        assert api.delete(f"/streams/{stream_id}").status_code == 204
