"""The live page: the browser's webcam recognised over the WebSocket /ws/recognize (the
session cookie authenticates it), with boxes and names drawn over the video as the
answers come. The page only serves the markup; live.js does the rest."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from likeness.api.routes.live import PATH
from likeness.ui.web import ViewerUser, page

router = APIRouter(include_in_schema=False)

RATES = (1, 2, 5, 10)  # frames per second the page may send
DEFAULT_RATE = 5
FRAME_WIDTH = 640  # px: frames are sent at most this wide


@router.get("/ui/live", response_class=HTMLResponse)
def live_page(request: Request, caller: ViewerUser) -> HTMLResponse:
    return page(request, "live.html", caller, socket_path=PATH, rates=RATES,
                default_rate=DEFAULT_RATE, frame_width=FRAME_WIDTH)
