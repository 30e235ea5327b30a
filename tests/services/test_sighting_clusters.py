"""Unknown camera sightings feed their own clustering (the cameras' scope): real file
streams of the Hamilton clip with nobody enrolled leave unknown sightings of Lin-Manuel
Miranda, which a pass queued by the streams clusters; naming the cluster enrolls his best
faces and relabels the sightings, and the next stream recognises him. Sightings of real
photos (CelebA development set) exercise the decisions: a face taken out, merges, hiding,
rebuilds, sightings recognised later or deleted with their stream, and scopes that never
mix."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import ClusterScope, ClusterStatus, Decision, StreamStatus
from likeness.errors import Conflict, InvalidInput
from likeness.media import decode_image
from likeness.services.clustering import face_weight
from likeness.services.clusters import ClusterService, InlineClustering
from likeness.services.faces import quality_dict, thumbnail
from likeness.services.people import PeopleService
from likeness.services.streams import StreamRecords, StreamService
from likeness.store import Database
from likeness.store import clusters as clusters_store
from likeness.store import streams as streams_store
from likeness.store.clusters import Scope
from likeness.store.models import Cluster, Sighting
from tests.conftest import DATA
from tests.services.test_streams import FAST, camera_clip

DEV = DATA / "celeba_dev"
STRANGERS = sorted(p.name for p in DEV.iterdir() if p.is_dir())[:2]
SEEN = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


@pytest.fixture
def clusters(settings: Settings) -> ClusterService:
    return ClusterService.from_settings(settings)


@pytest.fixture(scope="module")
def lin_clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 3 s parts of the clip where Lin-Manuel Miranda faces the camera alone."""
    folder = tmp_path_factory.mktemp("sighting-clips")
    return camera_clip(folder, seconds=3, start=3), camera_clip(folder, seconds=3, start=4)


def run_file_stream(service: StreamService, session: Session, db: Database, name: str,
                    clip: Path) -> int:
    """A stream of `clip` added and run to its end, as a worker's slot runs it."""
    stream_id = StreamRecords(allow_server_paths=True).add(session, name, str(clip),
                                                           fps=4).stream.id
    assert service.run(db.sessions, stream_id, threading.Event()) == StreamStatus.DOWN
    return stream_id


def test_unknown_sightings_are_clustered_named_and_then_recognised(
        session: Session, db: Database, engine: FaceEngine, settings: Settings,
        clusters: ClusterService, people: PeopleService, lin_clips: tuple[Path, Path]
        ) -> None:
    inline = InlineClustering(db.sessions, clusters, engine.model_name)
    base = StreamService.from_settings(engine, settings)
    streams = StreamService(base.engine, base.policy, FAST, clusters=inline)
    door = run_file_stream(streams, session, db, "door", lin_clips[0])
    hall = run_file_stream(streams, session, db, "hall", lin_clips[1])

    unknown = StreamRecords().sightings(session, decision=Decision.UNKNOWN).items
    assert {entry.stream for entry in unknown} == {"door", "hall"}
    assert all(s.sighting.quality and s.sighting.bbox and s.sighting.det_score
               for s in unknown)
    # The streams queued the pass when his tracks ended: one cluster of his sightings,
    # one per stream. A blurred passer-by at the clip's start (weight 0.05) stays out.
    found = clusters.page(session, None, cameras=True)
    assert found.total == 1
    lin = found.items[0]
    assert lin.scope == ClusterScope.CAMERAS and lin.event_id is None
    clustered = [e.sighting for e in unknown if e.sighting.cluster_id == lin.id]
    assert lin.size == len(clustered) == 2 and lin.videos == []
    assert all(s.weight > 0.5 for s in clustered)
    assert all(e.sighting.weight < 0.2 for e in unknown if e.sighting.cluster_id is None)
    assert {(c.stream_id, c.stream) for c in lin.cameras} == {(door, "door"), (hall, "hall")}
    assert all(c.first_seen_at <= c.last_seen_at and c.sightings >= 1 for c in lin.cameras)
    faces = clusters.faces(session, lin.id).items
    assert {f.stream for f in faces} == {"door", "hall"} and all(f.first_seen_at
                                                                 for f in faces)
    assert clusters.thumbnail(session, lin.id, faces[0].id)[:2] == b"\xff\xd8"
    assert clusters.page(session, None).total == 0  # the videos' clustering is apart

    named = clusters.name(session, lin.id, name="Lin-Manuel Miranda")
    assert named.created and named.sightings == lin.size and named.videos == []
    assert named.enrolled >= 1 and named.enrolled + named.refused == lin.size
    relabelled = StreamRecords().sightings(session, person_id=named.person_id).items
    assert len(relabelled) == lin.size
    assert all(s.sighting.decision == Decision.MATCH and s.name == "Lin-Manuel Miranda"
               and s.sighting.similarity > 0.5 for s in relabelled)
    assert clusters.page(session, None, cameras=True).total == 0
    assert clusters.get(session, lin.id).status == ClusterStatus.NAMED

    photo = next((DATA / "faces" / "lin_manuel_miranda").iterdir()).read_bytes()
    recognized = people.recognize(session, decode_image(photo))[0]
    assert recognized.decision == Decision.MATCH
    assert recognized.person is not None and recognized.person.person_id == named.person_id
    porch = run_file_stream(streams, session, db, "porch", lin_clips[0])
    seen = StreamRecords().sightings(session, stream_id=porch).items
    assert (Decision.MATCH, named.person_id) in {(s.sighting.decision, s.sighting.person_id)
                                                for s in seen}


def photo_sightings(session: Session, engine: FaceEngine, stream_id: int, identity: str,
                    count: int) -> list[int]:
    """Sightings of `count` photos of one CelebA identity, as a stream records them."""
    ids = []
    for path in sorted((DEV / identity).iterdir())[:count]:
        image = decode_image(path.read_bytes())
        face = max(engine.analyze(image), key=lambda f: f.area)
        sighting_id = streams_store.add_sighting(session, stream_id, {
            "person_id": None, "decision": Decision.UNKNOWN, "similarity": None,
            "first_seen_at": SEEN, "last_seen_at": SEEN + timedelta(seconds=2),
            "detections": 5, "model": engine.model_name,
            "embedding": face.require_embedding(),
            "weight": face_weight(face.quality, face.det_score),
            "crop_jpeg": thumbnail(image, face), "det_score": face.det_score,
            "bbox": face.box(), "quality": quality_dict(face)})
        assert sighting_id is not None
        ids.append(sighting_id)
    session.commit()
    return ids


def test_camera_clusters_take_every_decision_and_never_mix(
        session: Session, db: Database, engine: FaceEngine, clusters: ClusterService) -> None:
    model = engine.model_name
    stream_id = StreamRecords().add(session, "gate", "rtsp://127.0.0.1:9/cam").stream.id
    first = photo_sightings(session, engine, stream_id, STRANGERS[0], 5)
    second = photo_sightings(session, engine, stream_id, STRANGERS[1], 5)

    with pytest.raises(InvalidInput, match="no event"):
        clusters.update(session, 1, model, cameras=True)
    assert clusters.update(session, None, model).faces == 0  # videos: none of these
    done = clusters.update(session, None, model, cameras=True)
    assert done.faces == 10 and done.formed == 2 and done.clustered >= 8

    def members(cluster_id: int) -> set[int]:
        return {f.id for f in clusters.faces(session, cluster_id).items}

    page = clusters.page(session, None, cameras=True).items
    a = next(c.id for c in page if members(c.id) <= set(first))
    b = next(c.id for c in page if members(c.id) <= set(second))
    assert all(c.scope == ClusterScope.CAMERAS and c.cameras[0].stream == "gate"
               for c in page)

    # Not this person: the face leaves and no pass or rebuild brings it back.
    out = sorted(members(a))[0]
    clusters.remove_face(session, a, out)
    clusters.update(session, None, model, cameras=True)
    clusters.rebuild(session, None, model, cameras=True)
    assert out not in members(a)

    # A cluster of another clustering cannot be merged in.
    videos = clusters_store.create_clusters(session, Scope(None, model), 1)[0]
    session.commit()
    with pytest.raises(Conflict, match="different clusterings"):
        clusters.merge(session, a, videos)
    assert session.get_one(Cluster, videos).scope == ClusterScope.VIDEOS

    # Hidden, it stays hidden through a rebuild; a sighting recognised meanwhile (its
    # face turned to the camera) leaves it at the next pass.
    clusters.set_hidden(session, b, True)
    recognised = sorted(members(b))[0]
    assert streams_store.set_sighting(session, recognised, decision=Decision.MATCH)
    session.commit()
    clusters.rebuild(session, None, model, cameras=True)
    hidden = clusters.page(session, None, cameras=True, status=ClusterStatus.HIDDEN).items
    assert [c.id for c in hidden] == [b] and recognised not in members(b)
    assert session.get_one(Sighting, recognised).cluster_id is None

    clusters.set_hidden(session, b, False)
    size = clusters.get(session, a).size + clusters.get(session, b).size
    merged = clusters.merge(session, a, b)
    assert merged.size == size and merged.scope == ClusterScope.CAMERAS

    # The stream deleted: its sightings go, and the next pass empties their cluster.
    StreamRecords().delete(session, stream_id)
    clusters.update(session, None, model, cameras=True)
    assert clusters.page(session, None, cameras=True).total == 0
