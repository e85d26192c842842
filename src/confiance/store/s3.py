"""A storage node on any S3-compatible object store (boto3).

Credentials never sit in ``config.yaml``: they come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or the named ``profile``).
Every PUT carries a Content-MD5 so the server refuses a body damaged in
transit; durability is the server's acknowledgement.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from confiance.errors import StoreError
from confiance.store.node import Blob, BlobInfo, NodeUnavailable, check_key

_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass
class S3Node:
    name: str
    endpoint: str
    bucket: str
    region: str = "us-east-1"
    profile: str | None = None
    timeout: float = 10.0
    _client: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        session = boto3.session.Session(profile_name=self.profile)
        self._client = session.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            config=Config(
                connect_timeout=min(self.timeout, 3.0),
                read_timeout=self.timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
                # S3-compatible servers do not all know the newer flexible checksums
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Node:
        return cls(
            name=str(config["name"]),
            endpoint=str(config["endpoint"]),
            bucket=str(config["bucket"]),
            region=str(config.get("region", "us-east-1")),
            profile=None if config.get("profile") is None else str(config["profile"]),
            timeout=float(config.get("timeout", 10.0)),
        )

    def config(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "kind": "s3",
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "region": self.region,
        }
        if self.profile is not None:
            entry["profile"] = self.profile
        return entry

    def _unavailable(self, action: str, exc: Exception) -> NodeUnavailable:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
        reason = code or type(exc).__name__
        return NodeUnavailable(f"node {self.name}: {action} failed ({reason})")

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("bucket check", exc) from None

    def put(self, key: str, data: Blob) -> None:
        md5 = hashlib.md5(usedforsecurity=False)
        if isinstance(data, bytes):
            md5.update(data)
        elif isinstance(data, list):
            data = b"".join(data)  # one request body
            md5.update(data)
        else:  # a spooled file: hashed, then streamed from the start
            start = data.tell()
            spool = data
            for chunk in iter(lambda: spool.read(2**20), b""):
                md5.update(chunk)
            data.seek(start)
        digest = base64.b64encode(md5.digest()).decode()
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=check_key(self.name, key), Body=data, ContentMD5=digest
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"write of {key}", exc) from None

    def get(self, key: str) -> bytes | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=check_key(self.name, key))
            body: bytes = answer["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._unavailable(f"read of {key}", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable(f"read of {key}", exc) from None
        return body

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        try:
            answer = self._client.get_object(
                Bucket=self.bucket,
                Key=check_key(self.name, key),
                Range=f"bytes={start}-{start + max(length, 1) - 1}",  # a range has a byte
            )
            body: bytes = answer["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _MISSING:
                return None
            if code == "InvalidRange":  # the blob ends before ``start``
                return b""
            raise self._unavailable(f"read of {key}", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable(f"read of {key}", exc) from None
        return body[:length]

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=check_key(self.name, key))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"delete of {key}", exc) from None

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield BlobInfo(
                        str(item["Key"]), int(item["Size"]), item["LastModified"].timestamp()
                    )
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable("listing", exc) from None


def create_bucket(node: S3Node) -> None:
    """Create the node's bucket if it does not exist (``store add-node --create-bucket``)."""
    try:
        node._client.create_bucket(Bucket=node.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        }:
            code = exc.response.get("Error", {}).get("Code", "")
            raise StoreError(
                f"node {node.name}: bucket {node.bucket} cannot be created ({code})"
            ) from None
    except BotoCoreError as exc:
        raise node._unavailable("bucket creation", exc) from None
