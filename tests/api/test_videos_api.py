"""Videos over HTTP, scanned by the app's in-process worker; the review queue."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.store import Database
from tests.conftest import AUTH, DATA, data_file

CLIP = "video/hamilton_clip.mp4"


@pytest.fixture
def api(settings: Settings, engine: FaceEngine, db: Database) -> Iterator[TestClient]:
    """An app that runs its own job worker, as `likeness serve` does."""
    with TestClient(create_app(settings.model_copy(update={"worker_in_serve": True}),
                               engine=engine, database=db), headers=AUTH) as client:
        yield client


def register(api: TestClient, name: str, folder: str) -> int:
    photos = sorted((DATA / "faces" / folder).glob("*"))
    files = [("files", (p.name, p.read_bytes())) for p in photos]
    person = api.post("/people", json={"name": name}).json()
    assert api.post(f"/people/{person['id']}/faces", files=files).status_code == 201
    return person["id"]


def upload(api: TestClient, **params: object) -> dict:
    response = api.post("/videos", files={"file": ("clip.mp4", data_file(CLIP).read_bytes())},
                        params=params)
    assert response.status_code in (200, 202), response.text
    return response.json()


def wait_done(api: TestClient, video_id: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        video = api.get(f"/videos/{video_id}").json()
        if video["status"] in ("done", "failed"):
            return video
        time.sleep(0.3)
    raise AssertionError(f"video {video_id} not scanned in {timeout}s: {video}")


def test_upload_scan_tags_and_review(api: TestClient, db: Database) -> None:
    lin = register(api, "lin", "lin_manuel_miranda")
    queued = upload(api)
    assert queued["created"] and queued["job_id"] and queued["video"]["status"] == "queued"
    video = wait_done(api, queued["video"]["id"])
    assert video["status"] == "done" and video["progress"] == 1.0
    assert video["duration_ms"] > 9000 and video["tracks"]["tagged"] >= 1
    (tag,) = video["people"]
    assert tag["name"] == "lin" and tag["source"] == "scan"
    assert any(a >= 2500 and b <= 7500 for a, b in tag["segments"])
    assert api.get(f"/people/{lin}/videos").json()[0]["video_id"] == video["id"]
    again = upload(api)  # the same content is not scanned twice
    assert not again["created"] and again["job_id"] is None
    review = api.get("/review").json()
    assert review["total"] >= 1
    item = review["items"][0]
    assert api.get(item["thumbnail_url"]).headers["content-type"] == "image/jpeg"
    assert api.post(f"/review/{item['id']}/reject").status_code == 204
    assert api.post(f"/review/{item['id']}/reject").status_code == 409
    assert api.get("/review", params={"status": "rejected"}).json()["total"] == 1
    assert api.delete(f"/videos/{video['id']}").status_code == 204
    assert api.get(f"/videos/{video['id']}").status_code == 404
    with db.engine.connect() as connection:
        for table in ("tracks", "detections", "video_tags", "review_items"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_enrolling_after_the_scan_tags_through_retro_matching(api: TestClient) -> None:
    video = wait_done(api, upload(api, keyframes=True)["video"]["id"])
    assert video["people"] == []
    register(api, "lin", "lin_manuel_miranda")
    people = api.get(f"/videos/{video['id']}/people").json()
    assert [(p["name"], p["source"]) for p in people] == [("lin", "retro")]


def test_bad_videos_are_refused(api: TestClient) -> None:
    response = api.post("/videos", files={"file": ("x.mp4", b"\x00\x01" * 1000)})
    assert response.status_code == 400
    assert api.post("/videos", files={"file": ("x.mp4", b"")}).status_code == 400
    response = api.post("/videos", data={"path": str(data_file(CLIP))})
    assert response.status_code == 403  # server paths are off by default
    assert api.post("/videos").status_code == 400
    assert api.get("/videos").json()["total"] == 0  # nothing half-registered


def test_an_upload_kept_in_s3_is_scanned_played_and_deleted(
        s3_settings: Settings, engine: FaceEngine, db: Database) -> None:
    """With S3 storage the upload goes to the bucket (no local copy), the worker scans a
    download of it in its own scratch space and removes it, the player reads byte ranges
    of the object, and deleting the video deletes the object."""
    import boto3

    from likeness.enums import Role
    from likeness.services.access import AccessService

    settings = s3_settings.model_copy(update={"worker_in_serve": True})
    bucket = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    with TestClient(create_app(settings, engine=engine, database=db), headers=AUTH) as api:
        queued = upload(api)
        video = wait_done(api, queued["video"]["id"])
        assert video["status"] == "done" and video["tracks"]["unknown"] >= 1
        with db.engine.connect() as connection:
            path, location = connection.execute(text(
                "SELECT path, location FROM videos WHERE id = :id"), {"id": video["id"]}).one()
        key = location.removeprefix(f"s3://{settings.s3_bucket}/")
        assert path is None and key.startswith("videos/") and key.endswith(".mp4")
        size = data_file(CLIP).stat().st_size
        assert bucket.head_object(Bucket=settings.s3_bucket, Key=key)["ContentLength"] == size
        deadline = time.monotonic() + 30  # the job ends after the video is marked done
        while True:
            with db.engine.connect() as connection:
                job = connection.execute(text("SELECT status FROM procrastinate_jobs WHERE "
                                              "task_name = 'scan_video'")).scalar()
            if job == "succeeded":
                break
            assert time.monotonic() < deadline, f"the scan job is still {job}"
            time.sleep(0.1)
        assert not list(settings.work_dir.glob("**/*.mp4"))  # no upload or download left

        with db.session() as session:
            AccessService().add_user(session, "viewer", "a long password 123", Role.VIEWER)
        signed_in = api.post("/ui/login", data={"username": "viewer",
                                                "password": "a long password 123"},
                             follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        player = f"/ui/videos/{video['id']}/file"
        whole = api.get(player, headers={"X-API-Key": ""})
        assert whole.status_code == 200 and whole.content == data_file(CLIP).read_bytes()
        part = api.get(player, headers={"range": "bytes=100-199", "X-API-Key": ""})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{size}"
        tail = api.get(player, headers={"range": "bytes=-10", "X-API-Key": ""})
        assert tail.status_code == 206 and tail.content == whole.content[-10:]
        beyond = api.get(player, headers={"range": f"bytes={size}-", "X-API-Key": ""})
        assert beyond.status_code == 416
        absurd = api.get(player, headers={"range": "bytes=" + "9" * 5000 + "-",
                                          "X-API-Key": ""})
        assert absurd.status_code == 200 and len(absurd.content) == size  # not a range

        assert api.delete(f"/videos/{video['id']}").status_code == 204
        assert bucket.list_objects_v2(Bucket=settings.s3_bucket).get("KeyCount", 0) == 0
