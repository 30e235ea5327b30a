"""The review queue: faces in videos that look like someone, not surely enough to tag
them. Each is approved (the video is tagged), approved with the face added to the
person's gallery, or rejected; one at a time with the keyboard, or a selection at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from likeness.api.deps import get_video_records
from likeness.api.params import Offset, path_id
from likeness.api.validation import MAX_BIGINT
from likeness.enums import ReviewStatus
from likeness.errors import InvalidInput
from likeness.services.access import Caller
from likeness.services.videos import VideoRecords
from likeness.ui.web import DbSession, EditorUser, ViewerUser, page

router = APIRouter(include_in_schema=False)

Records = Annotated[VideoRecords, Depends(get_video_records)]
ItemId = Annotated[int, path_id("review item")]
PER_PAGE = 20
FACES = 3  # of the proposed person, beside the track's face


def _id(value: str | None, what: str) -> int | None:
    """A filter's id: empty is none (the select's "anyone")."""
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_BIGINT:
        raise InvalidInput(f"{what} must be an id")
    return int(value)


def _queue(request: Request, session: DbSession, caller: Caller, records: VideoRecords,
           template: str, status: ReviewStatus, person: int | None, video: int | None,
           offset: int, **context: Any) -> HTMLResponse:
    queue = records.review_queue(session, status=status, person_id=person, video_id=video,
                                 limit=PER_PAGE, offset=offset)
    if offset and offset >= queue.total:  # decided the last ones of the last page
        offset = max(0, (queue.total - 1) // PER_PAGE * PER_PAGE)
        queue = records.review_queue(session, status=status, person_id=person,
                                     video_id=video, limit=PER_PAGE, offset=offset)
    videos, faces = records.review_context(session, queue.items, FACES)
    people, with_items = records.review_choices(session, status)
    return page(request, template, caller, queue=queue, videos=videos, faces=faces,
                people=people, with_items=with_items, status=status, person=person,
                video=video, statuses=list(ReviewStatus),
                pending=status == ReviewStatus.PENDING, **context)


@router.get("/ui/review", response_class=HTMLResponse)
def review(request: Request, session: DbSession, caller: ViewerUser, records: Records,
           status: Annotated[ReviewStatus, Query()] = ReviewStatus.PENDING,
           person: Annotated[str | None, Query(max_length=20)] = None,
           video: Annotated[str | None, Query(max_length=20)] = None,
           offset: Offset = 0) -> HTMLResponse:
    return _queue(request, session, caller, records, "review.html", status,
                  _id(person, "person"), _id(video, "video"), offset)


@router.post("/ui/review/bulk", response_class=HTMLResponse)
def bulk(request: Request, session: DbSession, caller: EditorUser, records: Records,
         action: Annotated[Literal["approve", "reject"], Form()],
         item: Annotated[list[int] | None, Form(max_length=500)] = None,
         person: Annotated[str | None, Form(max_length=20)] = None,
         video: Annotated[str | None, Form(max_length=20)] = None,
         offset: Annotated[int, Form(ge=0, le=MAX_BIGINT)] = 0) -> HTMLResponse:
    """Approve or reject the selected items; the queue again, as it is now."""
    if not item:
        raise InvalidInput("select the items to " + action + " first")
    decided = records.decide_many(session, item, approve=action == "approve")
    verb = "Approved" if action == "approve" else "Rejected"
    message = f"{verb} {decided} item{'s' if decided != 1 else ''}."
    if decided < len(set(item)):
        message += f" {len(set(item)) - decided} had been decided already."
    return _queue(request, session, caller, records, "_review_queue.html",
                  ReviewStatus.PENDING, _id(person, "person"), _id(video, "video"), offset,
                  message=message, oob=True)


@router.post("/ui/review/{item_id}/approve", response_class=HTMLResponse)
def approve(request: Request, session: DbSession, caller: EditorUser, records: Records,
            item_id: ItemId, gallery: bool = False) -> HTMLResponse:
    """It is that person: the video is tagged (with `gallery`, the face is enrolled)."""
    entry, source = records.review_item(session, item_id)
    records.approve(session, item_id, gallery)
    return page(request, "_review_done.html", caller, entry=entry, source=source,
                approved=True, gallery=gallery)


@router.post("/ui/review/{item_id}/reject", response_class=HTMLResponse)
def reject(request: Request, session: DbSession, caller: EditorUser, records: Records,
           item_id: ItemId) -> HTMLResponse:
    """It is not that person; the face is not proposed for them again."""
    entry, source = records.review_item(session, item_id)
    records.reject(session, item_id)
    return page(request, "_review_done.html", caller, entry=entry, source=source,
                approved=False)
