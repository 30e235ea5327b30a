"""Notifications on the real stack: webhooks received by a real HTTP server on loopback with
their signatures checked, delivered by a real worker (retries with backoff included), the
SSRF rules at creation and at delivery, and MQTT through a real broker (Debian's
mosquitto, started on a free port) that is stopped and started again meanwhile."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import DeliveryStatus
from likeness.errors import InvalidInput
from likeness.jobs.queue import JobQueue, WorkerRuntime, WorkerThread
from likeness.services.clusters import ClusterService, InlineClustering
from likeness.services.faces import Thresholds
from likeness.services.notifications import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    EVENTS,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    MqttPublisher,
    NotificationService,
    topic_part,
    verify,
)
from likeness.services.people import PeopleService, Upload
from likeness.services.videos import ScanOptions, VideoRecords, VideoService
from likeness.storage import ObjectStorage
from likeness.store import Database
from likeness.store import notifications as store
from likeness.store.models import WebhookDelivery
from tests.conftest import DATA, data_file, free_port

CLIP = "video/hamilton_clip.mp4"
SIGHTING = {"stream": {"id": 1, "name": "Front door"},
            "person": {"id": 7, "name": "Lin-Manuel Miranda"}, "similarity": 0.61}


# ---------------------------------------------------------------- a real receiver

@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on loopback that records each POST and answers with the next of
    `answers` (the last one again once they run out)."""

    answers: list[int]
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def record(self, received: Received) -> int:
        with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived "
                                     f"within {timeout:g} s")
            return list(self.requests)


@contextlib.contextmanager
def receiving(*answers: int) -> Iterator[Receiver]:
    receiver = Receiver(list(answers) or [200])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = receiver.record(Received(time.monotonic(), dict(self.headers), body))
            answer = b"ok" if code < 300 else b"receiver is down"
            self.send_response(code)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/likeness"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def queue(db: Database, settings: Settings) -> JobQueue:
    return JobQueue(db, settings)


@pytest.fixture
def notifications(settings: Settings, queue: JobQueue) -> NotificationService:
    return NotificationService.from_settings(settings, queue)


@pytest.fixture
def worker(queue: JobQueue, engine: FaceEngine, db: Database, settings: Settings
           ) -> Iterator[WorkerThread]:
    thread = WorkerThread(queue, WorkerRuntime(engine, db, settings,
                                               ObjectStorage.from_settings(settings)))
    thread.start()
    yield thread
    thread.stop()


def deliveries(session: Session) -> list[WebhookDelivery]:
    session.expire_all()
    return list(session.query(WebhookDelivery).order_by(WebhookDelivery.id))


def jobs(session: Session) -> list[tuple[str, dict, str]]:
    return [tuple(row) for row in session.execute(text(  # type: ignore[misc]
        "SELECT task_name, args, status FROM procrastinate_jobs ORDER BY id"))]


def wait_until(check: Any, timeout: float = 40, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not met within {timeout:g} s"
        time.sleep(0.2)


def signed_by(secret: str, request: Received) -> bool:
    return verify(secret, request.body, request.headers[SIGNATURE_HEADER])


# ---------------------------------------------------------------- webhooks

def test_events_are_written_with_the_publishers_transaction(
        session: Session, notifications: NotificationService) -> None:
    hook = notifications.create_webhook(session, "http://127.0.0.1:9/a", ["sighting"],
                                        allow_private=True).webhook
    other = notifications.create_webhook(session, "http://127.0.0.1:9/b", ["video.tagged"],
                                         allow_private=True).webhook
    gone = notifications.create_webhook(session, "http://127.0.0.1:9/c", list(EVENTS),
                                        allow_private=True).webhook
    notifications.revoke_webhook(session, gone.id)

    notifications.publish(session, "sighting", SIGHTING)
    session.rollback()  # the publisher's change failed: nobody is told
    assert deliveries(session) == [] and jobs(session) == []

    notifications.publish(session, "sighting", SIGHTING)
    session.commit()
    [delivery] = deliveries(session)  # the sighting subscriber only; not the revoked one
    assert (delivery.webhook_id, delivery.event, delivery.status, delivery.attempts) == \
        (hook.id, "sighting", DeliveryStatus.PENDING, 0)
    assert delivery.payload["event"] == "sighting" and delivery.payload["data"] == SIGHTING
    assert set(delivery.payload) == {"event", "id", "created_at", "data"}
    assert jobs(session) == [("deliver_webhook", {"delivery_id": delivery.id}, "todo")]
    assert other.id != hook.id
    with pytest.raises(ValueError, match="unknown event"):
        notifications.publish(session, "nonsense", {})


def test_a_delivery_is_signed_received_and_logged_once(
        session: Session, notifications: NotificationService, worker: WorkerThread) -> None:
    with receiving(200) as receiver:
        new = notifications.create_webhook(session, receiver.url, ["sighting"],
                                           allow_private=True)
        assert new.secret.startswith("whsec_") and len(new.secret) > 40
        notifications.publish(session, "sighting", SIGHTING, topic=("Front door", "Lin"))
        session.commit()
        [request] = receiver.wait_for(1)
        [delivery] = deliveries(session)
        assert signed_by(new.secret, request)
        assert not verify(new.secret, request.body + b" ", request.headers[SIGNATURE_HEADER])
        assert request.headers[EVENT_HEADER] == "sighting"
        assert request.headers[DELIVERY_HEADER] == str(delivery.id)
        assert request.headers["Content-Type"] == "application/json"
        assert request.json == {"event": "sighting", "id": delivery.payload["id"],
                                "created_at": delivery.payload["created_at"],
                                "data": SIGHTING}
        wait_until(lambda: deliveries(session)[0].status == DeliveryStatus.DELIVERED,
                   what="the delivery recorded")
        [delivery] = deliveries(session)
        assert (delivery.attempts, delivery.response_status, delivery.error) == (1, 200, None)
        assert delivery.delivered_at is not None
        # Delivered: the same job run again (a crash after the POST, say) sends nothing.
        assert notifications.deliver(session, delivery.id) is None
        assert len(receiver.requests) == 1


def test_a_failing_receiver_is_retried_with_backoff(
        session: Session, notifications: NotificationService, worker: WorkerThread) -> None:
    with receiving(500, 200) as receiver:
        new = notifications.create_webhook(session, receiver.url, ["video.tagged"],
                                           allow_private=True)
        notifications.publish(session, "video.tagged", {"video": {"id": 3}})
        session.commit()
        first, second = receiver.wait_for(2, timeout=60)
        wait_until(lambda: deliveries(session)[0].status == DeliveryStatus.DELIVERED,
                   what="the retried delivery recorded")
    assert second.at - first.at >= 3  # procrastinate's backoff: 3 s before the 2nd attempt
    assert first.body == second.body and signed_by(new.secret, second)
    assert first.headers[DELIVERY_HEADER] == second.headers[DELIVERY_HEADER]
    [delivery] = deliveries(session)
    assert (delivery.attempts, delivery.response_status, delivery.error) == (2, 200, None)
    assert [status for _, _, status in jobs(session)] == ["succeeded"]


def test_a_delivery_gives_up_after_its_last_attempt(
        session: Session, notifications: NotificationService) -> None:
    with receiving(503) as receiver:
        notifications.create_webhook(session, receiver.url, ["sighting"], allow_private=True)
        notifications.publish(session, "sighting", SIGHTING)
        session.commit()
        [delivery] = deliveries(session)
        for attempt in range(1, MAX_ATTEMPTS + 1):  # what the job's retries do, at once
            done = notifications.deliver(session, delivery.id)
            assert done is not None and done.attempts == attempt
            assert done.status == (DeliveryStatus.FAILED if attempt == MAX_ATTEMPTS
                                   else DeliveryStatus.PENDING)
        assert notifications.deliver(session, delivery.id) is None  # given up: never again
        assert len(receiver.requests) == MAX_ATTEMPTS
    [delivery] = deliveries(session)
    assert delivery.status == DeliveryStatus.FAILED and delivery.response_status == 503
    assert delivery.error == "HTTP 503: receiver is down"


def test_private_targets_need_allow_private_at_creation_and_at_delivery(
        session: Session, notifications: NotificationService) -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/",
                "http://[::1]/", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(InvalidInput, match="private, loopback or link-local"):
            notifications.create_webhook(session, url, ["sighting"])
    for url, message in (("ftp://example.com/", "http or https"),
                         ("http://user:pw@example.com/", "credentials"),
                         ("http://no-such-host.invalid/", "does not resolve")):
        with pytest.raises(InvalidInput, match=message):
            notifications.create_webhook(session, url, ["sighting"])
    with pytest.raises(InvalidInput, match="events must be some of"):
        notifications.create_webhook(session, "http://127.0.0.1/", ["sightings"],
                                     allow_private=True)
    assert notifications.webhooks(session) == []

    with receiving(200) as receiver:
        # A host that resolved to a public address when the webhook was made and to a
        # private one now (DNS rebinding): checked again at delivery, never sent there.
        hook = store.add_webhook(session, receiver.url, ["sighting"], False, "test")
        session.commit()
        notifications.publish(session, "sighting", SIGHTING)
        session.commit()
        [delivery] = deliveries(session)
        done = notifications.deliver(session, delivery.id)
        assert done is not None and done.status == DeliveryStatus.FAILED
        assert "private, loopback or link-local" in (done.error or "")
        assert receiver.requests == [] and hook.id == delivery.webhook_id


def test_a_revoked_webhook_gets_nothing_more(
        session: Session, notifications: NotificationService) -> None:
    with receiving(200) as receiver:
        hook = notifications.create_webhook(session, receiver.url, ["sighting"],
                                            allow_private=True).webhook
        notifications.publish(session, "sighting", SIGHTING)
        session.commit()
        notifications.revoke_webhook(session, hook.id)
        [delivery] = deliveries(session)
        done = notifications.deliver(session, delivery.id)
        assert done is not None and done.status == DeliveryStatus.FAILED
        assert done.error == "the webhook was revoked" and receiver.requests == []


def test_secrets_are_derived_not_stored(session: Session, notifications: NotificationService,
                                        settings: Settings, queue: JobQueue) -> None:
    first = notifications.create_webhook(session, "http://127.0.0.1/1", ["sighting"],
                                         allow_private=True)
    second = notifications.create_webhook(session, "http://127.0.0.1/2", ["sighting"],
                                          allow_private=True)
    assert first.secret != second.secret
    again = NotificationService.from_settings(settings, queue)  # another process, say
    assert again._secret(session, first.webhook.id) == first.secret
    stored = " ".join(str(v) for row in session.execute(text(
        "SELECT * FROM webhooks")).all() for v in row)
    assert first.secret not in stored and second.secret not in stored
    key = session.execute(text("SELECT secret FROM server_secrets WHERE name = 'webhooks'")
                          ).scalar_one()
    assert len(key) == 32


def test_topic_parts_are_single_safe_levels() -> None:
    assert topic_part("Front door") == "front_door"
    assert topic_part("Lin-Manuel Miranda") == "lin-manuel_miranda"
    assert topic_part("a/b+c#d") == "a_b_c_d"
    assert topic_part("  ") == "_"


# ---------------------------------------------------------------- events from the services

def enroll(session: Session, people: PeopleService, name: str, folder: str) -> int:
    photos = [Upload(p.name, p.read_bytes()) for p in sorted((DATA / "faces" / folder).glob("*"))]
    return people.register(session, name, photos).person.person.id


def test_a_scan_through_the_worker_tells_who_is_in_the_video(
        session: Session, db: Database, people: PeopleService, queue: JobQueue,
        notifications: NotificationService, worker: WorkerThread) -> None:
    lin = enroll(session, people, "Lin-Manuel Miranda", "lin_manuel_miranda")
    with receiving(200) as receiver:
        new = notifications.create_webhook(session, receiver.url, ["video.tagged"],
                                           allow_private=True)
        video, _ = VideoRecords.register(session, data_file(CLIP), "hamilton", ScanOptions())
        queue.defer_scan(video.id)
        [request] = receiver.wait_for(1, timeout=120)
        assert signed_by(new.secret, request)
    event = request.json
    assert event["event"] == "video.tagged"
    data = event["data"]
    assert data["video"] == {"id": video.id, "source": "hamilton"}
    assert data["person"] == {"id": lin, "name": "Lin-Manuel Miranda"}
    assert data["source"] == "scan" and data["confidence"] > 0.4
    assert any(b - a >= 3000 for a, b in data["segments"])  # he is on screen for seconds


def test_review_items_and_named_clusters_are_published(
        session: Session, db: Database, engine: FaceEngine, settings: Settings,
        people: PeopleService, notifications: NotificationService) -> None:
    notifications.create_webhook(session, "http://127.0.0.1:9/", list(EVENTS),
                                 allow_private=True)
    clusters = ClusterService.from_settings(settings, notifier=notifications)
    inline = InlineClustering(db.sessions, clusters, engine.model_name)
    videos = VideoService.from_settings(engine, settings, inline, notifier=notifications)
    video, _ = VideoRecords.register(session, data_file(CLIP), "hamilton", ScanOptions())
    videos.scan(db.sessions, video.id)  # nobody enrolled: no tags, no reviews
    assert deliveries(session) == []
    biggest = max(clusters.page(session, None).items, key=lambda c: c.size)
    named = clusters.name(session, biggest.id, name="Somebody")
    [delivery] = deliveries(session)
    assert delivery.event == "cluster.named"
    assert delivery.payload["data"] == {
        "cluster_id": biggest.id, "scope": "videos", "event_id": None,
        "person": {"id": named.person_id, "name": "Somebody"}, "created": True,
        "enrolled": named.enrolled, "videos": [video.id], "sightings": 0}

    # No match but a wide review band: every track like him is proposed, and told.
    strict = VideoService(engine, Thresholds(match=0.99, review=0.2),
                          notifier=notifications)
    strict.scan(db.sessions, video.id)
    reviews = [d for d in deliveries(session) if d.event == "review.created"]
    items = session.execute(text(
        "SELECT r.id FROM review_items r JOIN tracks t ON t.id = r.track_id "
        "WHERE t.video_id = :v AND r.status = 'pending' ORDER BY r.id"), {"v": video.id}
    ).scalars().all()
    assert items and [d.payload["data"]["review_item_id"] for d in reviews] == list(items)
    first = reviews[0].payload["data"]
    assert first["video"] == {"id": video.id, "source": "hamilton"}
    assert first["person"] == {"id": named.person_id, "name": "Somebody"}
    assert first["similarity"] >= 0.2 and first["first_ms"] <= first["last_ms"]

    # Approving an item tags the video with the person: told as well, from the review.
    records = VideoRecords.from_settings(settings, notifier=notifications)
    records.approve(session, items[0])
    tagged = [d.payload["data"] for d in deliveries(session) if d.event == "video.tagged"]
    assert len(tagged) == 1 and tagged[0]["source"] == "review"
    assert tagged[0]["person"] == {"id": named.person_id, "name": "Somebody"}


def test_retro_matching_after_an_enrollment_is_published(
        session: Session, db: Database, engine: FaceEngine, settings: Settings,
        notifications: NotificationService) -> None:
    """A person enrolled after the scan is found in the stored tracks: the tag (source
    retro) and each new review item are told, once, as for a scan."""
    notifications.create_webhook(session, "http://127.0.0.1:9/", list(EVENTS),
                                 allow_private=True)
    video, _ = VideoRecords.register(session, data_file(CLIP), "hamilton", ScanOptions())
    VideoService.from_settings(engine, settings).scan(db.sessions, video.id)
    assert deliveries(session) == []
    people = PeopleService.from_settings(engine, settings, notifications)
    lin = enroll(session, people, "Lin-Manuel Miranda", "lin_manuel_miranda")
    published = [d.payload["data"] for d in deliveries(session)]
    tagged = [d for d in published if "confidence" in d]
    assert [(t["person"]["id"], t["source"], t["video"]["id"]) for t in tagged] == [
        (lin, "retro", video.id)]
    proposed = session.execute(text(
        "SELECT r.id FROM review_items r JOIN tracks t ON t.id = r.track_id "
        "WHERE t.video_id = :v ORDER BY r.id"), {"v": video.id}).scalars().all()
    assert proposed and sorted(d["review_item_id"] for d in published
                               if "review_item_id" in d) == list(proposed)
    photos = sorted((DATA / "faces" / "lin_manuel_miranda").glob("*"))
    people.enroll(session, lin, [Upload(p.name, p.read_bytes()) for p in photos])
    assert len(deliveries(session)) == len(published)  # the same faces: nothing new


# ---------------------------------------------------------------- MQTT

def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).is_file()), None)
    if found is None:
        pytest.fail("the MQTT tests need Debian's mosquitto broker: apt-get install -y "
                    "mosquitto")
    return found


@dataclass
class Broker:
    port: int
    config: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._listening, timeout=10, what="mosquitto listening")

    def _listening(self) -> bool:
        assert self.process is not None and self.process.poll() is None, (
            "mosquitto exited: " + (self.process.stderr.read().decode()  # type: ignore[union-attr]
                                    if self.process else ""))
        with contextlib.suppress(OSError), \
                __import__("socket").create_connection(("127.0.0.1", self.port), 0.5):
            return True
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # it saves its persistence file on the way out
            self.process.wait(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """mosquitto on a free loopback port, anonymous clients allowed, keeping its
    subscriptions and queued messages over a restart."""
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                      f"persistence true\npersistence_location {tmp_path}/\n"
                      f"user {getpass.getuser()}\n"  # as root, it would drop to "mosquitto"
                      "log_dest stderr\nlog_type error\n")
    running = Broker(port, config)
    running.start()
    yield running
    running.stop()


class Subscriber:
    """A paho client that keeps its session (QoS 1) and collects what arrives."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.arrived = threading.Condition()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"test-subscriber-{broker.port}",
                                  clean_session=False)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscription was not acknowledged"

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> list[mqtt.MQTTMessage]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout), \
                f"{len(self.messages)} of {count} MQTT messages arrived"
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_events_reach_an_mqtt_broker_and_survive_its_restart(
        session: Session, settings: Settings, queue: JobQueue, broker: Broker) -> None:
    notifications = NotificationService.from_settings(
        settings.model_copy(update={"mqtt_url": broker.url, "mqtt_topic_prefix": "home"}),
        queue)
    publisher = notifications.mqtt
    assert publisher is not None and publisher.connected.wait(10)
    subscriber = Subscriber(broker, "home/#")
    try:
        notifications.publish(session, "sighting", SIGHTING, topic=("Front door", "unknown"))
        session.rollback()  # not committed: not published
        with session.begin_nested():  # nor when only a savepoint of the change is released
            notifications.publish(session, "sighting", SIGHTING, topic=("nested", "unknown"))
        session.rollback()
        notifications.publish(session, "sighting", SIGHTING,
                              topic=("Front door", "Lin-Manuel Miranda"))
        session.commit()
        [message] = subscriber.wait_for(1)
        assert message.topic == "home/sighting/front_door/lin-manuel_miranda"
        assert message.qos == 1 and not message.retain
        body = json.loads(message.payload)
        assert body["event"] == "sighting" and body["data"] == SIGHTING
        assert set(body) == {"event", "id", "created_at", "data"}

        broker.stop()  # the broker goes away: publishing neither fails nor blocks
        wait_until(lambda: not publisher.connected.is_set(), timeout=10,
                   what="the disconnection noticed")
        started = time.monotonic()
        notifications.publish(session, "cluster.named", {"cluster_id": 5},
                              topic=("Somebody",))
        session.commit()
        assert time.monotonic() - started < 0.5
        broker.start()  # back: the publisher reconnects and sends what it kept
        messages = subscriber.wait_for(2, timeout=40)
        assert messages[1].topic == "home/cluster.named/somebody"
        assert json.loads(messages[1].payload)["data"] == {"cluster_id": 5}
        assert publisher.connected.is_set()
        time.sleep(0.5)
        assert len(subscriber.messages) == 2  # the rolled-back ones never came
    finally:
        subscriber.close()
        MqttPublisher.close_all()


def test_a_bad_mqtt_url_turns_mqtt_off_without_failing_requests(
        settings: Settings, queue: JobQueue) -> None:
    bad = settings.model_copy(update={"mqtt_url": "http://broker.example"})
    assert NotificationService.from_settings(bad, queue).mqtt is None
    MqttPublisher.close_all()


def test_a_cli_command_sends_its_mqtt_messages_before_it_ends(
        db: Database, settings: Settings, engine: FaceEngine, broker: Broker,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`likeness enroll` after a scan: retro-matching tags the video, and the message is
    at the broker once the command has returned (a short process would lose it)."""
    from typer.testing import CliRunner

    from likeness.cli import app
    from likeness.config import get_settings

    with db.session() as session:
        video, _ = VideoRecords.register(session, data_file(CLIP), "hamilton", ScanOptions())
    VideoService.from_settings(engine, settings).scan(db.sessions, video.id)
    subscriber = Subscriber(broker, "likeness/#")
    for name, value in {"LIKENESS_MODEL_DIR": str(tmp_path / "models"),
                        "LIKENESS_DATA_DIR": str(settings.data_dir),
                        "LIKENESS_MQTT_URL": broker.url}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        photos = sorted((DATA / "faces" / "lin_manuel_miranda").glob("*"))
        result = CliRunner().invoke(app, ["enroll", "Lin-Manuel Miranda",
                                          *map(str, photos)])
        assert result.exit_code == 0, result.output
        assert "found in 1 scanned video(s)" in result.output
        assert MqttPublisher._shared == {}  # closed by the command, after flushing
        topics = [m.topic for m in subscriber.wait_for(1, timeout=2)]
        assert f"likeness/video.tagged/{video.id}/lin-manuel_miranda" in topics
    finally:
        subscriber.close()
        get_settings.cache_clear()
