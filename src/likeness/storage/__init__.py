"""Object storage for files kept outside PostgreSQL (annotated images, original photos):
the local filesystem or an S3-compatible bucket. A stored object is named by a location
URI (`fs://key` or `s3://bucket/key`) that the database keeps, so an object stays readable
after the default backend changes."""

from likeness.storage.objects import ObjectStorage, check_key

__all__ = ["ObjectStorage", "check_key"]
