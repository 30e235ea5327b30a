"""Event commands: ingest (bulk, resumable), events list|rm, and the gRPC server."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer

from likeness.cli.common import (
    configure_logging,
    console,
    fail,
    failing_on_errors,
    inline_clustering,
    load_engine,
    load_settings,
    loaded_batches,
    open_database,
    progress_bar,
    read_bytes,
)
from likeness.errors import LikenessError

if TYPE_CHECKING:
    import numpy as np

    from likeness.media.fetch import FetchPolicy
    from likeness.services.events import EventService, ImageInput

events_app = typer.Typer(help="List and remove events.", no_args_is_help=True)


class Source(NamedTuple):
    """A photo to ingest: its id, how to get its bytes, and the URL it comes from."""

    key: str  # the path inside the folder, or the URL
    get: Callable[[], bytes]
    url: str | None = None  # None: a file of the folder


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command("grpc")(grpc_server)
    app.add_typer(events_app, name="events")


def sources_of(source: Path, policy: FetchPolicy) -> list[Source]:
    """A folder's images (photo id: the path inside it), or a text file of URLs, one a
    line (photo id: the URL)."""
    from likeness.media.fetch import fetch
    from likeness.media.image import IMAGE_SUFFIXES

    if source.is_dir():
        paths = sorted(p for p in source.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        return [Source(p.relative_to(source).as_posix(), partial(read_bytes, p))
                for p in paths]
    lines = read_bytes(source).decode("utf-8", errors="replace").splitlines()
    urls = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [Source(url, partial(fetch, url, policy), url) for url in dict.fromkeys(urls)]


def _load(source: Source, service: EventService) -> tuple[ImageInput, np.ndarray]:
    """A photo read (or downloaded) and decoded; a downloaded one is stored as from its
    URL, as the HTTP API stores it."""
    from likeness.enums import PhotoSource
    from likeness.media import decode_image
    from likeness.services.events import ImageInput

    data = source.get()
    origin = PhotoSource.UPLOAD if source.url is None else PhotoSource.URL
    return (ImageInput(source.key, data, origin, source.url),
            decode_image(data, service.limits))


def ingest(
    event: Annotated[str, typer.Argument(help="Event id, or a name (created if new)")],
    source: Annotated[Path, typer.Argument(help="A folder of photos, or a text file of "
                                                "image URLs (one a line)", exists=True)],
) -> None:
    """Add photos to an event, every face of each. Resumable: photo ids already stored
    are skipped (a folder's photo id is the path inside it; a URL's is the URL)."""
    from rich.table import Column, Table

    from likeness.services.events import EventRecords, EventService
    from likeness.storage import ObjectStorage

    settings = load_settings()
    storage = ObjectStorage.from_settings(settings)
    service = EventService.from_settings(load_engine(settings), storage, settings)
    records = EventRecords(storage)
    with failing_on_errors():
        sources = sources_of(source, service.fetch_policy)
    counts = {"stored": 0, "faces": 0, "skipped": 0}
    failures = Table("photo", Column("error", overflow="fold"), title="not ingested")
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        summary, created = records.by_id_or_name(session, event)
        event_id = summary.event.id
        if created:
            console.print(f"created event {event_id} ({event})")
        done = records.stored_keys(session, event_id, [s.key for s in sources])
        todo = [s for s in sources if s.key not in done]
        counts["skipped"] = len(sources) - len(todo)
        with progress_bar(len(todo)) as progress:
            task = progress.add_task(f"event {event_id}", total=len(todo))
            for batch in loaded_batches(todo, partial(_load, service=service), threads=4):
                loaded = []
                for photo, result in batch:
                    if isinstance(result, LikenessError):
                        failures.add_row(photo.key, str(result))
                    else:
                        loaded.append(result)
                for ingested in service.ingest_decoded(session, event_id, loaded):
                    counts["stored"] += ingested.created
                    counts["faces"] += len(ingested.faces) if ingested.created else 0
                progress.advance(task, len(batch))
        if counts["faces"]:  # the new faces join the event's clustering
            inline_clustering(database, settings, service.model).defer_clustering(event_id)
    console.print(f"event {event_id}: {counts['stored']} photos stored with "
                  f"{counts['faces']} faces; {counts['skipped']} already stored")
    if failures.row_count:
        console.print(failures)
        raise typer.Exit(1)


@events_app.command("list")
def list_events() -> None:
    from rich.table import Table

    from likeness.services.events import EventRecords
    from likeness.storage import ObjectStorage

    settings = load_settings()
    table = Table("id", "name", "photos", "faces", "created")
    with open_database(settings) as database, database.session() as session:
        page = EventRecords(ObjectStorage.from_settings(settings)).page(session, limit=10_000)
        for summary in page.items:
            table.add_row(str(summary.event.id), summary.event.name, str(summary.photos),
                          str(summary.faces), f"{summary.event.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@events_app.command("rm")
def remove_event(event_id: Annotated[int, typer.Argument(help="Event id")]) -> None:
    """Delete an event, its photos, faces and stored files."""
    from likeness.services.events import EventRecords
    from likeness.storage import ObjectStorage

    settings = load_settings()
    records = EventRecords(ObjectStorage.from_settings(settings))
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        records.delete_event(session, event_id)
    console.print(f"event {event_id} deleted")


def grpc_server(port: Annotated[int | None, typer.Option(help="gRPC port (default "
                                                         "LIKENESS_GRPC_PORT or 50051)")]
                = None) -> None:
    """Serve the gRPC API (ProcessPhoto, Health) alone."""
    from likeness.jobs.queue import JobQueue
    from likeness.rpc.server import GrpcServer
    from likeness.services.access import AccessService
    from likeness.storage import ObjectStorage

    settings = load_settings()
    configure_logging(settings)
    engine = load_engine(settings)
    with open_database(settings) as database:
        with database.session() as session:
            AccessService().bootstrap(session, settings.bootstrap_api_key)
        try:
            server = GrpcServer(engine, database, settings, ObjectStorage.from_settings(settings),
                                settings.host, port or settings.grpc_port or 50051,
                                clusters=JobQueue(database, settings))
        except (OSError, RuntimeError) as exc:
            raise fail(str(exc)) from exc
        server.start()
        console.print(f"gRPC on {settings.host}:{server.port}; Ctrl-C to stop")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(1):
            pass
        server.stop()
