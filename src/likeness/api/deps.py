"""FastAPI dependencies: the engine and the settings of the running app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.media import ImageLimits
from likeness.services.people import PeopleService


def get_engine(request: Request) -> FaceEngine:
    return request.app.state.engine_holder.get()


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_limits(request: Request) -> ImageLimits:
    settings: Settings = request.app.state.settings
    return ImageLimits(settings.max_upload_bytes, settings.max_image_pixels)


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; whatever a use case did not commit is rolled back."""
    with request.app.state.database.session() as session:
        yield session


def get_people(request: Request) -> PeopleService:
    return PeopleService.from_settings(get_engine(request), request.app.state.settings)


EngineDep = Annotated[FaceEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LimitsDep = Annotated[ImageLimits, Depends(get_limits)]
SessionDep = Annotated[Session, Depends(get_session)]
PeopleDep = Annotated[PeopleService, Depends(get_people)]
