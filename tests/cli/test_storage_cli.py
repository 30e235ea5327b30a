"""likeness storage migrate: blobs kept on this machine (filesystem storage, and a video
uploaded before object storage held uploads) move to S3; the service reads them from
there, the local files go when asked, and a second run finds nothing to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from likeness.cli import app
from likeness.config import Settings, get_settings
from likeness.engine import FaceEngine
from likeness.services.events import EventRecords, EventService, ImageInput
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import data_file

runner = CliRunner()


def test_local_blobs_move_to_s3_and_stay_readable(
        db: Database, settings: Settings, s3_settings: Settings, engine: FaceEngine,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local = settings.model_copy(update={"keep_originals": True,
                                        "storage_dir": tmp_path / "objects"})
    files = ObjectStorage.from_settings(local)
    with db.session() as session:
        event = EventRecords.from_settings(files, local).create(session, "gala").event
        photos = [ImageInput(name, data_file(f"faces/biden/{name}").read_bytes())
                  for name in ("biden_1.jpg", "biden_2.jpg")]
        ingested = EventService.from_settings(engine, files, local).ingest_images(
            session, event.id, photos)
        uploads = local.data_dir / "videos"  # where uploads were kept before storage
        uploads.mkdir(exist_ok=True)
        legacy = uploads / "0123abcd.mp4"
        shutil.copyfile(data_file("video/hamilton_clip.mp4"), legacy)
        video, _ = VideoRecords.register(session, legacy, "clip.mp4", ScanOptions())
    originals = [files.local_path(i.photo.original_location or "") for i in ingested]
    assert all(path is not None and path.is_file() for path in originals)

    for name, value in {"LIKENESS_STORAGE": "s3", "LIKENESS_STORAGE_DIR": str(tmp_path / "objects"),
                        "LIKENESS_S3_BUCKET": s3_settings.s3_bucket,
                        "LIKENESS_S3_ENDPOINT_URL": s3_settings.s3_endpoint_url,
                        "LIKENESS_S3_ACCESS_KEY_ID": "test",
                        "LIKENESS_S3_SECRET_ACCESS_KEY": "test",
                        "LIKENESS_S3_CREATE_BUCKET": "true"}.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()
    result = runner.invoke(app, ["storage", "migrate", "--delete-local"])
    assert result.exit_code == 0, result.output
    assert "3 blob(s) moved" in result.output and "to s3 storage" in result.output

    with db.engine.connect() as connection:
        locations = connection.execute(text(
            "SELECT original_location FROM photos ORDER BY id")).scalars().all()
        path, location = connection.execute(text(
            "SELECT path, location FROM videos WHERE id = :id"), {"id": video.id}).one()
    bucket = s3_settings.s3_bucket
    assert all(place.startswith(f"s3://{bucket}/events/") for place in locations)
    assert path is None and location == f"s3://{bucket}/videos/0123abcd.mp4"
    assert not legacy.exists() and not any(p and p.exists() for p in originals)
    keys = {o["Key"] for o in boto3.client(
        "s3", endpoint_url=s3_settings.s3_endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test").list_objects_v2(
        Bucket=bucket)["Contents"]}
    assert len(keys) == 3

    # Read back from S3: the originals as the API serves them, the video by a scan.
    remote = ObjectStorage.from_settings(s3_settings)
    records = EventRecords.from_settings(remote, s3_settings)
    with db.session() as session:
        served = records.photo_image(session, event.id, ingested[0].photo.id)
    assert served[0] == photos[0].data
    scanned = VideoService.from_settings(engine, s3_settings, storage=remote).scan(
        db.sessions, video.id)
    assert scanned.status == "done" and scanned.samples_done > 0

    again = runner.invoke(app, ["storage", "migrate"])
    assert again.exit_code == 0 and "0 blob(s) moved" in again.output
