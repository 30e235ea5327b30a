"""Webhooks: where events are POSTed, signed; their delivery log. Administrators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from likeness.api.auth import ADMIN, AdminDep
from likeness.api.deps import NotificationsDep, SessionDep
from likeness.api.errors import COMMON, declare
from likeness.api.params import Limit, Offset, path_id
from likeness.api.schemas import (
    NewWebhookOut,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookIn,
    WebhookOut,
    page_of,
)

router = APIRouter(tags=["webhooks"], responses=COMMON)

WebhookId = Annotated[int, path_id("webhook")]


@router.post("/webhooks", response_model=NewWebhookOut, status_code=status.HTTP_201_CREATED,
             responses=declare(400))
def create_webhook(body: WebhookIn, session: SessionDep, notifications: NotificationsDep,
                   caller: AdminDep) -> NewWebhookOut:
    """A webhook for the events, with its signing secret, shown this once. Its URL must
    resolve to public addresses only (the URL-ingest SSRF rules; checked again at each
    delivery), unless allow_private; a refused URL is a 400."""
    new = notifications.create_webhook(session, body.url, body.events,
                                       allow_private=body.allow_private,
                                       created_by=caller.label)
    return NewWebhookOut(**WebhookOut.of(new.webhook).model_dump(), secret=new.secret)


@router.get("/webhooks", dependencies=[ADMIN], response_model=list[WebhookOut])
def list_webhooks(session: SessionDep, notifications: NotificationsDep) -> list[WebhookOut]:
    """The webhooks in use (revoked ones are not listed)."""
    return [WebhookOut.of(w) for w in notifications.webhooks(session)]


@router.get("/webhooks/{webhook_id}", dependencies=[ADMIN], response_model=WebhookOut,
            responses=declare(404))
def get_webhook(webhook_id: WebhookId, session: SessionDep, notifications: NotificationsDep
                ) -> WebhookOut:
    return WebhookOut.of(notifications.webhook(session, webhook_id))


@router.delete("/webhooks/{webhook_id}", dependencies=[ADMIN],
               status_code=status.HTTP_204_NO_CONTENT, responses=declare(404))
def revoke_webhook(webhook_id: WebhookId, session: SessionDep,
                   notifications: NotificationsDep) -> Response:
    """Revoke the webhook: nothing more is sent to it, not even deliveries still being
    retried."""
    notifications.revoke_webhook(session, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", dependencies=[ADMIN],
            response_model=WebhookDeliveryPage, responses=declare(404))
def list_deliveries(webhook_id: WebhookId, session: SessionDep,
                    notifications: NotificationsDep, limit: Limit = 50, offset: Offset = 0
                    ) -> WebhookDeliveryPage:
    """The webhook's delivery log, newest first: each event sent, its attempts, the last
    answer or error."""
    return page_of(WebhookDeliveryPage,
                   notifications.deliveries(session, webhook_id, limit=limit, offset=offset),
                   WebhookDeliveryOut.of)
