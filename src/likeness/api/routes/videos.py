"""Videos (scanned by background jobs), who appears in them, and the review queue."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from likeness.api.deps import EngineDep, SessionDep, SettingsDep
from likeness.api.schemas import (
    PersonVideoOut,
    ReviewItemOut,
    ReviewPage,
    VideoOut,
    VideoPage,
    VideoPersonOut,
    VideoQueuedOut,
)
from likeness.errors import InvalidInput, NotFound
from likeness.services.videos import ScanOptions, VideoService
from likeness.store import people as people_store
from likeness.store import videos as store
from likeness.store.models import Track, Video, VideoTag

router = APIRouter(tags=["videos"])
NOT_FOUND = {404: {"description": "No such video, person or review item"}}


def video_out(session: Session, video: Video, detail: bool = False) -> VideoOut:
    progress = eta = None
    if video.samples_total:
        progress = min(1.0, video.samples_done / video.samples_total)
        if video.status == "scanning" and video.started_at and video.samples_done:
            elapsed = (datetime.now(UTC) - video.started_at).total_seconds()
            eta = elapsed / video.samples_done * max(0, video.samples_total - video.samples_done)
    out = VideoOut(id=video.id, source=video.source, status=video.status, error=video.error,
                   duration_ms=video.duration_ms, fps=video.fps, width=video.width,
                   height=video.height, sample_fps=video.sample_fps, keyframes=video.keyframes,
                   samples_done=video.samples_done, samples_total=video.samples_total,
                   progress=progress, eta_s=None if eta is None else round(eta, 1),
                   created_at=video.created_at, finished_at=video.finished_at)
    if detail:
        out.people = [_person_out(tag, name) for tag, name in
                      store.tags_of_video(session, video.id)]
        out.tracks = store.track_counts(session, video.id)
    return out


def _tag_fields(tag: VideoTag) -> dict:
    return {"person_id": tag.person_id, "confidence": round(tag.confidence, 4),
            "first_ms": tag.first_ms, "last_ms": tag.last_ms, "segments": tag.segments,
            "source": tag.source}


def _person_out(tag: VideoTag, name: str) -> VideoPersonOut:
    return VideoPersonOut(name=name, **_tag_fields(tag))


def _save_upload(upload: UploadFile, directory: Path, limit: int) -> Path:
    """The upload, streamed to a file named by its content."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = Path(upload.filename or "").suffix.lower() or ".mp4"
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".part", delete=False) as part:
        for chunk in iter(lambda: upload.file.read(1 << 20), b""):
            size += len(chunk)
            if size > limit:
                Path(part.name).unlink()
                raise InvalidInput(f"the video is larger than {limit / 1e6:.0f} MB")
            digest.update(chunk)
            part.write(chunk)
    if size == 0:
        Path(part.name).unlink()
        raise InvalidInput("the file is empty")
    final = directory / f"{digest.hexdigest()}{suffix}"
    shutil.move(part.name, final)
    return final


@router.post("/videos", response_model=VideoQueuedOut, status_code=status.HTTP_202_ACCEPTED,
             responses={400: {"description": "Not a readable video"},
                        403: {"description": "Server paths are not allowed"}})
def add_video(request: Request, session: SessionDep, settings: SettingsDep,
              file: UploadFile | None = None,
              path: Annotated[str | None, Form(description="A file on the server (when "
                                                           "LIKENESS_ALLOW_SERVER_PATHS)")]
              = None,
              fps: Annotated[float | None, Query(gt=0, le=60)] = None,
              keyframes: Annotated[bool, Query(description="Only keyframes: fast pass")]
              = False) -> JSONResponse:
    """Register a video (upload or server path) and queue its scan. Content already
    registered is not scanned again (200)."""
    if (file is None) == (path is None):
        raise InvalidInput("send either a file or a path")
    if path is not None:
        if not settings.allow_server_paths:
            return JSONResponse({"detail": "server paths are not allowed here "
                                           "(LIKENESS_ALLOW_SERVER_PATHS)"}, status_code=403)
        local, source = Path(path), path
        if not local.is_file():
            raise InvalidInput(f"{path} is not a file on the server")
    else:
        local = _save_upload(file, settings.data_dir.expanduser() / "videos",
                             int(settings.max_video_mb * 1e6))
        source = file.filename or local.name
    options = ScanOptions(fps or settings.video_fps, keyframes)
    try:
        video, created = VideoService.register(session, local, source, options)
    except InvalidInput:
        if file is not None:
            local.unlink(missing_ok=True)
        raise
    job_id = request.app.state.jobs.defer_scan(video.id) if created else None
    body = VideoQueuedOut(video=video_out(session, video), created=created, job_id=job_id)
    return JSONResponse(body.model_dump(mode="json"),
                        status_code=202 if created else 200)


@router.get("/videos", response_model=VideoPage)
def list_videos(session: SessionDep,
                status_filter: Annotated[str | None, Query(alias="status")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> VideoPage:
    videos, total = store.list_videos(session, status=status_filter, limit=limit,
                                      offset=offset)
    return VideoPage(items=[video_out(session, v) for v in videos], total=total, limit=limit,
                     offset=offset)


@router.get("/videos/{video_id}", response_model=VideoOut, responses=NOT_FOUND)
def get_video(video_id: int, session: SessionDep) -> VideoOut:
    """Status, progress (samples done / total, ETA), duration and who appears."""
    return video_out(session, store.get_video(session, video_id), detail=True)


@router.get("/videos/{video_id}/people", response_model=list[VideoPersonOut],
            responses=NOT_FOUND)
def video_people(video_id: int, session: SessionDep) -> list[VideoPersonOut]:
    return [_person_out(tag, name) for tag, name in store.tags_of_video(session, video_id)]


@router.get("/people/{person_id}/videos", response_model=list[PersonVideoOut],
            responses=NOT_FOUND)
def person_videos(person_id: int, session: SessionDep) -> list[PersonVideoOut]:
    name = people_store.get_person(session, person_id).name
    return [PersonVideoOut(name=name, video_id=video.id, video_source=video.source,
                           **_tag_fields(tag))
            for tag, video in store.tags_of_person(session, person_id)]


@router.delete("/videos/{video_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND)
def delete_video(video_id: int, session: SessionDep, settings: SettingsDep) -> Response:
    """The video with its detections, tracks, tags and review items; an uploaded file
    goes too."""
    video = store.delete_video(session, video_id)
    session.commit()
    uploads = (settings.data_dir.expanduser() / "videos").resolve()
    if Path(video.path).parent == uploads:
        Path(video.path).unlink(missing_ok=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tracks/{track_id}/thumbnail", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}}, **NOT_FOUND})
def track_thumbnail(track_id: int, session: SessionDep) -> Response:
    track = session.get(Track, track_id)
    if track is None:
        raise NotFound(f"track {track_id} does not exist")
    return Response(track.crop_jpeg, media_type="image/jpeg")


@router.get("/review", response_model=ReviewPage)
def review_queue(session: SessionDep,
                 status_filter: Annotated[str, Query(alias="status", pattern=
                                                     "^(pending|approved|rejected)$")]
                 = "pending",
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> ReviewPage:
    """Tracks that look like someone, but not surely enough to tag."""
    rows, total = store.review_page(session, status=status_filter, limit=limit,
                                    offset=offset)
    return ReviewPage(items=[ReviewItemOut(
        id=item.id, status=item.status, video_id=track.video_id, track_id=track.id,
        person_id=item.person_id, name=name, similarity=round(item.similarity, 4),
        first_ms=track.first_ms, last_ms=track.last_ms,
        thumbnail_url=f"/tracks/{track.id}/thumbnail") for item, track, name in rows],
        total=total, limit=limit, offset=offset)


@router.post("/review/{item_id}/approve", response_model=VideoOut, responses=NOT_FOUND)
def approve(item_id: int, session: SessionDep, engine: EngineDep, settings: SettingsDep,
            add_to_gallery: bool = False) -> VideoOut:
    """It is that person: tag the video (and with add_to_gallery, enroll the face)."""
    video_id = VideoService.from_settings(engine, settings).approve(session, item_id,
                                                                    add_to_gallery)
    return video_out(session, store.get_video(session, video_id), detail=True)


@router.post("/review/{item_id}/reject", status_code=status.HTTP_204_NO_CONTENT,
             responses=NOT_FOUND)
def reject(item_id: int, session: SessionDep, engine: EngineDep,
           settings: SettingsDep) -> Response:
    """It is not that person; the track is not proposed for them again."""
    VideoService.from_settings(engine, settings).reject(session, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

