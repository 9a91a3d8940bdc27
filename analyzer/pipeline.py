"""The pipeline core: one image from "it exists" to "moved, recorded, announced".

No SQS, no boto3: everything outside goes through the ports (:mod:`analyzer.ports`), so the
Lambda and ``imgpipe run`` share this code. Steps for one object:

1. ``storage.head`` — a missing source whose destination exists is a finished earlier run
   (``already_done``; if its record says the announcement is still owed, it is sent now); a
   missing source without one was deleted by someone else (``missing``).
2. pre-checks (:mod:`analyzer.precheck`) on the size and the first bytes; a rejection goes to the
   failure folder with its reason and no detector call.
3. ``detector.detect`` with exactly the ruleset's needs; a :class:`PermanentImageError` is a
   rejection too. Throttling and transient errors propagate: the caller retries the message.
4. the ruleset's verdict; ``storage.copy`` to ``OUTPUT_PREFIX/<verdict>/<relative key>`` with tags;
   ``storage.put_record`` of the JSON result record under ``RESULTS_PREFIX/<verdict>/<rel>.json``;
   ``storage.delete`` of the source (only after the copy exists); the record marked
   ``notified: true``; ``notifier.notify`` (a raised publish error clears the mark again).

Side effects are ordered so that a crash anywhere loses nothing: before the delete the source is
still there and a redelivery redoes the work (the copy is an overwrite of the same bytes); after
it, the record tells the redelivery whether the announcement is still owed.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from analyzer import __version__
from analyzer.errors import AnalyzerError, DeliveryUnknownError, PermanentImageError
from analyzer.ports import Detector, Notification, Notifier, ObjectInfo, ObjectRef, Storage
from analyzer.precheck import (
    DEFAULT_LIMITS,
    SNIFF_BYTES,
    Limits,
    check_size,
    describe,
    precheck,
    read_header,
)
from rules import Analysis, Ruleset

VERDICTS: tuple[str, ...] = ("success", "failure", "review")
T = TypeVar("T")
RECORD_SCHEMA = "imgpipe.result/1"

# S3 tag values: letters, digits, spaces and _ . : / = + - @ ; at most 256 characters.
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]", re.UNICODE)
_TAG_MAX = 256


class OutsideInputPrefixError(AnalyzerError):
    """The key is not under the pipeline's input prefix."""


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What the core needs to know; the Lambda builds it from its environment."""

    input_prefix: str = "images/"
    output_prefix: str = "analyzed/"
    results_prefix: str = "results/"
    notify_verdicts: frozenset[str] = frozenset(VERDICTS)
    delete_source: bool = True
    limits: Limits = DEFAULT_LIMITS
    sniff_bytes: int = SNIFF_BYTES
    bucket: str = ""  # recorded in results and notifications
    analyzer_version: str = __version__


@dataclass(slots=True)
class ImageOutcome:
    """What happened to one image; :meth:`to_dict` is the JSON result record."""

    status: str  # "routed" | "already_done" | "missing"
    bucket: str
    source_key: str
    destination_key: str | None = None
    record_key: str | None = None
    verdict: str | None = None
    categories: list[str] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    reason: str | None = None  # pre-check or permanent-detector rejection
    reason_text: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    content_type: str | None = None
    calls: dict[str, int] = field(default_factory=dict)
    model_versions: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    rules_name: str | None = None
    rules_digest: str | None = None
    notified: bool = False
    processed_at: str | None = None
    analyzer_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "status": self.status,
            "bucket": self.bucket,
            "source_key": self.source_key,
            "destination_key": self.destination_key,
            "record_key": self.record_key,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "content_type": self.content_type,
            "verdict": self.verdict,
            "categories": list(self.categories),
            "matches": list(self.matches),
            "features": list(self.features),
            "reason": self.reason,
            "reason_text": self.reason_text,
            "calls": dict(self.calls),
            "model_versions": dict(self.model_versions),
            "timings_ms": dict(self.timings_ms),
            "rules": {"name": self.rules_name, "sha256": self.rules_digest},
            "notified": self.notified,
            "processed_at": self.processed_at,
            "analyzer_version": self.analyzer_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageOutcome:
        rules = data.get("rules") or {}
        return cls(
            status=data["status"],
            bucket=data.get("bucket", ""),
            source_key=data["source_key"],
            destination_key=data.get("destination_key"),
            record_key=data.get("record_key"),
            verdict=data.get("verdict"),
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
            model_versions=dict(data.get("model_versions") or {}),
            timings_ms=dict(data.get("timings_ms") or {}),
            rules_name=rules.get("name"),
            rules_digest=rules.get("sha256"),
            notified=bool(data.get("notified")),
            processed_at=data.get("processed_at"),
            analyzer_version=data.get("analyzer_version", __version__),
        )


class Pipeline:
    """Processes one image at a time; stateless between calls, safe to share across threads."""

    def __init__(
        self,
        ruleset: Ruleset,
        detector: Detector,
        storage: Storage,
        notifier: Notifier | None,
        settings: PipelineSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ruleset = ruleset
        self.detector = detector
        self.storage = storage
        self.notifier = notifier
        self.settings = settings or PipelineSettings()
        self._clock = clock

    # -- keys -----------------------------------------------------------------------------

    def relative_key(self, key: str) -> str:
        prefix = self.settings.input_prefix
        if not key.startswith(prefix) or len(key) == len(prefix):
            raise OutsideInputPrefixError(f"{key!r} is not an object under {prefix!r}")
        return key[len(prefix) :]

    def destination_key(self, key: str, verdict: str) -> str:
        return f"{self.settings.output_prefix}{verdict}/{self.relative_key(key)}"

    def record_key(self, key: str, verdict: str) -> str:
        return f"{self.settings.results_prefix}{verdict}/{self.relative_key(key)}.json"

    # -- processing -----------------------------------------------------------------------

    def process(self, ref: ObjectRef | str) -> ImageOutcome:
        """Analyse, route, record and announce one object."""
        if isinstance(ref, str):
            ref = ObjectRef(key=ref, bucket=self.settings.bucket)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        self.relative_key(ref.key)  # fail fast on keys outside the input prefix
        bucket = ref.bucket or self.settings.bucket

        info = _timed(timings, "head", lambda: self.storage.head(ref.key))
        if info is None:
            return self._source_missing(ref, bucket, timings)

        outcome = ImageOutcome(
            status="routed",
            bucket=bucket,
            source_key=ref.key,
            version_id=info.version_id or ref.version_id,
            etag=_strip_quotes(info.etag or ref.etag),
            size=info.size,
            content_type=info.content_type,
            rules_name=self.ruleset.name,
            rules_digest=self.ruleset.digest,
            analyzer_version=self.settings.analyzer_version,
        )
        reason = self._precheck(info, timings)
        if reason is None:
            reason = self._analyse(info, ref, outcome, timings)
        if reason is not None:
            outcome.verdict = "failure"
            outcome.reason = reason
            outcome.reason_text = describe(reason)
            outcome.features = self.ruleset.needs.features

        verdict = outcome.verdict or "failure"
        outcome.destination_key = self.destination_key(ref.key, verdict)
        outcome.record_key = self.record_key(ref.key, verdict)
        _timed(timings, "copy",
               lambda: self.storage.copy(info, outcome.destination_key or "", self.tags(outcome)))
        outcome.processed_at = self._clock().isoformat()
        outcome.timings_ms = timings
        timings["total"] = _ms(started)
        try:
            _timed(timings, "record",
                   lambda: self.storage.put_record(outcome.record_key or "", outcome.to_dict()))
            if self.settings.delete_source:
                _timed(timings, "delete", lambda: self.storage.delete(ref.key))
        except Exception:
            self._undo_copy(ref.key, outcome.destination_key or "")
            raise
        self._announce(outcome, timings)
        timings["total"] = _ms(started)
        return outcome

    def _undo_copy(self, source_key: str, destination_key: str) -> None:
        """The record or the source delete failed after the copy: remove the copy again.

        The redelivery redoes the work; if the failure persists, the image stays in exactly one
        place (the source, its message in the DLQ). The copy is only removed while the source
        still exists, so an image whose source a concurrent delivery already moved keeps its
        only copy. A process that dies here (no exception) leaves the copy for the redelivery.
        """
        if not self.settings.delete_source:
            return
        with contextlib.suppress(Exception):  # best effort: the original error is what matters
            if self.storage.head(source_key) is not None:
                self.storage.delete(destination_key)

    def _announce(self, outcome: ImageOutcome, timings: dict[str, float]) -> None:
        """Announce the verdict (if it is announced) at most once, and never silently drop it.

        The record is marked ``notified`` *before* the publish: a process that dies during or
        after the publish is never announced twice. A publish that provably did not happen (an
        error answer from SNS, no connection) clears the mark again before the error propagates,
        so the redelivery announces. A publish whose answer was lost (:class:`DeliveryUnknownError`:
        a read timeout after the request went out) keeps the mark: at most once, never twice.
        """
        notifier = self.notifier
        if notifier is None or not self._will_notify(outcome.verdict or "failure"):
            return
        key = outcome.record_key or ""
        outcome.notified = True
        _timed(timings, "record_notified", lambda: self.storage.put_record(key, outcome.to_dict()))
        try:
            _timed(timings, "notify", lambda: notifier.notify(self.notification(outcome)))
        except DeliveryUnknownError:
            raise  # keep the mark: the publish may have been delivered
        except Exception:
            outcome.notified = False
            with contextlib.suppress(Exception):  # best effort: the publish error is what matters
                self.storage.put_record(key, outcome.to_dict())
            raise

    def _precheck(self, info: ObjectInfo, timings: dict[str, float]) -> str | None:
        limits = self.settings.limits
        reason = check_size(info.size, limits)
        if reason is not None:
            return reason
        # JPEG metadata longer than sniff_bytes before the frame header: read further (read_header)
        head = _timed(timings, "read_head", lambda: read_header(
            lambda n: self.storage.read_head(info.key, n), info.size, self.settings.sniff_bytes))
        return precheck(info.size, head, limits)

    def _analyse(
        self, info: ObjectInfo, ref: ObjectRef, outcome: ImageOutcome, timings: dict[str, float]
    ) -> str | None:
        needs = self.ruleset.needs
        image = self.storage.image_source(info, ref)
        started = time.perf_counter()
        try:
            detection = self.detector.detect(image, needs)
        except PermanentImageError as exc:
            timings["detect"] = _ms(started)
            return exc.reason
        timings["detect"] = _ms(started)
        outcome.calls = dict(detection.calls)
        outcome.model_versions = dict(detection.model_versions)
        for api, ms in detection.timings_ms.items():
            timings[api] = ms
        analysis = Analysis.from_responses(
            labels=detection.responses.get("labels"),
            moderation=detection.responses.get("moderation"),
            text=detection.responses.get("text"),
        )
        decision = self.ruleset.evaluate(analysis).to_dict()
        outcome.verdict = decision["verdict"]
        outcome.categories = list(decision["categories"])
        outcome.matches = list(decision["matches"])
        outcome.features = list(decision["features"])
        return None

    def _source_missing(
        self, ref: ObjectRef, bucket: str, timings: dict[str, float]
    ) -> ImageOutcome:
        """No source: an earlier delivery finished (destination exists), or it was deleted."""
        for verdict in VERDICTS:
            dest = self.destination_key(ref.key, verdict)
            if self.storage.head(dest) is None:
                continue
            record_key = self.record_key(ref.key, verdict)
            record = self.storage.get_record(record_key)
            if record is not None and record.get("source_key") == ref.key:
                done = ImageOutcome.from_dict(record)
                if not done.notified:  # the earlier run stopped between delete and publish
                    self._announce(done, timings)
                done.status = "already_done"
                done.timings_ms = timings
                return done
            return ImageOutcome(
                status="already_done",
                bucket=bucket,
                source_key=ref.key,
                destination_key=dest,
                record_key=record_key,
                verdict=verdict,
                version_id=ref.version_id,
                etag=_strip_quotes(ref.etag),
                timings_ms=timings,
                analyzer_version=self.settings.analyzer_version,
            )
        return ImageOutcome(
            status="missing",
            bucket=bucket,
            source_key=ref.key,
            version_id=ref.version_id,
            etag=_strip_quotes(ref.etag),
            timings_ms=timings,
            analyzer_version=self.settings.analyzer_version,
        )

    def _will_notify(self, verdict: str) -> bool:
        return self.notifier is not None and verdict in self.settings.notify_verdicts

    # -- presentation ---------------------------------------------------------------------

    def tags(self, outcome: ImageOutcome) -> dict[str, str]:
        """Object tags of the copy: verdict, top categories, rejection reason."""
        tags = {"verdict": outcome.verdict or "failure"}
        tags["categories"] = tag_value(outcome.categories)
        if outcome.reason:
            tags["reason"] = tag_value([outcome.reason])
        return tags

    def notification(self, outcome: ImageOutcome) -> Notification:
        verdict = outcome.verdict or "failure"
        rel = self.relative_key(outcome.source_key)
        detail = outcome.reason or ", ".join(outcome.categories) or "no rule matched"
        body = {
            "bucket": outcome.bucket,
            "source_key": outcome.source_key,
            "destination_key": outcome.destination_key,
            "record_key": outcome.record_key,
            "verdict": verdict,
            "categories": list(outcome.categories),
            "matches": list(outcome.matches),
            "reason": outcome.reason,
            "version_id": outcome.version_id,
            "etag": outcome.etag,
            "rules": outcome.rules_name,
            "processed_at": outcome.processed_at,
            "analyzer_version": outcome.analyzer_version,
        }
        return Notification(
            subject=f"imgpipe {verdict}: {rel} ({detail})",
            body=body,
            verdict=verdict,
            categories=tuple(outcome.categories),
        )


def tag_value(items: Iterable[str]) -> str:
    """Join items into one valid S3 tag value, keeping as many whole items as fit."""
    out = ""
    for item in items:
        clean = _TAG_UNSAFE.sub("_", item).strip()
        if not clean:
            continue
        candidate = f"{out} {clean}" if out else clean
        if len(candidate) > _TAG_MAX:
            break
        out = candidate
    return out


def _strip_quotes(etag: str | None) -> str | None:
    return etag.strip('"') if etag else etag


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _timed(timings: dict[str, float], name: str, step: Callable[[], T]) -> T:
    started = time.perf_counter()
    try:
        return step()
    finally:
        timings[name] = _ms(started)
