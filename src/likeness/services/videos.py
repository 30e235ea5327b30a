"""Video use cases: register a file, scan it into tracks and tags, send doubtful tracks to
review, and find newly enrolled people in videos already scanned (retro-matching).

A scan decodes and infers outside any transaction, reports progress in short ones, and
writes its results in one final transaction that first removes what an earlier attempt of
the same video stored: a scan killed at any point and run again leaves no duplicates.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from likeness.config import Settings
from likeness.engine import Face, FaceEngine
from likeness.errors import LikenessError, Rejected
from likeness.media.files import sha256_of
from likeness.media.video import VideoFrame, probe, sample_frames
from likeness.services.people import PeopleService, Thresholds, quality_dict, thumbnail
from likeness.services.tracking import FaceTrack, Tracker, merge_segments
from likeness.store import people as people_store
from likeness.store import videos as store
from likeness.store.models import Track, Video

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


@dataclass(frozen=True)
class VideoService:
    engine: FaceEngine
    thresholds: Thresholds  # match = auto-tag; review
    min_face_size: float = 48  # to add a track's face to the gallery

    @classmethod
    def from_settings(cls, engine: FaceEngine, settings: Settings) -> VideoService:
        thresholds = PeopleService.from_settings(engine, settings).thresholds()
        return cls(engine, thresholds, settings.enroll_min_face_size)

    # ------------------------------------------------------------ registration

    @staticmethod
    def register(session: Session, path: Path, source: str, options: ScanOptions
                 ) -> tuple[Video, bool]:
        """The video for this file (by content), created if new; (video, created).
        The file must be readable as a video: a bad one is refused before it is queued."""
        info = probe(path)
        video, created = store.add_video(session, {
            "source": source, "path": str(path.resolve()), "sha256": sha256_of(path),
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

    # ------------------------------------------------------------ scanning

    def scan(self, sessions: sessionmaker, video_id: int,
             on_progress: Callable[[int, int | None], None] = lambda done, total: None
             ) -> Video:
        """Scan a registered video; a failure marks it failed and stores nothing."""
        with sessions() as session:
            video = store.get_video(session, video_id)
            path, options = Path(video.path), ScanOptions(video.sample_fps, video.keyframes)
            total = video.samples_total
            store.set_status(session, video_id, status="scanning", error=None,
                             samples_done=0, started_at=datetime.now(UTC))
            session.commit()
        try:
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
                store.set_status(session, video_id, status="done", samples_done=done,
                                 samples_total=done, finished_at=datetime.now(UTC))
                session.commit()
                return store.get_video(session, video_id)
        except LikenessError as exc:
            with sessions() as session:
                store.set_status(session, video_id, status="failed", error=str(exc),
                                 finished_at=datetime.now(UTC))
                session.commit()
            raise

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
        new_tracks, tag_spans = [], {}
        for track in tracks:
            candidates = people_store.search_people(session, track.embedding,
                                                    self.engine.model_name, top_k=1)
            best = candidates[0] if candidates else None
            similarity = best.similarity if best else None
            status, review = "unknown", None
            if best and best.similarity >= self.thresholds.match:
                status = "tagged"
                tag_spans.setdefault(best.person_id, []).append(
                    (track.first_ms, track.last_ms, best.similarity))
            elif best and best.similarity >= self.thresholds.review:
                status, review = "review", (best.person_id, best.similarity)
            new_tracks.append(store.NewTrack(
                track={"first_ms": track.first_ms, "last_ms": track.last_ms,
                       "detections": len(track.members), "embedding": track.embedding,
                       "status": status,
                       "person_id": best.person_id if status == "tagged" else None,
                       "similarity": similarity, "crop_jpeg": track.best.crop_jpeg},
                detections=[{"time_ms": m.time_ms, "frame_index": m.frame_index,
                             "bbox": [round(float(v), 1) for v in m.face.bbox],
                             "det_score": m.face.det_score, "quality": quality_dict(m.face),
                             "embedding": m.face.embedding, "crop_jpeg": m.crop_jpeg}
                            for m in track.members],
                review_person=review))
        store.replace_scan(session, video_id, self.engine.model_name, new_tracks)
        for person_id, spans in tag_spans.items():
            self._tag(session, video_id, person_id, spans, gap, "scan")

    @staticmethod
    def _tag(session: Session, video_id: int, person_id: int,
             spans: list[tuple[int, int, float]], gap: int, source: str) -> None:
        existing = store.get_tag(session, video_id, person_id)
        old = [(s, e) for s, e in existing.segments] if existing else []
        segments = merge_segments(old + [(s, e) for s, e, _ in spans], gap)
        confidence = max([c for _, _, c in spans] + ([existing.confidence] if existing
                                                     else []))
        store.put_tag(session, video_id, person_id, round(confidence, 4), segments, source)

    # ------------------------------------------------------------ retro-matching

    def retro_match(self, session: Session, person_id: int) -> RetroResult:
        """Look for a person in the stored, untagged tracks of every video, without
        decoding anything: confident tracks tag their video, doubtful ones go to review."""
        best: dict[int, tuple[Track, float]] = {}
        for face in people_store.faces_of(session, person_id):
            if face.model != self.engine.model_name:
                continue
            for track, similarity in store.tracks_like(session, face.embedding,
                                                       face.model, self.thresholds.review):
                if similarity > best.get(track.id, (None, -1.0))[1]:
                    best[track.id] = (track, similarity)
        tagged_videos, reviews = set(), 0
        for track, similarity in best.values():  # untagged tracks only
            if similarity >= self.thresholds.match:
                track.status, track.person_id, track.similarity = "tagged", person_id, similarity
                self._tag(session, track.video_id, person_id,
                          [(track.first_ms, track.last_ms, similarity)], 0, "retro")
                tagged_videos.add(track.video_id)
            elif store.propose(session, track.id, person_id, similarity):
                track.status = "review"
                reviews += 1
        session.commit()
        return RetroResult(len(tagged_videos), reviews)

    # ------------------------------------------------------------ review

    def approve(self, session: Session, item_id: int, add_to_gallery: bool = False) -> int:
        """Tag the track's video with the proposed person; with `add_to_gallery`, the
        track's best face is enrolled too. Returns the video id."""
        item, track = store.pending_item(session, item_id)
        face = self._best_face(session, track) if add_to_gallery else None  # may refuse
        store.decide(session, item, "approved")
        track.status, track.person_id, track.similarity = "tagged", item.person_id, \
            item.similarity
        self._tag(session, track.video_id, item.person_id,
                  [(track.first_ms, track.last_ms, item.similarity)], 0, "review")
        if face is not None:
            people_store.add_face(session, {**face, "person_id": item.person_id})
        session.commit()
        return track.video_id

    def reject(self, session: Session, item_id: int) -> None:
        """Not that person; the track will not be proposed for them again."""
        item, track = store.pending_item(session, item_id)
        store.decide(session, item, "rejected")
        if track.status == "review":
            track.status = "unknown"
        session.commit()

    def _best_face(self, session: Session, track: Track) -> dict:
        """The face row of the track's best detection, if good enough for the gallery."""
        rows = store.track_detections(session, track.id)
        best = max(rows, key=lambda r: r.det_score * r.quality.get("face_size", 0))
        size = best.quality.get("face_size", 0)
        if size < self.min_face_size:
            raise Rejected(f"the track's best face is {size:.0f} px, below the "
                           f"{self.min_face_size:.0f} px minimum for enrollment")
        return {
            "embedding": best.embedding,
            "model": self.engine.model_name, "det_score": best.det_score, "bbox": best.bbox,
            "landmarks": [], "quality": best.quality,
            "image_sha256": hashlib.sha256(best.crop_jpeg).hexdigest(),
            "source_name": f"video {track.video_id}, track {track.id}",
            "crop_jpeg": best.crop_jpeg}


def _expected_samples(duration_ms: int, options: ScanOptions) -> int | None:
    if options.keyframes or not duration_ms:
        return None
    return int(duration_ms / 1000 * options.fps) + 1
