"""The two backends and the facade that picks one by location."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from likeness.config import Settings
from likeness.errors import InvalidInput, NotFound, StorageUnavailable

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


def check_key(key: str) -> str:
    """Keys are relative slash-separated names of safe characters, without `..`: a key
    can never name a file outside the storage root."""
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidInput(f"invalid storage key {key!r}")
    return key


class Backend(Protocol):
    scheme: str

    def put(self, key: str, data: bytes, content_type: str) -> str: ...
    def put_file(self, key: str, path: Path, content_type: str) -> str: ...
    def get(self, key: str) -> bytes: ...
    def download(self, key: str, destination: Path) -> None: ...
    def size(self, key: str) -> int: ...
    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]: ...
    def local_path(self, key: str) -> Path | None: ...
    def delete(self, key: str) -> None: ...


CHUNK = 1 << 20


class FilesystemBackend:
    """Objects as files under `root`, written atomically (temporary file, then rename)."""

    scheme = "fs"

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-",
                                             delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, path)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {key} under {self.root}: {exc}") from exc
        return f"fs://{key}"

    def put_file(self, key: str, path: Path, content_type: str) -> str:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-",
                                             delete=False) as handle, path.open("rb") as source:
                shutil.copyfileobj(source, handle, CHUNK)
            os.replace(handle.name, target)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {key} under {self.root}: {exc}") from exc
        return f"fs://{key}"

    def get(self, key: str) -> bytes:
        with self._reading(key):
            return self._path(key).read_bytes()

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise NotFound(f"stored file {key} does not exist") from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key} under {self.root}: {exc}") from exc

    def download(self, key: str, destination: Path) -> None:
        with self._reading(key):
            shutil.copyfile(self._path(key), destination)

    def size(self, key: str) -> int:
        with self._reading(key):
            return self._path(key).stat().st_size

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        with self._reading(key):
            handle = self._path(key).open("rb")  # now: a missing file is raised here

        def chunks() -> Iterator[bytes]:
            with handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0 and (chunk := handle.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk

        return chunks()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Backend:
    """Objects in an S3-compatible bucket (AWS, MinIO, ...), through boto3."""

    scheme = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, create_bucket: bool = False) -> None:
        import boto3  # only S3 users pay for importing it
        from botocore.config import Config

        self.bucket = bucket
        self._client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 3, "mode": "standard"}))
        self._create_bucket = create_bucket
        self._bucket_checked = False
        self._lock = threading.Lock()

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise NotFound(f"stored file {what} does not exist") from None
            raise StorageUnavailable(f"S3 bucket {self.bucket}: {what}: {exc}") from exc
        except (BotoCoreError, Boto3Error) as exc:  # Boto3Error: a failed transfer
            raise StorageUnavailable(f"S3 bucket {self.bucket}: {what}: {exc}") from exc

    def _ensure_bucket(self) -> None:
        if not self._create_bucket or self._bucket_checked:
            return
        with self._lock:
            try:
                self._call("bucket", "head_bucket")
            except NotFound:
                self._call("bucket", "create_bucket")
            self._bucket_checked = True

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self._ensure_bucket()
        self._call(key, "put_object", Key=check_key(key), Body=data, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def put_file(self, key: str, path: Path, content_type: str) -> str:
        """Multipart for large files (boto3's transfer manager)."""
        self._ensure_bucket()
        self._call(key, "upload_file", Filename=str(path), Key=check_key(key),
                   ExtraArgs={"ContentType": content_type})
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> bytes:
        return self._call(key, "get_object", Key=check_key(key))["Body"].read()

    def download(self, key: str, destination: Path) -> None:
        try:
            self._call(key, "download_file", Key=check_key(key), Filename=str(destination))
        except OSError as exc:  # the local side: a full or unwritable scratch space
            raise StorageUnavailable(f"cannot download {key} to {destination}: {exc}") from exc

    def size(self, key: str) -> int:
        return int(self._call(key, "head_object", Key=check_key(key))["ContentLength"])

    def read_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """The request is made now (a missing object or an S3 error is raised before a
        response starts); the bytes come as the iterator is read."""
        body = self._call(key, "get_object", Key=check_key(key),
                          Range=f"bytes={start}-{end}")["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return chunks()

    def local_path(self, key: str) -> Path | None:
        return None

    def delete(self, key: str) -> None:
        self._call(key, "delete_object", Key=check_key(key))


class ObjectStorage:
    """Writes go to the configured backend; reads and deletes go to the backend a
    location names."""

    def __init__(self, default: Backend, *others: Backend) -> None:
        self.default = default
        self._backends = {b.scheme: b for b in (*others, default)}

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStorage:
        files = FilesystemBackend(settings.storage_dir or settings.data_dir / "objects")
        if settings.storage != "s3":
            return cls(files)
        if not settings.s3_bucket:
            raise StorageUnavailable("LIKENESS_STORAGE=s3 needs LIKENESS_S3_BUCKET")
        s3 = S3Backend(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                       secret_access_key=settings.s3_secret_access_key,
                       create_bucket=settings.s3_create_bucket)
        return cls(s3, files)

    def put(self, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Store `data` under `key`; its location."""
        return self.default.put(key, data, content_type)

    def _resolve(self, location: str) -> tuple[Backend, str]:
        scheme, _, rest = location.partition("://")
        backend = self._backends.get(scheme)
        if backend is None:
            raise StorageUnavailable(f"{location} is in {scheme} storage, which is not "
                                     "configured (LIKENESS_STORAGE and LIKENESS_S3_*)")
        if isinstance(backend, S3Backend):
            bucket, _, rest = rest.partition("/")
            if bucket != backend.bucket:
                raise StorageUnavailable(f"{location} is in bucket {bucket}; the configured "
                                         f"bucket is {backend.bucket}")
        return backend, rest

    def put_file(self, key: str, path: Path, content_type: str) -> str:
        """Store the file at `path` under `key` (streamed, never read whole); its
        location."""
        return self.default.put_file(key, path, content_type)

    def get(self, location: str) -> bytes:
        backend, key = self._resolve(location)
        return backend.get(key)

    def size(self, location: str) -> int:
        backend, key = self._resolve(location)
        return backend.size(key)

    def read_range(self, location: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `start` to `end` (inclusive), in chunks."""
        backend, key = self._resolve(location)
        return backend.read_range(key, start, end)

    def local_path(self, location: str) -> Path | None:
        """The object's file when it is on this machine's disk (filesystem storage)."""
        backend, key = self._resolve(location)
        return backend.local_path(key)

    @contextmanager
    def local_copy(self, location: str, directory: Path) -> Iterator[Path]:
        """A file holding the object for the duration of the block: the stored file
        itself on the filesystem backend, otherwise a download into `directory` (a
        worker's own temporary space), removed afterwards."""
        backend, key = self._resolve(location)
        path = backend.local_path(key)
        if path is not None:
            if not path.is_file():
                raise NotFound(f"stored file {key} does not exist")
            yield path
            return
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix="download-") as folder:
            copy = Path(folder) / Path(key).name
            backend.download(key, copy)
            yield copy

    def delete(self, location: str) -> None:
        backend, key = self._resolve(location)
        backend.delete(key)
