"""Counts for the home page, in one round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from likeness.enums import VideoStatus
from likeness.store.models import Video


def counts(session: Session) -> dict[str, Any]:
    """people, faces, pending reviews, open video clusters, events, photos, and videos by
    status."""
    row = session.execute(text("""
        SELECT (SELECT count(*) FROM people) AS people,
               (SELECT count(*) FROM faces) AS faces,
               (SELECT count(*) FROM review_items WHERE status = 'pending') AS reviews,
               (SELECT count(*) FROM clusters
                WHERE event_id IS NULL AND status = 'open' AND size > 0) AS clusters,
               (SELECT count(*) FROM events) AS events,
               (SELECT count(*) FROM photos WHERE event_id IS NOT NULL) AS photos,
               (SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM
                   (SELECT status, count(*) AS n FROM videos GROUP BY status) AS v) AS videos
        """)).mappings().one()
    return dict(row)


def active_videos(session: Session, limit: int = 10) -> list[Video]:
    """Videos being scanned or waiting for a scan, oldest first."""
    return list(session.scalars(
        select(Video).where(Video.status.in_((VideoStatus.QUEUED, VideoStatus.SCANNING)))
        .order_by(Video.id).limit(limit)))
