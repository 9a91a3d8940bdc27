"""The outcome of one image: typed, and one JSON form for records, idempotency and the CLI."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from analyzer.idempotency import RESULT_SERIALIZER
from analyzer.ports import ObjectRef
from analyzer.results import (
    RECORD_SCHEMA,
    ImageOutcome,
    Status,
    dumps,
    outcome_from_record,
    outcome_to_record,
    ref_from_job,
    ref_to_job,
)
from rules import Verdict


def outcome() -> ImageOutcome:
    return ImageOutcome(
        status=Status.ROUTED, bucket="bkt", source_key="images/ünï/cat 1.jpg",
        destination_key="analyzed/success/ünï/cat 1.jpg",
        record_key="results/success/ünï/cat 1.jpg.json", verdict=Verdict.SUCCESS,
        categories=["felines"], matches=[{"rule": "cat", "type": "label_match",
                                          "outcome": "success", "category": "felines",
                                          "evidence": [{"label": "Cat", "confidence": 98.1}]}],
        features=["labels"], etag="abc", size=1234, calls={"DetectLabels": 1},
        timings_ms={"total": 12.5}, rules_name="wildlife", rules_digest="f00",
        notified=True, processed_at="2026-12-01T10:00:00+00:00",
    )


def test_statuses_and_verdicts_are_plain_strings_on_the_wire() -> None:
    record = outcome_to_record(outcome())
    assert record["schema"] == RECORD_SCHEMA
    assert type(record["status"]) is str and record["status"] == "routed"
    assert type(record["verdict"]) is str and record["verdict"] == "success"
    assert record["rules"] == {"name": "wildlife", "sha256": "f00"}
    assert [s.value for s in Status] == ["routed", "already_done", "missing", "duplicate"]


def test_a_record_round_trips_to_the_same_typed_outcome() -> None:
    original = outcome()
    back = outcome_from_record(json.loads(dumps(outcome_to_record(original))))
    assert back == original
    assert back.status is Status.ROUTED and back.verdict is Verdict.SUCCESS


def test_a_record_without_a_verdict() -> None:
    missing = ImageOutcome(status=Status.MISSING, bucket="b", source_key="images/x.jpg")
    assert outcome_from_record(outcome_to_record(missing)) == missing


def test_idempotency_stores_and_restores_through_the_same_codec() -> None:
    original = outcome()
    stored = RESULT_SERIALIZER.to_dict(original)
    assert stored == outcome_to_record(original)
    assert RESULT_SERIALIZER.from_dict(json.loads(json.dumps(stored))) == original


def test_an_object_reference_round_trips_with_its_identity() -> None:
    ref = ObjectRef(key="images/a b.jpg", bucket="bkt", etag="e", sequencer="0A", size=3,
                    region="eu-west-1", event_time="2026-12-01T10:00:00Z")
    job = ref_to_job(ref)
    assert job["identity"] == "0A"  # the sequencer before the ETag
    assert ref_from_job(json.loads(json.dumps(job))) == ref


def test_dumps_keeps_text_and_stringifies_the_unknown() -> None:
    assert dumps({"key": "ünï", "verdict": Verdict.REVIEW}) == '{"key": "ünï", "verdict": "review"}'
    assert dumps({"path": PurePosixPath("a/b.jpg")}) == '{"path": "a/b.jpg"}'
    assert dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'
