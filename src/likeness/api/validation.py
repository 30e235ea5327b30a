"""What the HTTP layer accepts, stated in the OpenAPI document: ids and offsets within
PostgreSQL's bigint, text that PostgreSQL can store (no NUL character, no unpaired
surrogate), and JSON objects whose keys and strings obey the same rule."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

MAX_BIGINT = 2**63 - 1
MAX_METADATA_DEPTH = 32
# Text PostgreSQL can store, as a JSON Schema pattern: no NUL. (A lone surrogate is no
# Unicode text at all, so a JSON Schema string excludes it already; it is refused too. A
# pattern naming the surrogate range is one that fuzzers and regex engines cannot use.)
TEXT_PATTERN = "^[^\\u0000]*$"
METADATA_VALUE_REF = "#/components/schemas/MetadataValue"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates (invalid Unicode)"
    return None


def check_text(value: str) -> str:
    problem = _text_problem(value)
    if problem:
        raise ValueError(f"text {problem}")
    return value


def check_json(value: Any) -> Any:
    """A JSON value whose every key and string PostgreSQL's jsonb can hold; the error
    names the path of the first one that it cannot."""
    def walk(item: Any, path: str, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels at {path}")
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise ValueError(f"the text at {path} {problem}")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"the number at {path} is not finite")
        elif isinstance(item, dict):
            for key, child in item.items():
                problem = _text_problem(key)
                if problem:
                    raise ValueError(f"a key under {path} {problem}")
                walk(child, f"{path}.{key}", depth + 1)
        elif isinstance(item, list):
            for index, child in enumerate(item):
                walk(child, f"{path}[{index}]", depth + 1)

    walk(value, "$", 0)
    return value


def clean_filename(name: str | None, default: str = "upload") -> str:
    """An uploaded file's name as we keep it: printable text of at most 200 characters
    (a name is a label: it never names a file of ours)."""
    text = (name or "").encode("utf-8", "replace").decode("utf-8")
    text = "".join(c for c in text if c.isprintable())[:200]
    return text or default


class _StorableText:
    """States the text rule in the JSON Schema (check_text enforces it)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return {**handler(core), "pattern": TEXT_PATTERN}


class _StorableJson:
    """States the metadata rule in the JSON Schema (check_json enforces it): keys and
    strings are storable text (MetadataValue, a component of the document)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core: CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        return {"type": "object", "propertyNames": {"pattern": TEXT_PATTERN},
                "additionalProperties": {"$ref": METADATA_VALUE_REF}}


# One level deep only: a recursive schema defeats client generators (openapi-python-client
# drops the operations); deeper strings are checked all the same (check_json).
METADATA_VALUE_SCHEMA: JsonSchemaValue = {
    "description": "Any JSON value; keys and strings, at any depth, hold no NUL",
    "anyOf": [{"type": "string", "pattern": TEXT_PATTERN}, {"type": "number"},
              {"type": "boolean"}, {"type": "array", "items": {}}, {"type": "object"},
              {"type": "null"}]}

Text = Annotated[str, AfterValidator(check_text), _StorableText]
Metadata = Annotated[dict[str, Any], AfterValidator(check_json), _StorableJson]
def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic's lax mode would read true as 1
        raise ValueError("a number is expected, not true or false")
    return value


# 7.0 is 7, as JSON Schema says; true is not 1. (The bounds stand before the validator:
# after it, pydantic leaves them out of the JSON Schema.)
BigId = Annotated[int, Field(ge=1, le=MAX_BIGINT), BeforeValidator(_not_a_boolean)]
Days = Annotated[float, Field(gt=0, le=3650), BeforeValidator(_not_a_boolean)]


def _iso_only(value: Any) -> Any:
    """A date-time as ISO 8601 text only: pydantic would also take a number of seconds
    since 1970, which the schema (format date-time) does not allow."""
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", value):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]
