"""Camera streams end to end at the service level: a real RTSP camera on loopback (FFmpeg
publishing the Hamilton clip to a small RTSP server, which a reader PLAYs from over TCP),
the real model and PostgreSQL. Lin-Manuel Miranda is enrolled: his sighting appears, the
camera drops and comes back, deleting the stream stops it; the URL rules.

FFmpeg cannot serve RTSP to a player by itself (its RTSP muxer only publishes, with
ANNOUNCE and RECORD; `-rtsp_flags listen` is an option of its demuxer, for receiving a
published stream). So, as MediaMTX does in front of real cameras, `RtspRelay` below
accepts FFmpeg's publication and serves it to readers, forwarding the RTP and RTCP packets
unchanged (TCP interleaved only). Killing the FFmpeg publisher closes the readers'
connections, as a camera that drops; DESCRIBE answers 404 until a publisher is back.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Decision, StreamStatus
from likeness.errors import Forbidden, InvalidInput
from likeness.services.people import PeopleService, Upload
from likeness.services.streams import (
    FrameStats,
    StreamOptions,
    StreamRecords,
    StreamService,
    check_stream_url,
    masked_url,
    redacted,
)
from likeness.store import Database
from tests.conftest import DATA, data_file, free_port

CLIP = "video/hamilton_clip.mp4"
FFMPEG = shutil.which("ffmpeg")
# Short waits, so that a drop and a reconnection take seconds.
FAST = StreamOptions(open_timeout_s=3, read_timeout_s=3, backoff_first_s=0.3,
                     backoff_max_s=1, record_every_s=1, status_every_s=0.3)


# ---------------------------------------------------------------- an RTSP camera

@dataclass(eq=False)
class _Reader:
    sock: socket.socket
    channels: dict[int, int] = field(default_factory=dict)  # publisher's -> reader's
    playing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, channel: int, payload: bytes) -> bool:
        mapped = self.channels.get(channel)
        if mapped is None or not self.playing:
            return True
        try:
            with self.lock:
                self.sock.sendall(b"$" + struct.pack(">BH", mapped, len(payload)) + payload)
            return True
        except OSError:
            return False


class RtspRelay:
    """Listens on 127.0.0.1:`port`; one publisher at a time, any number of readers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self._server.settimeout(0.2)
        self._lock = threading.Lock()
        self._sdp: bytes | None = None
        self._publisher: socket.socket | None = None
        self._readers: list[_Reader] = []
        self._sessions = itertools.count(10_000_001)
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True,
                                           name=f"rtsp-relay-{port}")
        self._accepting.start()

    @property
    def readers(self) -> int:
        with self._lock:
            return sum(1 for r in self._readers if r.playing)

    def close(self) -> None:
        self._closed.set()
        self._accepting.join(2)
        self._server.close()
        with self._lock:
            sockets = [r.sock for r in self._readers]
            if self._publisher is not None:
                sockets.append(self._publisher)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> RtspRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ connections

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                sock, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        reader: _Reader | None = None
        publishing = False
        stream = sock.makefile("rb")
        try:
            while not self._closed.is_set():
                first = stream.read(1)
                if not first:
                    return
                if first == b"$":  # an interleaved packet
                    channel, length = struct.unpack(">BH", stream.read(3))
                    payload = stream.read(length)
                    if len(payload) < length:
                        return
                    if publishing:
                        self._forward(channel, payload)
                    continue  # a reader's RTCP receiver reports: dropped
                request = first + self._read_head(stream)
                method, url, headers = self._parse(request)
                body = stream.read(int(headers.get("content-length", "0")))
                reply, reader, publishing = self._answer(sock, method, url, headers, body,
                                                         reader, publishing)
                if reader is not None:  # not between the bytes of a forwarded packet
                    with reader.lock:
                        sock.sendall(reply)
                else:
                    sock.sendall(reply)
        except (OSError, ValueError, struct.error):
            return
        finally:
            self._gone(sock, reader, publishing)
            with contextlib.suppress(OSError):
                sock.close()

    @staticmethod
    def _read_head(stream: object) -> bytes:
        lines = []
        while True:
            line = stream.readline(8192)  # type: ignore[attr-defined]
            if not line:
                raise ValueError("connection closed mid-request")
            lines.append(line)
            if line in (b"\r\n", b"\n"):
                return b"".join(lines)

    @staticmethod
    def _parse(request: bytes) -> tuple[str, str, dict[str, str]]:
        head, *lines = request.decode("latin-1").split("\r\n")
        method, url, _ = head.split(" ", 2)
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return method, url, headers

    def _answer(self, sock: socket.socket, method: str, url: str, headers: dict[str, str],
                body: bytes, reader: _Reader | None, publishing: bool
                ) -> tuple[bytes, _Reader | None, bool]:
        cseq = headers.get("cseq", "0")
        extra: dict[str, str] = {}
        content = b""
        status = "200 OK"
        if method == "OPTIONS":
            extra["Public"] = ("OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, "
                               "GET_PARAMETER")
        elif method == "ANNOUNCE":
            with self._lock:
                if self._publisher is not None:
                    status = "455 Method Not Valid in This State"
                else:
                    self._publisher, self._sdp = sock, body
                    publishing = True
        elif method == "DESCRIBE":
            with self._lock:
                sdp = self._sdp
            if sdp is None:
                status = "404 Not Found"
            else:
                content = sdp
                extra["Content-Type"] = "application/sdp"
                extra["Content-Base"] = url.rstrip("/") + "/"
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "interleaved=" not in transport:
                status = "461 Unsupported Transport"  # TCP only
            else:
                first = int(transport.split("interleaved=")[1].split("-")[0].split(";")[0])
                extra["Transport"] = transport
                extra["Session"] = headers.get("session") or str(next(self._sessions))
                if not publishing:
                    track = int("".join(c for c in url.rsplit("=", 1)[-1] if c.isdigit())
                                or 0)
                    if reader is None:
                        reader = _Reader(sock)
                        with self._lock:
                            self._readers.append(reader)
                    reader.channels[2 * track] = first
                    reader.channels[2 * track + 1] = first + 1
        elif method == "PLAY":
            with self._lock:
                ready = self._sdp is not None
            if reader is None or not ready:
                status = "455 Method Not Valid in This State"
            else:
                reader.playing = True
                extra["Range"] = "npt=0.000-"
        elif method in ("RECORD", "GET_PARAMETER", "SET_PARAMETER", "PAUSE"):
            pass
        elif method == "TEARDOWN":
            if reader is not None:
                reader.playing = False
        else:
            status = "501 Not Implemented"
        if "session" in headers and "Session" not in extra:
            extra["Session"] = headers["session"].split(";")[0]
        if content:
            extra["Content-Length"] = str(len(content))
        head = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: likeness-test-relay\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n"
        return head.encode("latin-1") + content, reader, publishing

    def _forward(self, channel: int, payload: bytes) -> None:
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            if not reader.send(channel, payload):
                self._drop(reader)

    def _drop(self, reader: _Reader) -> None:
        with self._lock:
            if reader in self._readers:
                self._readers.remove(reader)
        with contextlib.suppress(OSError):
            reader.sock.shutdown(socket.SHUT_RDWR)

    def _gone(self, sock: socket.socket, reader: _Reader | None, publishing: bool) -> None:
        if reader is not None:
            self._drop(reader)
        if publishing:  # the camera went: its readers lose their connections too
            with self._lock:
                self._publisher, self._sdp = None, None
                readers = list(self._readers)
            for each in readers:
                self._drop(each)


def ffmpeg() -> str:
    if FFMPEG is None:
        pytest.fail("ffmpeg is needed to serve the test camera (apt-get install ffmpeg)")
    return FFMPEG


def camera_clip(where: Path, seconds: float | None = None, start: float = 0,
                height: int | None = None) -> Path:
    """The Hamilton clip re-encoded as cameras send it: H.264 without B-frames and a
    keyframe every half second (a reader joins mid-stream), no sound."""
    out = where / f"clip-{start:g}-{seconds or 0:g}-{height or 0}.mp4"
    if not out.exists():
        command = [ffmpeg(), "-loglevel", "error", "-y", "-ss", str(start), "-i",
                   str(data_file(CLIP)), "-an", "-c:v", "libx264", "-preset", "veryfast",
                   "-g", "15", "-bf", "0", "-pix_fmt", "yuv420p"]
        if seconds:
            command += ["-t", str(seconds)]
        if height:
            command += ["-vf", f"scale=-2:{height}"]
        subprocess.run([*command, str(out)], check=True, timeout=120)
    return out


class Camera:
    """An RTSP camera on 127.0.0.1: the relay, and FFmpeg publishing `clip` to it in a
    loop at its own speed (-re)."""

    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip = clip
        self.relay = RtspRelay(port or free_port())
        self.url = f"rtsp://127.0.0.1:{self.relay.port}/cam"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
             "-i", str(self.clip), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
             self.url], stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """The camera drops: its stream stops mid-packet."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.kill()
        self.relay.close()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("camera-clips")


@pytest.fixture
def camera(clips: Path) -> Iterator[Camera]:
    opened = Camera(camera_clip(clips))
    yield opened
    opened.close()


# ---------------------------------------------------------------- helpers


def enroll(session: Session, people: PeopleService, name: str, folder: str) -> int:
    photos = [Upload(p.name, p.read_bytes()) for p in sorted((DATA / "faces" / folder).glob("*"))]
    return people.register(session, name, photos).person.person.id


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not {what} within {timeout} s (last: {last!r})")


@dataclass
class Running:
    """A stream run by StreamService in a thread, as a worker's slot runs it."""

    thread: threading.Thread
    stop: threading.Event
    frames: list[FrameStats] = field(default_factory=list)
    result: list[Any] = field(default_factory=list)

    def finish(self, timeout: float = 15) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the stream did not stop"
        return self.result[0]


def start(service: StreamService, db: Database, stream_id: int) -> Running:
    stop = threading.Event()
    running = Running(threading.Thread(target=lambda: None), stop)

    def run() -> None:
        running.result.append(service.run(db.sessions, stream_id, stop,
                                          on_frame=running.frames.append))

    running.thread = threading.Thread(target=run, daemon=True)
    running.thread.start()
    return running


def state(db: Database, stream_id: int) -> Any:
    with db.session() as session:
        return StreamRecords().get(session, stream_id)


def sightings(db: Database, **filters: Any) -> list[Any]:
    with db.session() as session:
        return StreamRecords().sightings(session, **filters).items


@pytest.fixture
def streams(engine: FaceEngine, settings: Settings) -> StreamService:
    service = StreamService.from_settings(engine, settings)
    return StreamService(service.engine, service.policy, FAST)


# ---------------------------------------------------------------- the tests


def test_camera_sighting_drop_reconnect_and_delete(session: Session, db: Database,
                                                   people: PeopleService,
                                                   streams: StreamService,
                                                   camera: Camera) -> None:
    lin = enroll(session, people, "lin", "lin_manuel_miranda")
    stream_id = StreamRecords().add(session, "front door", camera.url, fps=4).stream.id
    running = start(streams, db, stream_id)
    try:
        wait_for("up", lambda: state(db, stream_id).status == StreamStatus.UP, 30)
        seen = wait_for("a sighting of Lin", lambda: sightings(
            db, person_id=lin, decision=Decision.MATCH), 45)
        assert seen[0].stream == "front door" and seen[0].name == "lin"
        sighting = seen[0].sighting
        assert sighting.detections >= 2 and sighting.similarity > 0.4
        assert 0 < sighting.weight <= 1 and sighting.first_seen_at <= sighting.last_seen_at
        with db.session() as other:
            assert StreamRecords().sighting_thumbnail(other, sighting.id)[:2] == b"\xff\xd8"
        up = state(db, stream_id)
        assert up.stream.frames > 0 and up.stream.last_frame_at is not None
        assert [p.name for p in up.people] == ["lin"]
        assert all(f.latency_ms < 2000 and f.stream_id == stream_id for f in running.frames)

        camera.kill()  # the camera drops
        dropped = wait_for("reconnecting", lambda: (
            s := state(db, stream_id)).status == StreamStatus.RECONNECTING and s, 20)
        assert dropped.error
        frames = dropped.stream.frames
        time.sleep(1.0)  # a failed attempt or two, with backoff
        assert "404" in state(db, stream_id).error  # the camera's server: no stream
        camera.start()  # back, on the same address
        wait_for("up again", lambda: (s := state(db, stream_id)).status == StreamStatus.UP
                 and s.stream.frames > frames, 30)

        with db.session() as other:
            StreamRecords().delete(other, stream_id)
        assert running.finish() is None  # stopped: the stream is gone
        wait_for("the camera's reader gone", lambda: camera.relay.readers == 0, 5)
    finally:
        running.stop.set()


def test_a_stopped_stream_is_down_and_keeps_its_sightings(session: Session, db: Database,
                                                          people: PeopleService,
                                                          streams: StreamService,
                                                          camera: Camera) -> None:
    enroll(session, people, "lin", "lin_manuel_miranda")
    stream_id = StreamRecords().add(session, "hall", camera.url, fps=3).stream.id
    running = start(streams, db, stream_id)
    wait_for("a sighting", lambda: sightings(db, stream_id=stream_id), 45)
    running.stop.set()  # the worker stops
    assert running.finish() == StreamStatus.DOWN
    stopped = state(db, stream_id)
    assert stopped.status == StreamStatus.DOWN and "no worker" in stopped.error
    found = sightings(db, stream_id=stream_id)
    assert found and all(s.sighting.detections >= FAST.min_detections for s in found)
    assert {s.sighting.decision for s in found} <= set(Decision)


def test_a_file_stream_is_paced_and_ends(tmp_path: Path, clips: Path, session: Session,
                                         db: Database, people: PeopleService,
                                         streams: StreamService) -> None:
    lin = enroll(session, people, "lin", "lin_manuel_miranda")
    clip = camera_clip(clips, seconds=3, start=3)  # Lin, facing the camera
    records = StreamRecords(allow_server_paths=True)
    stream_id = records.add(session, "file", str(clip), fps=4).stream.id
    started = time.monotonic()
    running = start(streams, db, stream_id)
    assert running.finish(timeout=30) == StreamStatus.DOWN
    assert time.monotonic() - started >= 2.5  # read at its own speed, not at once
    ended = state(db, stream_id)
    assert ended.status == StreamStatus.DOWN and ended.error == "the stream ended"
    assert 8 <= ended.stream.frames <= 14  # 3 s at 4 fps
    assert {s.sighting.person_id for s in sightings(db, decision=Decision.MATCH)} == {lin}


def test_unreachable_cameras_are_retried_with_backoff(session: Session, db: Database,
                                                      streams: StreamService) -> None:
    port = free_port()  # nobody listens there
    stream_id = StreamRecords().add(session, "gone",
                                    f"rtsp://cam:s3cret@127.0.0.1:{port}/x").stream.id
    running = start(streams, db, stream_id)
    try:
        failing = wait_for("reconnecting", lambda: (
            s := state(db, stream_id)).status == StreamStatus.RECONNECTING and s, 20)
        assert "cannot open the stream" in failing.error and "trying again" in failing.error
        assert "s3cret" not in failing.error  # errors are shown to viewers
    finally:
        running.stop.set()
    assert running.finish() == StreamStatus.DOWN


def test_stream_url_rules(tmp_path: Path) -> None:
    # Cameras live on local networks: RTSP may name any address, with credentials.
    for url in ("rtsp://192.168.1.20:554/stream1", "rtsp://admin:secret@10.0.0.5/h264",
                "rtsps://cam.local/live", "RTSP://127.0.0.1/cam"):
        assert check_stream_url(url) == url
    # http(s) passes URL ingest's SSRF rules unless private addresses are allowed.
    for url in ("http://127.0.0.1:8080/cam.m3u8", "https://10.1.2.3/live.m3u8",
                "http://localhost/mjpeg", "http://[::1]/x", "http://169.254.169.254/latest"):
        with pytest.raises(InvalidInput, match="private, loopback or link-local"):
            check_stream_url(url)
        assert check_stream_url(url, allow_private=True) == url
    for url in ("ftp://host/x", "cam", "javascript:alert(1)", "rtsp:///nohost",
                "rtsp://h:99999/x", "rtsp://cam/a b", "", "rtsp://" + "a" * 3000):
        with pytest.raises(InvalidInput):
            check_stream_url(url)
    # Server files only where server paths are allowed.
    video = tmp_path / "cam.mp4"
    video.write_bytes(b"x")
    with pytest.raises(Forbidden):
        check_stream_url(str(video))
    assert check_stream_url(str(video), allow_server_paths=True) == str(video)
    assert check_stream_url(f"file://{video}", allow_server_paths=True) == str(video)
    with pytest.raises(InvalidInput):
        check_stream_url("relative/cam.mp4", allow_server_paths=True)
    with pytest.raises(InvalidInput):
        check_stream_url(str(tmp_path / "missing.mp4"), allow_server_paths=True)
    # Listed to viewers without the password.
    assert masked_url("rtsp://admin:secret@10.0.0.5:554/h264") == \
        "rtsp://admin:***@10.0.0.5:554/h264"
    assert masked_url("rtsp://10.0.0.5/h264") == "rtsp://10.0.0.5/h264"
    url = "rtsp://admin:secret@10.0.0.5/h264"  # FFmpeg's errors quote the URL
    assert redacted(f"Server returned 404 Not Found: '{url}'", url) == \
        "Server returned 404 Not Found: 'rtsp://admin:***@10.0.0.5/h264'"


def test_stream_fields_are_checked(session: Session) -> None:
    records = StreamRecords()
    with pytest.raises(InvalidInput):
        records.add(session, " ", "rtsp://cam/x")
    for fps in (0, -1, 31):
        with pytest.raises(InvalidInput):
            records.add(session, "cam", "rtsp://cam/x", fps=fps)
    assert records.page(session).total == 0  # nothing half-added
    added = records.add(session, "cam", "rtsp://u:p@cam/x")
    assert added.stream.fps == 5 and added.status == StreamStatus.STARTING
    assert added.url == "rtsp://u:***@cam/x"
