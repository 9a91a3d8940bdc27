"""The analyzer as the Lambda runs it: settings + rules + AWS adapters + batch runner.

Built once per container (:meth:`Analyzer.from_env`, at init) and reused by every invocation.
Tests build it with :meth:`Analyzer.build`, injecting moto-backed clients and a fake detector.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from analyzer.batch import BatchReport, PartialBatchResponse, Work, run_batch
from analyzer.config import Settings
from analyzer.errors import ModelUnavailableError
from analyzer.pipeline import Pipeline
from analyzer.ports import Detector, Notifier, ObjectRef, Storage
from analyzer.rekognition import RekognitionDetector, client_config, is_throttling
from analyzer.results import ImageOutcome, Status
from analyzer.s3 import S3Storage
from analyzer.sns import SnsNotifier
from rules import RULE_ERROR, Ruleset, load_ruleset

SERVICE = "imgpipe-analyzer"
NAMESPACE = "imgpipe"


class BotocoreSession:
    """The slice of ``boto3.session.Session`` the analyzer uses, on plain botocore.

    boto3 adds nothing the adapters need (they call client methods only) but costs ~90 ms of cold
    start (boto3, s3transfer, multiprocessing); botocore clients are what boto3 returns anyway.
    """

    def __init__(self) -> None:
        import botocore.session

        self._session = botocore.session.get_session()

    @property
    def region_name(self) -> str | None:
        region = self._session.get_config_variable("region")
        return str(region) if region else None

    def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
        return self._session.create_client(service, region_name=region_name, config=config)


def _service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE


@functools.cache
def default_logger() -> Logger:
    """One Powertools Logger per process (a second one of the same service loses its formatter)."""
    return Logger(service=_service())


def rule_errors(outcome: ImageOutcome) -> list[Any]:
    """The rule errors (see ``rules.RULE_ERROR``) among one image's matches."""
    return [m.get("evidence") for m in outcome.matches if m.get("category") == RULE_ERROR]


class Analyzer:
    """Everything one container needs to handle SQS batches."""

    def __init__(
        self,
        settings: Settings,
        ruleset: Ruleset,
        *,
        s3_client: Any,
        detector: Detector,
        notifier: Notifier | None,
        dynamodb_client: Any = None,
        logger: Logger | None = None,
        metrics: Metrics | None = None,
        region: str | None = None,
        storage_factory: Callable[[str], Storage] | None = None,
    ) -> None:
        self.settings = settings
        self.ruleset = ruleset
        self.logger = logger or default_logger()
        self.metrics = metrics or Metrics(
            namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE,
            service=_service(),
        )
        self.s3_client = s3_client
        self.pipelines: dict[str, Pipeline] = {}
        self._pipelines_lock = threading.Lock()
        self._detector = detector
        self._notifier = notifier
        self._region = region
        self._storage_factory = storage_factory or (
            lambda bucket: S3Storage(self.s3_client, bucket, region=self._region)
        )
        self.work: Work = self._process
        self._dynamodb_client = dynamodb_client
        self._rejudge_idempotent: Any = None
        self.idempotent: Any = None
        if settings.idempotency_table:
            from analyzer.idempotency import IdempotentWork  # only when enabled: import cost

            self.idempotent = IdempotentWork(
                self._process,
                table_name=settings.idempotency_table,
                dynamodb_client=dynamodb_client,
                expires_after_seconds=settings.idempotency_ttl_seconds,
            )
            self.work = self.idempotent

    @property
    def notifier(self) -> Notifier | None:
        return self._notifier

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        session: Any = None,
        detector: Detector | None = None,
        ruleset: Ruleset | None = None,
        **kwargs: Any,
    ) -> Analyzer:
        """Load the rules and create the clients this configuration needs."""
        if session is None:
            session = BotocoreSession()
        ruleset = ruleset or load_ruleset(settings.rules_path)
        region = session.region_name
        s3 = session.client("s3")
        if detector is None:
            cfg = client_config(settings.rekognition_retry_mode, settings.rekognition_max_attempts)
            clients: dict[str, Any] = {}
            lock = threading.Lock()

            def client_for_region(name: str) -> Any:
                with lock:
                    if name not in clients:
                        clients[name] = session.client("rekognition", region_name=name, config=cfg)
                    return clients[name]

            detector = RekognitionDetector(
                session.client("rekognition", config=cfg),
                client_for_region=client_for_region,
                labels_min_confidence=settings.labels_min_confidence,
                moderation_min_confidence=settings.moderation_min_confidence,
                max_labels=settings.max_labels,
            )
        notifier = SnsNotifier(session.client("sns"), settings.topic_arn) if settings.topic_arn else None
        dynamodb = session.client("dynamodb") if settings.idempotency_table else None
        return cls(
            settings, ruleset, s3_client=s3, detector=detector, notifier=notifier,
            dynamodb_client=dynamodb, region=region, **kwargs,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Analyzer:
        return cls.build(Settings.from_env(environ))

    # -- per object -----------------------------------------------------------------------

    def pipeline_for(self, bucket: str) -> Pipeline:
        with self._pipelines_lock:
            pipeline = self.pipelines.get(bucket)
            if pipeline is None:
                pipeline = Pipeline(
                    self.ruleset,
                    self._detector,
                    self._storage_factory(bucket),
                    self._notifier,
                    self.settings.pipeline(bucket),
                )
                self.pipelines[bucket] = pipeline
            return pipeline

    def _process(self, ref: ObjectRef) -> ImageOutcome:
        self.logger.thread_safe_append_keys(correlation_id=f"s3://{ref.bucket}/{ref.key}")
        try:
            outcome = self.pipeline_for(ref.bucket).process(ref)
            self.logger.info(
                "image processed",
                extra={"status": outcome.status, "verdict": outcome.verdict,
                       "reason": outcome.reason, "destination_key": outcome.destination_key,
                       "calls": outcome.calls, "timings_ms": outcome.timings_ms},
            )
            errors = rule_errors(outcome)
            if errors:  # a rule (usually a plugin) failed on this image: it went to review
                self.logger.warning("rule error: image routed by the other rules and to review",
                                    extra={"rule_errors": errors})
            return outcome
        finally:
            self.logger.thread_safe_clear_keys()

    # -- per batch ------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any = None) -> PartialBatchResponse:
        """The Lambda entry point's body: never raises for a record's failure."""
        if self.idempotent is not None:
            self.idempotent.register_lambda_context(context)
        request_id = getattr(context, "aws_request_id", None)
        if request_id:
            self.logger.append_keys(request_id=request_id)
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            self.logger.error("event has no SQS Records; nothing to do", extra={"event_keys": list(event or {})})
            return {"batchItemFailures": []}
        rejudge_failures: list[str] = []
        if any(isinstance(r, Mapping) and '"imgpipe"' in str(r.get("body")) for r in records):
            records, rejudge_failures = self._handle_rejudge(records, context)
        try:
            report = run_batch(
                records,
                self.work,
                input_prefix=self.settings.input_prefix,
                bucket_name=self.settings.bucket_name,
                max_workers=self.settings.max_workers,
                logger=self.logger,
            )
        except Exception:  # a bug in the runner itself: report every item, never raise blindly
            self.logger.exception("batch runner failed; every message will be retried")
            ids = [r.get("messageId") for r in records if isinstance(r, Mapping)]
            return {"batchItemFailures": [{"itemIdentifier": str(i)} for i in ids if i]}
        try:
            self._emit_metrics(report)
        except Exception:  # metrics must never turn done work into a retry (duplicates)
            self.logger.exception("emitting metrics failed")
        response = report.response()
        response["batchItemFailures"].extend({"itemIdentifier": m} for m in rejudge_failures)
        return response

    # -- re-judging (analyzer.rejudge) ----------------------------------------------------

    def rejudger_for(self, bucket: str) -> Any:
        from analyzer.rejudge import Rejudger, S3Archive

        pipeline = self.pipeline_for(bucket)
        archive = S3Archive(self.s3_client, bucket) if self.s3_client is not None else None
        return Rejudger(pipeline, archive, self._detector)

    def _rejudge_one(self, job: Any) -> Mapping[str, Any]:
        from analyzer.rejudge import RejudgeStatus, RulesMismatchError

        if self.settings.bucket_name and job.bucket != self.settings.bucket_name:
            return {"source_key": job.source_key, "status": RejudgeStatus.SKIPPED,
                    "why": "other_bucket"}
        self.logger.thread_safe_append_keys(correlation_id=f"s3://{job.bucket}/{job.source_key}")
        try:
            outcome: Mapping[str, Any] = self.rejudger_for(job.bucket).rejudge(job)
            self.logger.info("image re-judged", extra=dict(outcome))
            if outcome.get("rule_errors"):  # as for uploads: the other rules decide, and review
                self.logger.warning("rule error: image re-judged by the other rules and to review",
                                    extra={"rule_errors": outcome["rule_errors"]})
            return outcome
        except RulesMismatchError as exc:
            self.logger.warning(str(exc))
            raise
        finally:
            self.logger.thread_safe_clear_keys()

    def _handle_rejudge(
        self, records: list[Any], context: Any
    ) -> tuple[list[Any], list[str]]:
        """Run the re-judge messages of a batch; return the other records and the failed ids."""
        from analyzer.rejudge import IdempotentRejudge, peek_kind, run_rejudge_batch

        mine = [r for r in records if isinstance(r, Mapping) and peek_kind(r)]
        if not mine:
            return records, []
        others = [r for r in records if not (isinstance(r, Mapping) and peek_kind(r))]
        work: Callable[[Any], Mapping[str, Any]] = self._rejudge_one
        if self.settings.idempotency_table:
            if self._rejudge_idempotent is None:
                self._rejudge_idempotent = IdempotentRejudge(
                    self._rejudge_one, rules_digest=self.ruleset.digest,
                    table_name=self.settings.idempotency_table,
                    dynamodb_client=self._dynamodb_client,
                    expires_after_seconds=self.settings.idempotency_ttl_seconds,
                )
            self._rejudge_idempotent.register_lambda_context(context)
            work = self._rejudge_idempotent
        # stored analyses only: S3-bound, REJUDGE_WORKERS; re-analysis calls Rekognition and
        # keeps the stack's MAX_WORKERS (sized for its quota)
        reanalyse = any('"reanalyse"' in str(r.get("body")) for r in mine)
        workers = self.settings.max_workers if reanalyse else self.settings.rejudge_workers
        report = run_rejudge_batch(mine, work, max_workers=workers, logger=self.logger)
        try:
            unavailable = sum(1 for _, e in report.errors if isinstance(e, ModelUnavailableError))
            self._emit_rejudge_metrics(report.outcomes, len(report.failed_message_ids), unavailable)
        except Exception:
            self.logger.exception("emitting metrics failed")
        return others, report.failed_message_ids

    def _emit_rejudge_metrics(
        self, outcomes: list[Mapping[str, Any]], failed: int, model_unavailable: int = 0
    ) -> None:
        statuses = Counter(str(o.get("status")) for o in outcomes)
        for status, n in statuses.items():
            name = "".join(part.capitalize() for part in status.split("_"))
            self.metrics.add_metric(f"Rejudge{name}", MetricUnit.Count, n)
        self.metrics.add_metric("RejudgeFailedMessages", MetricUnit.Count, failed)
        # re-analysing with a custom model that cannot answer (see _emit_metrics)
        self.metrics.add_metric("ModelUnavailable", MetricUnit.Count, model_unavailable)
        self.metrics.add_metric("RuleErrors", MetricUnit.Count,
                                sum(len(o.get("rule_errors") or ()) for o in outcomes))
        self.metrics.flush_metrics()

    def _emit_metrics(self, report: BatchReport) -> None:
        m = self.metrics
        verdicts: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        calls: Counter[str] = Counter()
        rejections = 0
        failed_rules = 0
        for outcome in report.outcomes:
            failed_rules += len(rule_errors(outcome))
            statuses[outcome.status] += 1
            if outcome.status is not Status.ROUTED:
                continue
            verdicts[str(outcome.verdict)] += 1
            calls.update(outcome.calls)
            if outcome.reason:
                rejections += 1
            total = outcome.timings_ms.get("total")
            if isinstance(total, int | float):
                m.add_metric("ImageDuration", MetricUnit.Milliseconds, total)
        for verdict, n in verdicts.items():
            m.add_metric(f"Images{verdict.capitalize()}", MetricUnit.Count, n)
        for api, n in calls.items():
            m.add_metric(f"Rekognition{api}", MetricUnit.Count, n)
        m.add_metric("PrecheckRejections", MetricUnit.Count, rejections)
        m.add_metric("RuleErrors", MetricUnit.Count, failed_rules)
        m.add_metric("AlreadyDone", MetricUnit.Count, statuses[Status.ALREADY_DONE] + statuses[Status.DUPLICATE])
        m.add_metric("FailedMessages", MetricUnit.Count, len(report.failed_message_ids))
        m.add_metric("Throttled", MetricUnit.Count, sum(1 for _, e in report.errors if is_throttling(e)))
        m.add_metric("ModelUnavailable", MetricUnit.Count,
                     sum(1 for _, e in report.errors if isinstance(e, ModelUnavailableError)))
        m.add_metric("MalformedMessages", MetricUnit.Count, report.malformed)
        m.add_metric("SkippedRecords", MetricUnit.Count, sum(report.skipped.values()))
        m.flush_metrics()
