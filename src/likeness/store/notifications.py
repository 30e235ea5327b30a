"""Every query on webhooks, their delivery log and the server's secrets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from likeness.enums import DeliveryStatus
from likeness.errors import NotFound
from likeness.store.models import ServerSecret, Webhook, WebhookDelivery

# ---------------------------------------------------------------- the server's secrets


def server_secret(session: Session, name: str, candidate: bytes) -> bytes:
    """The secret called `name`; `candidate` becomes it if there is none yet (the first
    of several processes to ask wins; the others read its secret)."""
    session.execute(pg_insert(ServerSecret).values(name=name, secret=candidate)
                    .on_conflict_do_nothing(index_elements=["name"]))
    return session.execute(select(ServerSecret.secret).where(ServerSecret.name == name)
                           ).scalar_one()


# ---------------------------------------------------------------- webhooks


def add_webhook(session: Session, url: str, events: list[str], allow_private: bool,
                created_by: str | None) -> Webhook:
    webhook = Webhook(url=url, events=events, allow_private=allow_private,
                      created_by=created_by)
    session.add(webhook)
    session.flush()
    return webhook


def live_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.revoked_at.is_(None))
                                .order_by(Webhook.id)))


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    """A webhook that is not revoked."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None or webhook.revoked_at is not None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return webhook


def revoke_webhook(session: Session, webhook_id: int) -> None:
    webhook = get_webhook(session, webhook_id)
    webhook.revoked_at = func.now()


def subscribers(session: Session, event: str) -> list[int]:
    """The ids of the live webhooks that subscribe to `event`."""
    return list(session.scalars(select(Webhook.id).where(
        Webhook.revoked_at.is_(None), Webhook.events.contains([event])).order_by(Webhook.id)))


# ---------------------------------------------------------------- deliveries


def add_deliveries(session: Session, webhook_ids: Sequence[int], event: str,
                   payload: dict[str, Any]) -> list[int]:
    """A pending delivery of `payload` to each webhook; their ids, in order."""
    if not webhook_ids:
        return []
    return list(session.scalars(insert(WebhookDelivery).returning(WebhookDelivery.id),
                                [{"webhook_id": w, "event": event, "payload": payload}
                                 for w in webhook_ids]))


def deliveries(session: Session, webhook_id: int, *, limit: int, offset: int
               ) -> tuple[list[WebhookDelivery], int]:
    """A webhook's deliveries, newest first."""
    get_webhook(session, webhook_id)
    total = session.scalar(select(func.count()).where(
        WebhookDelivery.webhook_id == webhook_id)) or 0
    rows = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit).offset(offset))
    return list(rows), total


def delivery_and_webhook(session: Session, delivery_id: int
                         ) -> tuple[WebhookDelivery, Webhook] | None:
    row = session.execute(select(WebhookDelivery, Webhook)
                          .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                          .where(WebhookDelivery.id == delivery_id)).first()
    return (row[0], row[1]) if row else None


def record_attempt(session: Session, delivery_id: int, status: DeliveryStatus,
                   response_status: int | None, error: str | None) -> int:
    """Count one more attempt of a delivery with its outcome; the attempts made."""
    values: dict[str, Any] = {"attempts": WebhookDelivery.attempts + 1, "status": status,
                              "response_status": response_status, "error": error}
    if status == DeliveryStatus.DELIVERED:
        values["delivered_at"] = func.now()
    return session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                           .values(values).returning(WebhookDelivery.attempts)).scalar_one()


def give_up(session: Session, delivery_id: int, error: str) -> None:
    """A delivery that will not be attempted (again): failed, with why."""
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                    .values(status=DeliveryStatus.FAILED, error=error))


# ---------------------------------------------------------------- the job queue


def driver_connection(session: Session) -> Any:
    """The session's psycopg connection, in its transaction: what the job queue defers
    on, so that jobs are queued (or not) with the rows that need them."""
    return session.connection().connection.driver_connection
