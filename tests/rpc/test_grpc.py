"""ProcessPhoto over a real gRPC channel, annotated images in a real S3-compatible server,
and the checked-in stubs matching the .proto."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import cv2
import grpc
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import TextClause, text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.jobs.queue import JobQueue
from likeness.rpc import likeness_pb2 as pb
from likeness.rpc import likeness_pb2_grpc as pb_grpc
from likeness.rpc.server import GrpcServer
from likeness.services.access import AccessService
from likeness.services.people import PeopleService, Upload
from likeness.storage import ObjectStorage
from likeness.store import Database, events
from tests.conftest import ADMIN_KEY, AUTH, DATA, REPO, data_file
from tests.web import serving

RPC = REPO / "src" / "likeness" / "rpc"
KEY = (("x-api-key", ADMIN_KEY),)  # the metadata of a call with the tests' admin key


@pytest.fixture
def rpc_settings(s3_settings: Settings) -> Settings:
    return s3_settings.model_copy(update={"fetch_allow_private": True})


@pytest.fixture
def stub(rpc_settings: Settings, engine: FaceEngine, db: Database,
         people: PeopleService) -> Iterator[pb_grpc.LikenessStub]:
    with db.session() as session:
        AccessService().ensure_key(session, ADMIN_KEY)  # as the app seeds it
        for name, photo in [("Barack Obama", "faces/obama/obama_1.jpg"),
                            ("Joe Biden", "faces/biden/biden_1.jpg")]:
            people.register(session, name, [Upload(photo, data_file(photo).read_bytes())])
    server = GrpcServer(engine, db, rpc_settings, ObjectStorage.from_settings(rpc_settings),
                        "127.0.0.1", 0, clusters=JobQueue(db, rpc_settings))
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.LikenessStub(channel)
    server.stop(0)


def s3_object(settings: Settings, location: str) -> bytes:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def names(response: pb.ProcessPhotoResponse) -> list[str]:
    return [f.person.name if f.HasField("person") else "?" for f in response.faces]


def test_process_photo_matches_people_and_uploads_the_annotated_image(
        stub: pb_grpc.LikenessStub, rpc_settings: Settings, engine: FaceEngine,
        db: Database) -> None:
    photo = data_file("scenes/obama_and_biden.jpg").read_bytes()
    response = stub.ProcessPhoto(pb.ProcessPhotoRequest(photo_id="press-1", image_bytes=photo),
                                 metadata=KEY)
    assert response.created and response.model == "buffalo_s"
    left_to_right = sorted(response.faces, key=lambda f: f.bbox.x1)  # as the README lists
    assert [f.person.name if f.HasField("person") else "?" for f in left_to_right] == [
        "Joe Biden", "Barack Obama", "?"]
    assert [f.decision for f in left_to_right] == ["match", "match", "unknown"]
    biden = left_to_right[0]
    assert 740 < biden.bbox.x1 < 780 and biden.candidates[0].name == "Joe Biden"
    assert response.annotated_location.startswith(f"s3://{rpc_settings.s3_bucket}/photos/")

    stored = s3_object(rpc_settings, response.annotated_location)
    annotated = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    assert annotated.shape == original.shape
    x1, y1 = int(biden.bbox.x1), int(biden.bbox.y1)
    assert not np.array_equal(annotated[y1 - 2 : y1 + 3, x1 : x1 + 40],
                              original[y1 - 2 : y1 + 3, x1 : x1 + 40])  # a box was drawn

    with TestClient(create_app(rpc_settings, engine=engine, database=db), headers=AUTH) as http:
        served = http.get(response.annotated_path)
        assert served.status_code == 200 and served.content == stored
        assert served.headers["content-type"] == "image/jpeg"

    again = stub.ProcessPhoto(pb.ProcessPhotoRequest(photo_id="press-1", image_bytes=photo),
                              metadata=KEY)
    assert not again.created and again.photo == response.photo
    with db.session() as session:
        assert session.scalar(_count("photo_faces")) == 3  # no duplicates


def _count(table: str) -> TextClause:
    return text(f"SELECT count(*) FROM {table}")


def test_process_photo_by_url_into_an_event(stub: pb_grpc.LikenessStub, db: Database) -> None:
    with db.session() as session:
        event = events.create_event(session, "gala")
        session.commit()
        event_id = event.id
    with serving(DATA) as site:
        response = stub.ProcessPhoto(pb.ProcessPhotoRequest(
            photo_id="p2", image_url=f"{site}/scenes/two_people.jpg", event_id=event_id),
            metadata=KEY)
    assert sorted(names(response)) == ["Barack Obama", "Joe Biden"]
    with db.session() as session:
        assert session.scalar(_count("photo_faces")) == 2
        queued = session.execute(text(  # the event's clustering takes its new faces in
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'cluster_faces'")).scalars()
        assert [args["event_id"] for args in queued] == [event_id]


@pytest.mark.parametrize(("request_fields", "code", "message"), [
    ({"photo_id": "x", "image_bytes": b"not an image"}, grpc.StatusCode.INVALID_ARGUMENT, ""),
    ({"photo_id": "x"}, grpc.StatusCode.INVALID_ARGUMENT, "image_bytes or image_url"),
    ({"photo_id": "", "image_bytes": b"x"}, grpc.StatusCode.INVALID_ARGUMENT, "photo_id"),
    ({"photo_id": "x", "image_bytes": (DATA / "faces/biden/biden_2.jpg").read_bytes(),
      "event_id": 424242}, grpc.StatusCode.NOT_FOUND, "event 424242"),
])
def test_errors_map_to_status_codes(stub: pb_grpc.LikenessStub, request_fields: dict,
                                    code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ProcessPhoto(pb.ProcessPhotoRequest(**request_fields), metadata=KEY)
    assert caught.value.code() == code
    assert message in caught.value.details()


def test_a_private_url_is_refused_by_default(engine: FaceEngine, db: Database,
                                             settings: Settings, tmp_path: Path) -> None:
    strict = settings.model_copy(update={"storage_dir": tmp_path})
    with db.session() as session:
        AccessService().ensure_key(session, ADMIN_KEY)
    server = GrpcServer(engine, db, strict, ObjectStorage.from_settings(strict), "127.0.0.1", 0)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            for url in ("http://127.0.0.1:1/x.jpg", "http://169.254.169.254/latest"):
                with pytest.raises(grpc.RpcError) as caught:
                    pb_grpc.LikenessStub(channel).ProcessPhoto(pb.ProcessPhotoRequest(
                        photo_id="x", image_url=url), metadata=KEY)
                assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "refused" in caught.value.details()
            health = pb_grpc.LikenessStub(channel).Health(pb.HealthRequest(), metadata=KEY)
            assert health.status == "SERVING" and health.model == "buffalo_s"
    finally:
        server.stop(0)


def _refused(stub: pb_grpc.LikenessStub, metadata: tuple[tuple[str, str], ...],
             event_id: int | None = None) -> grpc.RpcError:
    """The error of a ProcessPhoto (of bytes that are no image) with this metadata."""
    with pytest.raises(grpc.RpcError) as caught:
        stub.ProcessPhoto(pb.ProcessPhotoRequest(photo_id="x", image_bytes=b"not an image",
                                                 event_id=event_id), metadata=metadata)
    return caught.value


def _key(db: Database, role: Role, event_id: int | None = None) -> str:
    with db.session() as session:
        return AccessService().create_key(session, "rpc test", role, event_id).secret


def test_process_photo_needs_a_valid_key(stub: pb_grpc.LikenessStub, db: Database) -> None:
    missing = _refused(stub, ())
    assert missing.code() == grpc.StatusCode.UNAUTHENTICATED
    assert missing.details() == "an API key is required in the x-api-key metadata"
    wrong = _refused(stub, (("x-api-key", "lk_not-a-key-of-ours"),))
    assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.details() == "the API key is wrong or revoked"
    # a bad image gets past access control to the photo's own checks
    assert _refused(stub, KEY).code() == grpc.StatusCode.INVALID_ARGUMENT
    bearer = (("authorization", f"Bearer {ADMIN_KEY}"),)
    assert _refused(stub, bearer).code() == grpc.StatusCode.INVALID_ARGUMENT

    editor = _key(db, Role.EDITOR)
    assert _refused(stub, (("x-api-key", editor),)).code() == grpc.StatusCode.INVALID_ARGUMENT
    revoked = _key(db, Role.EDITOR)  # revoked elsewhere (the CLI) before the server saw it
    with db.session() as session:
        caller = AccessService().authenticate_key(session, revoked)
        assert caller is not None
        AccessService().revoke_key(session, caller.id)
    assert _refused(stub, (("x-api-key", revoked),)).code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_viewer_key_may_not_process_photos(stub: pb_grpc.LikenessStub, db: Database
                                             ) -> None:
    refused = _refused(stub, (("x-api-key", _key(db, Role.VIEWER)),))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "viewer" in refused.details()


def test_an_event_limited_key_processes_into_its_event_only(stub: pb_grpc.LikenessStub,
                                                            db: Database) -> None:
    with db.session() as session:
        own, other = (events.create_event(session, name).id for name in ("own", "other"))
        session.commit()
    limited = (("x-api-key", _key(db, Role.EDITOR, own)),)
    assert _refused(stub, limited, own).code() == grpc.StatusCode.INVALID_ARGUMENT
    for event_id in (other, None):
        refused = _refused(stub, limited, event_id)
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f"limited to event {own}" in refused.details()


def test_health_needs_no_key(stub: pb_grpc.LikenessStub) -> None:
    assert stub.Health(pb.HealthRequest()).status == "SERVING"


def test_checked_in_stubs_match_the_proto(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'src'}",
                    f"--python_out={tmp_path}", f"--grpc_python_out={tmp_path}",
                    f"--pyi_out={tmp_path}", str(RPC / "likeness.proto")], check=True)
    for name in ("likeness_pb2.py", "likeness_pb2_grpc.py", "likeness_pb2.pyi"):
        assert (tmp_path / "likeness/rpc" / name).read_text() == (RPC / name).read_text(), (
            f"{name} is stale: run `make proto`")
