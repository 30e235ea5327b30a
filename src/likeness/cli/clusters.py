"""Cluster commands: clusters list|faces|name|merge|hide|show|remove-face|rebuild. They work
on the database directly; only `rebuild` needs to know the model pack (not to load it)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from likeness.cli.common import (
    console,
    failing_on_errors,
    load_settings,
    notifying,
    open_database,
)
from likeness.enums import ClusterStatus

if TYPE_CHECKING:
    from likeness.services.clusters import ClusterSummary

clusters_app = typer.Typer(help="Unknown faces grouped by person: name each person once.",
                           no_args_is_help=True)

EventOption = Annotated[int | None, typer.Option(
    "--event", help="An event's clusters (default: the unknown faces of videos)")]
ScopeOption = Annotated[Literal["videos", "cameras"], typer.Option(
    "--scope", help="videos: unknown faces of videos; cameras: of camera streams "
                    "(ignored with --event)")]
ClusterArgument = Annotated[int, typer.Argument(help="Cluster id", min=1)]


def register(app: typer.Typer) -> None:
    app.add_typer(clusters_app, name="clusters")


def _span(ms: int) -> str:
    return f"{ms // 60000}:{ms // 1000 % 60:02d}"


def _where(cluster: ClusterSummary) -> str:
    videos = [f"video {v.video_id} {_span(v.first_ms)}-{_span(v.last_ms)}"
              for v in cluster.videos]
    cameras = [f"{c.stream} {c.first_seen_at:%Y-%m-%d %H:%M}-{c.last_seen_at:%H:%M}"
               for c in cluster.cameras]
    return ", ".join(videos + cameras) or "-"


@clusters_app.command("list")
def list_clusters(
    event: EventOption = None,
    scope: ScopeOption = "videos",
    status: Annotated[ClusterStatus, typer.Option(case_sensitive=False,
                                                  help="open, hidden or named")]
    = ClusterStatus.OPEN,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="As GET /clusters gives them")]
    = False,
) -> None:
    """Clusters, largest first, with a few of their best faces and where they appear."""
    from rich.table import Table

    from likeness.api.schemas import ClusterOut
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        page = ClusterService.from_settings(settings).page(
            session, event, cameras=event is None and scope == "cameras", status=status,
            limit=limit)
    if as_json:
        print(json.dumps([ClusterOut.of(c).model_dump(mode="json") for c in page.items]))
        return
    clustering = f"event {event}" if event is not None else scope
    table = Table("cluster", "faces", "best faces", "appears in" if event is None else "",
                  title=f"{page.total} {status} cluster(s) of {clustering}")
    for cluster in page.items:
        table.add_row(str(cluster.id), str(cluster.size),
                      " ".join(str(face) for face in cluster.faces),
                      _where(cluster) if event is None else "")
    console.print(table)


@clusters_app.command("faces")
def cluster_faces(cluster: ClusterArgument,
                  limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """A cluster's faces, best first."""
    from rich.table import Table

    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        page = ClusterService.from_settings(settings).faces(session, cluster, limit=limit)
    table = Table("face", "weight", "where", title=f"cluster {cluster}: {page.total} face(s)")
    for face in page.items:
        if face.photo_key is not None:
            where = f"photo {face.photo_key}"
        elif face.first_seen_at is not None:
            where = f"{face.stream or 'a deleted stream'} {face.first_seen_at:%Y-%m-%d %H:%M:%S}"
        else:
            where = f"video {face.video_id} {_span(face.first_ms or 0)}-" \
                    f"{_span(face.last_ms or 0)}"
        table.add_row(str(face.id), f"{face.weight:.2f}", where)
    console.print(table)


@clusters_app.command("name")
def name_cluster(
    cluster: ClusterArgument,
    name: Annotated[str | None, typer.Option("--name", help="A new person's name")] = None,
    person: Annotated[int | None, typer.Option("--person", min=1,
                                               help="An enrolled person's id")] = None,
) -> None:
    """Name a cluster: a new person (--name) or an enrolled one (--person). Its best faces
    are enrolled, its videos tagged and its camera sightings relabelled."""
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, notifying(database, settings) as notifier, \
            database.session() as session, failing_on_errors():
        named = ClusterService.from_settings(settings, notifier=notifier).name(
            session, cluster, name=name, person_id=person)
    console.print(
        f"cluster {cluster} is {'new person' if named.created else 'person'} "
        f"{named.person_id} ({named.name}): {named.enrolled} face(s) enrolled"
        + (f", {named.refused} below the enrollment gates" if named.refused else "")
        + (f"; tagged in video(s) {', '.join(map(str, named.videos))}" if named.videos
           else "")
        + (f"; {named.sightings} sighting(s) relabelled" if named.sightings else ""),
        highlight=False)


@clusters_app.command("merge")
def merge_clusters(cluster: ClusterArgument,
                   other: Annotated[int, typer.Argument(help="The cluster that joins it",
                                                        min=1)]) -> None:
    """One person in two clusters: OTHER's faces join CLUSTER."""
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        merged = ClusterService.from_settings(settings).merge(session, cluster, other)
    console.print(f"cluster {cluster} now has {merged.size} face(s)", highlight=False)


def _set_hidden(cluster: int, hidden: bool) -> None:
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        ClusterService.from_settings(settings).set_hidden(session, cluster, hidden)
    console.print(f"cluster {cluster} {'hidden' if hidden else 'shown'}", highlight=False)


@clusters_app.command("hide")
def hide_cluster(cluster: ClusterArgument) -> None:
    """Hide a cluster not worth naming (posters, crowds)."""
    _set_hidden(cluster, True)


@clusters_app.command("show")
def show_cluster(cluster: ClusterArgument) -> None:
    """Show a hidden cluster again."""
    _set_hidden(cluster, False)


@clusters_app.command("remove-face")
def remove_face(cluster: ClusterArgument,
                face: Annotated[int, typer.Argument(help="Face id (see `clusters faces`)",
                                                    min=1)]) -> None:
    """Not this person: take a face out of a cluster, for good."""
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        ClusterService.from_settings(settings).remove_face(session, cluster, face)
    console.print(f"face {face} taken out of cluster {cluster}", highlight=False)


@clusters_app.command("rebuild")
def rebuild(event: EventOption = None, scope: ScopeOption = "videos") -> None:
    """Cluster again from scratch, here and now; hidden and named clusters stay."""
    from likeness.engine.packs import resolve_pack
    from likeness.services.clusters import ClusterService

    settings = load_settings()
    with failing_on_errors():
        model = resolve_pack(settings.model, settings.model_dir).name
    with open_database(settings) as database, database.session() as session, \
            failing_on_errors():
        done = ClusterService.from_settings(settings).rebuild(
            session, event, model, cameras=event is None and scope == "cameras")
    console.print(f"{done.faces} face(s) clustered: {done.clustered} in clusters, "
                  f"{done.formed} new cluster(s)", highlight=False)
