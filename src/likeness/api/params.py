"""Query and path parameters that many routes share, bounded as the database needs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from likeness.api.validation import MAX_BIGINT

Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT, description="Items to skip")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page")]


def path_id(what: str) -> Any:
    """A path parameter naming a row: 1 .. 2^63-1."""
    return Path(ge=1, le=MAX_BIGINT, description=f"The {what}'s id")
