"""Where the blobs the database points at are: locations in object storage (photos'
originals and annotated copies, uploaded videos) and uploads kept under a local folder
before object storage held them. Used to move them between backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from likeness.store.models import Photo, Video

# Every column that holds a location, by name.
LOCATION_COLUMNS: dict[str, tuple[Any, str]] = {
    "photos.original_location": (Photo, "original_location"),
    "photos.annotated_location": (Photo, "annotated_location"),
    "videos.location": (Video, "location"),
}


def locations_in(session: Session, column: str, scheme: str, after_id: int = 0,
                 limit: int = 500) -> list[tuple[int, str]]:
    """A batch of (row id, location) of the named column in the given scheme (`fs`), by
    id."""
    model, name = LOCATION_COLUMNS[column]
    attribute = getattr(model, name)
    rows = session.execute(
        select(model.id, attribute)
        .where(attribute.startswith(f"{scheme}://"), model.id > after_id)
        .order_by(model.id).limit(limit)).all()
    return [(row_id, location) for row_id, location in rows]


def relocate(session: Session, column: str, row_id: int, old: str, new: str) -> bool:
    """Point the row at the blob's new location, unless it changed meanwhile (then False:
    the new copy is not used)."""
    model, name = LOCATION_COLUMNS[column]
    result = session.execute(update(model).where(model.id == row_id,
                                                  getattr(model, name) == old)
                             .values({name: new}))
    return bool(getattr(result, "rowcount", 0))


def uploads_under(session: Session, folder: Path, after_id: int = 0, limit: int = 500
                  ) -> list[tuple[int, str]]:
    """Videos read from files in `folder` (uploads kept there before object storage):
    (id, path)."""
    prefix = str(folder.resolve()).rstrip("/") + "/"
    rows = session.execute(
        select(Video.id, Video.path)
        .where(Video.path.startswith(prefix, autoescape=True), Video.id > after_id)
        .order_by(Video.id).limit(limit)).all()
    return [(row_id, path) for row_id, path in rows if path is not None]


def relocate_upload(session: Session, video_id: int, path: str, new: str) -> bool:
    """A video read from a local upload is read from object storage from now on."""
    result = session.execute(update(Video).where(Video.id == video_id, Video.path == path)
                             .values(path=None, location=new))
    return bool(getattr(result, "rowcount", 0))
