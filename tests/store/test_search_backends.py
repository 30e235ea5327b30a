"""The services' search tests again, with Milvus as the vector index: recognize, verify
against a person, the event selfie match and retro-matching must give the answers they
give on pgvector. Every commit drains the outbox, so that the searches find their
candidates in Milvus (test_vectors.py covers rows still in the outbox), and after each
test Milvus holds exactly PostgreSQL's rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from likeness.store import Database, vectors
from tests.services.test_events import (  # noqa: F401 - run here on milvus
    service,
    test_a_selfie_finds_exactly_its_persons_photos,
    test_embedding_ingest_and_match,
    test_events_are_isolated,
)
from tests.services.test_people import (  # noqa: F401 - run here on milvus
    gallery,
    test_delete_leaves_nothing_behind,
    test_embeddings_of_other_models_are_never_compared,
    test_merge_moves_faces,
    test_no_person_is_given_to_two_faces,
    test_recognize_enrolled_people,
    test_recognize_scenes,
    test_someone_not_enrolled_is_unknown,
    test_verify_against_a_person,
)
from tests.services.test_videos import (  # noqa: F401 - run here on milvus
    records,
    test_retro_matching_finds_lin_without_decoding,
    videos,
)


@pytest.fixture
def db(milvus_db: Database) -> Iterator[Database]:
    """The milvus-backed database, its outbox drained at every commit; afterwards
    Milvus must hold exactly PostgreSQL's rows."""
    def drain(_session: Session) -> None:
        vectors.drain(milvus_db.engine)

    event.listen(milvus_db.sessions, "after_commit", drain)
    try:
        yield milvus_db
    finally:
        event.remove(milvus_db.sessions, "after_commit", drain)
    vectors.drain(milvus_db.engine)
    index = vectors.external_index(milvus_db.engine)
    assert index is not None
    with milvus_db.engine.connect() as connection:
        for collection in vectors.COLLECTIONS:
            rows = connection.scalar(text(f"SELECT count(*) FROM {collection.name}"))
            assert index.count(collection) == rows, collection.name

