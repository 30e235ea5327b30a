"""Camera streams, recognised live by the workers, and the sightings they record.

`StreamRecords` works on the database alone: add a stream (its URL checked, its job
queued), list the streams with their state and the people last seen on each, delete one,
and list sightings. `StreamService` runs one stream (in a worker's stream slot): it reads
frames with PyAV at the stream's rate, follows faces with the video tracker, decides each
track with the recognition policy and records it as a sighting, reconnecting with
exponential backoff when the camera drops.

URL rules (docs/live.md): `rtsp://` and `rtsps://` may name any address, private ones
included: cameras live on local networks, and an RTSP URL cannot reach a web service the
way an HTTP one can. `http(s)://` URLs (HLS playlists, MJPEG or MP4 over HTTP) pass the
SSRF rules of URL ingest (media/fetch.py: public addresses only unless
LIKENESS_FETCH_ALLOW_PRIVATE), checked again at every (re)connection. A file path (or
`file://` URL) is a file on the server, allowed only with LIKENESS_ALLOW_SERVER_PATHS.
Each kind is opened with FFmpeg's protocols limited to its own (an HLS playlist cannot
name a file of the server, nor an RTSP URL an HTTP one).

Reading is split in two threads per stream: a reader demuxes and decodes every frame as
it arrives (so the camera's socket never backs up) and keeps only the latest frame due at
the stream's rate; the analyser takes that frame, infers and tracks. When inference falls
behind, stale frames are dropped rather than queued: latency stays bounded.

Unknown sightings feed the cameras' clustering of unknown faces (services/clusters.py): a
pass is queued when a track that ended unknown was recorded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.orm import Session, sessionmaker

from likeness.config import Settings
from likeness.enums import Decision, StreamStatus
from likeness.errors import Forbidden, InvalidInput, LikenessError
from likeness.services.clustering import face_weight
from likeness.services.faces import RecognitionPolicy, quality_dict, thumbnail
from likeness.services.pages import Page
from likeness.services.tracking import FaceTrack, Tracker
from likeness.store import people as people_store
from likeness.store import streams as store
from likeness.store.models import Sighting, Stream

if TYPE_CHECKING:
    import av.container
    import numpy as np

    from likeness.engine import FaceEngine
    from likeness.services.clusters import ClusterQueue
    from likeness.store.people import Candidate

log = logging.getLogger(__name__)

DEFAULT_FPS = 5.0  # frames analysed per second when a stream does not say
MAX_FPS = 30.0
MAX_URL = 2048
LIVE_FORMATS = frozenset({"rtsp", "rtp", "sdp"})
PEOPLE_SHOWN = 5  # the people last seen, per stream
SCHEMES = {
    # scheme: the FFmpeg protocols its streams may use
    "rtsp": "rtsp,rtp,srtp,tcp,udp",
    "rtsps": "rtsp,rtsps,rtp,srtp,tcp,udp,tls",
    "http": "http,https,tcp,tls,crypto",
    "https": "http,https,tcp,tls,crypto",
    "file": "file,crypto",
}


# ---------------------------------------------------------------- URLs


def check_stream_url(url: str, *, allow_private: bool = False,
                     allow_server_paths: bool = False) -> str:
    """The URL to store (a `file://` URL becomes its path), or InvalidInput or Forbidden
    saying why it is refused. http(s) hosts are resolved and checked here."""
    url = url.strip()
    if not url:
        raise InvalidInput("url is empty")
    if len(url) > MAX_URL:
        raise InvalidInput(f"url is longer than {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("url must not contain spaces or control characters")
    scheme = _scheme(url)
    if scheme == "file":
        path = urlsplit(url).path if url.lower().startswith("file:") else url
        if not allow_server_paths:
            raise Forbidden("streams from server files are not allowed here "
                            "(LIKENESS_ALLOW_SERVER_PATHS)")
        if not Path(path).is_absolute():
            raise InvalidInput("a stream file must be an absolute path on the server")
        if not Path(path).is_file():
            raise InvalidInput(f"{path} is not a file on the server")
        return path
    if scheme not in SCHEMES:
        raise InvalidInput(f"url must be rtsp, rtsps, http, https or a server file path, "
                           f"not {scheme!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}") from None
    if not parts.hostname:
        raise InvalidInput("url has no host")
    if scheme in ("http", "https"):
        check_http(url, allow_private)
    return url


def check_http(url: str, allow_private: bool) -> None:
    """URL ingest's SSRF rules (media/fetch.py) for an http(s) stream: a host that resolves
    to a private, loopback or link-local address is refused unless `allow_private`;
    camera-style credentials in the URL are allowed."""
    from likeness.media.fetch import FetchPolicy, check_url

    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                       parts.query, ""))
    try:
        check_url(bare, FetchPolicy(allow_private=allow_private))
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("image_url", "the stream's url")) from None


def _scheme(url: str) -> str:
    if url.startswith("/"):
        return "file"
    return url.split(":", 1)[0].lower() if ":" in url else ""


def masked_url(url: str) -> str:
    """The URL with its password hidden: streams are listed to viewers."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query,
                       parts.fragment))


def redacted(text: str, url: str) -> str:
    """`text` (FFmpeg's errors quote the URL) without the URL's password."""
    password = urlsplit(url).password if "://" in url else None
    text = text.replace(url, masked_url(url))
    return text.replace(password, "***") if password else text


# ---------------------------------------------------------------- records


class StreamQueue(Protocol):
    def defer_stream(self, stream_id: int) -> int | None: ...


class Notifier(Protocol):
    """Where events go (webhooks, MQTT): services/notifications.NotificationService. It
    writes in the caller's transaction; the caller commits."""

    def publish(self, session: Session, event: str, data: dict[str, Any],
                topic: Sequence[str] = ()) -> None: ...


@dataclass(frozen=True, slots=True)
class SeenPerson:
    person_id: int
    name: str
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class StreamState:
    """A stream as its runner left it, with the people last matched on it. `status` is
    the stored one, except that a stream "up" whose frames stopped long ago is down (its
    worker died and none took it over yet)."""

    stream: Stream
    status: StreamStatus
    error: str | None
    people: list[SeenPerson]

    @property
    def url(self) -> str:
        """The URL with its password hidden."""
        return masked_url(self.stream.url)

    @classmethod
    def of(cls, stream: Stream, people: list[SeenPerson], now: datetime | None = None
           ) -> StreamState:
        status, error = stream.status, stream.error
        now = now or datetime.now(UTC)
        if status == StreamStatus.UP and stream.last_frame_at is not None:
            silent = (now - stream.last_frame_at).total_seconds()
            if silent > stale_after_s(stream.fps):
                status = StreamStatus.DOWN
                error = (f"no frame for {silent:.0f} s: no worker is running this stream "
                         "(it resumes when one does)")
        return cls(stream, status, error, people)


def stale_after_s(fps: float) -> float:
    return 30.0 + 10.0 / max(fps, 0.1)


@dataclass(frozen=True, slots=True)
class SightingEntry:
    sighting: Sighting
    stream: str | None  # its stream's name
    name: str | None  # the person's


@dataclass(frozen=True)
class StreamRecords:
    """Streams and sightings, without the model."""

    queue: StreamQueue | None = field(default=None, compare=False)
    allow_private: bool = False  # http(s) streams to private addresses
    allow_server_paths: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, queue: StreamQueue | None = None
                      ) -> StreamRecords:
        return cls(queue, settings.fetch_allow_private, settings.allow_server_paths)

    def add(self, session: Session, name: str, url: str, fps: float | None = None
            ) -> StreamState:
        """Register a camera and queue its job: a worker with a free stream slot runs it."""
        name = name.strip()
        if not name:
            raise InvalidInput("name is empty")
        fps = DEFAULT_FPS if fps is None else fps
        if not 0 < fps <= MAX_FPS:
            raise InvalidInput(f"fps must be above 0 and at most {MAX_FPS:g}")
        url = check_stream_url(url, allow_private=self.allow_private,
                               allow_server_paths=self.allow_server_paths)
        stream = store.add_stream(session, name, url, fps)
        session.commit()
        if self.queue is not None:
            try:
                self.queue.defer_stream(stream.id)
            except Exception:
                store.delete_stream(session, stream.id)  # no job: no stream
                session.commit()
                raise
        return StreamState.of(stream, [])

    def page(self, session: Session, *, limit: int = 50, offset: int = 0
             ) -> Page[StreamState]:
        streams, total = store.list_streams(session, limit=limit, offset=offset)
        seen = store.last_seen(session, [s.id for s in streams], PEOPLE_SHOWN)
        now = datetime.now(UTC)
        return Page([StreamState.of(s, [SeenPerson(*p) for p in seen[s.id]], now)
                     for s in streams], total, limit, offset)

    def get(self, session: Session, stream_id: int) -> StreamState:
        stream = store.get_stream(session, stream_id)
        seen = store.last_seen(session, [stream_id], PEOPLE_SHOWN)[stream_id]
        return StreamState.of(stream, [SeenPerson(*p) for p in seen])

    def delete(self, session: Session, stream_id: int) -> None:
        """The stream and its sightings; its runner notices within a second and stops."""
        store.delete_stream(session, stream_id)
        session.commit()

    def sightings(self, session: Session, *, stream_id: int | None = None,
                  person_id: int | None = None, decision: Decision | None = None,
                  since: datetime | None = None, limit: int = 50, offset: int = 0
                  ) -> Page[SightingEntry]:
        """Sightings, most recently seen first; `since` without a zone is UTC."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        rows, total = store.sightings_page(session, stream_id=stream_id, person_id=person_id,
                                           decision=decision, since=since, limit=limit,
                                           offset=offset)
        return Page([SightingEntry(*row) for row in rows], total, limit, offset)

    def sighted_people(self, session: Session, limit: int = 200) -> list[tuple[int, str]]:
        """The people with sightings, by name (a filter's choices): (person id, name)."""
        return store.sighted_people(session, limit)

    def sighting_thumbnail(self, session: Session, sighting_id: int) -> bytes:
        return store.get_sighting(session, sighting_id).crop_jpeg


# ---------------------------------------------------------------- running a stream


@dataclass(frozen=True, slots=True)
class StreamOptions:
    open_timeout_s: float = 10.0  # connecting, and the RTSP handshake
    read_timeout_s: float = 10.0  # no packet for this long: the camera dropped
    backoff_first_s: float = 1.0  # reconnection waits 1, 2, 4, ... s
    backoff_max_s: float = 30.0
    track_gap_s: float = 2.0  # a face unseen this long has left: its track ends
    record_every_s: float = 5.0  # a long track's sighting is updated this often
    min_detections: int = 2  # a track seen fewer times is not a sighting (noise)
    status_every_s: float = 1.0  # frames and last-frame time written this often
    allow_private: bool = False  # http(s) to private addresses


@dataclass(frozen=True, slots=True)
class FrameStats:
    """One analysed frame, for benchmarks and metrics."""

    stream_id: int
    faces: int
    latency_ms: float  # from its packet's arrival to its faces tracked and decided
    lag_ms: float  # behind the camera's clock (its timestamps), queueing included
    dropped: int  # frames due but skipped so far on this connection: inference was busy


@dataclass(slots=True)
class _Sampled:
    image: np.ndarray
    arrived: float  # time.monotonic() of its packet
    wall: float  # time.time() then
    pts_s: float  # seconds, on the camera's clock


class _Ended(Exception):
    """The reader stopped: the source ended (error None) or failed."""

    def __init__(self, error: BaseException | None) -> None:
        super().__init__(str(error) if error else "the stream ended")
        self.error = error


class _Latest:
    """A mailbox of one: the newest frame replaces one not yet taken (a drop)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: _Sampled | None = None
        self._ended: _Ended | None = None
        self.dropped = 0

    def put(self, item: _Sampled) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def end(self, error: BaseException | None) -> None:
        with self._cond:
            self._ended = _Ended(error)
            self._cond.notify()

    def take(self, timeout: float) -> _Sampled | None:
        """The newest frame, None if none came within `timeout`; _Ended once the
        reader has stopped and every frame was taken."""
        with self._cond:
            if self._item is None and self._ended is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is None and self._ended is not None:
                raise self._ended
            return item


class _Reader(threading.Thread):
    """Demuxes and decodes a source, keeping the frames due at `fps` in a mailbox of one.
    Files and other sources with a known duration are paced at their own speed, as a
    camera sends; live sources are read as fast as they come."""

    def __init__(self, container: av.container.InputContainer, fps: float, name: str
                 ) -> None:
        super().__init__(daemon=True, name=name)
        self.container = container
        self.fps = fps
        self.frames = _Latest()
        self.live = container.format.name in LIVE_FORMATS or not container.duration
        self.connected = False  # a frame was analysed
        self._halt = threading.Event()

    def stop_reading(self) -> None:
        """Stop after the packet being read (a stalled read ends at its timeout)."""
        self._halt.set()

    def run(self) -> None:
        import av

        from likeness.media.video import _upright

        error: BaseException | None = None
        try:
            stream = self.container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            if self.fps < rate / 2:  # frames nothing refers to need no decoding
                stream.codec_context.skip_frame = "NONREF"
            next_tick: float | None = None
            paced: tuple[float, float] | None = None  # (monotonic, pts) of the first
            for packet in self.container.demux(stream):
                if self._halt.is_set():
                    return
                arrived = time.monotonic()
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    seconds = float(frame.time)
                    if next_tick is None or seconds < next_tick - 10:  # a jump back
                        next_tick = seconds
                    if seconds + 1e-6 < next_tick:
                        continue
                    next_tick = (math.floor(seconds * self.fps + 1e-6) + 1) / self.fps
                    if not self.live:
                        if paced is None:
                            paced = (arrived, seconds)
                        due = paced[0] + (seconds - paced[1])
                        if self._halt.wait(max(0.0, due - time.monotonic())):
                            return
                        arrived = max(arrived, due)
                    image = _upright(frame.to_ndarray(format="bgr24"), frame.rotation)
                    self.frames.put(_Sampled(image, arrived, time.time() - (
                        time.monotonic() - arrived), seconds))
        except (av.error.FFmpegError, OSError, EOFError, ValueError) as exc:
            error = exc
        finally:
            self.frames.end(error)
            with contextlib.suppress(Exception):  # closing a broken container
                self.container.close()


@dataclass(slots=True)
class _Seen:
    """What a track has recorded so far."""

    detections: int = 0
    counted: int = 0  # members of the track already counted
    weight: float = 0.0  # face_weight of its best face
    sighting_id: int | None = None
    recorded_at: float = 0.0  # monotonic
    recorded: int = 0  # detections when last recorded
    decision: Decision | None = None
    person_id: int | None = None


class _Gone(Exception):
    """The stream was deleted."""


@dataclass(slots=True)
class _Run:
    """One connection's tracking."""

    tracker: Tracker
    seen: dict[int, _Seen]  # by id() of the track
    frames: int = 0  # analysed on this connection
    counted: int = 0  # of them, not yet added to the stream's count
    last_frame_at: datetime | None = None


KEEP_MEMBERS = 3  # a long track keeps its first, best and last faces, not every one


@dataclass(frozen=True)
class StreamService:
    """Runs camera streams: the use case that needs the model."""

    engine: FaceEngine
    policy: RecognitionPolicy
    options: StreamOptions = StreamOptions()
    notifier: Notifier | None = field(default=None, compare=False)
    clusters: ClusterQueue | None = field(default=None, compare=False)  # unknown sightings

    @classmethod
    def from_settings(cls, engine: FaceEngine, settings: Settings,
                      notifier: Notifier | None = None, clusters: ClusterQueue | None = None
                      ) -> StreamService:
        from likeness.services.people import PeopleService

        policy = PeopleService.from_settings(engine, settings).policy()
        return cls(engine, policy, StreamOptions(allow_private=settings.fetch_allow_private),
                   notifier, clusters)

    # ------------------------------------------------------------ the loop

    def run(self, sessions: sessionmaker, stream_id: int, stop: threading.Event,
            on_frame: Callable[[FrameStats], None] | None = None) -> StreamStatus | None:
        """Run the stream until `stop` is set (the worker stops: status down), the
        stream is deleted (None) or a source with an end ends (status down). A camera
        that drops or cannot be reached is tried again and again, with backoff."""
        with sessions() as session:
            stream = store.find_stream(session, stream_id)
            if stream is None:
                return None
            url, fps, name = stream.url, stream.fps, stream.name
            store.set_stream(session, stream_id, status=StreamStatus.STARTING, error=None)
            session.commit()
        backoff = self.options.backoff_first_s
        try:
            while not stop.is_set():
                try:
                    container = self._open(url)
                except LikenessError as exc:
                    backoff = self._wait(sessions, stream_id, stop, str(exc), backoff)
                    continue
                reader = _Reader(container, fps, f"likeness-stream-{stream_id}")
                reader.start()
                ended = self._analyse(sessions, stream_id, name, reader, stop, on_frame)
                if ended is None:  # stopped
                    break
                if ended.error is None and not reader.live:
                    self._set(sessions, stream_id, status=StreamStatus.DOWN,
                              error="the stream ended")
                    return StreamStatus.DOWN
                why = redacted(str(ended.error), url) if ended.error \
                    else "the camera closed the stream"
                if reader.connected:
                    backoff = self.options.backoff_first_s
                backoff = self._wait(sessions, stream_id, stop, why, backoff)
            self._set(sessions, stream_id, status=StreamStatus.DOWN,
                      error="stopped: no worker runs it now (it resumes when one starts)")
            return StreamStatus.DOWN
        except _Gone:
            log.info("stream %s was deleted: stopped", stream_id)
            return None

    def _open(self, url: str) -> av.container.InputContainer:
        import av

        scheme = _scheme(url)
        if scheme in ("http", "https"):  # a host's addresses may have changed
            check_http(url, self.options.allow_private)
        options = {"protocol_whitelist": SCHEMES.get(scheme, "file")}
        microseconds = str(int(self.options.read_timeout_s * 1e6))
        if scheme in ("rtsp", "rtsps"):
            options |= {"rtsp_transport": "tcp", "timeout": microseconds}
        elif scheme in ("http", "https"):
            options |= {"rw_timeout": microseconds}
        try:
            container = av.open(url, options=options,
                                timeout=(self.options.open_timeout_s,
                                         self.options.read_timeout_s))
        except (av.error.FFmpegError, OSError, ValueError, UnicodeError) as exc:
            raise LikenessError(f"cannot open the stream: {redacted(str(exc), url)}"
                                ) from None
        if not container.streams.video:
            container.close()
            raise LikenessError("the stream has no video")
        return container

    def _wait(self, sessions: sessionmaker, stream_id: int, stop: threading.Event,
              error: str, backoff: float) -> float:
        """Record the failure, wait `backoff` (or until stopped); the next backoff."""
        log.info("stream %s: %s; again in %.0f s", stream_id, error, backoff)
        self._set(sessions, stream_id, status=StreamStatus.RECONNECTING,
                  error=f"{error} (trying again in {backoff:.0f} s)")
        stop.wait(backoff)
        return min(backoff * 2, self.options.backoff_max_s)

    @staticmethod
    def _set(sessions: sessionmaker, stream_id: int, **values: Any) -> None:
        with sessions() as session:
            if not store.set_stream(session, stream_id, **values):
                raise _Gone
            session.commit()

    def _analyse(self, sessions: sessionmaker, stream_id: int, name: str, reader: _Reader,
                 stop: threading.Event, on_frame: Callable[[FrameStats], None] | None
                 ) -> _Ended | None:
        """Analyse the reader's frames until it ends (its _Ended) or `stop` (None); the
        tracks still open are then recorded."""
        gap_ms = int(max(self.options.track_gap_s, 2 / reader.fps) * 1000)
        run = _Run(Tracker(max_gap_ms=gap_ms), {})
        try:
            ended = self._frames(sessions, stream_id, name, reader, stop, on_frame, run)
        finally:
            reader.stop_reading()
        with sessions() as session:
            if run.counted and not store.count_frames(session, stream_id, run.counted,
                                                      last_frame_at=run.last_frame_at):
                raise _Gone
            session.commit()
        self._record(sessions, stream_id, name, run, None)
        return ended

    def _frames(self, sessions: sessionmaker, stream_id: int, name: str, reader: _Reader,
                stop: threading.Event, on_frame: Callable[[FrameStats], None] | None,
                run: _Run) -> _Ended | None:
        last_status = time.monotonic()
        offset = math.inf  # the least (arrival - timestamp): the camera's clock, here
        while not stop.is_set():
            try:
                sample = reader.frames.take(timeout=0.5)
            except _Ended as ended:
                return ended
            if sample is not None:
                faces = self.engine.analyze(sample.image)
                time_ms = int(sample.wall * 1000)
                run.tracker.update(time_ms, run.frames, faces,
                                   [thumbnail(sample.image, face) for face in faces])
                run.frames += 1
                run.counted += 1
                run.last_frame_at = _at(time_ms)
                self._follow(run)
                self._record(sessions, stream_id, name, run, time_ms)
                done = time.monotonic()
                offset = min(offset, sample.arrived - sample.pts_s)
                if on_frame is not None:
                    on_frame(FrameStats(stream_id, len(faces), (done - sample.arrived) * 1000,
                                        (done - (sample.pts_s + offset)) * 1000,
                                        reader.frames.dropped))
                if not reader.connected:
                    reader.connected = True
                    self._set(sessions, stream_id, status=StreamStatus.UP, error=None,
                              last_frame_at=run.last_frame_at)
            now = time.monotonic()
            if now - last_status >= self.options.status_every_s:  # also: is it deleted?
                progress = {"last_frame_at": run.last_frame_at, "status": StreamStatus.UP,
                            "error": None} if run.counted else {}
                with sessions() as session:
                    if not store.count_frames(session, stream_id, run.counted, **progress):
                        raise _Gone
                    session.commit()
                run.counted, last_status = 0, now
        return None

    # ------------------------------------------------------------ tracks to sightings

    @staticmethod
    def _follow(run: _Run) -> None:
        """Count each track's new detections and trim its members: a long track keeps
        its first, best and last faces (its identity is its running weighted sum)."""
        for track in run.tracker.tracks:
            state = run.seen.setdefault(id(track), _Seen())
            new = track.members[state.counted:]
            state.detections += len(new)
            for member in new:
                state.weight = max(state.weight, face_weight(member.face.quality,
                                                             member.face.det_score))
            if len(track.members) > 4 * KEEP_MEMBERS:
                keep = {id(track.members[0]), id(track.best), id(track.last)}
                track.members = [m for m in track.members if id(m) in keep]
            state.counted = len(track.members)

    def _record(self, sessions: sessionmaker, stream_id: int, name: str, run: _Run,
                now_ms: int | None) -> None:
        """Record the tracks worth it as sightings: a new track once seen
        `min_detections` times, an ongoing one every `record_every_s`, an ended one (or,
        with `now_ms` None, every one) a last time; ended tracks are then forgotten. A
        track that ended unknown queues a clustering pass of the cameras' unknowns."""
        options = self.options
        due: list[tuple[FaceTrack, _Seen]] = []
        ended: list[FaceTrack] = []
        now = time.monotonic()
        tracker, seen = run.tracker, run.seen
        for track in tracker.tracks:
            state = seen.setdefault(id(track), _Seen())
            over = now_ms is None or now_ms - track.last_ms > tracker.max_gap_ms
            if over:
                ended.append(track)
            if state.detections < options.min_detections or state.detections == \
                    state.recorded:
                continue
            if over or state.sighting_id is None or \
                    now - state.recorded_at >= options.record_every_s:
                due.append((track, state))
        if due:
            with sessions() as session:
                for track, state in due:
                    event = self._write(session, stream_id, name, track, state)
                    if event is not None and self.notifier is not None:
                        self._publish(session, event)
                    state.recorded_at, state.recorded = now, state.detections
                session.commit()
        if any(seen[id(track)].decision == Decision.UNKNOWN for track in ended):
            self._cluster_unknowns()
        for track in ended:
            tracker.tracks.remove(track)
            seen.pop(id(track), None)

    def _write(self, session: Session, stream_id: int, name: str, track: FaceTrack,
               state: _Seen) -> dict[str, Any] | None:
        """Decide the track and store its sighting; the event to publish when the
        sighting is new or its person or decision changed."""
        decision, best = self.decide(session, track)
        person_id = best.person_id if best is not None and decision != Decision.UNKNOWN \
            else None
        first, last = _at(track.first_ms), _at(track.last_ms)
        values: dict[str, Any] = {
            "person_id": person_id, "decision": decision,
            "similarity": round(best.similarity, 4) if best is not None else None,
            "first_seen_at": first, "last_seen_at": last,
            "detections": state.detections, "model": self.engine.model_name,
            "embedding": track.embedding, "weight": round(state.weight, 4),
            "crop_jpeg": track.best.crop_jpeg, **_best_face(track)}
        if state.sighting_id is None:
            state.sighting_id = store.add_sighting(session, stream_id, values)
            if state.sighting_id is None:
                raise _Gone
        elif not store.set_sighting(session, state.sighting_id, **values):
            raise _Gone
        changed = (decision, person_id) != (state.decision, state.person_id)
        new = state.decision is None
        state.decision, state.person_id = decision, person_id
        if not changed:
            return None
        return {"sighting_id": state.sighting_id, "new": new, "stream_id": stream_id,
                "stream": name,
                "person": {"id": person_id, "name": best.name}
                if best is not None and person_id else None,
                "decision": str(decision), "similarity": values["similarity"],
                "first_seen_at": first.isoformat(), "last_seen_at": last.isoformat(),
                "detections": state.detections,
                "thumbnail_url": f"/sightings/{state.sighting_id}/thumbnail"}

    def decide(self, session: Session, track: FaceTrack
               ) -> tuple[Decision, Candidate | None]:
        """The track's decision under the recognition policy, on its quality-weighted
        embedding, with its best candidate (None: nobody enrolled)."""
        candidates = people_store.search_people(session, track.embedding,
                                                self.engine.model_name, top_k=2)
        if not candidates:
            return Decision.UNKNOWN, None
        others = candidates[1].similarity if len(candidates) > 1 else None
        return self.policy.decide(track.best.face, candidates[0].similarity, others), \
            candidates[0]

    def _cluster_unknowns(self) -> None:
        """Queue a clustering pass of the cameras' unknown sightings (one waits at most);
        a queue that fails delays the clustering, never the camera."""
        if self.clusters is None:
            return
        try:
            self.clusters.defer_clustering(None, cameras=True)
        except Exception:
            log.exception("queueing the clustering of unknown sightings failed")

    def _publish(self, session: Session, event: dict[str, Any]) -> None:
        """The "sighting" event, in the sighting's transaction; a notifier that fails
        loses its event, never the sighting (nor the camera)."""
        assert self.notifier is not None
        topic = (event["stream"], event["person"]["name"] if event["person"] else "unknown")
        try:
            with session.begin_nested():
                self.notifier.publish(session, "sighting", event, topic=topic)
        except Exception:
            log.exception("publishing sighting %s failed", event["sighting_id"])


def _best_face(track: FaceTrack) -> dict[str, Any]:
    """The track's best face as its sighting keeps it, for the enrollment gates should
    its cluster be named: detection score, box, quality."""
    face = track.best.face
    return {"det_score": round(float(face.det_score), 4), "bbox": face.box(),
            "quality": {key: round(float(value), 2) for key, value in quality_dict(face).items()}}


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)

