"""Camera streams and sightings: streams list|add|rm, and sightings. They work on the
database; the workers (`likeness worker`, or `likeness serve`) run the streams."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from likeness.cli.common import console, failing_on_errors, load_settings, open_database
from likeness.enums import Decision

if TYPE_CHECKING:
    from likeness.services.streams import SightingEntry, StreamState

streams_app = typer.Typer(help="Camera streams (RTSP, HTTP/HLS, files) that the workers "
                               "recognise live.", no_args_is_help=True)

StreamArgument = Annotated[int, typer.Argument(help="Stream id", min=1)]
JsonOption = Annotated[bool, typer.Option("--json", help="As the HTTP API gives them")]


def register(app: typer.Typer) -> None:
    app.add_typer(streams_app, name="streams")
    app.command("sightings")(sightings)


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _describe(state: StreamState) -> str:
    return ", ".join(p.name for p in state.people) or "-"


@streams_app.command("list")
def list_streams(limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
                 as_json: JsonOption = False) -> None:
    """Streams with their status, frames analysed and the people last seen."""
    from rich.table import Table

    from likeness.api.schemas import StreamOut
    from likeness.services.streams import StreamRecords

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        page = StreamRecords.from_settings(settings).page(session, limit=limit)
    if as_json:
        print(json.dumps([StreamOut.of(s).model_dump(mode="json") for s in page.items]))
        return
    table = Table("stream", "name", "url", "fps", "status", "frames", "last frame",
                  "last seen", title=f"{page.total} stream(s)")
    for state in page.items:
        status = state.status + (f": {state.error}" if state.error else "")
        table.add_row(str(state.stream.id), state.stream.name, state.url,
                      f"{state.stream.fps:g}", status, str(state.stream.frames),
                      _when(state.stream.last_frame_at), _describe(state))
    console.print(table)


@streams_app.command("add")
def add_stream(
    name: Annotated[str, typer.Argument(help="The camera's name")],
    url: Annotated[str, typer.Argument(help=(
        "rtsp(s):// (any address), http(s):// (public addresses unless "
        "LIKENESS_FETCH_ALLOW_PRIVATE) or a file on this machine (with "
        "LIKENESS_ALLOW_SERVER_PATHS)"))],
    fps: Annotated[float | None, typer.Option(min=0.01, max=30,
                                              help="Frames analysed per second (5)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a camera; a worker with a free stream slot starts reading it."""
    from likeness.api.schemas import StreamOut
    from likeness.jobs.queue import JobQueue
    from likeness.services.streams import StreamRecords

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        records = StreamRecords.from_settings(settings, JobQueue(database, settings))
        state = records.add(session, name, url, fps)
    if as_json:
        print(json.dumps(StreamOut.of(state).model_dump(mode="json")))
        return
    console.print(f"stream {state.stream.id} ({state.stream.name}) added: a worker runs it",
                  highlight=False)


@streams_app.command("rm")
def remove_stream(stream: StreamArgument) -> None:
    """Delete a stream and its sightings; its worker stops reading it."""
    from likeness.services.streams import StreamRecords

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        StreamRecords.from_settings(settings).delete(session, stream)
    console.print(f"stream {stream} deleted", highlight=False)


def sightings(
    stream: Annotated[int | None, typer.Option("--stream", min=1,
                                               help="Only this stream's")] = None,
    person: Annotated[int | None, typer.Option("--person", min=1,
                                               help="Only this person's (id)")] = None,
    decision: Annotated[Decision | None, typer.Option(case_sensitive=False, help=(
        "match, review or unknown"))] = None,
    since: Annotated[datetime | None, typer.Option(help=(
        "Only those seen since (e.g. 2025-06-01T08:00:00, UTC)"))] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Faces seen on the cameras, most recently seen first."""
    from rich.table import Table

    from likeness.api.schemas import SightingOut
    from likeness.services.streams import StreamRecords

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        page = StreamRecords.from_settings(settings).sightings(
            session, stream_id=stream, person_id=person, decision=decision, since=since,
            limit=limit)
    if as_json:
        print(json.dumps([SightingOut.of(s).model_dump(mode="json") for s in page.items]))
        return
    table = Table("sighting", "stream", "who", "decision", "similarity", "first seen",
                  "last seen", "detections", title=f"{page.total} sighting(s)")
    for entry in page.items:
        table.add_row(*_sighting_row(entry))
    console.print(table)


def _sighting_row(entry: SightingEntry) -> list[str]:
    sighting = entry.sighting
    similarity = f"{sighting.similarity:.2f}" if sighting.similarity is not None else "-"
    return [str(sighting.id), entry.stream or "-", entry.name or "unknown", sighting.decision,
            similarity, _when(sighting.first_seen_at), _when(sighting.last_seen_at),
            str(sighting.detections)]
