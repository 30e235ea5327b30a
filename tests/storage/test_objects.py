"""Object storage: the filesystem backend on disk, the S3 backend against a real
S3-compatible server, and the facade that reads a location from whichever holds it."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from likeness.config import Settings
from likeness.errors import InvalidInput, NotFound, StorageUnavailable
from likeness.storage import ObjectStorage, check_key
from likeness.storage.objects import FilesystemBackend, S3Backend


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/etc/passwd", "a//b", "", ".hidden",
                                 "a/b\\c", "a b", "a/./b"])
def test_keys_that_could_escape_or_confuse_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        check_key(key)


def test_filesystem_backend_round_trip(tmp_path: Path) -> None:
    backend = FilesystemBackend(tmp_path / "objects")
    location = backend.put("events/1/2/annotated.jpg", b"jpeg bytes", "image/jpeg")
    assert location == "fs://events/1/2/annotated.jpg"
    assert (tmp_path / "objects/events/1/2/annotated.jpg").read_bytes() == b"jpeg bytes"
    assert backend.get("events/1/2/annotated.jpg") == b"jpeg bytes"
    backend.put("events/1/2/annotated.jpg", b"new", "image/jpeg")  # replaced whole
    assert backend.get("events/1/2/annotated.jpg") == b"new"
    assert [p.name for p in (tmp_path / "objects/events/1/2").iterdir()] == ["annotated.jpg"]
    backend.delete("events/1/2/annotated.jpg")
    with pytest.raises(NotFound):
        backend.get("events/1/2/annotated.jpg")
    backend.delete("events/1/2/annotated.jpg")  # deleting twice is harmless


def test_filesystem_backend_reports_an_unwritable_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageUnavailable, match="cannot write"):
        FilesystemBackend(tmp_path / "file").put("a.jpg", b"x", "image/jpeg")


def test_s3_backend_against_a_real_server(s3_settings: Settings) -> None:
    storage = ObjectStorage.from_settings(s3_settings)
    location = storage.put("photos/7/annotated.jpg", b"\xff\xd8 jpeg", "image/jpeg")
    assert location == f"s3://{s3_settings.s3_bucket}/photos/7/annotated.jpg"
    client = boto3.client("s3", endpoint_url=s3_settings.s3_endpoint_url,
                          region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    stored = client.get_object(Bucket=s3_settings.s3_bucket, Key="photos/7/annotated.jpg")
    assert stored["Body"].read() == b"\xff\xd8 jpeg"
    assert stored["ContentType"] == "image/jpeg"
    assert storage.get(location) == b"\xff\xd8 jpeg"
    storage.delete(location)
    with pytest.raises(NotFound):
        storage.get(location)


def test_locations_are_read_from_the_backend_that_holds_them(s3_settings: Settings,
                                                             tmp_path: Path) -> None:
    on_disk = ObjectStorage.from_settings(s3_settings.model_copy(update={
        "storage": "filesystem", "storage_dir": tmp_path}))
    file_location = on_disk.put("photos/1/annotated.jpg", b"from disk")
    on_s3 = ObjectStorage.from_settings(s3_settings.model_copy(update={"storage_dir": tmp_path}))
    s3_location = on_s3.put("photos/2/annotated.jpg", b"from s3")
    assert on_s3.get(file_location) == b"from disk"  # written before the switch to S3
    assert on_s3.get(s3_location) == b"from s3"
    with pytest.raises(StorageUnavailable, match="not configured"):
        on_disk.get(s3_location)


def test_an_unreachable_s3_server_is_a_clear_error() -> None:
    backend = S3Backend("bucket", endpoint_url="http://127.0.0.1:9", access_key_id="x",
                        secret_access_key="y")
    with pytest.raises(StorageUnavailable, match="S3 bucket bucket"):
        backend.put("a.jpg", b"x", "image/jpeg")


def test_s3_storage_needs_a_bucket(settings: Settings) -> None:
    with pytest.raises(StorageUnavailable, match="LIKENESS_S3_BUCKET"):
        ObjectStorage.from_settings(settings.model_copy(update={"storage": "s3"}))


@pytest.fixture(params=["filesystem", "s3"])
def either_storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    if request.param == "s3":
        return ObjectStorage.from_settings(request.getfixturevalue("s3_settings"))
    return ObjectStorage(FilesystemBackend(tmp_path / "objects"))


def test_large_files_go_in_and_come_out_whole_and_in_ranges(either_storage: ObjectStorage,
                                                            tmp_path: Path) -> None:
    """Videos are stored from a file and read back by a worker (a copy) and by the player
    (byte ranges), never as one bytes object; 9 MB is past boto3's multipart threshold."""
    data = bytes(range(256)) * (9 * 4096)
    source = tmp_path / "video.mp4"
    source.write_bytes(data)
    location = either_storage.put_file("videos/abc.mp4", source, "video/mp4")
    assert either_storage.size(location) == len(data)
    assert b"".join(either_storage.read_range(location, 5, 5_000_004)) == data[5:5_000_005]
    assert b"".join(either_storage.read_range(location, len(data) - 3, len(data) - 1)
                    ) == data[-3:]
    workspace = tmp_path / "worker-tmp"
    with either_storage.local_copy(location, workspace) as copy:
        assert copy.read_bytes() == data
    on_disk = either_storage.local_path(location)
    if on_disk is None:  # S3: the download was the worker's, and it is gone
        assert not copy.exists() and list(workspace.iterdir()) == []
    else:  # the filesystem: the stored file itself, left in place
        assert copy == on_disk and on_disk.is_file()
    either_storage.delete(location)
    with pytest.raises(NotFound):
        either_storage.size(location)
    with pytest.raises(NotFound):  # at once: before a response would have started
        either_storage.read_range(location, 0, 10)
    with pytest.raises(NotFound), either_storage.local_copy(location, workspace):
        pass
