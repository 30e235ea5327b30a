"""People commands: enroll, enroll-dir, identify, people, db, calibrate."""

from __future__ import annotations

import json
import re
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from likeness.cli.common import (
    console,
    failing_on_errors,
    limits,
    load_engine,
    load_settings,
    notifying,
    open_database,
    progress_bar,
    read_bytes,
    report_unreadable,
)
from likeness.cli.faces import decoded_batches, unique_output
from likeness.errors import LikenessError

if TYPE_CHECKING:
    from likeness.config import Settings
    from likeness.services.calibration import PolicySuggestion
    from likeness.services.faces import Thresholds

# likeness.store.search_index's defaults, for `db reindex --help` without importing
# SQLAlchemy (tests/cli/test_imports.py checks they agree).
DEFAULT_SHARDS = 2
FACES_PER_LIST = 250

people_app = typer.Typer(help="List, show and remove people.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for command in (enroll, enroll_dir, identify, calibrate):
        app.command()(command)
    app.add_typer(people_app, name="people")
    app.add_typer(db_app, name="db")


def enroll(
    name: Annotated[str, typer.Argument(help="The person's name (created if new)")],
    images: Annotated[list[Path], typer.Argument(help="Photos of the person")],
    person_id: Annotated[int | None, typer.Option("--id", help="Enroll into this person")] = None,
    face_index: Annotated[int | None, typer.Option(min=0, help="Face to take, largest first")]
    = None,
    largest: Annotated[bool, typer.Option(help="Take the largest face of group photos")] = False,
) -> None:
    """Enroll photos of one person, all or nothing; then look for them in the videos
    already scanned."""
    from likeness.services.people import FaceChoice, PeopleService, Upload

    settings = load_settings()
    engine = load_engine(settings)
    with open_database(settings) as database, notifying(database, settings) as notifier, \
            database.session() as session, failing_on_errors():
        service = PeopleService.from_settings(engine, settings, notifier)
        uploads = [Upload(str(p), read_bytes(p)) for p in images]
        enrolled = service.enroll_or_register(session, name, uploads,
                                              FaceChoice(face_index, largest), person_id)
    person, found = enrolled.person.person, enrolled.found
    console.print(f"{person.name} (id {person.id}): {enrolled.new_faces} face(s) enrolled, "
                  f"{len(enrolled.enrollments) - enrolled.new_faces} already stored")
    if found.tagged_videos or found.review_items:
        console.print(f"found in {found.tagged_videos} scanned video(s); "
                      f"{found.review_items} track(s) sent to review")


def enroll_dir(
    directory: Annotated[Path, typer.Argument(help="A folder per person, named after them",
                                              exists=True, file_okay=False)],
    largest: Annotated[bool, typer.Option(help="Take the largest face of group photos")] = False,
) -> None:
    """Enroll a folder per person. Re-running skips what is stored; a rejected photo is
    reported and the rest go on."""
    from rich.table import Column, Table

    from likeness.services import calibration
    from likeness.services.people import FaceChoice, PeopleService

    settings = load_settings()
    engine = load_engine(settings)
    people = calibration.labelled_photos(directory)
    total = sum(len(photos) for photos in people.values())
    table = Table("person", "id", "enrolled", "already stored",
                  Column("rejected", overflow="fold"))
    with open_database(settings) as database, notifying(database, settings) as notifier, \
            database.session() as session, progress_bar(total) as progress:
        service = PeopleService.from_settings(engine, settings, notifier)
        task = progress.add_task("enrolling", total=total)
        for name, photos in people.items():
            try:
                report = service.enroll_each(
                    session, name, [(path.name, partial(read_bytes, path)) for path in photos],
                    FaceChoice(largest=largest), lambda: progress.advance(task))
            except LikenessError as exc:  # several people of that name
                session.rollback()
                table.add_row(name, "-", "0", "0", str(exc))
                progress.advance(task, len(photos))
                continue
            refused = "\n".join(f"{photo}: {why}" for photo, why in report.refused)
            table.add_row(name, str(report.person.person.id) if report.person else "-",
                          str(report.created), str(report.already_stored), refused or "-")
    console.print(table)


def identify(
    images: Annotated[list[Path], typer.Argument(help="Photos to search the gallery for")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    draw: Annotated[Path | None, typer.Option(help="Write labelled copies here")] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Candidates per face")] = 3,
) -> None:
    """Who is in these photos?"""
    import cv2
    from rich.table import Column, Table

    from likeness.api.schemas import RecognizedFaceOut
    from likeness.media.draw import draw_faces
    from likeness.services.people import PeopleService, label

    settings = load_settings()
    service = PeopleService.from_settings(load_engine(settings), settings)
    if draw is not None:
        draw.mkdir(parents=True, exist_ok=True)
    table = Table(Column("file", overflow="fold"), "face (x1,y1,x2,y2)", "decision",
                  "person", "similarity")
    failures, used = 0, set[str]()
    with open_database(settings) as database, database.session() as session:
        for batch in decoded_batches(images, limits(settings)):
            for path, image in batch:
                if isinstance(image, LikenessError):
                    failures += 1
                    report_unreadable(path, image, as_json, table)
                    continue
                results = service.recognize(session, image, top_k=top_k)
                if as_json:  # the faces as HTTP's /recognize gives them
                    print(json.dumps({"file": str(path), "faces": [
                        RecognizedFaceOut.of(r).model_dump(mode="json") for r in results]}),
                        flush=True)
                for r in results:
                    best = r.person or (r.candidates[0] if r.candidates else None)
                    table.add_row(str(path), str([round(float(v)) for v in r.face.bbox]),
                                  r.decision, r.person.name if r.person else "-",
                                  f"{best.similarity:.2f}" if best else "-")
                if draw is not None:
                    cv2.imwrite(str(unique_output(draw, path, used)), draw_faces(
                        image, [r.face for r in results], [label(r) for r in results]))
    if not as_json:
        console.print(table)
    if failures:
        raise typer.Exit(1)


@people_app.command("list")
def list_people(name: Annotated[str | None, typer.Option(help="Part of the name")] = None,
                limit: Annotated[int, typer.Option(min=1)] = 100,
                offset: Annotated[int, typer.Option(min=0)] = 0) -> None:
    """List people with how many faces each has."""
    from rich.table import Table

    from likeness.services.people import PeopleRecords

    settings = load_settings()
    with open_database(settings) as database, database.session() as session:
        page = PeopleRecords().page(session, name_contains=name, limit=limit, offset=offset)
    table = Table("id", "name", "external id", "faces", "created",
                  title=f"{len(page.items)} of {page.total} people")
    for summary in page.items:
        person = summary.person
        table.add_row(str(person.id), person.name, person.external_id or "",
                      str(summary.face_count), f"{person.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@people_app.command("show")
def show_person(person_id: Annotated[int, typer.Argument(help="Person id")]) -> None:
    """A person and their enrolled faces."""
    from rich.table import Table

    from likeness.services.people import PeopleRecords

    settings = load_settings()
    records = PeopleRecords()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        person = records.get(session, person_id).person
        faces = records.faces(session, person_id)
    console.print(f"[bold]{person.name}[/] (id {person.id}"
                  f"{', external id ' + person.external_id if person.external_id else ''})")
    if person.attributes:
        console.print(json.dumps(person.attributes))
    table = Table("face id", "source", "model", "size px", "det score", "enrolled")
    for face in faces:
        table.add_row(str(face.id), face.source_name or "", face.model,
                      f"{face.quality['face_size']:.0f}", f"{face.det_score:.2f}",
                      f"{face.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@people_app.command("rm")
def remove_person(person_id: Annotated[int, typer.Argument(help="Person id")],
                  yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False
                  ) -> None:
    """Delete a person with all their faces, embeddings and crops."""
    from likeness.services.people import PeopleRecords

    settings = load_settings()
    records = PeopleRecords()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        person = records.get(session, person_id).person
        if not yes and not typer.confirm(f"Delete {person.name} (id {person.id}) and all "
                                         "their faces?"):
            raise typer.Exit(1)
        records.delete(session, person_id)
    console.print(f"deleted {person.name} (id {person_id})")


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the database migrations (also done at every start)."""
    settings = load_settings()
    with open_database(settings) as database:
        console.print(f"database {database.describe()} is up to date")


@db_app.command("status")
def db_status() -> None:
    """The gallery's size and how its faces are indexed for search."""
    from likeness.store import search_index, vectors

    with open_database(load_settings()) as database, database.engine.connect() as connection:
        faces = search_index.count_faces(connection)
        layout = search_index.current_layout(connection)
        _, backend = vectors.health(database.engine)
    console.print(f"faces: {faces:,}")
    console.print(f"index: {layout.describe() if layout else 'none (searches scan every face)'}")
    console.print(f"vector backend: {backend}")
    if search_index.needs_rebuild(layout, faces):
        console.print(f"advice: run `likeness db reindex` for "
                      f"{search_index.layout_for(faces).describe()}")


@db_app.command("reindex")
def db_reindex(
    backend: Annotated[str | None, typer.Option(
        help="pgvector or milvus; default: the configured one (LIKENESS_VECTOR_BACKEND)")]
    = None,
    kind: Annotated[str | None, typer.Option(
        help="hnsw or ivfflat; default: by the gallery's size")] = None,
    shards: Annotated[int | None, typer.Option(
        min=1, max=64, help="Partial indexes searched in parallel (default 1 for hnsw, "
                            f"{DEFAULT_SHARDS} for ivfflat)")] = None,
    lists: Annotated[int | None, typer.Option(
        min=1, max=32768, help=f"IVFFlat lists per shard (default: a list per "
                               f"{FACES_PER_LIST} faces)")] = None,
    memory: Annotated[str, typer.Option(help="maintenance_work_mem for the build")] = "2GB",
) -> None:
    """Rebuild the faces' search index for today's gallery (IVFFlat learns its cells from
    the faces it is built on). Searches and enrollments go on meanwhile. With --backend
    milvus: the Milvus collections, from PostgreSQL (searches meanwhile may miss faces
    not yet copied)."""
    from likeness.store import search_index, vectors

    settings = load_settings()
    backend = backend or settings.vector_backend
    if backend not in ("pgvector", "milvus"):
        raise typer.BadParameter("--backend is pgvector or milvus")
    if backend == "milvus" and settings.vector_backend != "milvus":
        raise typer.BadParameter("--backend milvus needs LIKENESS_VECTOR_BACKEND=milvus "
                                 "(else nothing would search or feed the index)")
    if kind not in (None, "hnsw", "ivfflat"):
        raise typer.BadParameter("--kind is hnsw or ivfflat")
    if not re.fullmatch(r"\d+(kB|MB|GB)", memory):
        raise typer.BadParameter("--memory is a size such as 512MB or 4GB")
    with open_database(settings) as database, database.engine.connect(
            ).execution_options(isolation_level="AUTOCOMMIT") as connection:
        started = time.perf_counter()
        index = vectors.external_index(database.engine)
        if backend == "milvus" and index is not None:
            with console.status(f"rebuilding milvus at {index.describe()}"), \
                    failing_on_errors():
                counts = vectors.rebuild(database.engine, index)
            console.print(f"rebuilt milvus at {index.describe()} in "
                          f"{time.perf_counter() - started:.1f} s: " + ", ".join(
                              f"{name} {rows:,}" for name, rows in counts.items()))
            return
        faces = search_index.count_faces(connection)
        layout = search_index.layout_for(faces, kind, shards, lists)  # type: ignore[arg-type]
        with console.status(f"building {layout.describe()}"), failing_on_errors():
            search_index.build(connection, layout, concurrently=True, memory=memory)
        if settings.vector_backend == "pgvector" and vectors.feed_enabled(connection):
            vectors.disable_feed(connection)  # left by an earlier milvus backend
            console.print("stopped feeding Milvus (the backend is pgvector)")
    console.print(f"built {layout.describe()} in {time.perf_counter() - started:.1f} s")


def calibrate(
    directory: Annotated[Path, typer.Argument(help="A folder per person", exists=True,
                                              file_okay=False)],
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Write a PNG of the "
                                                   "score distributions and the ROC")] = None,
    people: Annotated[int, typer.Option("--people", min=1, help="The recognition policy is "
                                        "suggested for a gallery of this many people")] = 1000,
    strangers: Annotated[float, typer.Option("--strangers", min=1e-6, max=0.5,
                                             help="...auto-matching at most this share of "
                                                  "strangers")] = 1e-3,
) -> None:
    """Measure thresholds on labelled photos: TAR at FAR 1e-2/1e-3/1e-4, EER, suggested
    match and review thresholds, and a recognition policy for a gallery of --people."""
    from rich.table import Table

    from likeness.services import calibration
    from likeness.services.faces import QualityGate, Thresholds

    settings = load_settings()
    engine = load_engine(settings)
    total = sum(len(p) for p in calibration.labelled_photos(directory).values())
    with failing_on_errors(), progress_bar(total) as progress:
        task = progress.add_task("embedding", total=total)
        result = calibration.calibrate(engine, directory, limits(settings),
                                       lambda: progress.advance(task),
                                       QualityGate.from_settings(settings))
    for path, reason in result.skipped:
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    console.print(f"{result.photos} photos of {result.identities} people: "
                  f"{len(result.same)} same-person pairs "
                  f"({result.same.min():.3f}..{result.same.max():.3f}), "
                  f"{len(result.different)} different-person pairs "
                  f"({result.different.min():.3f}..{result.different.max():.3f})")
    table = Table("FAR", "threshold", "TAR")
    for far in calibration.FARS:
        point = result.operating_point(far)
        if point.threshold is None:
            table.add_row(f"{far:g}", f"too few pairs (needs {int(1 / far)})", "-")
        else:
            table.add_row(f"{far:g}", f"{point.threshold:.3f}", f"{point.tar:.3f}")
    console.print(table)
    eer, eer_threshold = result.equal_error()
    match, review = result.suggested()
    console.print(f"EER {eer:.3f} at {eer_threshold:.3f}")
    console.print(f"pairs: FAR 1e-3 (or {calibration.STRANGER_MARGIN} above the most similar "
                  f"stranger) at {match}, EER point {review}: 1:1 thresholds; 1:N "
                  f"recognition needs the policy below (pack defaults: match "
                  f"{engine.thresholds.match}, review {engine.thresholds.review})")
    now = Thresholds.resolve(engine.thresholds, settings.match_threshold,
                             settings.review_threshold)
    print_policy(result.suggest_policy(people, strangers, (now.match, now.review)), settings,
                 now)
    if plot_file is not None:
        calibration.plot(result, plot_file)
        console.print(f"plot written to {plot_file}")


def print_policy(suggestion: PolicySuggestion, settings: Settings, now: Thresholds) -> None:
    """The suggested recognition policy against the current one (`now`: the thresholds in
    force), as a table and as settings lines."""
    from rich.table import Table

    table = Table("setting", "suggested", "now", "why",
                  title=f"Recognition policy for {suggestion.people} people, at most "
                        f"{suggestion.rate:g} of strangers auto-matched")
    why = suggestion.match_how
    estimate, current = (suggestion.strangers_matched(m) for m in (suggestion.match, now.match))
    if estimate is not None and current is not None:
        why += f"; strangers auto-matched: {estimate:.2%} (now {current:.2%})"
    rows = [
        ("LIKENESS_MATCH_THRESHOLD", suggestion.match, now.match, why),
        ("LIKENESS_REVIEW_THRESHOLD", suggestion.review, now.review, suggestion.review_how),
        ("LIKENESS_MATCH_MARGIN", suggestion.margin, settings.match_margin,
         suggestion.margin_how),
        ("LIKENESS_MATCH_LOW_QUALITY_RAISE", suggestion.low_quality_raise,
         settings.match_low_quality_raise, suggestion.raise_how),
    ]
    for name, value, in_force, reason in rows:
        table.add_row(name, str(value), str(in_force), reason)
    console.print(table)
    for name, value, _, _ in rows:
        console.print(f"{name}={value}", highlight=False)
