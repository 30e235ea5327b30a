"""Event use cases. `EventRecords` works on the database and object storage alone:
events, their photos, deletion, and recording a photo URL for a download job.
`EventService` infers: ingest photos (upload, URL, precomputed embedding, bulk) and find a
guest's photos from one selfie. Inference and downloads run outside transactions; each
photo is stored with all its faces in one transaction, once per (event, photo key).

Names: a photo's `photo_key` is the caller's id for it (the API calls it `photo_id`);
`Photo.id` is ours."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.enums import PhotoSource, PhotoStatus
from likeness.errors import Conflict, FetchFailed, InvalidInput, LikenessError, NotFound
from likeness.media import ImageLimits, decode_image, sniff_format
from likeness.media.fetch import FetchPolicy, check_url, fetch
from likeness.media.image import FILE_TYPES
from likeness.services.clustering import face_weight
from likeness.services.faces import largest_face, thumbnail, verify_threshold
from likeness.services.pages import Page
from likeness.storage import ObjectStorage
from likeness.store import events as store
from likeness.store.models import EMBEDDING_DIMENSION, Event, Photo, PhotoFace

if TYPE_CHECKING:
    from likeness.engine import Face, FaceEngine
    from likeness.services.clusters import ClusterQueue

log = logging.getLogger(__name__)

MAX_PHOTO_KEY = 500


@dataclass(frozen=True, slots=True)
class EventSummary:
    event: Event
    photos: int
    faces: int


@dataclass(frozen=True, slots=True)
class PhotoEntry:
    photo: Photo
    faces: list[PhotoFace]


@dataclass(frozen=True, slots=True)
class Ingested:
    photo: Photo
    faces: list[PhotoFace]
    created: bool  # False: the event already had this photo key
    job_id: int | None = None  # the download job of a photo given by URL


@dataclass(frozen=True, slots=True)
class ImageInput:
    """A photo to ingest: the caller's id for it and its bytes."""

    photo_key: str
    data: bytes
    source: PhotoSource = PhotoSource.UPLOAD
    source_url: str | None = None


def check_photo_key(photo_key: str) -> str:
    if not photo_key or len(photo_key) > MAX_PHOTO_KEY or not photo_key.isprintable():
        raise InvalidInput(f"photo_id must be 1-{MAX_PHOTO_KEY} printable characters")
    return photo_key


def normalized_embedding(values: Sequence[float]) -> np.ndarray:
    """A caller's embedding, checked (dimension, finite, not zero) and L2-normalized."""
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] != EMBEDDING_DIMENSION:
        raise InvalidInput(f"an embedding has {EMBEDDING_DIMENSION} numbers, not "
                           f"{vector.shape[0] if vector.ndim == 1 else vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise InvalidInput("the embedding holds NaN or infinite values")
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        raise InvalidInput("the embedding is zero")
    return (vector / norm).astype(np.float32)


def face_rows(faces: Sequence[Face], photo: Photo, model: str, image: np.ndarray
              ) -> list[dict]:
    """The rows of a photo's faces, each with its thumbnail and clustering weight."""
    return [{"photo_id": photo.id, "event_id": photo.event_id, "embedding": face.embedding,
             "model": model, "det_score": float(face.det_score),
             "bbox": face.box(), "landmarks": face.points(),
             "weight": face_weight(face.quality, face.det_score),
             "crop_jpeg": thumbnail(image, face)} for face in faces]


class PhotoQueue(Protocol):
    def defer_photo_url(self, photo_id: int) -> int: ...


@dataclass(frozen=True)
class EventRecords:
    """Events and their photos, without the model."""

    storage: ObjectStorage
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    queue: PhotoQueue | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, storage: ObjectStorage, settings: Settings,
                      queue: PhotoQueue | None = None) -> EventRecords:
        return cls(storage, FetchPolicy.from_settings(settings), queue)

    def create(self, session: Session, name: str, attributes: dict[str, Any] | None = None
               ) -> EventSummary:
        event = store.create_event(session, name, attributes)
        session.commit()
        return EventSummary(event, 0, 0)

    def get(self, session: Session, event_id: int) -> EventSummary:
        event = store.get_event(session, event_id)
        return EventSummary(event, *store.event_counts(session, [event_id])[event_id])

    def page(self, session: Session, *, limit: int = 50, offset: int = 0,
             only: int | None = None) -> Page[EventSummary]:
        """A page of the events (or of the one event `only`)."""
        events, total = store.list_events(session, limit=limit, offset=offset, only=only)
        counts = store.event_counts(session, [e.id for e in events])
        return Page([EventSummary(e, *counts[e.id]) for e in events], total, limit, offset)

    def by_id_or_name(self, session: Session, event: str) -> tuple[EventSummary, bool]:
        """`event` is an id, or a name: the event of that name, created if there is none;
        (the event, whether it was created)."""
        if event.isdigit():
            return self.get(session, int(event)), False
        found = store.events_named(session, event)
        if len(found) > 1:
            raise InvalidInput(f"{len(found)} events are called {event!r}; give an id")
        if found:
            return self.get(session, found[0].id), False
        return self.create(session, event), True

    def stored_keys(self, session: Session, event_id: int, keys: Sequence[str]) -> set[str]:
        """Which of `keys` the event holds, ready (resuming an ingest skips them)."""
        stored = store.stored_keys(session, event_id, keys)
        session.commit()
        return stored

    def photos(self, session: Session, event_id: int, *, limit: int = 50, offset: int = 0
               ) -> Page[PhotoEntry]:
        store.get_event(session, event_id)
        photos, total = store.list_photos(session, event_id, limit=limit, offset=offset)
        faces = store.faces_of_photos(session, [p.id for p in photos])
        return Page([PhotoEntry(p, faces[p.id]) for p in photos], total, limit, offset)

    def photo(self, session: Session, event_id: int, photo_id: int) -> PhotoEntry:
        photo = store.get_photo(session, photo_id, event_id=event_id)
        return PhotoEntry(photo, store.faces_of_photos(session, [photo.id])[photo.id])

    def request_url(self, session: Session, event_id: int | None, photo_key: str, url: str
                    ) -> Ingested:
        """Record a photo to download (status pending) and queue its download job. The
        URL is checked now, so a refused one fails the request rather than the job."""
        check_photo_key(photo_key)
        check_url(url, self.fetch_policy)
        if event_id is not None:
            store.get_event(session, event_id)
        photo, created = store.add_photo(session, {
            "event_id": event_id, "photo_key": photo_key, "source": PhotoSource.URL,
            "source_url": url, "status": PhotoStatus.PENDING})
        session.commit()
        job_id = None
        if (created or photo.status == PhotoStatus.FAILED) and self.queue is not None:
            job_id = self.queue.defer_photo_url(photo.id)
        faces = store.faces_of_photos(session, [photo.id])[photo.id]
        return Ingested(photo, faces, created, job_id)

    def delete_event(self, session: Session, event_id: int) -> None:
        """Rows first, in one transaction; then the stored files (a file left behind by a
        storage failure is an orphan, never a dangling row)."""
        locations = store.delete_event(session, event_id)
        session.commit()
        self._remove(locations)

    def delete_photo(self, session: Session, event_id: int, photo_id: int) -> None:
        locations = store.delete_photo(session, photo_id, event_id)
        session.commit()
        self._remove(locations)

    def _remove(self, locations: Sequence[str]) -> None:
        for location in locations:
            try:
                self.storage.delete(location)
            except LikenessError as exc:
                log.warning("could not delete %s: %s", location, exc)

    def photo_image(self, session: Session, event_id: int, photo_id: int
                    ) -> tuple[bytes, str]:
        """A photo of the event as stored (the original, kept with
        LIKENESS_KEEP_ORIGINALS, else its annotated copy) and its media type."""
        photo = store.get_photo(session, photo_id, event_id=event_id)
        session.commit()
        location = photo.original_location or photo.annotated_location
        if location is None:
            raise NotFound(f"photo {photo_id} has no stored image (originals are kept "
                           "with LIKENESS_KEEP_ORIGINALS)")
        data = self.storage.get(location)
        return data, FILE_TYPES[sniff_format(data)][1]

    def annotated_image(self, session: Session, photo_id: int) -> bytes:
        """The annotated copy of a processed photo, from whichever backend holds it."""
        photo = store.get_photo(session, photo_id)
        session.commit()
        if photo.annotated_location is None:
            raise NotFound(f"photo {photo_id} has no annotated image: only photos processed "
                           "with ProcessPhoto have one")
        return self.storage.get(photo.annotated_location)


@dataclass(frozen=True)
class EventService:
    """The event use cases that need the model."""

    engine: FaceEngine
    storage: ObjectStorage
    limits: ImageLimits = field(default_factory=ImageLimits)
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    keep_originals: bool = False
    verify_threshold: float | None = None  # of a selfie match; None: the pack's
    clusters: ClusterQueue | None = field(default=None, compare=False)  # of event faces

    @classmethod
    def from_settings(cls, engine: FaceEngine, storage: ObjectStorage, settings: Settings,
                      clusters: ClusterQueue | None = None) -> EventService:
        return cls(engine, storage, ImageLimits(settings.max_upload_bytes,
                                                settings.max_image_pixels),
                   FetchPolicy.from_settings(settings), settings.keep_originals,
                   settings.verify_threshold, clusters)

    def faces_added(self, event_id: int | None) -> None:
        """New faces in an event: its clustering takes them in (queued)."""
        if event_id is not None and self.clusters is not None:
            self.clusters.defer_clustering(event_id)

    @property
    def model(self) -> str:
        return self.engine.model_name

    # ------------------------------------------------------------ ingest

    def ingest_images(self, session: Session, event_id: int | None,
                      inputs: Sequence[ImageInput]) -> list[Ingested]:
        """Detect and store every face of each photo, the photos batched through the
        engine. Photo ids the event already holds are neither analysed nor stored again."""
        for item in inputs:
            check_photo_key(item.photo_key)
        if event_id is not None:
            store.get_event(session, event_id)
        known = {item.photo_key: store.photo_by_key(session, event_id, item.photo_key)
                 for item in inputs}
        session.commit()  # no transaction stays open through inference
        ready = {key for key, photo in known.items()
                 if photo is not None and photo.status == PhotoStatus.READY}
        fresh = [item for item in inputs if item.photo_key not in ready]
        images = [decode_image(item.data, self.limits) for item in fresh]
        stored = {result.photo.photo_key: result for result in self.ingest_decoded(
            session, event_id, list(zip(fresh, images, strict=True)))}
        if any(result.faces for result in stored.values()):
            self.faces_added(event_id)
        results = []
        for item in inputs:
            photo = known[item.photo_key]
            if item.photo_key in stored:
                results.append(stored[item.photo_key])
            else:
                assert photo is not None
                _same_content(photo, item.data)
                results.append(Ingested(photo, self._faces(session, photo), created=False))
        return results

    def ingest_decoded(self, session: Session, event_id: int | None,
                       items: Sequence[tuple[ImageInput, np.ndarray]]) -> list[Ingested]:
        """Photos already decoded: their faces found in one engine batch, then each photo
        stored in its own transaction."""
        analysed = self.engine.analyze_batch([image for _, image in items])
        return [self.store_analysed(session, event_id, item, image, faces)
                for (item, image), faces in zip(items, analysed, strict=True)]

    def store_analysed(self, session: Session, event_id: int | None, item: ImageInput,
                       image: np.ndarray, faces: Sequence[Face]) -> Ingested:
        """One photo and its faces, in one transaction (a pending URL photo becomes ready;
        a photo id already stored with the same content is returned as it is)."""
        values = {"event_id": event_id, "photo_key": item.photo_key, "source": item.source,
                  "source_url": item.source_url,
                  "image_sha256": hashlib.sha256(item.data).hexdigest(),
                  "width": int(image.shape[1]), "height": int(image.shape[0]),
                  "status": PhotoStatus.READY, "error": None}
        photo, created = store.add_photo(session, values)
        if not created:
            photo = store.get_photo(session, photo.id, lock=True)
            if photo.status == PhotoStatus.READY:  # stored earlier, or meanwhile by another request
                session.commit()
                _same_content(photo, item.data)
                return Ingested(photo, self._faces(session, photo), created=False)
            store.update_photo(session, photo.id, **values)
        original = None
        if self.keep_originals:
            suffix, content_type = FILE_TYPES[sniff_format(item.data)]
            original = self.storage.put(self.storage_key(photo, f"original.{suffix}"),
                                        item.data, content_type)
            store.update_photo(session, photo.id, original_location=original)
        store.add_photo_faces(session, face_rows(faces, photo, self.model, image))
        try:
            session.commit()
        except Exception:
            if original:
                self.storage.delete(original)
            raise
        session.refresh(photo)
        return Ingested(photo, self._faces(session, photo), created=True)

    def ingest_embedding(self, session: Session, event_id: int, photo_key: str,
                         embedding: Sequence[float]) -> Ingested:
        """A photo known only by one face's embedding, computed elsewhere with this
        service's model."""
        check_photo_key(photo_key)
        vector = normalized_embedding(embedding)
        store.get_event(session, event_id)
        photo, created = store.add_photo(session, {
            "event_id": event_id, "photo_key": photo_key, "source": PhotoSource.EMBEDDING})
        if created:
            store.add_photo_faces(session, [{
                "photo_id": photo.id, "event_id": event_id, "embedding": vector,
                "model": self.model, "det_score": None, "bbox": None, "landmarks": None,
                "weight": 1.0, "crop_jpeg": None}])
        session.commit()
        if created:
            self.faces_added(event_id)
        return Ingested(photo, self._faces(session, photo), created)

    def complete_url(self, session: Session, photo_id: int, *, last_attempt: bool) -> None:
        """The job of a URL photo: download, detect, store. A failure that a retry cannot
        mend (refused, 404, not an image) marks the photo failed; a transient one is
        raised for the queue to retry, and marks it failed on the last attempt."""
        photo = store.get_photo(session, photo_id)
        if photo.status == PhotoStatus.READY or photo.source_url is None:
            return
        event_id, photo_key, url = photo.event_id, photo.photo_key, photo.source_url
        session.commit()
        try:
            data = fetch(url, self.fetch_policy)
            image = decode_image(data, self.limits)
        except FetchFailed as exc:
            if exc.transient and not last_attempt:
                store.update_photo(session, photo_id, error=str(exc))
                session.commit()
                raise
            self._fail(session, photo_id, exc)
            return
        except LikenessError as exc:
            self._fail(session, photo_id, exc)
            return
        item = ImageInput(photo_key, data, PhotoSource.URL, url)
        if self.store_analysed(session, event_id, item, image, self.engine.analyze(image)).faces:
            self.faces_added(event_id)

    def _fail(self, session: Session, photo_id: int, error: Exception) -> None:
        store.update_photo(session, photo_id, status=PhotoStatus.FAILED, error=str(error))
        session.commit()

    # ------------------------------------------------------------ match

    def match(self, session: Session, event_id: int, *, selfie: bytes | None = None,
              embedding: Sequence[float] | None = None, top_k: int = 20,
              threshold: float | None = None) -> tuple[list[store.PhotoMatch], float]:
        """The event's photos holding the person of the selfie (its largest face) or of
        the embedding, best first, once each; and the threshold used."""
        if (selfie is None) == (embedding is None):
            raise InvalidInput("give a selfie file or a user_embedding, not both or neither")
        if selfie is not None:
            image = decode_image(selfie, self.limits)
            selfie_face = largest_face(self.engine.analyze(image, max_faces=1), "the selfie")
            query = selfie_face.require_embedding()
        else:
            query = normalized_embedding(embedding or [])
        store.get_event(session, event_id)
        threshold = self.threshold_or(threshold)
        return store.match_photos(session, event_id, query, self.model, top_k=top_k,
                                  threshold=threshold), threshold

    def threshold_or(self, override: float | None) -> float:
        """Is this face the selfie's person? A 1:1 decision per photo: the verify threshold."""
        return verify_threshold(self.engine, override, self.verify_threshold)

    def _faces(self, session: Session, photo: Photo) -> list[PhotoFace]:
        return store.faces_of_photos(session, [photo.id])[photo.id]

    @staticmethod
    def storage_key(photo: Photo, name: str) -> str:
        owner = f"events/{photo.event_id}" if photo.event_id is not None else "photos"
        return f"{owner}/{photo.id}/{name}"


def _same_content(photo: Photo, data: bytes) -> None:
    if photo.image_sha256 and photo.image_sha256 != hashlib.sha256(data).hexdigest():
        raise Conflict(f"photo_id {photo.photo_key!r} is already stored with other content")
