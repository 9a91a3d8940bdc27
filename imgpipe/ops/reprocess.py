"""Send analysed images back through the pipeline, e.g. after a rule change.

For each analysed object ``OUTPUT_PREFIX<verdict>/<rel>`` under the prefix:

1. skip it if ``INPUT_PREFIX<rel>`` exists (a newer upload is waiting; never overwrite it);
2. clear the image's idempotency records (when a table is given), so the redelivery is a new
   analysis and not answered from the stored result — needed when the bucket is not versioned
   (the ETag of a copy equals the original's); with versioning the copy has a new version id
   and therefore a new key anyway;
3. copy it back to ``INPUT_PREFIX<rel>`` (metadata kept, verdict tags dropped): S3 sends the
   ``ObjectCreated:Copy`` event that feeds the queue;
4. delete the analysed copy and its result record — in a versioned bucket the version seen and
   the older ones, so a newer copy the pipeline has already written stays current; in an
   unversioned bucket only if ETag and LastModified are still the ones seen (a narrow race:
   LastModified has a resolution of one second).

A crash between 3 and 4 leaves the old analysed copy next to the re-queued image; running the
same command again converges (the stale copy is sent back once more and re-analysed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from analyzer.layout import DEFAULT_LAYOUT, VERDICTS, KeyLayout
from analyzer.ports import ObjectRef
from analyzer.results import ref_to_job
from analyzer.s3 import head_object_or_none
from imgpipe.ops.errors import ReprocessError
from rules import Verdict


@dataclass(slots=True)
class ReprocessItem:
    """One analysed image and what was done with it."""

    analysed_key: str
    source_key: str
    verdict: str
    action: str  # requeued | would-requeue | skipped:<why>
    cleared_idempotency: int = 0


@dataclass(slots=True)
class ReprocessResult:
    items: list[ReprocessItem] = field(default_factory=list)

    @property
    def requeued(self) -> int:
        return sum(1 for i in self.items if i.action == "requeued")

    @property
    def skipped(self) -> int:
        return sum(1 for i in self.items if i.action.startswith("skipped"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "requeued": self.requeued,
            "skipped": self.skipped,
            "items": [
                {"analysed_key": i.analysed_key, "source_key": i.source_key, "verdict": i.verdict,
                 "action": i.action, "cleared_idempotency": i.cleared_idempotency}
                for i in self.items
            ],
        }


def split_prefix(
    prefix: str, layout: KeyLayout = DEFAULT_LAYOUT
) -> tuple[tuple[Verdict, ...] | None, str]:
    """``(verdicts or None for all, prefix relative to the input folder)``.

    Accepts ``cams/2026/`` (relative), ``images/cams/2026/`` or ``analyzed/review/cams/``.
    """
    prefix = prefix.lstrip("/")
    if prefix.startswith(layout.output_prefix):
        rest = prefix[len(layout.output_prefix):]
        verdict, sep, rel = rest.partition("/")
        if verdict in VERDICTS and sep:
            return (Verdict(verdict),), rel
        if rest in VERDICTS:
            return (Verdict(rest),), ""
        raise ReprocessError(
            f"{prefix!r}: expected {layout.output_prefix}<{'|'.join(VERDICTS)}>/..."
        )
    if prefix.startswith(layout.input_prefix):
        return None, prefix[len(layout.input_prefix):]
    return None, prefix


def reprocess(
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    layout: KeyLayout = DEFAULT_LAYOUT,
    verdicts: tuple[str, ...] | None = None,
    dynamodb: Any = None,
    table_name: str | None = None,
    dry_run: bool = False,
    max_objects: int | None = None,
) -> ReprocessResult:
    """Re-queue the analysed images under ``prefix``; see the module docstring."""
    only, rel_prefix = split_prefix(prefix, layout)
    chosen = tuple(v for v in (verdicts or VERDICTS) if only is None or v in only)
    versioned = _versioned(s3, bucket)
    clearer = _IdempotencyClearer(dynamodb, table_name) if dynamodb is not None and table_name else None
    result = ReprocessResult()
    for verdict in chosen:
        for key in _keys(s3, bucket, layout.verdict_folder(verdict) + rel_prefix):
            if max_objects is not None and len(result.items) >= max_objects:
                return result
            analysed = layout.analysed(key)
            if analysed is None or key.endswith("/"):
                continue
            source = layout.source_key(analysed.relative)
            item = ReprocessItem(key, source, verdict, "would-requeue")
            result.items.append(item)
            if dry_run:
                continue
            _requeue(s3, bucket, item, layout.record_key(source, verdict), versioned, clearer)
    return result


def _requeue(
    s3: Any,
    bucket: str,
    item: ReprocessItem,
    record_key: str,
    versioned: bool,
    clearer: _IdempotencyClearer | None,
) -> None:
    if _head(s3, bucket, item.source_key) is not None:
        item.action = "skipped:source-exists"
        return
    seen = _head(s3, bucket, item.analysed_key)
    if seen is None:
        item.action = "skipped:gone"
        return
    record_seen = _head(s3, bucket, record_key)
    if clearer is not None:
        identities = {str(seen.get("ETag", "")).strip('"')}
        record = _read_json(s3, bucket, record_key) if record_seen is not None else None
        if record:
            identities |= {str(record.get(k) or "").strip('"') for k in ("version_id", "etag")}
        item.cleared_idempotency = clearer.clear(bucket, item.source_key, identities - {""})
    source: dict[str, str] = {"Bucket": bucket, "Key": item.analysed_key}
    if versioned and seen.get("VersionId"):
        source["VersionId"] = seen["VersionId"]
    s3.copy_object(
        Bucket=bucket,
        Key=item.source_key,
        CopySource=source,
        MetadataDirective="COPY",
        TaggingDirective="REPLACE",
        Tagging="",
    )
    item.action = "requeued"
    _delete_seen(s3, bucket, item.analysed_key, seen, versioned)
    if record_seen is not None:
        _delete_seen(s3, bucket, record_key, record_seen, versioned)


def _delete_seen(s3: Any, bucket: str, key: str, seen: dict[str, Any], versioned: bool) -> None:
    """Delete the object as it was seen, never a newer write.

    Versioned: the seen version and every older one (deleting only the seen version would make
    the previous one current again); a version written after it stays current.
    """
    version = seen.get("VersionId")
    if versioned and version and version != "null":
        for old in _versions_from(s3, bucket, key, version):
            s3.delete_object(Bucket=bucket, Key=key, VersionId=old)
        return
    now = _head(s3, bucket, key)
    if now is None:
        return
    if now.get("ETag") == seen.get("ETag") and now.get("LastModified") == seen.get("LastModified"):
        s3.delete_object(Bucket=bucket, Key=key)


def _versions_from(s3: Any, bucket: str, key: str, version: str) -> list[str]:
    """``version`` and the versions (and delete markers) of ``key`` older than it."""
    ordered: list[tuple[str, str]] = []  # (LastModified ISO, VersionId), S3 lists newest first
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for entry in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
            if entry.get("Key") == key and entry.get("VersionId"):
                ordered.append((entry["LastModified"].isoformat(), entry["VersionId"]))
    ordered.sort(key=lambda item: item[0], reverse=True)
    ids = [vid for _, vid in ordered]
    if version not in ids:
        return [version]
    return ids[ids.index(version):]


def _versioned(s3: Any, bucket: str) -> bool:
    return bool(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled")


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents") or [])
    return keys


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    return head_object_or_none(s3, bucket, key)


def _read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _IdempotencyClearer:
    """Deletes the analyzer's Powertools idempotency records for one image."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
        )

        from analyzer.idempotency import KEY_JMESPATH, KEY_PREFIX

        self.layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
        self.layer.configure(IdempotencyConfig(event_key_jmespath=KEY_JMESPATH),
                             key_prefix=KEY_PREFIX)

    def clear(self, bucket: str, key: str, identities: set[str]) -> int:
        for identity in sorted(identities):
            job = ref_to_job(ObjectRef(key=key, bucket=bucket, version_id=identity))
            self.layer.delete_record(job, ReprocessError("reprocess"))
        return len(identities)
