"""The gRPC server: thin, like the HTTP routes: parse, call a service, format; typed
errors map to status codes in one place. Calls carry the same API keys as HTTP, in the
`x-api-key` metadata (or `authorization: Bearer KEY`); `_authorize` checks them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from likeness import __version__, errors
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.rpc import likeness_pb2 as pb
from likeness.rpc import likeness_pb2_grpc as pb_grpc
from likeness.services.access import AccessService, Caller, Throttle
from likeness.services.clusters import ClusterQueue
from likeness.services.events import EventService
from likeness.services.people import PeopleService
from likeness.services.processing import PhotoProcessor, Processed
from likeness.storage import ObjectStorage
from likeness.store import Database, people

log = logging.getLogger(__name__)

CODE_BY_ERROR: dict[type[errors.LikenessError], grpc.StatusCode] = {
    errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.UnsupportedMediaType: grpc.StatusCode.INVALID_ARGUMENT,
    errors.PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.NoFaceFound: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Rejected: grpc.StatusCode.FAILED_PRECONDITION,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.Throttled: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.FetchFailed: grpc.StatusCode.FAILED_PRECONDITION,  # UNAVAILABLE if transient
    errors.DatabaseUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.StorageUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    errors.ModelPackError: grpc.StatusCode.UNAVAILABLE,
    errors.ProviderUnavailable: grpc.StatusCode.UNAVAILABLE,
}
DEFAULT_TOP_K = 3
MESSAGE_SLACK = 1024 * 1024  # the request's other fields around the image bytes


def code_for(error: errors.LikenessError) -> grpc.StatusCode:
    if isinstance(error, errors.FetchFailed) and error.transient:
        return grpc.StatusCode.UNAVAILABLE
    return errors.for_error(CODE_BY_ERROR, error, grpc.StatusCode.INTERNAL)


@contextmanager
def _status_on_error(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except errors.LikenessError as exc:
        context.abort(code_for(exc), str(exc))
    except (OperationalError, InterfaceError) as exc:
        log.warning("database error: %s", exc.orig)
        context.abort(grpc.StatusCode.UNAVAILABLE, "the database is unavailable; try again later")


class LikenessServicer(pb_grpc.LikenessServicer):
    def __init__(self, engine: FaceEngine, database: Database, settings: Settings,
                 storage: ObjectStorage, clusters: ClusterQueue | None = None) -> None:
        self._engine = engine
        self._database = database
        self._access = AccessService()
        self._failures = Throttle(settings.auth_failures_per_minute)  # as over HTTP
        self._processor = PhotoProcessor(
            EventService.from_settings(engine, storage, settings, clusters),
            PeopleService.from_settings(engine, settings))

    def ProcessPhoto(self, request: pb.ProcessPhotoRequest,
                     context: grpc.ServicerContext) -> pb.ProcessPhotoResponse:
        source = request.WhichOneof("image")
        event_id = request.event_id if request.HasField("event_id") else None
        with _status_on_error(context), self._database.session() as session:
            self._authorize(session, context, Role.EDITOR, event_id)  # it stores photos
            result = self._processor.process(
                session, request.photo_id,
                data=request.image_bytes if source == "image_bytes" else None,
                url=request.image_url if source == "image_url" else None,
                event_id=event_id, top_k=request.top_k or DEFAULT_TOP_K)
            return self._response(result)

    def _authorize(self, session: Session, context: grpc.ServicerContext, needed: Role,
                   event_id: int | None) -> Caller:
        """The caller of the key in the metadata, if its role (and for an event-limited
        key, its event) allows the call; wrong keys are throttled per client address."""
        metadata = {name.lower(): value for name, value in context.invocation_metadata() or ()
                    if isinstance(value, str)}
        scheme, _, bearer = metadata.get("authorization", "").partition(" ")
        key = metadata.get("x-api-key") or (bearer.strip() if scheme.lower() == "bearer"
                                             else "")
        address = context.peer().rpartition(":")[0]  # without the port
        caller = self._access.identify(
            session, self._failures, address, key=key,
            missing="an API key is required in the x-api-key metadata")
        caller.require(needed, event_id)
        return caller

    def _response(self, result: Processed) -> pb.ProcessPhotoResponse:
        def candidate(c: people.Candidate) -> pb.Candidate:
            return pb.Candidate(person_id=c.person_id, name=c.name, similarity=c.similarity)

        faces = [pb.FaceResult(
            bbox=pb.Box(x1=r.face.bbox[0], y1=r.face.bbox[1], x2=r.face.bbox[2],
                        y2=r.face.bbox[3]),
            det_score=r.face.det_score, decision=r.decision,
            person=candidate(r.person) if r.person else None,
            candidates=[candidate(c) for c in r.candidates]) for r in result.recognitions]
        return pb.ProcessPhotoResponse(
            photo=result.photo.id, photo_id=result.photo.photo_key, created=result.created,
            faces=faces, annotated_location=result.annotated_location,
            annotated_path=f"/photos/{result.photo.id}/annotated",
            model=self._engine.model_name)

    def Health(self, request: pb.HealthRequest,
               context: grpc.ServicerContext) -> pb.HealthResponse:
        return pb.HealthResponse(status="SERVING", version=__version__,
                                 model=self._engine.model_name,
                                 onnx_providers=self._engine.providers)


class GrpcServer:
    """The gRPC API on `host:port` (port 0: any free port, then `self.port`)."""

    def __init__(self, engine: FaceEngine, database: Database, settings: Settings,
                 storage: ObjectStorage, host: str, port: int, threads: int = 8,
                 clusters: ClusterQueue | None = None) -> None:
        size = settings.max_upload_bytes + MESSAGE_SLACK
        self._server = grpc.server(ThreadPoolExecutor(threads, "likeness-grpc"), options=[
            ("grpc.max_receive_message_length", size)])
        pb_grpc.add_LikenessServicer_to_server(
            LikenessServicer(engine, database, settings, storage, clusters), self._server)
        self._serving = False
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"gRPC cannot listen on {host}:{port}")

    def start(self) -> None:
        self._server.start()
        self._serving = True
        log.info("gRPC on port %d", self.port)

    @property
    def alive(self) -> bool:
        return self._serving

    def stop(self, grace: float = 5) -> None:
        self._serving = False
        self._server.stop(grace).wait()
