"""Live recognition over the WebSocket /ws/recognize, on the real stack: the Hamilton clip
sent as JPEG frames, Lin-Manuel Miranda enrolled from his photo. His track is named once
enough frames arrive and stays named, strangers are not; track ids hold from frame to
frame; bad frames are answered with an error and the connection goes on; credentials are
the API's (a key, or a session cookie from this site's pages); when frames come faster
than they are recognised, stale ones are dropped and latency stays bounded."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.media.video import sample_frames
from likeness.services.access import AccessService
from likeness.services.events import EventRecords
from likeness.services.people import PeopleService, Upload
from likeness.storage import ObjectStorage
from likeness.store import Database
from tests.conftest import ADMIN_KEY, AUTH, data_file

CLIP = "video/hamilton_clip.mp4"
LIN = "Lin-Manuel Miranda"
PATH = "/ws/recognize"
PASSWORD = "correct horse battery"
# Clip frames (at 29.97 fps) where Lin-Manuel is alone on screen, and where only strangers
# are (tests/data README: 20-85 nobody known, a group of strangers from 215).
LIN_ALONE = range(90, 211)
STRANGERS = [*range(20, 84), *range(215, 275)]


@pytest.fixture(scope="module")
def frames() -> list[tuple[int, bytes]]:
    """The clip at 10 frames per second: (clip frame index, JPEG bytes), 92 frames."""
    return [(frame.index, _jpeg(frame.image))
            for frame in sample_frames(data_file(CLIP), fps=10)]


@pytest.fixture
def live(settings: Settings, engine: FaceEngine, db: Database) -> Iterator[TestClient]:
    """An app of its own (its own throttle of wrong credentials), with no credentials
    sent unless a test says so."""
    app = create_app(settings, engine=engine, database=db)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def lin(db: Database, people: PeopleService) -> int:
    photo = data_file("faces/lin_manuel_miranda/lin_1.png")
    with db.session() as session:
        return people.register(session, LIN, [Upload(photo.name, photo.read_bytes())]
                               ).person.person.id


def _jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def _iou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) -
                                                                max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _refusal(client: TestClient, **headers: str) -> WebSocketDisconnect:
    """How the server closes a connection made with these headers."""
    with client.websocket_connect(PATH, headers=headers) as socket, \
            pytest.raises(WebSocketDisconnect) as closed:
        socket.send_bytes(b"\xff\xd8\xff")
        socket.receive_json()
    return closed.value


def test_lin_manuel_is_named_as_his_track_grows_and_strangers_are_not(
        live: TestClient, lin: int, frames: list[tuple[int, bytes]]) -> None:
    answers: list[dict[str, Any]] = []
    with live.websocket_connect(PATH, headers=AUTH) as socket:
        for number, (_, data) in enumerate(frames):  # one at a time: nothing is dropped
            socket.send_bytes(data)
            answers.append(socket.receive_json())
            assert answers[-1]["frame"] == number
            assert answers[-1]["dropped"] == 0
    by_clip = dict(zip([index for index, _ in frames], answers, strict=True))
    assert all(a["width"] == 640 and a["height"] == 360 for a in answers)
    assert all(0 < a["latency_ms"] < 5000 for a in answers)

    # Lin-Manuel alone: one face, one track throughout, named; the decision, taken on the
    # track's mean embedding, firms up from frame to frame and never falls back.
    alone = [a for index, a in by_clip.items() if index in LIN_ALONE]
    assert len(alone) >= 35
    assert all(len(a["faces"]) == 1 for a in alone)
    his = [a["faces"][0] for a in alone]
    assert len({face["track_id"] for face in his}) == 1
    assert all(face["person"] == {"person_id": lin, "name": LIN} for face in his)
    decisions = [face["decision"] for face in his]
    first_match = decisions.index("match")
    assert first_match <= 3
    assert set(decisions[first_match:]) == {"match"}
    similarities = [face["similarity"] for face in his]
    assert similarities[-1] > similarities[0] + 0.1
    assert similarities[-1] > 0.6

    # Nobody else is named: strangers (and Alex Lacamoire beside Lin-Manuel at the start)
    # are unknown, with no person.
    strangers = [face for index, a in by_clip.items() if index in STRANGERS
                 for face in a["faces"]]
    assert len(strangers) >= 60
    assert all(face["decision"] == "unknown" and face["person"] is None
               for face in strangers)
    opening = by_clip[0]["faces"]
    assert len(opening) == 2
    named = [face for face in opening if face["person"]]
    assert len(named) == 1 and named[0]["person"]["name"] == LIN
    assert named[0]["decision"] in ("review", "match")

    # Track ids hold: a face in the same place in the next frame keeps its track, and a
    # track id never comes back for someone else after a cut.
    kept = 0
    for before, after in itertools.pairwise(answers):
        for face in after["faces"]:
            for earlier in before["faces"]:
                if _iou(face["bbox"], earlier["bbox"]) > 0.5:
                    assert face["track_id"] == earlier["track_id"], (before, after)
                    kept += 1
    assert kept >= 150
    group = [a for index, a in by_clip.items() if index >= 215]
    group_tracks = {face["track_id"] for a in group for face in a["faces"]}
    assert len(group_tracks) <= 7  # 4-6 people, each followed through the shot
    assert not group_tracks & {face["track_id"] for face in his}


def test_bad_frames_are_answered_with_an_error_and_the_socket_goes_on(
        live: TestClient, lin: int, settings: Settings) -> None:
    good = (data_file("faces/lin_manuel_miranda/lin_1.png"))
    jpeg = _jpeg(cv2.imread(str(good)))
    png = good.read_bytes()
    too_large = b"\xff\xd8\xff\xe0" + bytes(settings.max_upload_bytes)
    with live.websocket_connect(PATH, headers=AUTH) as socket:
        socket.send_text("hello")
        assert "binary JPEG" in socket.receive_json()["error"]
        socket.send_bytes(png)
        answer = socket.receive_json()
        assert answer["frame"] == 0 and "JPEG" in answer["error"]
        socket.send_bytes(b"")
        assert socket.receive_json() == {"frame": 1, "error": "the file is empty"}
        socket.send_bytes(too_large)
        answer = socket.receive_json()
        assert answer["frame"] == 2 and "above the" in answer["error"]
        socket.send_bytes(jpeg[: len(jpeg) // 2])  # a JPEG cut short: fails to decode
        answer = socket.receive_json()
        assert answer["frame"] == 3 and answer["error"] and "faces" not in answer
        socket.send_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
        answer = socket.receive_json()
        assert answer["frame"] == 4 and answer["error"]
        socket.send_bytes(jpeg)  # and the connection still works
        answer = socket.receive_json()
        assert answer["frame"] == 5 and "error" not in answer
        assert [face["person"]["name"] for face in answer["faces"]] == [LIN]
        assert answer["faces"][0]["decision"] == "match"


def test_credentials_are_the_apis(live: TestClient, db: Database, lin: int,
                                  settings: Settings) -> None:
    refused = _refusal(live)
    assert refused.code == 1008 and "credentials are required" in (refused.reason or "")
    refused = _refusal(live, **{"X-API-Key": "lk_wrong-key-0123456789"})
    assert refused.code == 1008 and "wrong or revoked" in (refused.reason or "")
    refused = _refusal(live, Authorization="Bearer lk_wrong-key-0123456789")
    assert refused.code == 1008

    with db.session() as session:
        viewer_key = AccessService().create_key(session, "viewer", Role.VIEWER).secret
        AccessService().add_user(session, "viewer", PASSWORD, Role.VIEWER)
        event = EventRecords.from_settings(ObjectStorage.from_settings(settings), settings
                                           ).create(session, "A wedding").event.id
        limited = AccessService().create_key(session, "guests", Role.VIEWER, event).secret
    refused = _refusal(live, **{"X-API-Key": limited})  # it sees its event, nothing else
    assert refused.code == 1008 and f"limited to event {event}" in (refused.reason or "")
    frame = _jpeg(cv2.imread(str(data_file("faces/lin_manuel_miranda/lin_1.png"))))
    for headers in ({"X-API-Key": viewer_key}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        with live.websocket_connect(PATH, headers=headers) as socket:
            socket.send_bytes(frame)
            assert socket.receive_json()["faces"][0]["person"]["name"] == LIN

    # A session cookie, as the web UI's page sends it: only with this site's Origin, so
    # that another site's page cannot open a socket with its visitors' cookies.
    login = live.post("/auth/login", data={"username": "viewer", "password": PASSWORD})
    assert login.status_code == 200
    cookie = {"Cookie": f"likeness_session={login.cookies['likeness_session']}"}
    live.cookies.clear()
    for origin in (None, "https://evil.example", "null", "http://testserver.evil.example"):
        headers = cookie | ({"Origin": origin} if origin else {})
        refused = _refusal(live, **headers)
        assert refused.code == 1008 and "Origin" in (refused.reason or ""), origin
    with live.websocket_connect(PATH, headers=cookie | {"Origin": "http://testserver"}
                                ) as socket:
        socket.send_bytes(frame)
        assert socket.receive_json()["faces"][0]["person"]["name"] == LIN
    refused = _refusal(live, Cookie="likeness_session=expired-or-made-up",
                       Origin="http://testserver")
    assert refused.code == 1008 and "expired" in (refused.reason or "")


def test_stale_frames_are_dropped_so_latency_stays_bounded(
        live: TestClient, lin: int, frames: list[tuple[int, bytes]]) -> None:
    burst = [data for _, data in frames] * 2  # 184 frames, sent as fast as possible
    with live.websocket_connect(PATH, headers=AUTH) as socket:
        alone = []  # first, a few frames one at a time: what one frame takes here
        for data in burst[:5]:
            socket.send_bytes(data)
            alone.append(socket.receive_json()["latency_ms"])
        started = time.perf_counter()
        for data in burst:
            socket.send_bytes(data)
        answers = []
        last = len(burst) + 4
        while not answers or answers[-1]["frame"] != last:
            answers.append(socket.receive_json())
        waited_ms = (time.perf_counter() - started) * 1000
        socket.send_bytes(burst[0])  # and the connection is in step again
        after = socket.receive_json()
        assert after["frame"] == last + 1 and after["dropped"] == 0
    one = statistics.median(alone)
    numbers = [a["frame"] for a in answers]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert len(answers) + sum(a["dropped"] for a in answers) == len(burst)
    assert sum(a["dropped"] for a in answers) > len(burst) / 2
    # Queued, the last of 184 frames would wait for all the others (184 x one frame);
    # dropped, each answer waits at most for the frame under way, then its own.
    latencies = [a["latency_ms"] for a in answers]
    assert max(latencies) < max(6 * one, 1500), (one, latencies)
    assert waited_ms < max(len(answers) * 3 * one, 3000) + 1000, (one, waited_ms)
    assert all("faces" in a for a in answers)


def test_a_first_frame_is_recognised_as_post_recognize_does(
        live: TestClient, lin: int, frames: list[tuple[int, bytes]]) -> None:
    """A track of one detection: its mean embedding is the face's own, so the frame is
    answered as POST /recognize answers the same JPEG."""
    data = next(d for i, d in frames if i in LIN_ALONE)
    recognized = live.post("/recognize", files={"file": ("f.jpg", data, "image/jpeg")},
                           headers=AUTH).json()
    with live.websocket_connect(PATH, headers=AUTH) as socket:
        socket.send_bytes(data)
        answer = socket.receive_json()
    assert len(answer["faces"]) == len(recognized["faces"]) == 1
    assert _iou(answer["faces"][0]["bbox"], recognized["faces"][0]["bbox"]) > 0.99
    # One frame: the track's mean is the face itself.
    assert abs(answer["faces"][0]["similarity"] -
               recognized["faces"][0]["person"]["similarity"]) < 1e-3
