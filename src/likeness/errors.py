"""Typed errors. Each layer raises these; the API maps each class to one HTTP status
(`likeness.api.errors`), gRPC to one status code (`likeness.rpc.server`), and the CLI
prints the message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")


class LikenessError(Exception):
    """Base class: the message is meant for the caller and says what is wrong."""


def for_error(table: Mapping[type[LikenessError], V], error: LikenessError, default: V) -> V:
    """The entry of `table` (HTTP statuses, gRPC codes) for the error's class, or for its
    nearest base class that has one."""
    return next((table[kind] for kind in type(error).__mro__ if kind in table), default)


class InvalidInput(LikenessError):
    """The request is malformed: bad base64, a corrupt or truncated image, bad options."""


class UnsupportedMediaType(LikenessError):
    """The bytes are not one of the accepted formats."""


class PayloadTooLarge(LikenessError):
    """Too many bytes, or too many pixels (decompression bomb)."""


class NoFaceFound(LikenessError):
    """An operation that needs a face got an image without one."""


class ModelPackError(LikenessError):
    """No usable model files: none found (the message lists every place looked), or a
    file that is damaged or of the wrong kind."""


class ProviderUnavailable(LikenessError):
    """An ONNX Runtime execution provider was asked for but cannot be used."""


class ModelNotReady(LikenessError):
    """The model is still loading, or failed to load."""


class NotFound(LikenessError):
    """The person, face or other record does not exist."""


class Unauthenticated(LikenessError):
    """No credentials, or credentials that are wrong, expired or revoked."""


class Throttled(LikenessError):
    """Too many attempts: wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(LikenessError):
    """The request is understood but not allowed here (a setting or a role forbids it)."""


class Conflict(LikenessError):
    """The request contradicts what is stored (a taken external_id, ...)."""


class Rejected(LikenessError):
    """The input is well-formed but unusable for the request: a face too small, too
    blurred, or a photo with several faces and no choice made."""


class DatabaseUnavailable(LikenessError):
    """PostgreSQL cannot be reached, or lacks pgvector."""


class VectorIndexUnavailable(DatabaseUnavailable):
    """The external vector index (Milvus) cannot be reached or refused a request."""


class StorageUnavailable(LikenessError):
    """The object storage (a directory, an S3 bucket) cannot be read or written."""


class FetchFailed(LikenessError):
    """A URL could not be downloaded. `transient` failures (timeouts, 5xx, resets) are
    worth retrying; the others (404, too large, not an image) are not."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
