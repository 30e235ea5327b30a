"""The live page: the browser's webcam recognised over the WebSocket (issue 14)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
