"""Untrusted bytes in, a BGR uint8 array out, or a typed error that says what is wrong.

Order matters for safety: the byte size is checked first, then the magic bytes, then the
pixel count read from the header (before any pixel is decoded), and only then the pixels.
Pillow decodes strictly: a truncated file raises instead of being padded with grey.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from likeness import metrics
from likeness.errors import InvalidInput, LikenessError, PayloadTooLarge, UnsupportedMediaType

# The pixel count is always checked here, before decoding (ImageLimits.max_pixels), so
# Pillow's own cap would only add a second, vaguer refusal at a different size.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_PIXELS = 50_000_000
# Accepted formats (Pillow's names): the file suffix and content type each is stored with.
FILE_TYPES = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"),
              "WEBP": ("webp", "image/webp"), "BMP": ("bmp", "image/bmp"),
              "TIFF": ("tif", "image/tiff")}
ACCEPTED_TEXT = "JPEG, PNG, WebP, BMP or TIFF"

# Formats people often send that we refuse, so the 415 can name them.
_REFUSED_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"%PDF", "PDF"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)

@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def sniff_format(data: bytes) -> str:
    """The Pillow format name of `data`, judged from its magic bytes alone."""
    if not data:
        raise InvalidInput("the file is empty")
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    for offset, signature, name in _REFUSED_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            raise UnsupportedMediaType(f"{name} images are not supported; send {ACCEPTED_TEXT}")
    raise UnsupportedMediaType(f"the file is not a recognised image; send {ACCEPTED_TEXT}")


@metrics.timed("decode")
def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Decode `data` to a BGR uint8 array, upright (EXIF orientation applied)."""
    max_bytes, max_pixels = limits.max_bytes, limits.max_pixels
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLarge(
            f"the file is {len(data) / 1e6:.1f} MB, above the {max_bytes / 1e6:.1f} MB limit")
    fmt = sniff_format(data)
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
        _check_pixels(*image.size, max_pixels)
        image.load()
        return _to_bgr(ImageOps.exif_transpose(image))
    except LikenessError:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidInput(f"the {fmt} data is corrupt and cannot be read") from exc
    except Exception as exc:  # decoders raise OSError, SyntaxError, struct.error, ... on bad data
        raise InvalidInput(f"the {fmt} data is truncated or corrupt: {exc}") from exc


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the image declares an empty size ({width}x{height})")
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image is {width}x{height} ({width * height / 1e6:.1f} MP), "
            f"above the {max_pixels / 1e6:g} MP limit")


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to BGR uint8; alpha is dropped, as OpenCV does."""
    mode = image.mode
    if mode == "RGB":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    if mode == "L":
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_GRAY2BGR)
    if mode.startswith("I"):  # 16-bit and 32-bit integer greyscale: scale to 8 bits
        wide = np.asarray(image).astype(np.float32)
        gray = np.clip(wide / 257.0, 0, 255).round().astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if mode == "F":
        raise UnsupportedMediaType("floating-point images are not supported")
    # RGBA, LA, P, PA, CMYK, YCbCr, 1, ...: Pillow knows how to reach RGB.
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV only fails on empty arrays
        raise InvalidInput("the image could not be encoded as JPEG")
    return buffer.tobytes()
