"""Video use cases. `VideoRecords` works on the database and the stored files alone:
register a file or an upload, progress, deletion, the review queue, and finding newly
enrolled people in the videos already scanned (retro-matching, no decoding). `VideoService`
infers: it scans a video into tracks and tags and sends doubtful tracks to review.

A scan decodes and infers outside any transaction, reports progress in short ones, and
writes its results in one final transaction that first removes what an earlier attempt of
the same video stored: a scan killed at any point and run again leaves no duplicates.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from sqlalchemy.orm import Session, sessionmaker

from likeness.config import Settings
from likeness.enums import ReviewStatus, TagSource, TrackStatus, VideoStatus
from likeness.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LikenessError,
    NotFound,
    PayloadTooLarge,
    Rejected,
    StorageUnavailable,
)
from likeness.media.files import sha256_of
from likeness.media.video import VIDEO_SUFFIXES, VideoFrame, probe, sample_frames
from likeness.services.clustering import face_weight
from likeness.services.faces import Thresholds, gallery_face, quality_dict, thumbnail
from likeness.services.pages import Page
from likeness.services.tracking import FaceTrack, Tracker, merge_segments
from likeness.store import people as people_store
from likeness.store import videos as store
from likeness.store.models import ReviewItem, Track, Video, VideoTag

if TYPE_CHECKING:
    from likeness.engine import Face, FaceEngine
    from likeness.services.clusters import ClusterQueue
    from likeness.services.notifications import Notifier
    from likeness.storage import ObjectStorage

log = logging.getLogger(__name__)

BATCH = 8  # sampled frames per engine call
GAP_SAMPLES = 2  # a track survives this many samples without its face


@dataclass(frozen=True, slots=True)
class ScanOptions:
    fps: float = 1.0
    keyframes: bool = False


@dataclass(frozen=True, slots=True)
class RetroResult:
    tagged_videos: int
    review_items: int


@dataclass(frozen=True, slots=True)
class VideoState:
    """A video with its progress: samples done out of the expected total, and an
    estimate of the seconds left while it scans."""

    video: Video
    progress: float | None  # 0..1, when the total is known
    eta_s: float | None

    @classmethod
    def of(cls, video: Video) -> VideoState:
        progress = eta = None
        if video.samples_total:
            progress = min(1.0, video.samples_done / video.samples_total)
            if video.status == VideoStatus.SCANNING and video.started_at and \
                    video.samples_done:
                elapsed = (datetime.now(UTC) - video.started_at).total_seconds()
                left = max(0, video.samples_total - video.samples_done)
                eta = round(elapsed / video.samples_done * left, 1)
        return cls(video, progress, eta)


@dataclass(frozen=True, slots=True)
class VideoDetail:
    state: VideoState
    people: list[tuple[VideoTag, str]]  # each tag with the person's name
    tracks: dict[str, int]  # tracks by status


@dataclass(frozen=True, slots=True)
class VideoAdded:
    state: VideoState
    created: bool  # False: this content was registered before
    job_id: int | None  # the scan's, when one was queued


@dataclass(frozen=True, slots=True)
class VideoMedia:
    """A video to play: a file on this machine, or an object to read in byte ranges."""

    path: Path | None
    storage: ObjectStorage | None
    location: str | None
    size: int

    @property
    def media_type(self) -> str:
        return _video_type(Path(str(self.path or self.location)).suffix)


def _video_type(suffix: str) -> str:
    return mimetypes.guess_type(f"video{suffix}")[0] or "video/mp4"


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    item: ReviewItem
    track: Track
    name: str  # the proposed person's


class ScanQueue(Protocol):
    def defer_scan(self, video_id: int) -> int: ...


@dataclass(frozen=True)
class VideoRecords:
    """Videos, their results and the review queue, without the model. Uploads are spooled
    under `work_dir`, then kept in object storage named by their content, where a worker
    on any machine reads them."""

    work_dir: Path = Path("data/tmp")
    uploads_dir: Path = Path("data/videos")  # where uploads were kept before storage
    max_upload_bytes: int = 4096 * 1_000_000
    allow_server_paths: bool = False
    default_fps: float = 1.0
    min_face_size: float = 48  # to add a track's face to the gallery
    queue: ScanQueue | None = field(default=None, compare=False)
    notifier: Notifier | None = field(default=None, compare=False)  # of tags by review
    storage: ObjectStorage | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, queue: ScanQueue | None = None,
                      notifier: Notifier | None = None,
                      storage: ObjectStorage | None = None) -> VideoRecords:
        return cls(settings.work_dir, settings.legacy_uploads_dir,
                   int(settings.max_video_mb * 1e6),
                   settings.allow_server_paths, settings.video_fps,
                   settings.enroll_min_face_size, queue, notifier, storage)

    # ------------------------------------------------------------ registration

    @staticmethod
    def register(session: Session, path: Path, source: str, options: ScanOptions,
                 location: str | None = None, sha256: str | None = None
                 ) -> tuple[Video, bool]:
        """The video for this file (by content: `sha256`, computed when not given),
        created if new; (video, created). It is read from `location` in object storage
        when given, else from `path` on this server. The file must be readable as a
        video: a bad one is refused before it is queued."""
        info = probe(path)
        video, created = store.add_video(session, {
            "source": source, "path": None if location else str(path.resolve()),
            "location": location, "sha256": sha256 or sha256_of(path),
            "sample_fps": options.fps, "keyframes": options.keyframes,
            "duration_ms": info.duration_ms, "fps": info.fps, "width": info.width,
            "height": info.height,
            "samples_total": _expected_samples(info.duration_ms, options)})
        session.commit()
        return video, created

    @staticmethod
    def set_options(session: Session, video_id: int, options: ScanOptions) -> None:
        """Scan this video with these options from now on (a rescan, say)."""
        video = store.get_video(session, video_id)
        store.set_status(session, video_id, sample_fps=options.fps,
                         keyframes=options.keyframes,
                         samples_total=_expected_samples(video.duration_ms or 0, options))
        session.commit()

    def add_upload(self, session: Session, stream: BinaryIO, filename: str,
                   options: ScanOptions) -> VideoAdded:
        """Keep an uploaded video (named by its content) and queue its scan; content
        registered before is neither kept twice nor scanned again."""
        spooled, digest, suffix = self._spool(stream, filename)
        try:
            return self._keep(session, spooled, filename or spooled.name, digest, suffix,
                              options)
        finally:
            spooled.unlink(missing_ok=True)

    def add_path(self, session: Session, path: str, options: ScanOptions) -> VideoAdded:
        """Register a file already on the server (when allowed) and queue its scan."""
        if not self.allow_server_paths:
            raise Forbidden("server paths are not allowed here (LIKENESS_ALLOW_SERVER_PATHS)")
        local = Path(path)
        if not local.is_file():
            raise InvalidInput(f"{path} is not a file on the server")
        return self.add_file(session, local, options)

    def add_file(self, session: Session, local: Path, options: ScanOptions) -> VideoAdded:
        """Register a file of this machine and queue its scan. With remote object storage
        (S3) the file is copied there, so that a worker on any machine can scan it;
        otherwise it is read where it is."""
        if self.storage is None or self.storage.default.scheme == "fs":
            return self._add(session, local, str(local), options)
        suffix = local.suffix.lower() if local.suffix.lower() in VIDEO_SUFFIXES else ".mp4"
        return self._keep(session, local, str(local), sha256_of(local), suffix, options)

    def _keep(self, session: Session, file: Path, source: str, digest: str, suffix: str,
              options: ScanOptions) -> VideoAdded:
        """Keep the file in object storage, named by its content, and register it from
        there; content registered before is neither kept twice nor scanned again. The
        object is stored before its row: a failure in between leaves an object that the
        same content overwrites, never a row without its file."""
        probe(file)  # not a video: refused before anything is kept
        known = store.video_with_sha256(session, digest)
        if known is not None:
            return VideoAdded(VideoState.of(known), False, None)
        session.commit()  # no transaction stays open through the upload
        if self.storage is None:
            raise StorageUnavailable("object storage is not configured here")
        location = self.storage.put_file(f"videos/{digest}{suffix}", file, _video_type(suffix))
        added = self._add(session, file, source, options, location, digest)
        if not added.created and added.state.video.location != location:
            self.storage.delete(location)  # kept meanwhile from another source
        return added

    def _add(self, session: Session, local: Path, source: str, options: ScanOptions,
             location: str | None = None, sha256: str | None = None) -> VideoAdded:
        video, created = self.register(session, local, source, options, location, sha256)
        job_id = self.queue.defer_scan(video.id) if created and self.queue else None
        return VideoAdded(VideoState.of(video), created, job_id)

    def _spool(self, stream: BinaryIO, filename: str) -> tuple[Path, str, str]:
        """The upload, streamed to a temporary file: (file, sha256, file suffix)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        suffix = Path(filename).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:  # a name is a label: it never picks our file type
            suffix = ".mp4"
        digest, size, limit = hashlib.sha256(), 0, self.max_upload_bytes
        with tempfile.NamedTemporaryFile(dir=self.work_dir, prefix="upload-",
                                         suffix=suffix, delete=False) as part:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                size += len(chunk)
                if size > limit:
                    Path(part.name).unlink()
                    raise PayloadTooLarge(f"the video is larger than {limit / 1e6:.0f} MB")
                digest.update(chunk)
                part.write(chunk)
        if size == 0:
            Path(part.name).unlink()
            raise InvalidInput("the file is empty")
        return Path(part.name), digest.hexdigest(), suffix

    # ------------------------------------------------------------ reading, deleting

    def page(self, session: Session, *, status: VideoStatus | None = None, limit: int = 50,
             offset: int = 0) -> Page[VideoState]:
        videos, total = store.list_videos(session, status=status, limit=limit, offset=offset)
        return Page([VideoState.of(v) for v in videos], total, limit, offset)

    def detail(self, session: Session, video_id: int) -> VideoDetail:
        """Status, progress, who appears and the tracks by status."""
        video = store.get_video(session, video_id)
        return VideoDetail(VideoState.of(video), store.tags_of_video(session, video_id),
                           store.track_counts(session, video_id))

    def people_of(self, session: Session, video_id: int) -> list[tuple[VideoTag, str]]:
        return store.tags_of_video(session, video_id)

    def videos_of(self, session: Session, person_id: int
                  ) -> tuple[str, list[tuple[VideoTag, Video]]]:
        """The person's name and the videos they are tagged in."""
        name = people_store.get_person(session, person_id).name
        return name, store.tags_of_person(session, person_id)

    def delete(self, session: Session, video_id: int) -> None:
        """The video with its detections, tracks, tags and review items; an uploaded
        file goes too (once the rows are gone)."""
        video = store.delete_video(session, video_id)
        session.commit()
        try:  # the video is gone: a file left behind is an orphan, not a failed request
            if video.location is not None:
                if self.storage is None:
                    raise StorageUnavailable("object storage is not configured here")
                self.storage.delete(video.location)
            elif video.path and Path(video.path).parent == self.uploads_dir.resolve():
                Path(video.path).unlink(missing_ok=True)  # an upload from before storage
        except (LikenessError, OSError) as exc:
            log.warning("video %s deleted, its file %s left behind: %s", video_id,
                        video.location or video.path, exc)

    def track_thumbnail(self, session: Session, track_id: int) -> bytes:
        return store.get_track(session, track_id).crop_jpeg

    # ------------------------------------------------------------ retro-matching

    def retro_match(self, session: Session, person_id: int, model: str,
                    thresholds: Thresholds) -> RetroResult:
        """Look for a person in the stored, untagged tracks of every video, without
        decoding anything: confident tracks tag their video, doubtful ones go to review."""
        best: dict[int, tuple[Track, float]] = {}
        for face in people_store.faces_of(session, person_id):
            if face.model != model:
                continue
            for track, similarity in store.tracks_like(session, face.embedding,
                                                       face.model, thresholds.review):
                if similarity > best.get(track.id, (None, -1.0))[1]:
                    best[track.id] = (track, similarity)
        tagged_videos: set[int] = set()
        reviews: list[tuple[ReviewItem, Track]] = []
        for track, similarity in best.values():  # untagged tracks only
            if similarity >= thresholds.match:
                track.status, track.person_id, track.similarity = \
                    TrackStatus.TAGGED, person_id, similarity
                tag_video(session, track.video_id, person_id,
                          [(track.first_ms, track.last_ms, similarity)], 0, TagSource.RETRO)
                tagged_videos.add(track.video_id)
            elif (item_id := store.propose(session, track.id, person_id, similarity)):
                track.status = TrackStatus.REVIEW
                reviews.append((session.get_one(ReviewItem, item_id), track))
        if self.notifier is not None:  # in the same transaction as what they announce
            for video_id in tagged_videos:
                announce_tags(session, self.notifier, video_id, [person_id])
            name = people_store.get_person(session, person_id).name
            for item, track in reviews:
                announce_review(session, self.notifier, item, track, name)
        session.commit()
        return RetroResult(len(tagged_videos), len(reviews))

    # ------------------------------------------------------------ review

    def review_page(self, session: Session, *, status: ReviewStatus = ReviewStatus.PENDING,
                    limit: int = 50, offset: int = 0) -> Page[ReviewEntry]:
        """Tracks that look like someone, but not surely enough to tag."""
        rows, total = store.review_page(session, status=status, limit=limit, offset=offset)
        return Page([ReviewEntry(*row) for row in rows], total, limit, offset)

    def approve(self, session: Session, item_id: int, add_to_gallery: bool = False
                ) -> VideoDetail:
        """Tag the track's video with the proposed person; with `add_to_gallery`, the
        track's best face is enrolled too."""
        item, track = store.pending_item(session, item_id)
        face = self._best_face(session, track) if add_to_gallery else None  # may refuse
        store.decide(session, item, ReviewStatus.APPROVED)
        track.status, track.person_id, track.similarity = \
            TrackStatus.TAGGED, item.person_id, item.similarity
        tag_video(session, track.video_id, item.person_id,
                  [(track.first_ms, track.last_ms, item.similarity)], 0, TagSource.REVIEW)
        if face is not None:
            people_store.add_face(session, {**face, "person_id": item.person_id})
        if self.notifier is not None:
            announce_tags(session, self.notifier, track.video_id, [item.person_id])
        session.commit()
        return self.detail(session, track.video_id)

    def reject(self, session: Session, item_id: int) -> None:
        """Not that person; the track will not be proposed for them again."""
        item, track = store.pending_item(session, item_id)
        store.decide(session, item, ReviewStatus.REJECTED)
        if track.status == TrackStatus.REVIEW:
            track.status = TrackStatus.UNKNOWN
        session.commit()

    def _best_face(self, session: Session, track: Track) -> dict:
        """The face row of the track's best detection, if good enough for the gallery."""
        rows = store.track_detections(session, track.id)
        best = max(rows, key=lambda r: r.det_score * r.quality.get("face_size", 0))
        size = best.quality.get("face_size", 0)
        if size < self.min_face_size:
            raise Rejected(f"the track's best face is {size:.0f} px, below the "
                           f"{self.min_face_size:.0f} px minimum for enrollment")
        return gallery_face(
            embedding=best.embedding, model=track.model, det_score=best.det_score,
            bbox=best.bbox, landmarks=[], quality=best.quality,
            image_sha256=hashlib.sha256(best.crop_jpeg).hexdigest(),
            source_name=f"video {track.video_id}, track {track.id}",
            crop_jpeg=best.crop_jpeg)

    # ------------------------------------------------------------ the web UI's views

    def listing(self, session: Session, *, status: VideoStatus | None = None,
                limit: int = 20, offset: int = 0) -> Page[tuple[VideoState, list[str], int]]:
        """Videos newest first, each with the names of who appears in it and its count
        of pending review items."""
        rows, total = store.video_listing(session, status=status, limit=limit, offset=offset)
        return Page([(VideoState.of(video), names, pending) for video, names, pending in rows],
                    total, limit, offset)

    def media(self, session: Session, video_id: int) -> VideoMedia:
        """Where to read the video from, to play it."""
        video = store.get_video(session, video_id)
        if video.location is not None:
            if self.storage is None:
                raise StorageUnavailable("object storage is not configured here")
            path = self.storage.local_path(video.location)
            if path is None:
                return VideoMedia(None, self.storage, video.location,
                                  self.storage.size(video.location))
        else:
            path = Path(video.path or "")
        if not path.is_file():
            raise NotFound(f"the file of video {video_id} is gone")
        return VideoMedia(path, None, None, path.stat().st_size)

    def review_queue(self, session: Session, *, status: ReviewStatus = ReviewStatus.PENDING,
                     person_id: int | None = None, video_id: int | None = None,
                     limit: int = 20, offset: int = 0) -> Page[ReviewEntry]:
        """The review queue, optionally of one proposed person or one video."""
        rows, total = store.review_queue(session, status=status, person_id=person_id,
                                         video_id=video_id, limit=limit, offset=offset)
        return Page([ReviewEntry(*row) for row in rows], total, limit, offset)

    def review_context(self, session: Session, entries: list[ReviewEntry], faces: int = 3
                       ) -> tuple[dict[int, str], dict[int, list[int]]]:
        """For review items: each video's name, and the ids of each proposed person's
        best enrolled faces, to compare the track's face with."""
        videos = store.video_sources(session, list({e.track.video_id for e in entries}))
        best = store.best_faces(session, list({e.item.person_id for e in entries}), faces)
        return videos, best

    def review_choices(self, session: Session, status: ReviewStatus = ReviewStatus.PENDING
                       ) -> tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]:
        """The people and the videos that review items of a status concern:
        (id, name, items) each, to filter the queue by."""
        return (store.review_people(session, status=status),
                store.review_videos(session, status=status))

    def review_item(self, session: Session, item_id: int) -> tuple[ReviewEntry, str]:
        """One review item (with its track and the proposed person's name) and the name
        of its video."""
        item, track, name, source = store.review_entry(session, item_id)
        return ReviewEntry(item, track, name), source

    def decide_many(self, session: Session, item_ids: list[int], approve: bool) -> int:
        """Approve (or reject) each item still pending; how many were decided. Items
        decided meanwhile, or deleted with their video, are skipped."""

        decided = 0
        for item_id in dict.fromkeys(item_ids):
            try:
                if approve:
                    self.approve(session, item_id)
                else:
                    self.reject(session, item_id)
            except (Conflict, NotFound):
                session.rollback()
                continue
            decided += 1
        return decided


def tag_video(session: Session, video_id: int, person_id: int,
              spans: list[tuple[int, int, float]], gap: int, source: TagSource) -> None:
    """Tag the video with the person over `spans` (start, end, similarity), joined with
    the segments it already has."""
    existing = store.get_tag(session, video_id, person_id)
    old = [(s, e) for s, e in existing.segments] if existing else []
    segments = merge_segments(old + [(s, e) for s, e, _ in spans], gap)
    confidence = max([c for _, _, c in spans] + ([existing.confidence] if existing else []))
    store.put_tag(session, video_id, person_id, round(confidence, 4), segments, source)


@dataclass(frozen=True)
class VideoService:
    """Scanning: the video use case that needs the model."""

    engine: FaceEngine
    thresholds: Thresholds  # match = auto-tag; review
    clusters: ClusterQueue | None = field(default=None, compare=False)  # of unknown tracks
    notifier: Notifier | None = field(default=None, compare=False)  # of tags and reviews
    storage: ObjectStorage | None = field(default=None, compare=False)  # of uploads
    work_dir: Path = Path("data/tmp")  # where uploads are downloaded to be scanned

    @classmethod
    def from_settings(cls, engine: FaceEngine, settings: Settings,
                      clusters: ClusterQueue | None = None,
                      notifier: Notifier | None = None,
                      storage: ObjectStorage | None = None) -> VideoService:
        return cls(engine, Thresholds.resolve(engine.thresholds, settings.match_threshold,
                                              settings.review_threshold), clusters, notifier,
                   storage, settings.work_dir)

    # ------------------------------------------------------------ scanning

    def scan(self, sessions: sessionmaker, video_id: int,
             on_progress: Callable[[int, int | None], None] = lambda done, total: None,
             local: Path | None = None) -> Video:
        """Scan a registered video (from `local`, a file of its content on this machine,
        when given); a failure marks it failed and stores nothing."""
        with sessions() as session:
            video = store.get_video(session, video_id)
            options = ScanOptions(video.sample_fps, video.keyframes)
            path, location, total = video.path, video.location, video.samples_total
            store.set_status(session, video_id, status=VideoStatus.SCANNING, error=None,
                             samples_done=0, started_at=datetime.now(UTC))
            session.commit()
        try:
            with self._readable(str(local) if local else path,
                                None if local else location) as readable:
                return self._scan(sessions, video_id, readable, options, total, on_progress)
        except LikenessError as exc:
            with sessions() as session:
                store.set_status(session, video_id, status=VideoStatus.FAILED, error=str(exc),
                                 finished_at=datetime.now(UTC))
                session.commit()
            raise

    @contextmanager
    def _readable(self, path: str | None, location: str | None) -> Iterator[Path]:
        """The video as a file on this machine: a server path, or the stored upload (a
        download into this worker's own scratch space when storage is remote)."""
        if location is None:
            yield Path(path or "")
            return
        if self.storage is None:
            raise StorageUnavailable("the video is in object storage, which is not "
                                     "configured here (LIKENESS_STORAGE and LIKENESS_S3_*)")
        with self.storage.local_copy(location, self.work_dir) as copy:
            yield copy

    def _scan(self, sessions: sessionmaker, video_id: int, path: Path, options: ScanOptions,
              total: int | None, on_progress: Callable[[int, int | None], None]) -> Video:
        tracker = Tracker(max_gap_ms=int(GAP_SAMPLES * 1000 / options.fps))
        done = 0
        for frames, faces in self._analysed(path, options):
            for frame, frame_faces in zip(frames, faces, strict=True):
                tracker.update(frame.time_ms, frame.index, frame_faces,
                               [thumbnail(frame.image, face) for face in frame_faces])
            done += len(frames)
            with sessions() as session:
                store.set_status(session, video_id, samples_done=done)
                session.commit()
            on_progress(done, total)
        with sessions() as session:
            self._store(session, video_id, tracker.tracks, options)
            store.set_status(session, video_id, status=VideoStatus.DONE, samples_done=done,
                             samples_total=done, finished_at=datetime.now(UTC))
            session.commit()
        if self.clusters is not None:  # its unknown tracks join the clusters
            self.clusters.defer_clustering(None)
        with sessions() as session:
            return store.get_video(session, video_id)

    def _analysed(self, path: Path, options: ScanOptions
                  ) -> Iterator[tuple[list[VideoFrame], list[list[Face]]]]:
        """Batches of sampled frames with their faces; the next batch decodes while the
        engine works on this one."""
        frames = sample_frames(path, fps=options.fps, keyframes=options.keyframes)

        def next_batch() -> list[VideoFrame]:
            return [frame for _, frame in zip(range(BATCH), frames, strict=False)]

        with ThreadPoolExecutor(1) as decoder:
            pending = decoder.submit(next_batch)
            while batch := pending.result():
                pending = decoder.submit(next_batch)
                yield batch, self.engine.analyze_batch([f.image for f in batch])

    def _store(self, session: Session, video_id: int, tracks: list[FaceTrack],
               options: ScanOptions) -> None:
        """Decide each track and write the scan: tags for confident tracks, review items
        for doubtful ones, every detection."""
        gap = int(GAP_SAMPLES * 1000 / options.fps)
        new_tracks: list[store.NewTrack] = []
        tag_spans: dict[int, list[tuple[int, int, float]]] = {}
        for track in tracks:
            candidates = people_store.search_people(session, track.embedding,
                                                    self.engine.model_name, top_k=1)
            best = candidates[0] if candidates else None
            similarity = best.similarity if best else None
            status, review = TrackStatus.UNKNOWN, None
            if best and best.similarity >= self.thresholds.match:
                status = TrackStatus.TAGGED
                tag_spans.setdefault(best.person_id, []).append(
                    (track.first_ms, track.last_ms, best.similarity))
            elif best and best.similarity >= self.thresholds.review:
                status, review = TrackStatus.REVIEW, (best.person_id, best.similarity)
            new_tracks.append(store.NewTrack(
                track={"first_ms": track.first_ms, "last_ms": track.last_ms,
                       "detections": len(track.members), "embedding": track.embedding,
                       "status": status,
                       "person_id": best.person_id if best and status == TrackStatus.TAGGED
                       else None,
                       "similarity": similarity, "crop_jpeg": track.best.crop_jpeg,
                       "weight": max(face_weight(m.face.quality, m.face.det_score)
                                     for m in track.members)},
                detections=[{"time_ms": m.time_ms, "frame_index": m.frame_index,
                             "bbox": [round(float(v), 1) for v in m.face.bbox],
                             "det_score": m.face.det_score, "quality": quality_dict(m.face),
                             "embedding": m.face.embedding, "crop_jpeg": m.crop_jpeg}
                            for m in track.members],
                review_person=review))
        store.replace_scan(session, video_id, self.engine.model_name, new_tracks)
        for person_id, spans in tag_spans.items():
            tag_video(session, video_id, person_id, spans, gap, TagSource.SCAN)
        if self.notifier is not None:
            announce_tags(session, self.notifier, video_id, list(tag_spans))
            announce_reviews(session, self.notifier, video_id, len(new_tracks))


def announce_tags(session: Session, notifier: Notifier, video_id: int,
                  person_ids: list[int]) -> None:
    """Publish "video.tagged" for each of these people's tags of the video."""
    video = store.get_video(session, video_id)
    for tag, name in store.tags_of_video(session, video_id):
        if tag.person_id in person_ids:
            notifier.publish(session, "video.tagged", {
                "video": {"id": video.id, "source": video.source},
                "person": {"id": tag.person_id, "name": name},
                "confidence": tag.confidence, "segments": tag.segments,
                "source": tag.source}, topic=(str(video.id), name))


def announce_reviews(session: Session, notifier: Notifier, video_id: int, most: int) -> None:
    """Publish "review.created" for each pending review item of the video (a scan's)."""
    items, _ = store.review_queue(session, status=ReviewStatus.PENDING, video_id=video_id,
                                  limit=max(1, most), offset=0)
    for item, track, name in items:
        announce_review(session, notifier, item, track, name)


def announce_review(session: Session, notifier: Notifier, item: ReviewItem, track: Track,
                    name: str) -> None:
    """Publish "review.created" for one review item."""
    video = store.get_video(session, track.video_id)
    notifier.publish(session, "review.created", {
        "review_item_id": item.id, "video": {"id": video.id, "source": video.source},
        "track_id": track.id, "first_ms": track.first_ms, "last_ms": track.last_ms,
        "person": {"id": item.person_id, "name": name},
        "similarity": item.similarity}, topic=(str(video.id), name))


def _expected_samples(duration_ms: int, options: ScanOptions) -> int | None:
    if options.keyframes or not duration_ms:
        return None
    return int(duration_ms / 1000 * options.fps) + 1
