"""Review decisions on a stack's bucket: list, show, approve, reject — with an audit trail.

Layout (the pipeline's, plus one prefix of ours):

- an image waiting for a person: ``analyzed/review/<rel>`` with its record
  ``results/review/<rel>.json``;
- a decision: ``reviews/<rel>/<analysis id>.json`` — who (STS GetCallerIdentity), when, why, the
  previous verdict. It is written with ``If-None-Match: *`` (S3 conditional write), so of two
  reviewers deciding the same image at once exactly one wins; the other is told who did
  (:class:`DecisionConflictError` for a different decision, ``already_decided`` for the same one).

After the decision is written the image is moved (copy to ``analyzed/<success|failure>/<rel>``,
record written under the new verdict with a ``review`` section, then the review copies deleted)
and announced once (a second conditional write, ``<decision>.announced``, guards the publish).
Every step after the decision is idempotent, so repeating the same decision finishes an
interrupted one; the decision object itself is never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from analyzer.layout import DEFAULT_LAYOUT, VERDICTS, KeyLayout
from analyzer.messages import decision_messages, match_words
from analyzer.precheck import describe
from analyzer.sns import sns_subject
from imgpipe.review.errors import DecisionConflictError, NotUnderReviewError, ReviewError

REVIEW_SCHEMA = "imgpipe.review/1"
#: decision -> the verdict the image gets
DECISIONS = {"approve": "success", "reject": "failure"}
PAST = {"approve": "approved", "reject": "rejected"}
METRICS_NAMESPACE = "imgpipe"
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True, slots=True)
class ReviewLayout:
    """The pipeline's key layout (:class:`analyzer.layout.KeyLayout`) and where decisions go."""

    keys: KeyLayout = DEFAULT_LAYOUT
    decisions_prefix: str = "reviews/"

    def rel(self, key: str) -> str:
        """The image's relative key from any of its names (``a/b.jpg``, ``images/a/b.jpg``,
        ``analyzed/review/a/b.jpg``, ``results/review/a/b.jpg.json``)."""
        key = key.strip().lstrip("/")
        if self.keys.is_input(key):
            return self.keys.relative_key(key)
        found = self.keys.analysed(key)
        if found is not None:
            return found.relative
        results = self.keys.results_prefix
        if key.startswith(results) and key.endswith(".json"):
            verdict, _, rel = key[len(results):].partition("/")
            if verdict in VERDICTS and rel:
                return rel.removesuffix(".json")
        return key

    def image_key(self, verdict: str, rel: str) -> str:
        return self.keys.verdict_folder(verdict) + rel

    def record_key(self, verdict: str, rel: str) -> str:
        return f"{self.keys.results_folder(verdict)}{rel}.json"

    def decisions_of(self, rel: str) -> str:
        return f"{self.decisions_prefix}{rel}/"


@dataclass(slots=True)
class ReviewItem:
    """One image waiting for a decision."""

    rel: str
    key: str
    size: int
    last_modified: str
    record: dict[str, Any] | None = None

    def reasons(self) -> list[str]:
        """Why it is under review, in plain words (one line per matched rule)."""
        record = self.record or {}
        out = []
        if record.get("reason"):
            out.append(f"not analysed: {describe(str(record['reason']))}")
        out += [match_words(m) for m in record.get("matches") or () if isinstance(m, dict)]
        return out or ["no rule matched (the rules file's default verdict is review)"]

    def to_dict(self) -> dict[str, Any]:
        record = self.record or {}
        return {
            "rel": self.rel,
            "key": self.key,
            "size": self.size,
            "last_modified": self.last_modified,
            "source_key": record.get("source_key"),
            "verdict": record.get("verdict", "review"),
            "categories": list(record.get("categories") or []),
            "reasons": self.reasons(),
            "processed_at": record.get("processed_at"),
            "rules": (record.get("rules") or {}).get("name") if isinstance(record.get("rules"), dict)
            else record.get("rules"),
        }


@dataclass(slots=True)
class DecisionResult:
    """``decided`` (this call decided) or ``already_decided`` (someone did, the same way)."""

    status: str
    decision: dict[str, Any]
    record: dict[str, Any] | None = None
    announced: bool = False
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        d = self.decision
        what = PAST.get(str(d.get("decision")), str(d.get("decision")))
        head = (f"{what}: {d.get('rel')} -> {d.get('to_key')}" if self.status == "decided"
                else f"already {what} by {d.get('reviewer')} at {d.get('decided_at')}: "
                     f"{d.get('rel')} -> {d.get('to_key')}")
        return head + (f" (reason: {d.get('reason')})" if d.get("reason") else "")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "decision": self.decision, "record": self.record,
                "announced": self.announced, "message": self.message()}


class ReviewService:
    """Decisions on one bucket, over injected boto3 clients."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        sts: Any = None,
        sns: Any = None,
        topic_arn: str | None = None,
        cloudwatch: Any = None,
        stack: str = "imgpipe",
        layout: ReviewLayout | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.sts = sts
        self.sns = sns
        self.topic_arn = topic_arn
        self.cloudwatch = cloudwatch
        self.stack = stack
        self.layout = layout or ReviewLayout()
        self._clock = clock
        self._identity: dict[str, str] | None = None
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- who ------------------------------------------------------------------------------

    def identity(self) -> dict[str, str]:
        """The caller (STS GetCallerIdentity): ARN, user id, account and a short name."""
        if self._identity is None:
            if self.sts is None:
                raise ReviewError("no STS client: cannot tell who decides")
            who = self.sts.get_caller_identity()
            arn = str(who.get("Arn") or "")
            self._identity = {
                "arn": arn,
                "user_id": str(who.get("UserId") or ""),
                "account": str(who.get("Account") or ""),
                "name": arn.rsplit("/", 1)[-1] if "/" in arn else arn,
            }
        return self._identity

    # -- read -----------------------------------------------------------------------------

    def queue(self, *, with_records: bool = True, limit: int | None = None) -> list[ReviewItem]:
        """Images waiting for a decision, oldest first."""
        prefix = self.layout.image_key("review", "")
        items: list[ReviewItem] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith("/"):
                    continue
                modified = obj.get("LastModified")
                items.append(ReviewItem(
                    rel=key[len(prefix):], key=key, size=int(obj.get("Size") or 0),
                    last_modified=modified.isoformat() if hasattr(modified, "isoformat")
                    else str(modified),
                ))
        items.sort(key=lambda i: (i.last_modified, i.rel))
        if limit is not None:
            items = items[:limit]
        if with_records and items:
            with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
                records = pool.map(
                    lambda i: self._get_json(self.layout.record_key("review", i.rel)), items)
                for item, record in zip(items, records, strict=True):
                    item.record = record
        self._metric("ReviewBacklog", len(items) if limit is None else None)
        return items

    def show(self, key: str) -> dict[str, Any]:
        """Everything known about one image: pending or decided, its record, its decisions."""
        rel = self.layout.rel(key)
        record = self._get_json(self.layout.record_key("review", rel))
        decisions = self.decisions(rel)
        if record is None and not decisions:
            raise NotUnderReviewError(
                f"{rel}: not under review (no {self.layout.record_key('review', rel)}) and "
                "never decided")
        if record is None:
            latest = decisions[-1]
            record = self._get_json(str(latest.get("record_key"))) or {}
        return {
            "rel": rel,
            "status": "pending" if record.get("verdict") == "review" else "decided",
            "image_key": record.get("destination_key"),
            "record": record,
            "decisions": decisions,
        }

    def decisions(self, rel: str) -> list[dict[str, Any]]:
        """Every decision taken on this key (one per analysed upload), oldest first."""
        prefix = self.layout.decisions_of(rel)
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if key.endswith(".json") and "/" not in key[len(prefix):]:
                    data = self._get_json(key)
                    if data:
                        found.append(data)
        return sorted(found, key=lambda d: str(d.get("decided_at")))

    def image_url(self, key: str, seconds: int = 300) -> str:
        """A short-lived presigned GET of an object (the review page's thumbnails)."""
        return str(self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds))

    def responses(self, record: dict[str, Any] | None) -> dict[str, Any]:
        """The raw analysis responses behind a record, when the record carries them (inline under
        ``responses``/``analysis``, or an S3 key under ``analysis_key``); else empty."""
        if not record:
            return {}
        for name in ("responses", "analysis"):
            inline = record.get(name)
            if isinstance(inline, dict):
                return inline
        key = record.get("analysis_key")
        if isinstance(key, str) and key:
            with contextlib.suppress(ClientError, ValueError):
                return self._get_json(key) or {}
        return {}

    # -- decide ---------------------------------------------------------------------------

    def decide(self, key: str, decision: str, reason: str | None = None) -> DecisionResult:
        """Approve (-> success) or reject (-> failure) one image under review."""
        if decision not in DECISIONS:
            raise ReviewError(f"decision must be approve or reject, not {decision!r}")
        reason = " ".join((reason or "").split())
        if decision == "reject" and not reason:
            raise ReviewError("a rejection needs a reason (--reason TEXT)")
        rel = self.layout.rel(key)
        # one process (the review page serves many tabs) decides a key at a time; between
        # processes and machines the conditional write below decides who wins
        with self._locks_guard:
            lock = self._locks.setdefault(rel, threading.Lock())
        with lock:
            return self._decide(rel, decision, reason)

    def _decide(self, rel: str, decision: str, reason: str) -> DecisionResult:
        record = self._get_json(self.layout.record_key("review", rel))
        if record is None:
            earlier = self.decisions(rel)
            if not earlier:
                raise NotUnderReviewError(
                    f"{rel}: not under review (no {self.layout.record_key('review', rel)})")
            return self._existing(earlier[-1], decision)
        claim = self._claim(rel, record, decision, reason)
        try:
            self._put_json(claim["decision_key"], claim, if_none_match=True)
        except ClientError as exc:
            if _code(exc) not in _PRECONDITION:
                raise
            existing = self._get_json(claim["decision_key"])
            if existing is None:  # the winner's write is still in flight (409): ask again
                raise ReviewError(f"{rel}: someone is deciding this image right now; "
                                  "look again in a moment") from exc
            return self._existing(existing, decision)
        moved, announced = self._finish(claim, record)
        self._metric("ReviewDecisions", 1, decision=decision)
        return DecisionResult("decided", claim, moved, announced)

    def _claim(self, rel: str, record: dict[str, Any], decision: str,
               reason: str) -> dict[str, Any]:
        me = self.identity()
        target = DECISIONS[decision]
        analysis = str(record.get("etag") or record.get("version_id") or "unversioned")
        return {
            "schema": REVIEW_SCHEMA,
            "rel": rel,
            "decision": decision,
            "verdict": target,
            "previous_verdict": record.get("verdict") or "review",
            "reason": reason,
            "reviewer": me["arn"],
            "reviewer_name": me["name"],
            "reviewer_user_id": me["user_id"],
            "account": me["account"],
            "decided_at": self._clock().isoformat(),
            "bucket": self.bucket,
            "source_key": record.get("source_key"),
            "analysis_id": analysis,
            "from_key": self.layout.image_key("review", rel),
            "to_key": self.layout.image_key(target, rel),
            "previous_record_key": self.layout.record_key("review", rel),
            "record_key": self.layout.record_key(target, rel),
            "decision_key": f"{self.layout.decisions_of(rel)}{_safe(analysis)}.json",
        }

    def _existing(self, existing: dict[str, Any], decision: str) -> DecisionResult:
        """Someone decided first: the same way -> finish their decision (idempotent) and say
        so; another way -> :class:`DecisionConflictError` naming who, when and why."""
        if existing.get("decision") != decision:
            what = PAST.get(str(existing.get("decision")), str(existing.get("decision")))
            raise DecisionConflictError(
                f"{existing.get('rel')}: already {what} by {existing.get('reviewer')} at "
                f"{existing.get('decided_at')}"
                + (f" (reason: {existing.get('reason')})" if existing.get("reason") else "")
                + "; nothing changed", existing)
        record = self._get_json(str(existing.get("previous_record_key")))
        if record is not None:  # their move was interrupted: finish it (every step idempotent)
            moved, announced = self._finish(existing, record)
            return DecisionResult("already_decided", existing, moved, announced)
        done = self._get_json(str(existing.get("record_key")))
        announced = self._announce(existing, done) if done else False
        return DecisionResult("already_decided", existing, done, announced)

    def _finish(self, claim: dict[str, Any], record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        src, dst = str(claim["from_key"]), str(claim["to_key"])
        moved = {
            **{k: v for k, v in record.items() if k != "review"},
            "verdict": claim["verdict"],
            "destination_key": dst,
            "record_key": claim["record_key"],
            "notified": bool(self.sns is not None and self.topic_arn),
            "review": {
                "decision": claim["decision"],
                "reason": claim["reason"],
                "reviewer": claim["reviewer"],
                "reviewer_name": claim["reviewer_name"],
                "decided_at": claim["decided_at"],
                "previous_verdict": claim["previous_verdict"],
                "previous_destination_key": src,
                "previous_record_key": claim["previous_record_key"],
                "decision_key": claim["decision_key"],
            },
        }
        self._copy(src, dst, claim)
        self._put_json(str(claim["record_key"]), moved)
        self.s3.delete_object(Bucket=self.bucket, Key=src)
        self.s3.delete_object(Bucket=self.bucket, Key=str(claim["previous_record_key"]))
        return moved, self._announce(claim, moved)

    def _copy(self, src: str, dst: str, claim: dict[str, Any]) -> None:
        try:
            tags = self.s3.get_object_tagging(Bucket=self.bucket, Key=src)["TagSet"]
            tagging = {t["Key"]: t["Value"] for t in tags}
            tagging.update(verdict=str(claim["verdict"]), review=str(claim["decision"]))
            self.s3.copy_object(
                Bucket=self.bucket, Key=dst, CopySource={"Bucket": self.bucket, "Key": src},
                MetadataDirective="COPY", TaggingDirective="REPLACE", Tagging=urlencode(tagging),
            )
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise
            if self._head(dst) is None:
                raise ReviewError(f"{src}: the image is gone and {dst} does not exist") from exc

    def _announce(self, claim: dict[str, Any], moved: dict[str, Any]) -> bool:
        """Publish the decision at most once (guarded by a conditional write)."""
        if self.sns is None or not self.topic_arn:
            return False
        guard = str(claim["decision_key"]).removesuffix(".json") + ".announced"
        try:
            self._put_json(guard, {"announced_at": self._clock().isoformat()},
                           if_none_match=True)
        except ClientError as exc:
            if _code(exc) in _PRECONDITION:
                return False  # announced already
            raise
        verdict = str(claim["verdict"])
        categories = [str(c) for c in moved.get("categories") or []]
        try:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=sns_subject(f"imgpipe {PAST[str(claim['decision'])]}: {claim['rel']}"),
                Message=decision_messages(moved, self.stack),
                MessageStructure="json",
                MessageAttributes={
                    "verdict": {"DataType": "String", "StringValue": verdict},
                    "categories": {"DataType": "String.Array",
                                   "StringValue": json.dumps(categories)},
                    "event": {"DataType": "String", "StringValue": "review_decision"},
                    "decision": {"DataType": "String", "StringValue": str(claim["decision"])},
                },
            )
        except Exception:
            with contextlib.suppress(ClientError):  # not published: let a retry announce it
                self.s3.delete_object(Bucket=self.bucket, Key=guard)
            raise
        return True

    # -- S3 helpers -----------------------------------------------------------------------

    def _get_json(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        data = json.loads(body)
        return data if isinstance(data, dict) else None

    def _put_json(self, key: str, data: dict[str, Any], *, if_none_match: bool = False) -> None:
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if if_none_match else {}
        self.s3.put_object(
            Bucket=self.bucket, Key=key, ContentType="application/json",
            Body=json.dumps(data, ensure_ascii=False, indent=1, default=str).encode(), **extra,
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise

    def _metric(self, name: str, value: float | None, **dims: str) -> None:
        """Best effort: the review backlog and decisions for the stack's dashboard."""
        if self.cloudwatch is None or value is None:
            return
        dimensions = [{"Name": "stack", "Value": self.stack}]
        dimensions += [{"Name": k, "Value": v} for k, v in dims.items()]
        with contextlib.suppress(Exception):
            self.cloudwatch.put_metric_data(Namespace=METRICS_NAMESPACE, MetricData=[
                {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": "Count"}])


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or
               exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "unversioned"
