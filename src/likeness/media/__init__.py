"""Untrusted bytes to pixels: validation, decoding, drawing."""

from likeness.media.image import ImageLimits, decode_image, encode_jpeg, sniff_format

__all__ = ["ImageLimits", "decode_image", "encode_jpeg", "sniff_format"]
