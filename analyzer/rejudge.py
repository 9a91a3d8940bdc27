"""Re-judging on the fleet: the function judges stored analyses again with its deployed rules.

A re-judge message goes through the stack's own queue and function, next to S3 event
notifications (``imgpipe reprocess PREFIX --mode rejudge`` enqueues them)::

    {"imgpipe": "rejudge", "version": 1, "run": "2026-12-02T05-30-00Z-1a2b",
     "bucket": "imgpipe-prod-images", "mode": "rejudge",
     "items": [{"source_key": "images/cams/1.jpg", "verdict": "success"}, ...],
     "rules_sha256": "<optional: the rules the sender expects the function to run>",
     "restore": {"tier": "Bulk", "days": 7}}

``mode`` is ``rejudge`` (the record's stored analysis, zero Rekognition calls) or ``reanalyse``
(Rekognition is called again on the analysed copy, by S3 reference). ``verdict`` is where the
sender saw the record (a hint; every verdict folder is looked at). A body whose ``imgpipe`` key
names anything else, or a version other than 1, is malformed (it fails and reaches the DLQ, like
any other unknown body).

For one image (:meth:`Rejudger.rejudge`):

1. find its result record under ``RESULTS_PREFIX<verdict>/<rel>.json``; a record already written
   by this ``run`` means a redelivery: only what is left (old copy, old record, announcement) is
   finished;
2. a record a reviewer decided (``imgpipe review approve|reject``: its ``review`` section) is left
   as the person decided it (``decided_by_reviewer``); a record with a pending move (archived
   image, see below) first completes the move when the restore is done (and is otherwise left
   alone: ``restore_in_progress``);
3. the stored analysis is judged with the deployed rules (no analysis, or one lacking what the
   rules need: ``not_rejudgeable``, acknowledged and counted);
4. same verdict: the record is updated in place (new rules, history entry) only if the rules or
   categories changed; nothing moves, nothing is announced;
5. new verdict: copy ``OUTPUT_PREFIX<old>/<rel>`` to ``OUTPUT_PREFIX<new>/<rel>``, write the new
   record (history kept, ``notified: false``), delete the old copy, delete the old record, announce.
   An archived old copy (GLACIER, DEEP_ARCHIVE, not restored) cannot be copied: a restore is
   requested (``restore.tier``), the new record is written with ``pending_move`` and announced, and
   the move is completed by a later re-judge message once the restore is done.

Every step is an overwrite or a delete of a named key, ordered so that a redelivery after a crash
anywhere converges; with ``IDEMPOTENCY_TABLE`` the job is also wrapped in Powertools idempotency
keyed on ``bucket, source_key, mode, run, deployed rules digest``: a redelivery of the message
is answered from the table, a deliberate second run (new ``run``) or a new rules file is new work.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from analyzer.batch import log_retried
from analyzer.errors import AnalyzerError, DeliveryUnknownError, MalformedRecordError
from analyzer.layout import VERDICTS, KeyLayout
from analyzer.pipeline import Pipeline
from analyzer.ports import Detector, Notification, S3Image
from analyzer.results import outcome_from_record
from analyzer.stored import StoredAnalysisError, pack_analysis, record_analysis
from rules import Decision, PluginError, Verdict
from rules.errors import AnalysisError
from rules.planning import analysis_of, judge_stored

MESSAGE_KIND = "rejudge"
MESSAGE_VERSION = 1
MODES = ("rejudge", "reanalyse")
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
RESTORE_TIERS = ("Bulk", "Standard", "Expedited")
KEY_PREFIX = "imgpipe-rejudge"
KEY_JMESPATH = "[bucket, source_key, mode, run, rules]"


class RulesMismatchError(AnalyzerError):
    """The message asks for rules the function does not run (yet): retried, then the DLQ."""


class RejudgeStatus(StrEnum):
    """What re-judging did with one image (the ``status`` of its outcome; the pipeline's own
    :class:`analyzer.results.Status` is for uploads). Metrics: ``Rejudge<Status>``."""

    UNCHANGED = "unchanged"  # same verdict: nothing moved or announced (record updated if needed)
    CHANGED = "changed"  # moved to the new verdict's folder and announced
    CHANGED_MOVE_DEFERRED = "changed_move_deferred"  # archived copy: restore requested
    MOVE_COMPLETED = "move_completed"  # a deferred move finished (then judged again)
    RESTORE_IN_PROGRESS = "restore_in_progress"  # a deferred move waits for its restore
    NOT_REJUDGEABLE = "not_rejudgeable"  # no stored analysis, or one lacking what rules need
    ALREADY_DONE = "already_done"  # this run's record exists: only leftovers were finished
    MISSING = "missing"  # no result record of the image in any verdict folder
    IMAGE_MISSING = "image_missing"  # a record, but no analysed copy to move
    DECIDED_BY_REVIEWER = "decided_by_reviewer"  # a person decided it: the decision stands
    DUPLICATE = "duplicate"  # answered from the idempotency store
    SKIPPED = "skipped"  # another bucket than the function's


# --- the message --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejudgeJob:
    """One image of a re-judge message."""

    bucket: str
    source_key: str
    run: str
    mode: str = "rejudge"
    verdict: Verdict | None = None
    rules_sha256: str | None = None
    restore_tier: str = "Bulk"
    restore_days: int = 7

    def key_fields(self, rules: str) -> dict[str, Any]:
        """The job as the idempotency layer sees it (``rules``: the deployed digest)."""
        return {"bucket": self.bucket, "source_key": self.source_key, "mode": self.mode,
                "run": self.run, "rules": rules, "verdict": self.verdict,
                "rules_sha256": self.rules_sha256, "restore_tier": self.restore_tier,
                "restore_days": self.restore_days}


@dataclass(frozen=True, slots=True)
class RejudgeMessage:
    message_id: str
    jobs: tuple[RejudgeJob, ...]


def peek_kind(record: Mapping[str, Any]) -> str | None:
    """``"rejudge"`` when an SQS record's body is an imgpipe control message, else None."""
    body = record.get("body")
    if not isinstance(body, str) or '"imgpipe"' not in body:
        return None
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return None
    if isinstance(payload, dict) and payload.get("imgpipe") == MESSAGE_KIND:
        return MESSAGE_KIND
    return None


def parse_rejudge(record: Mapping[str, Any]) -> RejudgeMessage:
    """Parse a re-judge message; MalformedRecordError names what is wrong."""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedRecordError("SQS record without messageId")
    try:
        payload = json.loads(str(record.get("body")))
    except json.JSONDecodeError as exc:
        raise MalformedRecordError(f"body is not JSON: {exc.msg}") from exc
    if not isinstance(payload, dict) or payload.get("imgpipe") != MESSAGE_KIND:
        raise MalformedRecordError("not a re-judge message")
    if payload.get("version") != MESSAGE_VERSION:
        raise MalformedRecordError(f"re-judge message version {payload.get('version')!r} (expected 1)")
    bucket, run = payload.get("bucket"), payload.get("run")
    mode = payload.get("mode", "rejudge")
    items = payload.get("items")
    if not isinstance(bucket, str) or not bucket or not isinstance(run, str) or not run:
        raise MalformedRecordError("re-judge message needs 'bucket' and 'run'")
    if mode not in MODES:
        raise MalformedRecordError(f"re-judge mode {mode!r} (expected {' or '.join(MODES)})")
    if not isinstance(items, list) or not items:
        raise MalformedRecordError("re-judge message has no 'items'")
    restore = payload.get("restore") or {}
    tier = restore.get("tier", "Bulk") if isinstance(restore, dict) else "Bulk"
    days = restore.get("days", 7) if isinstance(restore, dict) else 7
    if tier not in RESTORE_TIERS or not isinstance(days, int) or days < 1:
        raise MalformedRecordError(f"re-judge restore {restore!r}: tier {RESTORE_TIERS}, days >= 1")
    rules = payload.get("rules_sha256")
    jobs = []
    for index, item in enumerate(items):
        key = item.get("source_key") if isinstance(item, dict) else None
        verdict = item.get("verdict") if isinstance(item, dict) else None
        if not isinstance(key, str) or not key or (verdict is not None and verdict not in VERDICTS):
            raise MalformedRecordError(f"items[{index}]: needs 'source_key' (and a known verdict)")
        jobs.append(RejudgeJob(bucket, key, run, mode,
                               None if verdict is None else Verdict(verdict),
                               rules if isinstance(rules, str) else None, tier, days))
    return RejudgeMessage(message_id, tuple(jobs))


def rejudge_message(
    bucket: str,
    run: str,
    items: list[dict[str, str]],
    *,
    mode: str = "rejudge",
    rules_sha256: str | None = None,
    restore_tier: str = "Bulk",
    restore_days: int = 7,
) -> dict[str, Any]:
    """A re-judge message body (what ``imgpipe reprocess --mode rejudge`` sends)."""
    body: dict[str, Any] = {"imgpipe": MESSAGE_KIND, "version": MESSAGE_VERSION, "run": run,
                            "bucket": bucket, "mode": mode, "items": items,
                            "restore": {"tier": restore_tier, "days": restore_days}}
    if rules_sha256:
        body["rules_sha256"] = rules_sha256
    return body


# --- archived objects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveState:
    storage_class: str
    restore: str | None  # S3's x-amz-restore value, if a restore was ever requested

    @property
    def archived(self) -> bool:
        return self.storage_class in ARCHIVE_CLASSES

    @property
    def readable(self) -> bool:
        """Not archived, or archived with a finished restore (a temporary copy exists)."""
        return not self.archived or (self.restore is not None
                                     and 'ongoing-request="false"' in self.restore)


class Archive(Protocol):
    """Storage classes and restores (S3; a folder storage has no archive)."""

    def state(self, key: str) -> ArchiveState | None: ...

    def request_restore(self, key: str, days: int, tier: str) -> None: ...


class S3Archive:
    """:class:`Archive` over an injected S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def state(self, key: str) -> ArchiveState | None:
        from analyzer.s3 import head_object_or_none

        head = head_object_or_none(self.client, self.bucket, key)
        if head is None:
            return None
        return ArchiveState(str(head.get("StorageClass") or "STANDARD"), head.get("Restore"))

    def request_restore(self, key: str, days: int, tier: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.restore_object(
                Bucket=self.bucket, Key=key,
                RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
                raise


# --- the work -----------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _state(record: Mapping[str, Any], by: str) -> dict[str, Any]:
    """What a record said before a re-judge (one history entry)."""
    last = record.get("rejudge") or {}
    return {
        "verdict": record.get("verdict"),
        "categories": list(record.get("categories") or []),
        "rules": dict(record.get("rules") or {}),
        "at": last.get("at") or record.get("processed_at"),
        "by": by if last else "analysis",
    }


class Rejudger:
    """Re-judges images of one bucket through a pipeline's storage, rules and notifier."""

    def __init__(
        self,
        pipeline: Pipeline,
        archive: Archive | None = None,
        detector: Detector | None = None,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.pipeline = pipeline
        self.layout: KeyLayout = pipeline.layout
        self.storage = pipeline.storage
        self.ruleset = pipeline.ruleset
        self.archive = archive
        self.detector = detector
        self._clock = clock

    # keys (the pipeline's layout)
    def _rec(self, source_key: str, verdict: str) -> str:
        return self.layout.record_key(source_key, verdict)

    def _dest(self, source_key: str, verdict: str) -> str:
        return self.layout.destination_key(source_key, verdict)

    def rejudge(self, job: RejudgeJob) -> dict[str, Any]:
        """Re-judge one image; returns a small outcome dict (``status`` says what happened)."""
        if job.rules_sha256 and job.rules_sha256 != self.ruleset.digest:
            raise RulesMismatchError(
                f"the message expects rules {job.rules_sha256[:12]}, the function runs "
                f"{self.ruleset.digest[:12]} ({self.ruleset.name}): deploy first, or the old "
                "function is still draining"
            )
        self.layout.relative_key(job.source_key)
        order = ([job.verdict] if job.verdict else []) + [v for v in VERDICTS if v != job.verdict]
        found: dict[Verdict, dict[str, Any]] = {}
        for verdict in order:
            record = self.storage.get_record(self._rec(job.source_key, verdict))
            if record is not None and record.get("source_key") == job.source_key:
                found[verdict] = record
        base = {"source_key": job.source_key, "run": job.run, "mode": job.mode}
        if not found:
            return {**base, "status": RejudgeStatus.MISSING}
        mine = [v for v, r in found.items() if (r.get("rejudge") or {}).get("run") == job.run]
        if mine:  # a redelivery: finish what the earlier delivery left
            verdict = mine[0]
            record = found[verdict]
            self._finish(job, record, {v: r for v, r in found.items() if v != verdict})
            return {**base, "status": RejudgeStatus.ALREADY_DONE, "verdict": verdict}
        verdict, record = next(iter(found.items()))
        decision = record.get("review")
        if isinstance(decision, Mapping) and decision.get("decision"):
            # `imgpipe review approve|reject` moved it: rules never overrule a person
            why = (f"{decision.get('decision')} by {decision.get('reviewer')} at "
                   f"{decision.get('decided_at')}: the reviewer's decision stands")
            return {**base, "status": RejudgeStatus.DECIDED_BY_REVIEWER, "verdict": verdict,
                    "why": why}
        if record.get("pending_move"):
            status = self._complete_move(record)
            if status is not RejudgeStatus.MOVE_COMPLETED:
                return {**base, "status": status, "verdict": verdict}
        return {**base, **self._judge(job, verdict, record)}

    def _judge(self, job: RejudgeJob, old: Verdict, record: dict[str, Any]) -> dict[str, Any]:
        if job.mode == "reanalyse":
            responses, versions, calls = self._reanalyse(record)
            if responses is None:
                return {"status": RejudgeStatus.RESTORE_IN_PROGRESS, "verdict": old}
        else:
            calls = {}
            try:
                responses = record_analysis(record)
            except StoredAnalysisError as exc:
                return {"status": RejudgeStatus.NOT_REJUDGEABLE, "verdict": old, "why": str(exc)}
            if responses is None:
                why = ("rejected by the pre-checks" if record.get("reason")
                       else "no stored analysis (record older than stored analyses)")
                return {"status": RejudgeStatus.NOT_REJUDGEABLE, "verdict": old, "why": why}
            versions = dict((record.get("analysis") or {}).get("model_versions") or {})
        try:
            analysis = analysis_of(responses)
        except (AnalysisError, PluginError) as exc:  # a tampered record, an unknown analysis
            where = "the new analysis" if job.mode == "reanalyse" else "the stored analysis"
            return {"status": RejudgeStatus.NOT_REJUDGEABLE, "verdict": old,
                    "why": f"{where} is unreadable: {exc}"}
        # calls an economical plan skipped are done without where they cannot change the verdict
        judged = judge_stored(self.ruleset, analysis)
        if judged.decision is None:
            return {"status": RejudgeStatus.NOT_REJUDGEABLE, "verdict": old,
                    "why": f"the stored analysis lacks {', '.join(judged.lacking)}: re-analyse"}
        decision = judged.decision
        outcome = self._decide(job, old, record, decision, responses, versions, calls,
                               judged.skipped)
        if decision.errors:  # a rule (usually a plugin) failed: it counts as a review match
            outcome["rule_errors"] = [error.to_dict() for error in decision.errors]
        return outcome

    def _decide(
        self, job: RejudgeJob, old: Verdict, record: dict[str, Any], decision: Decision,
        responses: Mapping[str, Any], versions: dict[str, str], calls: dict[str, int],
        skipped: dict[str, str],
    ) -> dict[str, Any]:
        new = decision.verdict
        categories = list(decision.categories)
        matches = [match.to_dict() for match in decision.matches]
        rules = {"name": self.ruleset.name, "sha256": self.ruleset.digest}
        same = (new == old and record.get("rules") == rules
                and record.get("categories") == categories
                and record.get("matches") == matches and job.mode == "rejudge")
        if same:
            return {"status": RejudgeStatus.UNCHANGED, "verdict": old, "written": False}
        now = self._clock()
        updated = dict(record)
        updated["history"] = [*(record.get("history") or []), _state(record, "rejudge")]
        updated.update(verdict=str(new), categories=categories, matches=matches,
                       features=list(decision.features), rules=rules,
                       rejudge={"run": job.run, "at": now, "mode": job.mode,
                                "from_verdict": str(old), "changed": new != old})
        if skipped:  # the calls not made, and why the deployed rules do not need them either
            updated["skipped_calls"] = dict(skipped)
        else:
            updated.pop("skipped_calls", None)
        if job.mode == "reanalyse":
            updated["analysis"] = pack_analysis(responses, versions)
            updated["calls"] = calls
            updated["model_versions"] = versions
        if new == old:
            self.storage.put_record(self._rec(job.source_key, old), updated)
            return {"status": RejudgeStatus.UNCHANGED, "verdict": old, "written": True,
                    "calls": calls}
        return self._move(job, old, new, updated, calls)

    def _reanalyse(
        self, record: Mapping[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, int]]:
        if self.detector is None:
            raise AnalyzerError("reanalyse needs a detector")
        key = str(record.get("destination_key") or "")
        state = self.archive.state(key) if self.archive is not None else None
        if state is not None and not state.readable:
            return None, {}, {}  # Rekognition cannot read an archived object
        bucket = str(record.get("bucket") or self.pipeline.settings.bucket)
        detection = self.detector.detect(S3Image(bucket=bucket, key=key), self.ruleset.needs)
        return dict(detection.responses), dict(detection.model_versions), dict(detection.calls)

    def _move(
        self, job: RejudgeJob, old: Verdict, new: Verdict, record: dict[str, Any],
        calls: dict[str, int],
    ) -> dict[str, Any]:
        src, dst = self._dest(job.source_key, old), self._dest(job.source_key, new)
        record.update(destination_key=dst, record_key=self._rec(job.source_key, new),
                      notified=False)
        info = self.storage.head(src)
        if info is None:
            return {"status": RejudgeStatus.IMAGE_MISSING, "verdict": old}
        state = self.archive.state(src) if self.archive is not None else None
        deferred = state is not None and not state.readable
        if deferred:
            assert self.archive is not None
            self.archive.request_restore(src, job.restore_days, job.restore_tier)
            record["pending_move"] = {"from": src, "to": dst, "tier": job.restore_tier,
                                      "days": job.restore_days, "requested_at": self._clock()}
        else:
            self.storage.copy(info, dst, self._tags(record))
        self.storage.put_record(record["record_key"], record)
        if not deferred:
            self.storage.delete(src)
        self.storage.delete(self._rec(job.source_key, old))
        self._announce(record, old)
        status = RejudgeStatus.CHANGED_MOVE_DEFERRED if deferred else RejudgeStatus.CHANGED
        return {"status": status, "verdict": new, "previous_verdict": old, "calls": calls}

    def _finish(
        self, job: RejudgeJob, record: dict[str, Any], others: Mapping[Verdict, dict[str, Any]]
    ) -> None:
        """A redelivery of a message whose work was (partly) done: finish it, touch nothing else."""
        previous = str((record.get("rejudge") or {}).get("from_verdict") or "")
        if previous in others and previous != record.get("verdict"):
            src = self._dest(job.source_key, previous)
            moved = self.storage.head(str(record.get("destination_key")))
            if not record.get("pending_move") and moved is not None:
                self.storage.delete(src)
            self.storage.delete(self._rec(job.source_key, previous))
        elif previous and previous != record.get("verdict") and not record.get("pending_move"):
            src = self._dest(job.source_key, previous)
            if self.storage.head(src) is not None and \
                    self.storage.head(str(record.get("destination_key"))) is not None:
                self.storage.delete(src)
        if (record.get("rejudge") or {}).get("changed") and not record.get("notified"):
            self._announce(record, previous or "None")

    def _complete_move(self, record: dict[str, Any]) -> RejudgeStatus:
        """Finish a deferred move once the archived copy is restored."""
        pending = record["pending_move"]
        src, dst = str(pending["from"]), str(pending["to"])
        info = self.storage.head(src)
        if info is None:
            if self.storage.head(dst) is None:
                return RejudgeStatus.IMAGE_MISSING
        else:
            state = self.archive.state(src) if self.archive is not None else None
            if state is not None and not state.readable:
                return RejudgeStatus.RESTORE_IN_PROGRESS
            self.storage.copy(info, dst, self._tags(record))
        done = dict(record)
        done.pop("pending_move")
        done["move_completed_at"] = self._clock()
        self.storage.put_record(str(record["record_key"]), done)
        if info is not None:
            self.storage.delete(src)
        record.clear()
        record.update(done)
        return RejudgeStatus.MOVE_COMPLETED

    def _tags(self, record: Mapping[str, Any]) -> dict[str, str]:
        return self.pipeline.tags(outcome_from_record(dict(record)))

    def _announce(self, record: dict[str, Any], previous: str) -> None:
        """Like the pipeline's: mark, publish, clear the mark if the publish provably failed."""
        notifier = self.pipeline.notifier
        verdict = str(record.get("verdict"))
        if notifier is None or verdict not in self.pipeline.settings.notify_verdicts:
            return
        base = self.pipeline.notification(outcome_from_record(dict(record)))
        body = {**base.body, "previous_verdict": previous, "rejudged": True,
                "run": (record.get("rejudge") or {}).get("run"),
                "move_pending": bool(record.get("pending_move"))}
        note = Notification(subject=f"{base.subject} (was {previous})", body=body,
                            verdict=base.verdict, categories=base.categories)
        key = str(record["record_key"])
        record["notified"] = True
        self.storage.put_record(key, record)
        try:
            notifier.notify(note)
        except DeliveryUnknownError:
            raise
        except Exception:
            record["notified"] = False
            with contextlib.suppress(Exception):
                self.storage.put_record(key, record)
            raise


# --- idempotency and the batch ----------------------------------------------------------------


class IdempotentRejudge:
    """``RejudgeJob -> outcome`` wrapped in Powertools idempotency; replays say ``duplicate``."""

    def __init__(
        self,
        work: Callable[[RejudgeJob], Mapping[str, Any]],
        *,
        rules_digest: str,
        table_name: str,
        dynamodb_client: Any,
        expires_after_seconds: int,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._rules = rules_digest
        self._ran = threading.local()
        self.config = IdempotencyConfig(event_key_jmespath=KEY_JMESPATH,
                                        raise_on_no_idempotency_key=True,
                                        expires_after_seconds=expires_after_seconds)
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="job", persistence_store=persistence, config=self.config,
            key_prefix=KEY_PREFIX,
        )
        def run(job: dict[str, Any]) -> dict[str, Any]:
            self._ran.flag = True
            fields = {k: v for k, v in job.items() if k != "rules"}
            return dict(work(RejudgeJob(**fields)))

        self._run = run

    def register_lambda_context(self, context: Any) -> None:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)

    def __call__(self, job: RejudgeJob) -> Mapping[str, Any]:
        self._ran.flag = False
        result: dict[str, Any] = self._run(job=job.key_fields(self._rules))
        if not self._ran.flag:
            return {**result, "status": RejudgeStatus.DUPLICATE}
        return result


@dataclass(slots=True)
class RejudgeReport:
    failed_message_ids: list[str] = field(default_factory=list)
    outcomes: list[Mapping[str, Any]] = field(default_factory=list)
    errors: list[tuple[RejudgeJob | None, BaseException]] = field(default_factory=list)
    malformed: int = 0


def run_rejudge_batch(
    records: list[Mapping[str, Any]],
    work: Callable[[RejudgeJob], Mapping[str, Any]],
    *,
    max_workers: int = 4,
    logger: Any = None,
) -> RejudgeReport:
    """Re-judge every item of every message; a message fails if one of its items failed."""
    report = RejudgeReport()
    jobs: list[tuple[str, RejudgeJob]] = []
    for record in records:
        message_id = str(record.get("messageId") or "?")
        try:
            message = parse_rejudge(record)
        except MalformedRecordError as exc:
            report.malformed += 1
            report.failed_message_ids.append(message_id)
            report.errors.append((None, exc))
            if logger is not None:
                logger.error("malformed re-judge message; left for the DLQ",
                             extra={"message_id": message_id, "error": str(exc)})
            continue
        jobs.extend((message_id, job) for job in message.jobs)

    def one(item: tuple[str, RejudgeJob]) -> tuple[str, RejudgeJob, Any]:
        message_id, job = item
        try:
            return message_id, job, work(job)
        except Exception as exc:  # reported as a batch item failure, never swallowed
            if logger is not None:
                log_retried(logger, "re-judge failed; message will be retried", exc,
                            {"object_key": job.source_key})
            return message_id, job, exc

    # one image per lane: the same key twice in a batch runs once after the other
    by_key: dict[str, list[tuple[str, RejudgeJob]]] = {}
    for item in jobs:
        by_key.setdefault(item[1].source_key, []).append(item)

    def lane(items: list[tuple[str, RejudgeJob]]) -> list[tuple[str, RejudgeJob, Any]]:
        return [one(item) for item in items]

    lanes = list(by_key.values())
    if len(lanes) <= 1 or max_workers <= 1:
        results = [lane(items) for items in lanes]
    else:
        with ThreadPoolExecutor(max_workers=min(max_workers, len(lanes))) as pool:
            results = list(pool.map(lane, lanes))
    failed: set[str] = set()
    for lane_results in results:
        for message_id, job, result in lane_results:
            if isinstance(result, BaseException):
                report.errors.append((job, result))
                failed.add(message_id)
            else:
                report.outcomes.append(result)
    report.failed_message_ids.extend(m for m in dict.fromkeys(failed)
                                     if m not in report.failed_message_ids)
    return report

