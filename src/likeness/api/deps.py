"""FastAPI dependencies: the engine and the settings of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.media import ImageLimits


def get_engine(request: Request) -> FaceEngine:
    return request.app.state.engine_holder.get()


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_limits(request: Request) -> ImageLimits:
    settings: Settings = request.app.state.settings
    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


EngineDep = Annotated[FaceEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LimitsDep = Annotated[ImageLimits, Depends(get_limits)]
