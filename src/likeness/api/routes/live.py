"""Live recognition over a WebSocket: `/ws/recognize` (docs/live.md).

The client sends frames as binary JPEG messages; the server answers each frame it
processes with one JSON text message:

    {"frame": n, "width": w, "height": h, "latency_ms": ms, "dropped": k,
     "faces": [{"bbox": [x1, y1, x2, y2], "track_id": t, "decision": "match",
                "person": {"person_id": 1, "name": "..."} | null, "similarity": 0.52}]}

`frame` numbers the binary messages of the connection from 0. When frames arrive faster
than they are recognised, only the newest waiting frame is kept: the others are dropped
(`dropped`: how many since the previous answer), so an answer is never more than about
two frames' work behind. A frame that cannot be used (not a JPEG, too large, corrupt)
is answered `{"frame": n, "error": "..."}` and the connection goes on.

Credentials are the API's: an API key in `X-API-Key` or `Authorization: Bearer`, or the
web UI's session cookie, accepted only from a page of this site (its Origin header must
name this host: cross-site WebSocket hijacking); the viewer role or above. Without them
the connection is accepted and closed at once with code 1008 and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from likeness.api.auth import SESSION_COOKIE
from likeness.enums import Role
from likeness.errors import LikenessError
from likeness.services.access import AccessService, Caller
from likeness.services.live import LiveFrame, LiveRecognizer, check_frame
from likeness.services.people import PeopleService

log = logging.getLogger(__name__)

router = APIRouter()

PATH = "/ws/recognize"
POLICY_VIOLATION = 1008  # no or wrong credentials, role too low, foreign origin
TRY_AGAIN_LATER = 1013  # the model is not loaded yet
INTERNAL_ERROR = 1011


@router.websocket(PATH)
async def recognize_live(websocket: WebSocket) -> None:
    """Recognise a camera's frames as they come (see the module's docstring)."""
    refusal, caller = await run_in_threadpool(_authenticate, websocket)
    await websocket.accept()  # accepted first, so that the browser sees the close reason
    if caller is None:
        await websocket.close(POLICY_VIOLATION, refusal)
        return
    state = websocket.app.state
    try:
        people = PeopleService.from_settings(state.engine_holder.get(), state.settings)
    except LikenessError as exc:
        await websocket.close(TRY_AGAIN_LATER, str(exc))
        return
    await _Connection(websocket, LiveRecognizer(people)).run()


def _authenticate(websocket: WebSocket) -> tuple[str, Caller | None]:
    """The caller, or why not: the reason to close with."""
    headers = websocket.headers
    key = headers.get("x-api-key")
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if not key and scheme.lower() == "bearer" and credentials.strip():
        key = credentials.strip()
    token = websocket.cookies.get(SESSION_COOKIE)
    if not key and token and not _same_origin(headers.get("origin"), headers.get("host")):
        return ("a session cookie is accepted only from this site's pages (the Origin "
                "header must name this host)", None)
    state = websocket.app.state
    access: AccessService = state.access
    address = websocket.client.host if websocket.client else "unknown"
    try:
        with state.database.session() as session:
            caller = access.identify(
                session, state.failures, address, key=key, token=token,
                missing="credentials are required: an API key in X-API-Key or "
                        "Authorization: Bearer, or a login session")
        caller.require(Role.VIEWER)
    except LikenessError as exc:
        return str(exc), None
    return "", caller


def _same_origin(origin: str | None, host: str | None) -> bool:
    if not origin or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


@dataclass(slots=True)
class _Pending:
    index: int
    data: bytes
    received: float  # perf_counter
    time_ms: int  # since the connection opened


class _Connection:
    """One client: a receiver that keeps only the newest frame waiting, and a worker that
    recognises it in a thread and answers."""

    def __init__(self, websocket: WebSocket, recognizer: LiveRecognizer) -> None:
        self.websocket = websocket
        self.recognizer = recognizer
        self.database = websocket.app.state.database
        self.opened = time.perf_counter()
        self.pending: _Pending | None = None
        self.dropped = 0  # since the last answer
        self.wake = asyncio.Event()
        self.sending = asyncio.Lock()

    async def run(self) -> None:
        """Until the client leaves (or the connection fails): either side's end stops
        the other; inference under way finishes in its thread first."""
        tasks = [asyncio.ensure_future(self._receive()), asyncio.ensure_future(self._work())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect,
                                         RuntimeError):
                    await task

    async def _receive(self) -> None:
        index = -1
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                await self._send({"error": "send frames as binary JPEG messages"})
                continue
            index += 1
            try:
                check_frame(data, self.recognizer.limits)
            except LikenessError as exc:
                await self._send({"frame": index, "error": str(exc)})
                continue
            now = time.perf_counter()
            if self.pending is not None:
                self.dropped += 1  # a newer frame replaces it, unseen
            self.pending = _Pending(index, data, now, round((now - self.opened) * 1000))
            self.wake.set()

    async def _work(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            pending, self.pending = self.pending, None
            if pending is None:
                continue
            dropped, self.dropped = self.dropped, 0
            try:
                frame = await run_in_threadpool(self._recognize, pending)
            except LikenessError as exc:
                await self._send({"frame": pending.index, "error": str(exc),
                                  "dropped": dropped})
                continue
            except Exception:
                log.exception("live recognition failed")
                await self.websocket.close(INTERNAL_ERROR, "recognition failed")
                return
            latency = (time.perf_counter() - pending.received) * 1000
            await self._send(_answer(pending.index, frame, latency, dropped))

    def _recognize(self, pending: _Pending) -> LiveFrame:
        with self.database.session() as session:
            return self.recognizer.recognize_jpeg(session, pending.data, pending.time_ms,
                                                  pending.index)

    async def _send(self, body: dict[str, Any]) -> None:
        async with self.sending:
            await self.websocket.send_json(body)


def _answer(index: int, frame: LiveFrame, latency_ms: float, dropped: int
            ) -> dict[str, Any]:
    return {
        "frame": index, "width": frame.width, "height": frame.height,
        "latency_ms": round(latency_ms, 1), "dropped": dropped,
        "faces": [{"bbox": [round(v, 1) for v in face.bbox], "track_id": face.track.id,
                   "decision": face.decision.value,
                   "person": {"person_id": face.person.person_id, "name": face.person.name}
                   if face.person else None,
                   "similarity": face.similarity}
                  for face in frame.faces]}
