"""Batch semantics: partial failures, de-duplication, bounded concurrency (no AWS)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from analyzer.batch import BatchReport, run_batch
from analyzer.ports import ObjectRef

FIXTURES = Path(__file__).resolve().parents[2] / "events" / "analyzer"
TEMPLATE = json.loads((FIXTURES / "sqs_message_template.json").read_text())
PUT = json.loads((FIXTURES / "s3_put_notification.json").read_text())
TEST_EVENT = json.loads((FIXTURES / "s3_test_event.json").read_text())


def s3_body(*keys: str, etag: str = "e1", bucket: str = "imgpipe-dev-images") -> dict[str, Any]:
    records = []
    for key in keys:
        record = copy.deepcopy(PUT["Records"][0])
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["object"].update(key=key, eTag=etag, sequencer=f"0065F1A2{etag}")
        record["s3"]["object"].pop("versionId")
        records.append(record)
    return {"Records": records}


def sqs(body: Any, message_id: str) -> dict[str, Any]:
    record = copy.deepcopy(TEMPLATE)
    record["messageId"] = message_id
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    return record


class Work:
    """Records calls; raises for keys in ``fail``; optionally waits on a barrier."""

    def __init__(self, fail: set[str] | None = None, barrier: threading.Barrier | None = None):
        self.fail = fail or set()
        self.barrier = barrier
        self.calls: list[ObjectRef] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, ref: ObjectRef) -> Mapping[str, Any]:
        with self.lock:
            self.calls.append(ref)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=10)
            if ref.key in self.fail:
                raise RuntimeError(f"boom {ref.key}")
            return {"status": "routed", "source_key": ref.key}
        finally:
            with self.lock:
                self.active -= 1


def run(records: list[dict[str, Any]], work: Work, **kwargs: Any) -> BatchReport:
    kwargs.setdefault("input_prefix", "images/")
    return run_batch(records, work, **kwargs)


def test_images_of_a_batch_run_concurrently() -> None:
    # GIVEN three images whose work only completes when all three are in flight at once
    work = Work(barrier=threading.Barrier(3))
    records = [sqs(s3_body(f"images/{i}.jpg"), f"m{i}") for i in range(3)]
    # WHEN the batch runs with enough workers
    report = run(records, work, max_workers=3)
    # THEN nobody waited in vain: no failures (a sequential run would break the barrier)
    assert report.response() == {"batchItemFailures": []}
    assert work.max_active == 3


def test_concurrency_is_bounded() -> None:
    work = Work(barrier=threading.Barrier(2))
    records = [sqs(s3_body(f"images/{i}.jpg"), f"m{i}") for i in range(6)]
    report = run(records, work, max_workers=2)
    assert report.failed_message_ids == []
    assert work.max_active == 2 and len(work.calls) == 6


def test_one_failure_does_not_touch_batch_mates() -> None:
    work = Work(fail={"images/bad.jpg"})
    records = [sqs(s3_body("images/ok1.jpg"), "m1"), sqs(s3_body("images/bad.jpg"), "m2"),
               sqs(s3_body("images/ok2.jpg"), "m3")]
    report = run(records, work)
    assert report.response() == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert sorted(o["source_key"] for o in report.outcomes) == ["images/ok1.jpg", "images/ok2.jpg"]
    assert [type(e) for _, e in report.errors] == [RuntimeError]


def test_whole_batch_failure_reports_every_item_and_does_not_raise() -> None:
    keys = [f"images/{i}.jpg" for i in range(4)]
    work = Work(fail=set(keys))
    report = run([sqs(s3_body(k), f"m{i}") for i, k in enumerate(keys)], work)
    assert [f["itemIdentifier"] for f in report.response()["batchItemFailures"]] == ["m0", "m1", "m2", "m3"]


def test_message_fails_if_any_of_its_records_fails() -> None:
    work = Work(fail={"images/b.jpg"})
    report = run([sqs(s3_body("images/a.jpg", "images/b.jpg"), "m1")], work)
    assert report.failed_message_ids == ["m1"]
    assert len(work.calls) == 2  # the good record of the message was still processed


def test_same_object_in_several_messages_is_processed_once() -> None:
    work = Work()
    body = s3_body("images/cat.jpg")
    report = run([sqs(body, "m1"), sqs(body, "m2"), sqs(body, "m3")], work, max_workers=3)
    assert len(work.calls) == 1 and report.duplicates == 2
    assert report.failed_message_ids == []


def test_failed_duplicate_fails_every_message_that_named_it() -> None:
    work = Work(fail={"images/cat.jpg"})
    body = s3_body("images/cat.jpg")
    report = run([sqs(body, "m1"), sqs(body, "m2")], work)
    assert report.failed_message_ids == ["m1", "m2"] and len(work.calls) == 1


def test_two_uploads_of_one_key_run_in_order_not_concurrently() -> None:
    work = Work()
    records = [sqs(s3_body("images/k.jpg", etag="v1"), "m1"),
               sqs(s3_body("images/k.jpg", etag="v2"), "m2"),
               sqs(s3_body("images/other.jpg"), "m3")]
    run(records, work, max_workers=4)
    same_key = [c.etag for c in work.calls if c.key == "images/k.jpg"]
    assert same_key == ["v1", "v2"]


def test_malformed_test_and_foreign_records() -> None:
    # GIVEN a malformed body, a TestEvent, a folder marker, another bucket, and one real image
    work = Work()
    records = [
        sqs("{not json", "bad"),
        sqs(TEST_EVENT, "test"),
        sqs(s3_body("images/"), "marker"),
        sqs(s3_body("images/x.jpg", bucket="elsewhere"), "foreign"),
        sqs(s3_body("analyzed/success/x.jpg"), "output"),
        sqs(s3_body("images/real.jpg"), "real"),
    ]
    # WHEN the batch runs
    report = run(records, work, bucket_name="imgpipe-dev-images")
    # THEN only the malformed one fails (for the DLQ); the rest are acknowledged
    assert report.failed_message_ids == ["bad"]
    assert (report.malformed, report.test_events) == (1, 1)
    assert dict(report.skipped) == {"folder_marker": 1, "other_bucket": 1, "outside_input_prefix": 1}
    assert [c.key for c in work.calls] == ["images/real.jpg"]


def test_malformed_message_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    run([sqs("{not json", "bad")], Work())
    assert [r.getMessage() for r in caplog.records].count("malformed SQS message; left for the DLQ") == 1


def test_empty_batch() -> None:
    assert run([], Work()).response() == {"batchItemFailures": []}
