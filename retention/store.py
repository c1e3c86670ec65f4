"""The archive store: one fsspec filesystem under a root URL (``file://`` by default, ``s3://`` via s3fs).

Writes are atomic as seen by a reader: a local file is written beside its final name, fsynced and
renamed; an S3 object appears whole when its PUT completes. Local directories are created 0700 and
files 0600 (archives hold fleet data). Failures raise :class:`ArchiveError` with ``retryable``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

import fsspec

from config.retention import ArchiveConfig


class ArchiveError(Exception):
    """A failed archive operation; ``retryable`` is the only thing a caller should branch on.

    The message is one line: what failed, on which URL, and what to try.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _boto_errors() -> tuple[type[BaseException], ...]:
    """botocore's own exceptions (an unreachable endpoint, refused keys) that s3fs lets through."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 support installed: only OSError can happen
        return ()
    return (BotoCoreError, ClientError)


def describe_failure(exc: BaseException, url: str, doing: str, settings: StoreSettings) -> ArchiveError:
    """One pointed ArchiveError for a failure of the filesystem or of S3 (s3fs, botocore)."""
    text = " ".join(str(exc).split())
    endpoint = settings.options.get("client_kwargs", {}).get("endpoint_url")
    bucket = settings.url.removeprefix("s3://").split("/", 1)[0] if settings.url.startswith("s3://") else ""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "") if hasattr(exc, "response") else ""
    if "NoSuchBucket" in (code + text) or "bucket does not exist" in text.lower():
        return ArchiveError(
            f"archive {settings.url}: the bucket {bucket!r} does not exist: create it, or fix retention.archive.url",
            retryable=False,
        )
    if type(exc).__name__ in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError") or (
        "Could not connect to the endpoint" in text
    ):
        where = f"the S3 endpoint {endpoint}" if endpoint else "the S3 endpoint (AWS)"
        return ArchiveError(
            f"archive {settings.url}: {where} is unreachable: is it running? check retention.archive.endpoint_url",
            retryable=True,
        )
    if isinstance(exc, PermissionError) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return ArchiveError(
            f"cannot {doing} {url}: access refused ({code or text[:160]}): check retention.archive.access_key_id "
            "and secret_access_key, and the bucket's policy",
            retryable=False,
        )
    return ArchiveError(f"cannot {doing} {url}: {text[:300]}", retryable=True)


@dataclass(frozen=True)
class StoreSettings:
    """The archive URL and, for S3, where and how to authenticate (secrets already resolved)."""

    url: str = "file://./var/archive"
    options: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config: ArchiveConfig) -> StoreSettings:
        options: dict = {}
        if config.url.startswith("s3://"):
            client_kwargs = {}
            if config.endpoint_url:
                client_kwargs["endpoint_url"] = config.endpoint_url
            if config.region:
                client_kwargs["region_name"] = config.region
            if client_kwargs:
                options["client_kwargs"] = client_kwargs
            if config.access_key_id and config.secret_access_key:
                options["key"] = config.access_key_id.resolve()
                options["secret"] = config.secret_access_key.resolve()
            if config.encryption:  # s3fs adds these to every PutObject / multipart upload
                sse = {"ServerSideEncryption": config.encryption}
                if config.kms_key_id:
                    sse["SSEKMSKeyId"] = config.kms_key_id
                options["s3_additional_kwargs"] = sse
        return cls(url=config.url, options=options)


class ArchiveStore:
    """Relative paths (``telemetry/date=2026-11-30/hour=07/raw-all-0000.parquet``) under one root."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.fs: fsspec.AbstractFileSystem | None = None
        self.root = ""
        self.local = settings.url.startswith("file://")

    def start(self) -> ArchiveStore:
        if self.local:
            self.fs = fsspec.filesystem("file")
            self.root = os.path.abspath(self.settings.url.removeprefix("file://"))
            _makedirs_private(self.root)
        else:
            if self.settings.url.startswith("s3://"):
                import s3fs  # noqa: F401 - fsspec finds it by protocol; imported here to fail early and clearly
            # a fresh instance: s3fs caches instances per argument set, and listings per instance
            self.fs, self.root = fsspec.core.url_to_fs(
                self.settings.url, skip_instance_cache=True, **self.settings.options
            )
            self.root = self.root.rstrip("/")
        return self

    def stop(self) -> None:
        self.fs = None

    def __enter__(self) -> ArchiveStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url_of(self, path: str) -> str:
        return f"{self.settings.url.rstrip('/')}/{path}"

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}"

    def write_bytes(self, path: str, data: bytes) -> None:
        try:
            if self.local:
                self._write_local(self._full(path), data)
            else:
                self._fs.pipe_file(self._full(path), data)
        except (OSError, *_boto_errors()) as exc:
            raise describe_failure(exc, self.url_of(path), "write", self.settings) from exc

    def _write_local(self, full: str, data: bytes) -> None:
        directory = os.path.dirname(full)
        _makedirs_private(directory)
        tmp = f"{full}.{uuid.uuid4().hex[:8]}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, full)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def read_bytes(self, path: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            return self._fs.cat_file(self._full(path))
        except FileNotFoundError as exc:
            if self._bucket_missing(exc):
                raise describe_failure(exc, self.url_of(path), "read", self.settings) from exc
            return None
        except (OSError, *_boto_errors()) as exc:
            raise describe_failure(exc, self.url_of(path), "read", self.settings) from exc

    def delete(self, path: str) -> None:
        try:
            self._fs.rm_file(self._full(path))
        except FileNotFoundError:
            pass
        except (OSError, *_boto_errors()) as exc:
            raise describe_failure(exc, self.url_of(path), "delete", self.settings) from exc

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching ``pattern`` (fsspec glob syntax), sorted."""
        try:
            if not self.local:
                self._fs.invalidate_cache()
            found = self._fs.glob(self._full(pattern))
        except FileNotFoundError as exc:
            if self._bucket_missing(exc):
                raise describe_failure(exc, self.url_of(pattern), "list", self.settings) from exc
            return []
        except (OSError, *_boto_errors()) as exc:
            raise describe_failure(exc, self.url_of(pattern), "list", self.settings) from exc
        root = self.root.rstrip("/") + "/"
        return sorted(path[len(root) :] if path.startswith(root) else path for path in found)

    def _bucket_missing(self, exc: FileNotFoundError) -> bool:
        """A missing object is normal (None); a missing bucket is a configuration error."""
        if self.local:
            return False
        return "NoSuchBucket" in str(exc) or "bucket does not exist" in str(exc).lower()

    @property
    def _fs(self) -> fsspec.AbstractFileSystem:
        if self.fs is None:
            raise RuntimeError("ArchiveStore.start() was not called")
        return self.fs


def _makedirs_private(directory: str) -> None:
    """Like ``os.makedirs`` but every directory it creates is 0700 (makedirs applies the mode to the last only)."""
    if os.path.isdir(directory):
        return
    _makedirs_private(os.path.dirname(directory))
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
