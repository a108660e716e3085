"""The object store behind the master dataset: S3 (or any S3-compatible server).

``ObjectStore`` is the small interface the layers use; ``S3ObjectStore`` is the real one
(boto3, client created lazily), ``InMemoryObjectStore`` the fake for unit tests of pure
logic. botocore errors become ``ServiceUnavailable`` with the bucket/key, never credentials.
"""

from __future__ import annotations

import io
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambda_common.errors import ServiceUnavailable
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)


class ObjectStore(ABC):
    """What the pipeline needs from an object store: one bucket, whole objects written,
    objects read whole or as streams."""

    bucket: str

    @abstractmethod
    def check(self) -> None:
        """Raise ``ServiceUnavailable`` unless the bucket is reachable."""

    @abstractmethod
    def ensure_bucket(self) -> bool:
        """Create the bucket if it is missing; True when created."""

    @abstractmethod
    def put(self, key: str, body: bytes) -> None:
        """Write (or overwrite) one object."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Read one whole object."""

    @abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """One object as a binary stream, read as it is consumed (close it when done:
        closing early stops the transfer). Errors while reading are
        ``ServiceUnavailable`` too."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the object exists."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """All keys under ``prefix``, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove one object (no error if absent)."""

    def uri(self, key: str) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{key}"


def credential_kwargs(settings: Settings) -> dict[str, str]:
    """The settings' own AWS keys, as boto3 takes them; none (an empty dict) unless both
    the key id and the secret are set: boto3 then uses its default chain (environment,
    profile, the instance's or task's IAM role)."""
    s = settings
    if not (s.aws_access_key_id and s.aws_secret_access_key):
        return {}
    kwargs = {
        "aws_access_key_id": s.aws_access_key_id,
        "aws_secret_access_key": s.aws_secret_access_key.get_secret_value(),
    }
    if s.aws_session_token:
        kwargs["aws_session_token"] = s.aws_session_token.get_secret_value()
    return kwargs


@dataclass(frozen=True)
class Credentials:
    """The AWS keys S3 requests are signed with (hold secrets: never log them)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def resolve_credentials(settings: Settings) -> Credentials | None:
    """The keys the S3 client signs with, for a reader other than boto3 (DuckDB): the
    settings' own, else what boto3's default chain finds now (temporary keys of an IAM
    role included); None when it finds none (anonymous requests)."""
    try:
        session = boto3.Session(region_name=settings.aws_region, **credential_kwargs(settings))
        found = session.get_credentials()
        if found is None:
            return None
        frozen = found.get_frozen_credentials()
    except BotoCoreError as e:
        raise ServiceUnavailable(
            f"AWS credentials could not be resolved: {type(e).__name__}"
        ) from e
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", "?"))


class S3ObjectStore(ObjectStore):
    """Real S3, or an S3-compatible server when ``S3_ENDPOINT_URL`` is set."""

    def __init__(self, settings: Settings, *, attempts: int = 5, read_timeout_s: int = 60) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        # A health check (make status) wants a quick answer: fewer attempts, short reads.
        self._attempts = attempts
        self._read_timeout_s = read_timeout_s

    @cached_property
    def client(self) -> Any:  # botocore builds the S3 client class at run time
        """The boto3 client, created on first use."""
        s = self.settings
        kwargs: dict[str, Any] = {"region_name": s.aws_region, **credential_kwargs(s)}
        if s.s3_endpoint_url:
            kwargs["endpoint_url"] = s.s3_endpoint_url
        config = Config(
            connect_timeout=5,
            read_timeout=self._read_timeout_s,
            retries={"max_attempts": self._attempts, "mode": "standard"},
            # Path-style works with every S3-compatible server; AWS takes virtual-host.
            s3={"addressing_style": "path" if s.s3_endpoint_url else "auto"},
            # Newer botocore adds CRC checksums to every upload; only send them when the
            # operation needs one, so S3-compatible servers that lack them still work.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.client("s3", config=config, **kwargs)

    def _fail(self, op: str, target: str, e: Exception) -> ServiceUnavailable:
        detail = _code(e) if isinstance(e, ClientError) else type(e).__name__
        where = self.settings.s3_endpoint_url or "AWS"
        return ServiceUnavailable(f"S3 {op} {target} failed at {where}: {detail}")

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as e:
            raise self._fail("head_bucket", f"s3://{self.bucket}", e) from e

    def ensure_bucket(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as e:
            if _code(e) not in ("404", "NoSuchBucket", "NotFound"):
                raise self._fail("head_bucket", f"s3://{self.bucket}", e) from e
        except BotoCoreError as e:
            raise self._fail("head_bucket", f"s3://{self.bucket}", e) from e
        try:
            if self.settings.aws_region == "us-east-1":
                self.client.create_bucket(Bucket=self.bucket)
            else:
                self.client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.settings.aws_region},
                )
        except ClientError as e:
            if _code(e) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise self._fail("create_bucket", f"s3://{self.bucket}", e) from e
        logger.info("created bucket s3://%s", self.bucket)
        return True

    def put(self, key: str, body: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as e:
            raise self._fail("put", self.uri(key), e) from e

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body
        except (ClientError, BotoCoreError) as e:
            raise self._fail("get", self.uri(key), e) from e

    def open(self, key: str) -> IO[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as e:
            raise self._fail("get", self.uri(key), e) from e
        # Buffered, so that gzip's small reads do not each reach the socket.
        return io.BufferedReader(_S3Body(body, lambda e: self._fail("get", self.uri(key), e)))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail("head", self.uri(key), e) from e
        except BotoCoreError as e:
            raise self._fail("head", self.uri(key), e) from e

    def list_keys(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        except (ClientError, BotoCoreError) as e:
            raise self._fail("list", self.uri(prefix), e) from e
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as e:
            raise self._fail("delete", self.uri(key), e) from e


class _S3Body(io.RawIOBase):
    """botocore's streaming body as a raw binary stream whose read errors are the
    project's (a connection lost mid-object is the store being unavailable)."""

    def __init__(self, body: Any, fail: Callable[[Exception], ServiceUnavailable]) -> None:
        self._body = body
        self._fail = fail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            chunk: bytes = self._body.read(len(buffer))
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e) from e
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            # Closing before the end drops the connection instead of reading the rest.
            self._body.close()
        super().close()


class InMemoryObjectStore(ObjectStore):
    """A fake object store for unit tests of pure logic (no I/O)."""

    def __init__(self, bucket: str = "test-bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.created = False
        # Bytes handed out by get and by the streams of open: what a test of streaming
        # checks (a first line read without the rest of the object).
        self.bytes_read = 0

    def check(self) -> None:
        if not self.created:
            raise ServiceUnavailable(f"S3 head_bucket s3://{self.bucket} failed: NoSuchBucket")

    def ensure_bucket(self) -> bool:
        created, self.created = not self.created, True
        return created

    def put(self, key: str, body: bytes) -> None:
        self.check()
        self.objects[key] = bytes(body)

    def get(self, key: str) -> bytes:
        self.check()
        try:
            body = self.objects[key]
        except KeyError:
            raise ServiceUnavailable(f"S3 get {self.uri(key)} failed: NoSuchKey") from None
        self.bytes_read += len(body)
        return body

    def open(self, key: str) -> IO[bytes]:
        self.check()
        if key not in self.objects:
            raise ServiceUnavailable(f"S3 get {self.uri(key)} failed: NoSuchKey")
        return _CountingStream(self, self.objects[key])

    def exists(self, key: str) -> bool:
        self.check()
        return key in self.objects

    def list_keys(self, prefix: str = "") -> list[str]:
        self.check()
        return sorted(k for k in self.objects if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self.check()
        self.objects.pop(key, None)


class _CountingStream(io.BytesIO):
    """An in-memory object's stream that adds what is read to its store's ``bytes_read``."""

    def __init__(self, store: InMemoryObjectStore, body: bytes) -> None:
        super().__init__(body)
        self._store = store

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._store.bytes_read += len(chunk)
        return chunk

    def read1(self, size: int | None = -1) -> bytes:
        chunk = super().read1(size)
        self._store.bytes_read += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        n = super().readinto(buffer)
        self._store.bytes_read += n
        return n
