"""The search index's layouts: HNSW, and IVFFlat in shards searched in parallel, on real
photos and the test session's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from likeness.cli import app
from likeness.services.people import PeopleService
from likeness.store import Database
from likeness.store import search_index as index
from likeness.store.people import _search_statement
from likeness.store.search_index import Layout
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment
from tests.conftest import DATA, read_bgr
from tests.services.test_people import gallery  # noqa: F401 - enrolled people

runner = CliRunner()


@pytest.fixture
def layouts(database: Database, session: Session) -> Iterator[None]:
    """Put the migrations' HNSW index back after the test."""
    yield
    session.rollback()  # the swap waits for open transactions on faces
    with database.engine.connect() as connection:
        index.build(connection, Layout())
        connection.commit()


def rebuild(session: Session, layout: Layout) -> Layout | None:
    session.commit()  # the swap waits for open transactions on faces
    index.build(session.connection(), layout)
    session.commit()
    return index.current_layout(session.connection())


def names(people: PeopleService, session: Session, photo: str) -> set[str | None]:
    return {r.person.name if r.person else None for r in people.recognize(
        session, read_bgr(photo))}


def test_layout_by_gallery_size() -> None:
    assert index.layout_for(100_000) == Layout(faces=100_000)
    assert index.layout_for(1_000_000) == Layout("ivfflat", 2, 2000, faces=1_000_000)
    assert index.layout_for(1_000_000, shards=4).lists == 1000
    assert index.layout_for(10, "ivfflat", lists=3) == Layout("ivfflat", 2, 3, faces=10)
    assert index.needs_rebuild(None, 10)
    assert not index.needs_rebuild(Layout(faces=0), 100_000)
    assert index.needs_rebuild(Layout(faces=100), index.IVFFLAT_FROM_FACES)
    ivf = index.layout_for(300_000)
    assert not index.needs_rebuild(ivf, 600_000) and index.needs_rebuild(ivf, 600_001)


def test_sharded_ivfflat_recognizes_as_hnsw_does(
        session: Session, people: PeopleService, gallery: dict[str, int],  # noqa: F811
        layouts: None) -> None:
    scenes = ["scenes/two_people.jpg", "scenes/obama_and_biden.jpg",
              "scenes/kit_with_rose.jpg", "faces/alex_lacamoire/alex_3.jpg"]
    before = [names(people, session, scene) for scene in scenes]
    assert before[1] == {"obama", "biden", None}
    faces = session.scalar(text("SELECT count(*) FROM faces"))
    layout = rebuild(session, index.layout_for(faces, "ivfflat", lists=2))
    assert layout == Layout("ivfflat", 2, 2, faces=faces)
    # the people's faces lie in both shards: a shard left unsearched would lose some
    shards = set(session.scalars(text("SELECT DISTINCT id % 2 FROM faces")))
    assert shards == {0, 1}
    assert [names(people, session, scene) for scene in scenes] == before
    assert rebuild(session, Layout(faces=faces)) == Layout(faces=faces)
    assert [names(people, session, scene) for scene in scenes] == before


def test_each_shard_is_searched_through_its_own_index(
        session: Session, gallery: dict[str, int], layouts: None) -> None:  # noqa: F811
    rebuild(session, index.layout_for(6, "ivfflat", shards=3, lists=1))
    session.execute(text("SET LOCAL enable_seqscan = off"))  # the gallery is tiny
    query = np.ones(512, np.float32) / np.sqrt(512)
    for shard in range(3):
        plan = "\n".join(session.scalars(text(f"EXPLAIN {_search_statement(shard, 3).text}"),
                                         {"query": query, "model": "buffalo_s",
                                          "candidates": 40, "top_k": 5}))
        assert f"faces_embedding_s{shard}of3" in plan


def test_db_status_and_reindex(gallery: dict[str, int], layouts: None) -> None:  # noqa: F811
    status = runner.invoke(app, ["db", "status"], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.stdout
    assert "faces: 6" in status.stdout and "index: hnsw (m=16" in status.stdout
    assert "advice" not in status.stdout
    built = runner.invoke(app, ["db", "reindex", "--kind", "ivfflat", "--lists", "2"],
                          env={"COLUMNS": "200"})
    assert built.exit_code == 0, built.stdout
    assert "built ivfflat (2 shards, lists=2), built for 6 faces" in built.stdout
    status = runner.invoke(app, ["db", "status"], env={"COLUMNS": "200"})
    assert "index: ivfflat (2 shards, lists=2)" in status.stdout
    identified = runner.invoke(app, ["identify", "--json", str(DATA / "scenes/two_people.jpg")])
    assert identified.exit_code == 0 and "biden" in identified.stdout
    back = runner.invoke(app, ["db", "reindex"], env={"COLUMNS": "200"})
    assert back.exit_code == 0 and "built hnsw (m=16, ef_construction=64)" in back.stdout


@pytest.mark.parametrize(("option", "message"), [
    (["--kind", "flat"], "hnsw or ivfflat"), (["--memory", "lots"], "512MB or 4GB")])
def test_reindex_refuses_bad_options(option: list[str], message: str) -> None:
    result = runner.invoke(app, ["db", "reindex", *option], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output
