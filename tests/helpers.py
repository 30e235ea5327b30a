"""Small helpers shared by tests."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def box_distance(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """Largest coordinate difference between two [x1, y1, x2, y2] boxes."""
    return float(np.max(np.abs(np.asarray(a, float)[:4] - np.asarray(b, float)[:4])))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares width x height pixels."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
