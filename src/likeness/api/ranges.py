"""Byte ranges of a stored object, for media players that seek (HTTP Range, RFC 9110):
a video in S3 is played through the app without a copy on the app's disk."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from fastapi.responses import Response, StreamingResponse

_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # longer numbers: no range


def ranged_response(range_header: str | None, size: int, media_type: str,
                    read: Callable[[int, int], Iterator[bytes]],
                    headers: dict[str, str]) -> Response:
    """The whole object (200), one satisfiable range of it (206), or 416. Several ranges
    in one request are answered with the whole object, which RFC 9110 allows."""
    headers = {**headers, "accept-ranges": "bytes"}
    match = _RANGE.match(range_header.strip()) if range_header else None
    if match is None or not any(match.groups()):
        return StreamingResponse(read(0, size - 1) if size else iter(()), media_type=media_type,
                                 headers={**headers, "content-length": str(size)})
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    if start > end or start >= size:
        return Response(status_code=416, headers={**headers,
                                                  "content-range": f"bytes */{size}"})
    return StreamingResponse(read(start, end), status_code=206, media_type=media_type,
                             headers={**headers, "content-length": str(end - start + 1),
                                      "content-range": f"bytes {start}-{end}/{size}"})
