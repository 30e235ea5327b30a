"""Image intake: every accepted format and mode decodes to upright BGR; bad input is
refused with the right error before any harm is done."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from likeness.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from likeness.media import ImageLimits, decode_image, sniff_format
from tests.conftest import data_file
from tests.helpers import png_declaring


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A small real photo (RGB) to re-encode in every format."""
    return Image.open(data_file("edge/obama_small.jpg")).convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_accepted_formats(photo: Image.Image, fmt: str) -> None:
    data = _encode(photo, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    assert sniff_format(data) == fmt
    decoded = decode_image(data)
    assert decoded.dtype == np.uint8 and decoded.shape == (photo.height, photo.width, 3)
    if fmt != "JPEG":  # lossless: exact pixels, in BGR order
        assert np.array_equal(decoded, cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2BGR))


def test_decoding_matches_opencv_on_a_real_jpeg() -> None:
    path = data_file("faces/obama/obama_3.jpg")
    assert np.array_equal(decode_image(path.read_bytes()), cv2.imread(str(path)))


def test_exif_orientation_is_applied(photo: Image.Image) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # what a camera would store
    decoded = decode_image(_encode(stored, "JPEG", exif=exif, quality=95))
    assert decoded.shape[:2] == (photo.height, photo.width)
    expected = cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2BGR).astype(int)
    assert np.abs(decoded.astype(int) - expected).mean() < 6


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "1"])
def test_pixel_modes_become_bgr(photo: Image.Image, mode: str) -> None:
    if mode == "I;16":
        wide = (np.asarray(photo.convert("L")).astype(np.uint16) * 257)
        image = Image.fromarray(wide)  # uint16: mode I;16
    else:
        image = photo.convert(mode)
    fmt = "JPEG" if mode in ("CMYK", "L") else ("TIFF" if mode == "1" else "PNG")
    decoded = decode_image(_encode(image, fmt))
    assert decoded.dtype == np.uint8 and decoded.shape == (photo.height, photo.width, 3)
    if mode in ("L", "LA", "I;16", "1"):  # grey stays grey
        assert np.array_equal(decoded[..., 0], decoded[..., 2])
    if mode == "I;16":  # 16-bit is scaled, not clipped
        assert np.abs(decoded[..., 0].astype(int)
                      - np.asarray(photo.convert("L")).astype(int)).max() <= 1


def test_the_shared_rgba_png_decodes() -> None:
    decoded = decode_image(data_file("edge/rgba_32bit.png").read_bytes())
    assert decoded.shape == (1200, 626, 3)


def test_empty_bytes() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        decode_image(b"")


@pytest.mark.parametrize(("data", "name"), [
    (b"hello, I am a text file renamed .jpg\n", "not a recognised image"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "GIF"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
    (b"%PDF-1.7\n", "PDF"),
])
def test_unsupported_formats(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=name):
        decode_image(data)


def test_truncated_jpeg_is_refused() -> None:
    data = data_file("faces/obama/obama_1.jpg").read_bytes()
    with pytest.raises(InvalidInput, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_corrupt_png_is_refused(photo: Image.Image) -> None:
    data = bytearray(_encode(photo, "PNG"))
    data[200:260] = b"\xff" * 60  # damage the compressed pixels
    with pytest.raises(InvalidInput):
        decode_image(bytes(data))


def test_headers_only_are_refused() -> None:
    with pytest.raises(InvalidInput):
        decode_image(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")


def test_pixel_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge, match="100000x100000"):
        decode_image(png_declaring(100_000, 100_000), ImageLimits(max_pixels=50_000_000))


def test_pixel_limit_is_configurable(photo: Image.Image) -> None:
    data = _encode(photo, "PNG")
    with pytest.raises(PayloadTooLarge, match="MP limit"):
        decode_image(data, ImageLimits(max_pixels=photo.width * photo.height - 1))
    assert decode_image(data, ImageLimits(max_pixels=photo.width * photo.height)).size


def test_byte_limit(photo: Image.Image) -> None:
    data = _encode(photo, "PNG")
    with pytest.raises(PayloadTooLarge, match="MB limit"):
        decode_image(data, ImageLimits(max_bytes=len(data) - 1))
