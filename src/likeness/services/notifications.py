"""Notifications: what happened (a sighting, a video tagged, a review item, a cluster
named) told to webhooks and to an MQTT broker.

Publishing happens inside the publisher's transaction: one `webhook_deliveries` row per
subscribed webhook and its `deliver_webhook` job are written with the rows that caused the
event, so a rolled-back change notifies nobody and a committed one is delivered even if
the process dies right after (the jobs are in the database). MQTT messages are handed to
the process's broker connection once the transaction commits; paho's network thread
sends them, so the request never waits on the broker.

A delivery POSTs the JSON envelope `{"event", "id", "created_at", "data"}` signed with
HMAC-SHA256 (`X-Likeness-Signature: sha256=<hex>` of the exact body), re-checking the
target's addresses against the SSRF rules each time (DNS answers change). Non-2xx answers
and network errors are retried with exponential backoff by the job queue; each attempt
updates the delivery row. A delivery that is not pending any more is never sent again.

Signing secrets are not stored: each is HMAC-SHA256 of a random server key (the
`server_secrets` table, shared by every process) and the webhook's id, so it can be
derived again whenever a delivery is signed, and is shown once, when the webhook is made.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import os
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session, SessionTransaction

from likeness.enums import DeliveryStatus
from likeness.errors import InvalidInput
from likeness.media.fetch import FetchPolicy, Target, _PinnedHTTP, _PinnedHTTPS, check_url
from likeness.services.pages import Page
from likeness.store import notifications as store

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from likeness.config import Settings
    from likeness.store.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

# What can be subscribed to. "sighting": a person (or an unknown face) arrived on a camera
# stream; "video.tagged": a video was tagged with a person (scan, review); "review.created":
# a video track went to review as maybe someone; "cluster.named": unknown faces were named.
EVENTS = ("sighting", "video.tagged", "review.created", "cluster.named")

EVENT_HEADER = "X-Likeness-Event"
DELIVERY_HEADER = "X-Likeness-Delivery"
SIGNATURE_HEADER = "X-Likeness-Signature"
USER_AGENT = "Likeness webhooks"
SECRET_PREFIX = "whsec_"
SERVER_KEY = "webhooks"  # the server_secrets row the webhooks' secrets derive from
# Attempts per delivery: the job queue waits 3, 9, 27, 81, 243, 729 and 2187 s between
# them (jobs/queue.py, DELIVERY_RETRY), about 55 minutes in all.
MAX_ATTEMPTS = 8
DELIVERY_TIMEOUT_S = 10.0  # connect, send and the answer's headers, per attempt
RESPONSE_KEPT = 300  # characters of a failed answer's body kept in the log
MQTT_QUEUE = 10_000  # QoS 1 messages kept while the broker is away; beyond, new ones are dropped
MQTT_QOS = 1


class Notifier(Protocol):
    """What publishers (scans, reviews, clusters, streams) are given."""

    def publish(self, session: Session, event: str, data: dict[str, Any],
                topic: Sequence[str] = ()) -> None: ...


class DeliveryQueue(Protocol):
    def defer_delivery(self, delivery_id: int, connection: Any | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class NewWebhook:
    webhook: Webhook
    secret: str  # shown once; derivable again only by the server


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt at a delivery went."""

    delivery_id: int
    status: DeliveryStatus  # PENDING: it will be tried again
    attempts: int
    response_status: int | None
    error: str | None


def sign(secret: str, body: bytes) -> str:
    """The X-Likeness-Signature of a body: "sha256=" and the hex HMAC-SHA256 of the body
    with the webhook's secret (the whole string, whsec_ included) as the key."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` (the header's value) signs `body`: what a receiver does."""
    return hmac.compare_digest(sign(secret, body), signature)


def topic_part(text: str) -> str:
    """A name made safe as one MQTT topic level: lower case, no separators or wildcards."""
    cleaned = "".join("_" if c in "/+#" or c.isspace() or ord(c) < 32 else c
                      for c in text.strip().lower())
    return cleaned[:100] or "_"


@dataclass(frozen=True)
class NotificationService:
    """Webhooks (their administration and deliveries) and MQTT."""

    queue: DeliveryQueue = field(compare=False)
    mqtt: MqttPublisher | None = field(default=None, compare=False)
    topic_prefix: str = "likeness"
    timeout_s: float = DELIVERY_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings, queue: DeliveryQueue) -> NotificationService:
        mqtt = MqttPublisher.shared(settings.mqtt_url) if settings.mqtt_url else None
        return cls(queue, mqtt, settings.mqtt_topic_prefix.strip("/") or "likeness")

    # ------------------------------------------------------------ webhooks

    def create_webhook(self, session: Session, url: str, events: Sequence[str], *,
                       allow_private: bool = False, created_by: str | None = None
                       ) -> NewWebhook:
        """A webhook for `events`, with its signing secret (shown this once). The URL must
        pass the SSRF rules (public addresses only) unless `allow_private`."""
        chosen = list(dict.fromkeys(events))
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown or not chosen:
            raise InvalidInput(f"events must be some of {', '.join(EVENTS)}"
                               + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        _check_target(url, allow_private)
        webhook = store.add_webhook(session, url, chosen, allow_private, created_by)
        secret = self._secret(session, webhook.id)
        session.commit()
        return NewWebhook(webhook, secret)

    def webhooks(self, session: Session) -> list[Webhook]:
        """The webhooks in use (revoked ones are not listed)."""
        return store.live_webhooks(session)

    def webhook(self, session: Session, webhook_id: int) -> Webhook:
        return store.get_webhook(session, webhook_id)

    def revoke_webhook(self, session: Session, webhook_id: int) -> None:
        """Nothing more is sent to it, not even deliveries still being retried."""
        store.revoke_webhook(session, webhook_id)
        session.commit()

    def deliveries(self, session: Session, webhook_id: int, *, limit: int = 50,
                   offset: int = 0) -> Page[WebhookDelivery]:
        """The webhook's delivery log, newest first."""
        rows, total = store.deliveries(session, webhook_id, limit=limit, offset=offset)
        return Page(rows, total, limit, offset)

    def _secret(self, session: Session, webhook_id: int) -> str:
        key = store.server_secret(session, SERVER_KEY, secrets.token_bytes(32))
        derived = hmac.new(key, f"webhook:{webhook_id}".encode(), hashlib.sha256).digest()
        return SECRET_PREFIX + base64.urlsafe_b64encode(derived).decode().rstrip("=")

    # ------------------------------------------------------------ publishing

    def publish(self, session: Session, event: str, data: dict[str, Any],
                topic: Sequence[str] = ()) -> None:
        """Tell the subscribers of `event` about `data`, in the session's transaction (the
        caller commits): a delivery row and its job per subscribed webhook, and, once
        committed, an MQTT message on PREFIX/EVENT/TOPIC... (each part of `topic` made
        safe as one level, e.g. ("Front door", "Lin") -> likeness/sighting/front_door/lin).
        `data` must be JSON: datetimes and numpy numbers are converted."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
        envelope = {"event": event, "id": str(uuid.uuid4()),
                    "created_at": datetime.now(UTC).isoformat(), "data": _jsonable(data)}
        hooks = store.subscribers(session, event)
        if hooks:
            connection = store.driver_connection(session)
            for delivery_id in store.add_deliveries(session, hooks, event, envelope):
                self.queue.defer_delivery(delivery_id, connection)
        if self.mqtt is not None:
            levels = [self.topic_prefix, event, *(topic_part(str(p)) for p in topic)]
            _after_commit(session, self.mqtt, "/".join(levels), _body(envelope))

    # ------------------------------------------------------------ delivering

    def deliver(self, session: Session, delivery_id: int, *, last_attempt: bool = False
                ) -> Attempt | None:
        """One attempt at a delivery (the `deliver_webhook` job's work); None when there is
        nothing to send (delivered or given up before, or gone with its webhook). The
        session's transaction is not held while the receiver answers."""
        found = store.delivery_and_webhook(session, delivery_id)
        if found is None or found[0].status != DeliveryStatus.PENDING:
            session.rollback()
            return None
        delivery, webhook = found
        if webhook.revoked_at is not None:
            store.give_up(session, delivery_id, "the webhook was revoked")
            session.commit()
            return Attempt(delivery_id, DeliveryStatus.FAILED, delivery.attempts, None,
                           "the webhook was revoked")
        payload = delivery.payload
        body = _body({key: payload.get(key) for key in ("event", "id", "created_at", "data")})
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   EVENT_HEADER: delivery.event, DELIVERY_HEADER: str(delivery_id),
                   SIGNATURE_HEADER: sign(self._secret(session, webhook.id), body)}
        url, allow_private, attempts = webhook.url, webhook.allow_private, delivery.attempts
        session.commit()  # (the server key, if it was made just now); nothing held below
        response_status: int | None = None
        error: str | None
        try:
            target = _check_target(url, allow_private)
        except InvalidInput as exc:  # the host resolves elsewhere now: never sent there
            error, final = str(exc), True
        else:
            response_status, error = _post(target, body, headers, self.timeout_s)
            final = last_attempt or attempts + 1 >= MAX_ATTEMPTS
        status = DeliveryStatus.DELIVERED if error is None else \
            DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        made = store.record_attempt(session, delivery_id, status, response_status, error)
        session.commit()
        if error is not None:
            log.info("webhook delivery %s to %s failed (attempt %d): %s", delivery_id, url,
                     made, error)
        return Attempt(delivery_id, status, made, response_status, error)


# ---------------------------------------------------------------- HTTP


def _check_target(url: str, allow_private: bool) -> Target:
    """The webhook URL's target under the URL-ingest SSRF rules (private ranges allowed
    only for a webhook an admin allowed them for); InvalidInput says why not."""
    if len(url) > 2048:
        raise InvalidInput("the webhook url is longer than 2048 characters")
    try:
        return check_url(url, FetchPolicy(allow_private=allow_private))
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("image_url", "the webhook url")) from None


def _post(target: Target, body: bytes, headers: dict[str, str], timeout: float
          ) -> tuple[int | None, str | None]:
    """POST to the checked address (redirects are not followed): the answer's status, and
    what went wrong unless it was a 2xx."""
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target, timeout=timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(4096)
        if 200 <= response.status < 300:
            return response.status, None
        text = answer.decode("utf-8", "replace").strip()[:RESPONSE_KEPT]
        return response.status, f"HTTP {response.status}" + (f": {text}" if text else "")
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except ssl.SSLError as exc:
        return None, f"TLS with {target.host} failed: {exc}"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"could not connect to {target.host}: {exc}"
    finally:
        connection.close()


def _body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def _jsonable(data: Any) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if hasattr(value, "tolist"):  # numpy arrays and numbers
            return value.tolist()
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.loads(json.dumps(data, default=convert))


# ---------------------------------------------------------------- MQTT

_PENDING = "likeness.mqtt_pending"
_HOOKED = "likeness.mqtt_hooked"


def _after_commit(session: Session, publisher: MqttPublisher, topic: str,
                  payload: bytes) -> None:
    """Send the message once the session's transaction commits; drop it if it does not."""
    session.info.setdefault(_PENDING, []).append((publisher, topic, payload))
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True

    @orm_event.listens_for(session, "after_commit")
    def committed(done: Session) -> None:
        if done.in_nested_transaction():  # a savepoint released: the change may yet fail
            return
        for mqtt_publisher, mqtt_topic, body in done.info.pop(_PENDING, []):
            mqtt_publisher.publish(mqtt_topic, body)

    @orm_event.listens_for(session, "after_transaction_end")
    def ended(done: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # rolled back (a commit has sent them already)
            done.info.pop(_PENDING, None)


def _on_its_way(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether a message can still be acknowledged. paho raises for one published while
    the broker was away: it waits in paho's queue, sent on reconnection, out of our
    sight."""
    try:
        return not info.is_published()
    except (RuntimeError, ValueError):
        return False


class MqttPublisher:
    """One connection to the broker per process and URL (mqtt://[user:pass@]host[:1883],
    mqtts:// for TLS), kept up by paho's network thread, which reconnects with backoff.
    Messages (QoS 1, not retained) wait in its queue while the broker is away."""

    _shared: dict[str, MqttPublisher | None] = {}  # noqa: RUF012 -- one per process, URL
    _lock = threading.Lock()

    def __init__(self, url: str) -> None:
        import paho.mqtt.client as mqtt

        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise InvalidInput(f"the MQTT url must be mqtt://host[:port] or mqtts://..., "
                               f"not {url!r}")
        tls = parts.scheme == "mqtts"
        self.where = f"{parts.hostname}:{parts.port or (8883 if tls else 1883)}"
        self.connected = threading.Event()
        self._failing = False  # said so in the log already
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"likeness-{os.getpid()}-{secrets.token_hex(4)}")
        if parts.username:
            client.username_pw_set(unquote(parts.username),
                                   unquote(parts.password) if parts.password else None)
        if tls:
            client.tls_set()
        client.reconnect_delay_set(1, 60)
        client.max_queued_messages_set(MQTT_QUEUE)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.connect_async(parts.hostname, parts.port or (8883 if tls else 1883),
                             keepalive=30)
        client.loop_start()
        self._client: mqtt.Client = client
        self._pending: list[mqtt.MQTTMessageInfo] = []  # not yet acknowledged
        self._pending_lock = threading.Lock()

    @classmethod
    def shared(cls, url: str) -> MqttPublisher | None:
        """This process's publisher for `url`, connecting on first use; None (said once
        in the log) if the URL is not one."""
        with cls._lock:
            if url in cls._shared:
                return cls._shared[url]
            try:
                publisher: MqttPublisher | None = cls(url)
            except InvalidInput as exc:
                log.error("MQTT is off: %s", exc)
                publisher = None
            cls._shared[url] = publisher
            return publisher

    @classmethod
    def close_all(cls, flush_s: float = 0) -> None:
        """Close every publisher, after waiting up to `flush_s` seconds for the messages
        still on their way (a short-lived process, a CLI command, would lose them)."""
        with cls._lock:
            publishers, cls._shared = list(cls._shared.values()), {}
        deadline = time.monotonic() + flush_s
        for publisher in publishers:
            if publisher is not None:
                publisher.flush(deadline)
                publisher.close()

    def flush(self, deadline: float) -> None:
        """Wait until the broker has acknowledged what was published, or the deadline
        (time.monotonic()) passes; what is left is logged."""
        with self._pending_lock:
            pending = list(self._pending)
        for info in pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(RuntimeError, ValueError):  # see _on_its_way
                info.wait_for_publish(left)
        unsent = sum(_on_its_way(info) for info in pending)
        if unsent:
            log.warning("MQTT: %d message(s) to %s not delivered before closing", unsent,
                        self.where)

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a message; failures are logged, never raised."""
        import paho.mqtt.client as mqtt

        try:
            info = self._client.publish(topic, payload, qos=MQTT_QOS, retain=False)
        except (ValueError, OSError) as exc:
            log.warning("MQTT message on %s not sent: %s", topic, exc)
            return
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("MQTT message on %s dropped: %s", topic, mqtt.error_string(info.rc))
            return
        with self._pending_lock:
            self._pending = [*(i for i in self._pending if _on_its_way(i)), info]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.where, reason)
            return
        log.info("MQTT broker %s connected", self.where)
        self._failing = False
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if self.connected.is_set():
            log.warning("MQTT broker %s disconnected (%s); reconnecting", self.where, reason)
        self.connected.clear()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._failing:
            log.warning("MQTT broker %s unreachable; trying again, with backoff", self.where)
        self._failing = True
