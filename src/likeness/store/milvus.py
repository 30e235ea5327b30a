"""Milvus as the vector index (store/vectors.py explains how it is fed and searched).

A collection per embedding table, `{prefix}_{table}`: the row's id (primary key), its
embedding (the L2-normalized 512-d vector, HNSW with the COSINE metric) and the columns
the searches filter on. `{prefix}_built` exists once a rebuild has completed: a crash
mid-rebuild leaves it missing, and the next start rebuilds. Collections are created with
Strong consistency: a search sees every write acknowledged before it, which is what lets
a drained outbox row go.

pymilvus is imported here only, so pgvector deployments never load it. A file path as the
URI runs milvus-lite inside this process; one process at a time may open such a file
(others fall back to pgvector for their searches), so deployments whose workers run as
processes of their own want a Milvus server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from likeness.config import Settings
from likeness.errors import VectorIndexUnavailable
from likeness.store.models import EMBEDDING_DIMENSION
from likeness.store.vectors import COLLECTIONS, Collection, Where

if TYPE_CHECKING:
    from pymilvus import MilvusClient  # type: ignore[import-untyped]

T = TypeVar("T")
HNSW_BUILD = {"M": 16, "efConstruction": 200}
MIN_EF = 64  # HNSW candidate list of a search: at least this, and at least its limit
MAX_LIMIT = 16384  # Milvus's largest top-k
MODEL_LENGTH = 100  # faces.model is varchar(100)


def _filter(where: Where) -> str:
    """A Milvus boolean expression: every field equal to its value (strings quoted as
    JSON, which Milvus reads)."""
    return " and ".join(f"{field} == {json.dumps(value)}" for field, value in where.items())


class MilvusIndex:
    def __init__(self, uri: str, token: str | None, prefix: str) -> None:
        self.uri = uri
        self.token = token
        self.prefix = prefix
        self.ready = False
        self._client: MilvusClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusIndex:
        uri = settings.milvus_uri or str(settings.data_dir.expanduser() / "milvus.db")
        return cls(uri, settings.milvus_token, settings.milvus_collection_prefix)

    def describe(self) -> str:
        return self.uri

    def name(self, collection: Collection) -> str:
        return f"{self.prefix}_{collection.name}"

    @property
    def _marker(self) -> str:
        return f"{self.prefix}_built"

    def _call(self, request: Callable[[MilvusClient], T]) -> T:
        """Run a request on the client (connected, and the collections loaded, on first
        use); any failure of the client or the server is VectorIndexUnavailable."""
        try:
            return request(self._connected())
        except VectorIndexUnavailable:
            raise
        except Exception as exc:  # pymilvus, gRPC and milvus-lite raise their own kinds
            raise VectorIndexUnavailable(f"milvus at {self.uri}: {exc}") from exc

    def _connected(self) -> MilvusClient:
        with self._lock:
            if self._client is None:
                try:
                    from pymilvus import MilvusClient
                except ImportError as exc:
                    raise VectorIndexUnavailable(
                        "the milvus backend needs pymilvus and milvus-lite: "
                        "pip install 'likeness[milvus]'") from exc
                client = MilvusClient(uri=self.uri, token=self.token or "")
                for collection in COLLECTIONS:  # a reopened server has them released
                    if client.has_collection(self.name(collection)):
                        client.load_collection(self.name(collection))
                self._client = client
            return self._client

    def ping(self) -> None:
        self._call(lambda client: client.list_collections())

    def is_built(self) -> bool:
        return self._call(lambda client: client.has_collection(self._marker))

    def recreate(self) -> None:
        def recreate(client: MilvusClient) -> None:
            if client.has_collection(self._marker):
                client.drop_collection(self._marker)
            for collection in COLLECTIONS:
                self._create(client, collection)
        self._call(recreate)

    def _create(self, client: MilvusClient, collection: Collection) -> None:
        from pymilvus import DataType

        name = self.name(collection)
        if client.has_collection(name):
            client.drop_collection(name)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=EMBEDDING_DIMENSION)
        schema.add_field("model", DataType.VARCHAR, max_length=MODEL_LENGTH)
        for field in collection.fields:
            schema.add_field(field, DataType.INT64)
        index = client.prepare_index_params()
        index.add_index("embedding", index_type="HNSW", metric_type="COSINE",
                        params=HNSW_BUILD)
        client.create_collection(name, schema=schema, consistency_level="Strong")
        # Not waited for: pymilvus polls an empty index's build every half second.
        client.create_index(name, index, sync=False)
        client.load_collection(name)

    def mark_built(self) -> None:
        from pymilvus import DataType

        def mark(client: MilvusClient) -> None:  # an empty collection, never loaded
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
            client.create_collection(self._marker, schema=schema)
        self._call(mark)

    def clear(self, collection: Collection) -> None:
        self._call(lambda client: client.delete(self.name(collection), filter="id >= 0"))

    def upsert(self, collection: Collection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        entities = [{"id": row["id"], "model": row["model"],
                     "embedding": row["embedding"],
                     **{field: row[field] for field in collection.fields}} for row in rows]
        self._call(lambda client: client.upsert(self.name(collection), entities))

    def delete(self, collection: Collection, ids: Sequence[int]) -> None:
        if ids:
            self._call(lambda client: client.delete(self.name(collection), ids=list(ids)))

    def flush(self) -> None:
        """milvus-lite: seal what was written into indexed segments (until then each
        search scans it row by row: 220 ms for 2,000 faces, 10 ms once sealed). A server
        seals on its own, and flushing it often would only make small segments."""
        if "://" not in self.uri:
            self._call(lambda client: [client.flush(self.name(c)) for c in COLLECTIONS])

    def _search(self, collection: Collection, embedding: np.ndarray, limit: int,
                where: Where, **params: float) -> list[int]:
        hits = self._call(lambda client: client.search(
            self.name(collection), [np.asarray(embedding, np.float32)], limit=limit,
            filter=_filter(where), output_fields=["id"],
            search_params={"metric_type": "COSINE",
                           "params": {"ef": max(limit, MIN_EF), **params}}))
        return [int(hit["id"]) for hit in hits[0]]

    def nearest(self, collection: Collection, embedding: np.ndarray, limit: int,
                where: Where) -> list[int]:
        return self._search(collection, embedding, min(limit, MAX_LIMIT), where)

    def within(self, collection: Collection, embedding: np.ndarray, min_similarity: float,
               where: Where) -> list[int] | None:
        # A range search; the margin keeps rows that PostgreSQL's exact check, in other
        # float arithmetic, may find just at the threshold.
        ids = self._search(collection, embedding, MAX_LIMIT, where,
                           radius=min_similarity - 1e-4, range_filter=1.0 + 1e-4)
        return None if len(ids) == MAX_LIMIT else ids

    def count(self, collection: Collection) -> int:
        stats = self._call(lambda client: client.get_collection_stats(self.name(collection)))
        return int(stats["row_count"])

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
