"""FastAPI dependencies: the running app's settings, engine, database session and the
services each route calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, UploadFile
from sqlalchemy.orm import Session

from likeness.api.validation import clean_filename
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.services.access import AccessService
from likeness.services.clusters import ClusterService
from likeness.services.events import EventRecords, EventService
from likeness.services.notifications import NotificationService
from likeness.services.people import PeopleRecords, PeopleService, Upload
from likeness.services.streams import StreamRecords
from likeness.services.videos import VideoRecords


def get_engine(request: Request) -> FaceEngine:
    return request.app.state.engine_holder.get()


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; whatever a use case did not commit is rolled back."""
    with request.app.state.database.session() as session:
        yield session


def get_people(request: Request) -> PeopleService:
    return PeopleService.from_settings(get_engine(request), request.app.state.settings,
                                       get_notifications(request))


def get_events(request: Request) -> EventService:
    return EventService.from_settings(get_engine(request), request.app.state.storage,
                                      request.app.state.settings, request.app.state.jobs)


def get_event_records(request: Request) -> EventRecords:
    return EventRecords.from_settings(request.app.state.storage, request.app.state.settings,
                                      request.app.state.jobs)


def get_notifications(request: Request) -> NotificationService:
    return NotificationService.from_settings(request.app.state.settings, request.app.state.jobs)


def get_video_records(request: Request) -> VideoRecords:
    return VideoRecords.from_settings(request.app.state.settings, request.app.state.jobs,
                                      get_notifications(request), request.app.state.storage)


def get_clusters(request: Request) -> ClusterService:
    return ClusterService.from_settings(request.app.state.settings, request.app.state.jobs,
                                        get_notifications(request))


def get_stream_records(request: Request) -> StreamRecords:
    return StreamRecords.from_settings(request.app.state.settings, request.app.state.jobs)


def get_access(request: Request) -> AccessService:
    return request.app.state.access


def upload_of(file: UploadFile, default_name: str = "upload") -> Upload:
    return Upload(clean_filename(file.filename, default_name), file.file.read())


EngineDep = Annotated[FaceEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
PeopleDep = Annotated[PeopleService, Depends(get_people)]
AccessDep = Annotated[AccessService, Depends(get_access)]
PeopleRecordsDep = Annotated[PeopleRecords, Depends(PeopleRecords)]
EventsDep = Annotated[EventService, Depends(get_events)]
EventRecordsDep = Annotated[EventRecords, Depends(get_event_records)]
VideoRecordsDep = Annotated[VideoRecords, Depends(get_video_records)]
ClustersDep = Annotated[ClusterService, Depends(get_clusters)]
NotificationsDep = Annotated[NotificationService, Depends(get_notifications)]
StreamRecordsDep = Annotated[StreamRecords, Depends(get_stream_records)]
