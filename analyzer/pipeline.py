"""The pipeline core: one image from "it exists" to "moved, recorded, announced".

No SQS, no boto3: everything outside goes through the ports (:mod:`analyzer.ports`), so the
Lambda and ``imgpipe run`` share this code. Steps for one object:

1. ``storage.head`` — a missing source whose destination exists is a finished earlier run
   (``already_done``; if its record says the announcement is still owed, it is sent now); a
   missing source without one was deleted by someone else (``missing``).
2. pre-checks (:mod:`analyzer.precheck`) on the size and the first bytes; a rejection goes to the
   failure folder with its reason and no detector call.
3. ``detector.detect`` with exactly the ruleset's needs; a :class:`PermanentImageError` is a
   rejection too. Throttling, transient errors and a custom model that cannot answer
   (:class:`~analyzer.errors.ModelUnavailableError`) propagate: the caller retries the message.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from analyzer import __version__
from analyzer.errors import DeliveryUnknownError, PermanentImageError
from analyzer.layout import DEFAULT_LAYOUT, VERDICTS, KeyLayout, OutsideInputPrefixError
from analyzer.ports import (
    Detection,
    Detector,
    ImageSource,
    Notification,
    Notifier,
    ObjectInfo,
    ObjectRef,
    Storage,
)
from analyzer.precheck import (
    DEFAULT_LIMITS,
    SNIFF_BYTES,
    Limits,
    check_size,
    describe,
    precheck,
    read_header,
)
from analyzer.results import (
    RECORD_SCHEMA,
    ImageOutcome,
    Status,
    outcome_from_record,
    outcome_to_record,
)
from analyzer.stored import pack_analysis
from rules import Analysis, Ruleset, Verdict
from rules.features import Needs
from rules.planning import CallPlan, run_plan

__all__ = [
    "RECORD_SCHEMA", "VERDICTS", "ImageOutcome", "KeyLayout", "OutsideInputPrefixError",
    "Pipeline", "PipelineSettings", "Status", "tag_value",
]

T = TypeVar("T")

# S3 tag values: letters, digits, spaces and _ . : / = + - @ ; at most 256 characters.
_TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]", re.UNICODE)
_TAG_MAX = 256


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What the core needs to know; the Lambda's is :meth:`analyzer.config.Settings.pipeline`."""

    layout: KeyLayout = DEFAULT_LAYOUT
    notify_verdicts: frozenset[Verdict] = frozenset(VERDICTS)
    delete_source: bool = True
    limits: Limits = DEFAULT_LIMITS
    sniff_bytes: int = SNIFF_BYTES
    bucket: str = ""  # recorded in results and notifications
    analyzer_version: str = __version__


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

    @property
    def layout(self) -> KeyLayout:
        return self.settings.layout

    def relative_key(self, key: str) -> str:
        return self.layout.relative_key(key)

    def destination_key(self, key: str, verdict: str) -> str:
        return self.layout.destination_key(key, verdict)

    def record_key(self, key: str, verdict: str) -> str:
        return self.layout.record_key(key, verdict)

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
            status=Status.ROUTED,
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
            outcome.verdict = Verdict.FAILURE
            outcome.reason = reason
            outcome.reason_text = describe(reason)
            outcome.features = self.ruleset.needs.features

        verdict = outcome.verdict or Verdict.FAILURE
        outcome.destination_key = self.destination_key(ref.key, verdict)
        outcome.record_key = self.record_key(ref.key, verdict)
        _timed(timings, "copy",
               lambda: self.storage.copy(info, outcome.destination_key or "", self.tags(outcome)))
        outcome.processed_at = self._clock().isoformat()
        outcome.timings_ms = timings
        timings["total"] = _ms(started)
        try:
            _timed(timings, "record",
                   lambda: self.storage.put_record(outcome.record_key or "", outcome_to_record(outcome)))
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
        if notifier is None or not self._will_notify(outcome.verdict or Verdict.FAILURE):
            return
        key = outcome.record_key or ""
        outcome.notified = True
        _timed(timings, "record_notified", lambda: self.storage.put_record(key, outcome_to_record(outcome)))
        try:
            _timed(timings, "notify", lambda: notifier.notify(self.notification(outcome)))
        except DeliveryUnknownError:
            raise  # keep the mark: the publish may have been delivered
        except Exception:
            outcome.notified = False
            with contextlib.suppress(Exception):  # best effort: the publish error is what matters
                self.storage.put_record(key, outcome_to_record(outcome))
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
            if self.ruleset.calls == CallPlan.ECONOMICAL:  # one call at a time: rules.planning
                self._analyse_planned(image, outcome, timings, started)
                return None
            detection = self.detector.detect(image, needs)
        except PermanentImageError as exc:
            timings["detect"] = _ms(started)
            return exc.reason
        timings["detect"] = _ms(started)
        outcome.calls = dict(detection.calls)
        outcome.model_versions = dict(detection.model_versions)
        outcome.analysis = pack_analysis(detection.responses, detection.model_versions)
        for api, ms in detection.timings_ms.items():
            timings[api] = ms
        analysis = Analysis.from_responses(
            labels=detection.responses.get("labels"),
            moderation=detection.responses.get("moderation"),
            text=detection.responses.get("text"),
            extra={k: v for k, v in detection.responses.items() if k in needs.extra},
        )
        decision = self.ruleset.evaluate(analysis)
        outcome.verdict = decision.verdict
        outcome.categories = list(decision.categories)
        outcome.matches = [match.to_dict() for match in decision.matches]
        outcome.features = list(decision.features)
        return None

    def _analyse_planned(
        self, image: ImageSource, outcome: ImageOutcome, timings: dict[str, float], started: float
    ) -> None:
        """The economical call plan: calls the analyses one by one, skipping the useless ones."""
        detection = Detection()

        def fetch(name: str, needs: Needs) -> dict[str, Any]:
            part = self.detector.detect(image, needs)
            for api, count in part.calls.items():
                detection.calls[api] = detection.calls.get(api, 0) + count
            for api, ms in part.timings_ms.items():  # two models of one API add up
                detection.timings_ms[api] = round(detection.timings_ms.get(api, 0.0) + ms, 3)
            detection.model_versions.update(part.model_versions)
            return part.responses[name]

        run = run_plan(self.ruleset, fetch, CallPlan.ECONOMICAL)
        timings["detect"] = _ms(started)
        timings.update(detection.timings_ms)
        decision = run.decision
        assert decision is not None
        outcome.calls = dict(detection.calls)
        outcome.skipped_calls = dict(run.skipped)
        outcome.model_versions = dict(detection.model_versions)
        # what was fetched is what can be judged again (the skipped calls stay skipped)
        outcome.analysis = pack_analysis(run.responses, detection.model_versions)
        outcome.verdict = decision.verdict
        outcome.categories = list(decision.categories)
        outcome.matches = [match.to_dict() for match in decision.matches]
        outcome.features = list(decision.features)

    def _source_missing(
        self, ref: ObjectRef, bucket: str, timings: dict[str, float]
    ) -> ImageOutcome:
        """No source: an earlier delivery finished (destination exists), or it was deleted."""
        for verdict, dest, record_key in self.layout.destinations(ref.key):
            if self.storage.head(dest) is None:
                continue
            record = self.storage.get_record(record_key)
            if record is not None and record.get("source_key") == ref.key:
                done = outcome_from_record(record)
                if not done.notified:  # the earlier run stopped between delete and publish
                    self._announce(done, timings)
                done.status = Status.ALREADY_DONE
                done.timings_ms = timings
                return done
            return ImageOutcome(
                status=Status.ALREADY_DONE,
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
            status=Status.MISSING,
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
        tags = {"verdict": str(outcome.verdict or Verdict.FAILURE)}
        tags["categories"] = tag_value(outcome.categories)
        if outcome.reason:
            tags["reason"] = tag_value([outcome.reason])
        return tags

    def notification(self, outcome: ImageOutcome) -> Notification:
        verdict = str(outcome.verdict or Verdict.FAILURE)
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
