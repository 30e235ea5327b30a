"""What the HTTP layer accepts, stated in the OpenAPI document: ids and offsets within
PostgreSQL's bigint, text that PostgreSQL can store (no NUL character, no unpaired
surrogate), and JSON objects whose keys and strings obey the same rule."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

MAX_BIGINT = 2**63 - 1
MAX_METADATA_DEPTH = 32


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


Text = Annotated[str, AfterValidator(check_text)]
Metadata = Annotated[dict[str, Any], AfterValidator(check_json)]
BigId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
