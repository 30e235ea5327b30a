"""Videos (scanned by background jobs), who appears in them, and the review queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from likeness.api.auth import EDITOR, VIEWER
from likeness.api.deps import SessionDep, SettingsDep, VideoRecordsDep
from likeness.api.errors import COMMON, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    PersonVideoOut,
    ReviewItemOut,
    ReviewPage,
    VideoOut,
    VideoPage,
    VideoPersonOut,
    VideoQueuedOut,
    page_of,
)
from likeness.api.validation import Text, clean_filename
from likeness.enums import ReviewStatus, VideoStatus
from likeness.errors import InvalidInput
from likeness.services.videos import ScanOptions

router = APIRouter(tags=["videos"], responses=COMMON)

VideoId = Annotated[int, path_id("video")]
PersonId = Annotated[int, path_id("person")]
TrackId = Annotated[int, path_id("track")]
ItemId = Annotated[int, path_id("review item")]


@router.post("/videos", dependencies=[EDITOR],
             response_model=VideoQueuedOut, status_code=status.HTTP_202_ACCEPTED,
             responses={**declare(400, 403, 413),
                        200: {"model": VideoQueuedOut,
                              "description": "This content was registered before"}})
def add_video(session: SessionDep, settings: SettingsDep, records: VideoRecordsDep,
              file: UploadFile | None = None,
              path: Annotated[Text | None, Form(max_length=1000, description=(
                  "A file on the server (when LIKENESS_ALLOW_SERVER_PATHS)"))] = None,
              fps: Annotated[float | None, Query(gt=0, le=60)] = None,
              keyframes: Annotated[bool, Query(description="Only keyframes: fast pass")]
              = False) -> JSONResponse:
    """Register a video (upload or server path) and queue its scan (202). Content already
    registered is not scanned again (200)."""
    options = ScanOptions(fps or settings.video_fps, keyframes)
    if file is not None and path is None:
        added = records.add_upload(session, file.file, clean_filename(file.filename, ""),
                                   options)
    elif path is not None and file is None:
        added = records.add_path(session, path, options)
    else:
        raise InvalidInput("send either a file or a path")
    return JSONResponse(VideoQueuedOut.of(added).model_dump(mode="json"),
                        status_code=202 if added.created else 200)


@router.get("/videos", dependencies=[VIEWER], response_model=VideoPage)
def list_videos(session: SessionDep, records: VideoRecordsDep,
                status_filter: Annotated[VideoStatus | None, Query(alias="status")] = None,
                limit: Limit = 50, offset: Offset = 0) -> VideoPage:
    return page_of(VideoPage, records.page(session, status=status_filter, limit=limit,
                                           offset=offset), VideoOut.of)


@router.get("/videos/{video_id}", dependencies=[VIEWER],
            response_model=VideoOut, responses=declare(404))
def get_video(video_id: VideoId, session: SessionDep, records: VideoRecordsDep) -> VideoOut:
    """Status, progress (samples done / total, ETA), duration and who appears."""
    return VideoOut.detail(records.detail(session, video_id))


@router.get("/videos/{video_id}/people", dependencies=[VIEWER], response_model=list[VideoPersonOut],
            responses=declare(404))
def video_people(video_id: VideoId, session: SessionDep, records: VideoRecordsDep
                 ) -> list[VideoPersonOut]:
    return [VideoPersonOut.of(tag, name) for tag, name in records.people_of(session, video_id)]


@router.get("/people/{person_id}/videos", dependencies=[VIEWER],
            response_model=list[PersonVideoOut],
            responses=declare(404))
def person_videos(person_id: PersonId, session: SessionDep, records: VideoRecordsDep
                  ) -> list[PersonVideoOut]:
    name, tagged = records.videos_of(session, person_id)
    return [PersonVideoOut.tagged(name, tag, video) for tag, video in tagged]


@router.delete("/videos/{video_id}", dependencies=[EDITOR], status_code=status.HTTP_204_NO_CONTENT,
               responses=declare(404))
def delete_video(video_id: VideoId, session: SessionDep, records: VideoRecordsDep
                 ) -> Response:
    """The video with its detections, tracks, tags and review items; an uploaded file
    goes too."""
    records.delete(session, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tracks/{track_id}/thumbnail", dependencies=[VIEWER],
            response_class=Response, responses={
    200: {"content": {"image/jpeg": {}}, "description": "The track's best face"},
    **declare(404)})
def track_thumbnail(track_id: TrackId, session: SessionDep, records: VideoRecordsDep
                    ) -> Response:
    return Response(records.track_thumbnail(session, track_id), media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})


@router.get("/review", dependencies=[VIEWER], response_model=ReviewPage)
def review_queue(session: SessionDep, records: VideoRecordsDep,
                 status_filter: Annotated[ReviewStatus, Query(alias="status")]
                 = ReviewStatus.PENDING,
                 limit: Limit = 50, offset: Offset = 0) -> ReviewPage:
    """Tracks that look like someone, but not surely enough to tag."""
    return page_of(ReviewPage, records.review_page(session, status=status_filter,
                                                   limit=limit, offset=offset),
                   ReviewItemOut.of)


@router.post("/review/{item_id}/approve", dependencies=[EDITOR], response_model=VideoOut,
             responses=declare(404, 409))
def approve(item_id: ItemId, session: SessionDep, records: VideoRecordsDep,
            add_to_gallery: bool = False) -> VideoOut:
    """It is that person: tag the video (and with add_to_gallery, enroll the face)."""
    return VideoOut.detail(records.approve(session, item_id, add_to_gallery))


@router.post("/review/{item_id}/reject", dependencies=[EDITOR],
             status_code=status.HTTP_204_NO_CONTENT,
             responses=declare(404, 409))
def reject(item_id: ItemId, session: SessionDep, records: VideoRecordsDep) -> Response:
    """It is not that person; the track is not proposed for them again."""
    records.reject(session, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
