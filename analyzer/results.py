"""What happened to one image, typed, and its one JSON form.

:class:`ImageOutcome` travels typed from the pipeline through the batch runner, idempotency and
metrics to ``imgpipe run``; it becomes JSON in exactly one place, :func:`outcome_to_record` (the
result record written next to the image, what Powertools idempotency stores (less the stored
analysis, :func:`outcome_to_stored_result`), what
``imgpipe run --json`` and the notifications are built from), and comes back through
:func:`outcome_from_record`. :func:`dumps` is the one JSON encoder of records, messages and CLI
output. :func:`ref_to_job` / :func:`ref_from_job` are the same pair for an :class:`ObjectRef`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analyzer import __version__
from analyzer.ports import ObjectRef
from rules import Verdict

RECORD_SCHEMA = "imgpipe.result/1"


class Status(StrEnum):
    """What the pipeline did with an object (not to be confused with its :class:`Verdict`)."""

    ROUTED = "routed"  # analysed (or rejected) and moved to its verdict folder now
    ALREADY_DONE = "already_done"  # an earlier delivery moved it; nothing redone
    MISSING = "missing"  # the source is gone and was never routed: deleted by someone else
    DUPLICATE = "duplicate"  # answered from the idempotency store without running again


@dataclass(slots=True)
class ImageOutcome:
    """What happened to one image; :func:`outcome_to_record` is its JSON result record."""

    status: Status
    bucket: str
    source_key: str
    destination_key: str | None = None
    record_key: str | None = None
    verdict: Verdict | None = None
    categories: list[str] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)  # rules.Match in its JSON form
    features: list[str] = field(default_factory=list)
    reason: str | None = None  # pre-check or permanent-detector rejection
    reason_text: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    content_type: str | None = None
    calls: dict[str, int] = field(default_factory=dict)
    #: analysis name -> why the economical call plan skipped it (rules.planning)
    skipped_calls: dict[str, str] = field(default_factory=dict)
    model_versions: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    rules_name: str | None = None
    rules_digest: str | None = None
    notified: bool = False
    processed_at: str | None = None
    analyzer_version: str = __version__
    #: the raw responses judged, compressed (:mod:`analyzer.stored`); None: nothing to re-judge
    analysis: dict[str, Any] | None = None
    #: earlier verdicts of this image, oldest first (appended by re-judging, :mod:`analyzer.rejudge`)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def routed(self) -> bool:
        return self.status is Status.ROUTED

    def to_dict(self) -> dict[str, Any]:
        """The result record (:func:`outcome_to_record`)."""
        return outcome_to_record(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageOutcome:
        """An outcome from its result record (:func:`outcome_from_record`)."""
        return outcome_from_record(data)


def outcome_to_record(outcome: ImageOutcome, *, with_analysis: bool = True) -> dict[str, Any]:
    """The JSON result record (schema ``imgpipe.result/1``) of an outcome.

    ``with_analysis=False`` writes ``"analysis": null`` instead of the stored analysis
    (:func:`outcome_to_stored_result`).
    """
    return {
        "schema": RECORD_SCHEMA,
        "status": str(outcome.status),
        "bucket": outcome.bucket,
        "source_key": outcome.source_key,
        "destination_key": outcome.destination_key,
        "record_key": outcome.record_key,
        "version_id": outcome.version_id,
        "etag": outcome.etag,
        "size": outcome.size,
        "content_type": outcome.content_type,
        "verdict": None if outcome.verdict is None else str(outcome.verdict),
        "categories": list(outcome.categories),
        "matches": list(outcome.matches),
        "features": list(outcome.features),
        "reason": outcome.reason,
        "reason_text": outcome.reason_text,
        "calls": dict(outcome.calls),
        **({"skipped_calls": dict(outcome.skipped_calls)} if outcome.skipped_calls else {}),
        "model_versions": dict(outcome.model_versions),
        "timings_ms": dict(outcome.timings_ms),
        "rules": {"name": outcome.rules_name, "sha256": outcome.rules_digest},
        "notified": outcome.notified,
        "processed_at": outcome.processed_at,
        "analyzer_version": outcome.analyzer_version,
        "history": list(outcome.history),
        "analysis": outcome.analysis if with_analysis else None,
    }


def outcome_to_stored_result(outcome: ImageOutcome) -> dict[str, Any]:
    """What the idempotency store keeps of an outcome: its record without the stored analysis
    (that lives in the S3 record; the DynamoDB item stays small)."""
    return outcome_to_record(outcome, with_analysis=False)


def outcome_from_record(data: dict[str, Any]) -> ImageOutcome:
    """The outcome a result record (or an idempotency store entry) describes."""
    rules = data.get("rules") or {}
    verdict = data.get("verdict")
    return ImageOutcome(
        status=Status(data["status"]),
        bucket=data.get("bucket", ""),
        source_key=data["source_key"],
        destination_key=data.get("destination_key"),
        record_key=data.get("record_key"),
        verdict=None if verdict is None else Verdict(verdict),
        categories=list(data.get("categories") or []),
        matches=list(data.get("matches") or []),
        features=list(data.get("features") or []),
        reason=data.get("reason"),
        reason_text=data.get("reason_text"),
        version_id=data.get("version_id"),
        etag=data.get("etag"),
        size=data.get("size"),
        content_type=data.get("content_type"),
        calls=dict(data.get("calls") or {}),
        skipped_calls=dict(data.get("skipped_calls") or {}),
        model_versions=dict(data.get("model_versions") or {}),
        timings_ms=dict(data.get("timings_ms") or {}),
        rules_name=rules.get("name"),
        rules_digest=rules.get("sha256"),
        notified=bool(data.get("notified")),
        processed_at=data.get("processed_at"),
        analyzer_version=data.get("analyzer_version", __version__),
        analysis=data.get("analysis"),
        history=list(data.get("history") or []),
    )


_REF_FIELDS = tuple(f.name for f in dataclasses.fields(ObjectRef))


def ref_to_job(ref: ObjectRef) -> dict[str, Any]:
    """An object reference as JSON, with its :attr:`~ObjectRef.identity` (the idempotency key)."""
    job: dict[str, Any] = {name: getattr(ref, name) for name in _REF_FIELDS}
    job["identity"] = ref.identity
    return job


def ref_from_job(job: dict[str, Any]) -> ObjectRef:
    """The reference :func:`ref_to_job` wrote (derived fields such as ``identity`` dropped)."""
    return ObjectRef(**{name: job[name] for name in _REF_FIELDS if name in job})


def dumps(data: Any, *, indent: int | None = None, allow_nan: bool = True) -> str:
    """The one JSON encoder: UTF-8 text kept as is, anything unknown as its ``str``.

    ``allow_nan=False`` refuses non-finite numbers (strict JSON, e.g. the CLI's ``--json``)."""
    return json.dumps(data, indent=indent, ensure_ascii=False, default=str, allow_nan=allow_nan)
