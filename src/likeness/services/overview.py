"""What the home page shows: how much there is, and what is being scanned."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from likeness.services.videos import VideoState
from likeness.store import overview as store


@dataclass(frozen=True, slots=True)
class Overview:
    people: int
    faces: int
    reviews: int  # pending
    clusters: int  # open clusters of unknown video faces
    events: int
    photos: int  # of events
    videos: dict[str, int]  # by status
    scanning: list[VideoState]  # queued or being scanned, oldest first

    @property
    def video_total(self) -> int:
        return sum(self.videos.values())


def overview(session: Session) -> Overview:
    counts = store.counts(session)
    active = [VideoState.of(video) for video in store.active_videos(session)]
    session.commit()
    return Overview(counts["people"], counts["faces"], counts["reviews"], counts["clusters"],
                    counts["events"], counts["photos"], counts["videos"], active)
