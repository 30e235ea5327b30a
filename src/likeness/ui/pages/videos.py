"""The videos pages: upload, the list with each scan's progress, and a video's page with
its player, who appears when, and its tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from likeness.api.deps import get_video_records
from likeness.api.params import Offset, path_id
from likeness.api.ranges import ranged_response
from likeness.api.validation import clean_filename
from likeness.enums import ReviewStatus, VideoStatus
from likeness.errors import InvalidInput
from likeness.services.videos import ScanOptions, VideoRecords
from likeness.ui.web import DbSession, EditorUser, ViewerUser, is_htmx, page

router = APIRouter(include_in_schema=False)

Records = Annotated[VideoRecords, Depends(get_video_records)]
VideoId = Annotated[int, path_id("video")]
PER_PAGE = 20
ACTIVE = (VideoStatus.QUEUED, VideoStatus.SCANNING)


def _listing(request: Request, session: DbSession, caller: ViewerUser, records: Records,
             status: VideoStatus | None, offset: int, template: str) -> HTMLResponse:
    listed = records.listing(session, status=status, limit=PER_PAGE, offset=offset)
    active = any(state.video.status in ACTIVE for state, _, _ in listed.items)
    return page(request, template, caller, listed=listed, status=status, active=active,
                statuses=list(VideoStatus),
                max_mb=request.app.state.settings.max_video_mb)


@router.get("/ui/videos", response_class=HTMLResponse)
def videos(request: Request, session: DbSession, caller: ViewerUser, records: Records,
           status: Annotated[VideoStatus | None, Query()] = None, offset: Offset = 0
           ) -> HTMLResponse:
    return _listing(request, session, caller, records, status, offset, "videos.html")


@router.get("/ui/videos/list", response_class=HTMLResponse)
def video_list(request: Request, session: DbSession, caller: ViewerUser, records: Records,
               status: Annotated[VideoStatus | None, Query()] = None, offset: Offset = 0
               ) -> HTMLResponse:
    """The list alone, polled while a video on it is queued or scanning."""
    return _listing(request, session, caller, records, status, offset, "_videos_list.html")


@router.post("/ui/videos", response_model=None)
def upload(request: Request, session: DbSession, caller: EditorUser, records: Records,
           file: Annotated[UploadFile | None, File()] = None,
           keyframes: Annotated[bool, Form()] = False) -> Response:
    """An uploaded video, registered and queued as POST /videos does; then its page."""
    if file is None or not file.filename:
        raise InvalidInput("choose a video file to upload")
    options = ScanOptions(request.app.state.settings.video_fps, keyframes)
    added = records.add_upload(session, file.file, clean_filename(file.filename, ""), options)
    target = f"/ui/videos/{added.state.video.id}?added={'new' if added.created else 'known'}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _detail(request: Request, session: DbSession, caller: ViewerUser, records: Records,
            video_id: int, template: str, **context: Any) -> HTMLResponse:
    detail = records.detail(session, video_id)
    pending = records.review_queue(session, status=ReviewStatus.PENDING, video_id=video_id,
                                   limit=1).total
    return page(request, template, caller, detail=detail, video=detail.state.video,
                pending=pending, active=detail.state.video.status in ACTIVE, **context)


@router.get("/ui/videos/{video_id}", response_class=HTMLResponse)
def video(request: Request, session: DbSession, caller: ViewerUser, records: Records,
          video_id: VideoId,
          added: Annotated[str | None, Query(pattern="^(new|known)$")] = None,
          t: Annotated[int | None, Query(ge=0, le=86_400_000)] = None) -> HTMLResponse:
    """A video: the player, who appears when, its tags and tracks. `t` (ms) starts the
    player there."""
    return _detail(request, session, caller, records, video_id, "videos_detail.html",
                   added=added, start_ms=t)


@router.get("/ui/videos/{video_id}/detail", response_class=HTMLResponse)
def video_detail(request: Request, session: DbSession, caller: ViewerUser,
                 records: Records, video_id: VideoId) -> HTMLResponse:
    """What the video page shows beside the player, polled while it scans."""
    return _detail(request, session, caller, records, video_id, "_videos_detail.html")


@router.get("/ui/videos/{video_id}/file", response_class=FileResponse)
def video_file(request: Request, session: DbSession, caller: ViewerUser, records: Records,
               video_id: VideoId) -> Response:
    """The video itself, for the player, with Range requests (seeking): a file on this
    machine, or the object in storage read range by range."""
    media = records.media(session, video_id)
    headers = {"cache-control": "private, max-age=3600"}
    if media.path is not None:
        return FileResponse(media.path, media_type=media.media_type, headers=headers)
    assert media.storage is not None and media.location is not None
    storage, location = media.storage, media.location
    return ranged_response(request.headers.get("range"), media.size, media.media_type,
                           lambda start, end: storage.read_range(location, start, end),
                           headers)


@router.delete("/ui/videos/{video_id}")
def delete(session: DbSession, caller: EditorUser, records: Records, video_id: VideoId
           ) -> Response:
    records.delete(session, video_id)
    return Response(status_code=204, headers={"HX-Redirect": "/ui/videos"})
