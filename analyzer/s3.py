"""S3 as a :class:`~analyzer.ports.Storage`, over an injected boto3 client.

Objects are addressed by key, without version ids, so the function needs ``s3:GetObject`` rather
than ``s3:GetObjectVersion``; the copy is conditional on the ETag that was analysed, so an object
replaced mid-flight is never routed under the verdict of its predecessor.
"""

from __future__ import annotations

from collections.abc import Mapping
from json import loads
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError

from analyzer.ports import ImageSource, ObjectInfo, ObjectRef, S3Image
from analyzer.results import dumps

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Storage:
    """One bucket; keys are S3 keys."""

    def __init__(self, client: S3Client, bucket: str, *, region: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.region = region

    def head(self, key: str) -> ObjectInfo | None:
        resp = head_object_or_none(self.client, self.bucket, key)
        if resp is None:
            return None
        modified = resp.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(resp.get("ContentLength", 0)),
            etag=resp.get("ETag"),
            version_id=resp.get("VersionId"),
            content_type=resp.get("ContentType"),
            metadata=dict(resp.get("Metadata") or {}),
            last_modified=modified.isoformat() if modified is not None else None,
        )

    def read_head(self, key: str, length: int) -> bytes:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # an empty object
                return b""
            raise
        body = resp["Body"]
        try:
            return bytes(body.read(length))
        finally:
            body.close()

    def image_source(self, info: ObjectInfo, ref: ObjectRef) -> ImageSource:
        return S3Image(bucket=self.bucket, key=info.key, region=ref.region or self.region)

    def copy(self, info: ObjectInfo, dest_key: str, tags: Mapping[str, str]) -> None:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": dest_key,
            "CopySource": {"Bucket": self.bucket, "Key": info.key},
            "MetadataDirective": "COPY",
            "TaggingDirective": "REPLACE",
            # %20, not '+', for spaces: unambiguous whichever way the header is decoded
            "Tagging": urlencode(dict(tags), quote_via=quote),
        }
        if info.etag:
            kwargs["CopySourceIfMatch"] = info.etag
        self.client.copy_object(**kwargs)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=dumps(record).encode(),
            ContentType="application/json",
        )

    def get_record(self, key: str) -> dict[str, Any] | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        data = loads(resp["Body"].read())
        return data if isinstance(data, dict) else None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)


def is_not_found(exc: ClientError) -> bool:
    """Whether an S3 error says the object does not exist."""
    return _code(exc) in _NOT_FOUND


def head_object_or_none(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject, or None when the object does not exist (other errors propagate)."""
    try:
        return dict(client.head_object(Bucket=bucket, Key=key))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
