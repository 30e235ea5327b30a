"""ProcessPhoto: one photo from bytes or a URL to stored faces, matches against the
enrolled people, and an annotated copy in object storage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from likeness.enums import PhotoSource
from likeness.errors import InvalidInput
from likeness.media import decode_image, encode_jpeg
from likeness.media.draw import draw_faces
from likeness.media.fetch import fetch
from likeness.services.events import EventService, ImageInput, check_photo_key
from likeness.services.people import PeopleService, Recognition, label
from likeness.store import events as store
from likeness.store.models import Photo


@dataclass(frozen=True, slots=True)
class Processed:
    photo: Photo
    recognitions: list[Recognition]  # the faces of the photo, largest first
    annotated_location: str
    created: bool  # False: the photo id was stored before (its faces are not added again)


@dataclass(frozen=True)
class PhotoProcessor:
    events: EventService
    people: PeopleService

    def process(self, session: Session, photo_key: str, *, data: bytes | None = None,
                url: str | None = None, event_id: int | None = None, top_k: int = 3
                ) -> Processed:
        check_photo_key(photo_key)
        if (data is None) == (url is None):
            raise InvalidInput("give image_bytes or image_url, not both or neither")
        if event_id is not None:
            store.get_event(session, event_id)
            session.commit()  # no transaction stays open through the download
        if url is not None:
            data = fetch(url, self.events.fetch_policy)
        assert data is not None
        image = decode_image(data, self.events.limits)
        faces = self.events.engine.analyze(image)
        item = ImageInput(photo_key, data, PhotoSource.URL if url else PhotoSource.UPLOAD, url)
        ingested = self.events.store_analysed(session, event_id, item, image, faces)
        if ingested.created and faces:
            self.events.faces_added(event_id)
        recognitions = self.people.recognize_faces(session, faces, top_k=top_k)
        session.commit()
        annotated = encode_jpeg(draw_faces(image, faces, [label(r) for r in recognitions]))
        location = self.events.storage.put(
            self.events.storage_key(ingested.photo, "annotated.jpg"), annotated)
        store.update_photo(session, ingested.photo.id, annotated_location=location)
        session.commit()
        session.refresh(ingested.photo)
        return Processed(ingested.photo, recognitions, location, ingested.created)
