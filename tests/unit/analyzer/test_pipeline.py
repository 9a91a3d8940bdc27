"""The pipeline core over in-memory ports: routing, records, rejections, notifications."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from analyzer.errors import PermanentImageError
from analyzer.pipeline import (
    ImageOutcome,
    KeyLayout,
    OutsideInputPrefixError,
    Pipeline,
    PipelineSettings,
    tag_value,
)
from analyzer.ports import ObjectRef
from analyzer.precheck import Limits
from rules import Ruleset, parse_ruleset
from tests.support.fakes import FakeDetector, MemoryStorage, RecordingNotifier
from tests.support.images import picture
from tests.support.paths import rekognition_response, sample

WILDLIFE = """
version: 1
name: wildlife
default_verdict: failure
rules:
  - name: big-cat
    type: label_match
    labels: [Cat]
    outcome: success
    category: felines
  - name: people
    type: label_match
    labels: [Person]
    outcome: review
  - name: unsafe
    type: moderation
    categories: [Violence]
    outcome: failure
"""

LABELS_ONLY = """
version: 1
rules:
  - name: cat
    type: label_match
    labels: [Cat]
    outcome: success
"""

FIXED = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def ruleset(text: str = WILDLIFE) -> Ruleset:
    return parse_ruleset(text, "test.yaml")


def cat_detector() -> FakeDetector:
    return FakeDetector({
        "labels": rekognition_response("detect_labels", "cat"),
        "moderation": rekognition_response("detect_moderation_labels", "cat"),
    })


def make(
    objects: dict[str, bytes],
    detector: FakeDetector | None = None,
    rules: str = WILDLIFE,
    **settings: object,
) -> tuple[Pipeline, MemoryStorage, FakeDetector, RecordingNotifier]:
    storage = MemoryStorage(objects)
    detector = detector or cat_detector()
    notifier = RecordingNotifier()
    pipeline = Pipeline(ruleset(rules), detector, storage, notifier,
                        PipelineSettings(bucket="bkt", **settings), clock=lambda: FIXED)  # type: ignore[arg-type]
    return pipeline, storage, detector, notifier


def test_a_cat_is_routed_recorded_deleted_and_announced() -> None:
    # GIVEN a real cat photo under a nested key with a space
    key = "images/a/b c.jpg"
    pipeline, storage, detector, notifier = make({key: sample("animals/cat.jpg")})
    # WHEN it is processed
    outcome = pipeline.process(ObjectRef(key=key, bucket="bkt", etag="abc"))
    # THEN it is copied to the verdict folder with its relative path, then the source is deleted
    assert outcome.status == "routed" and outcome.verdict == "success"
    assert outcome.destination_key == "analyzed/success/a/b c.jpg"
    assert key not in storage.objects
    assert storage.objects["analyzed/success/a/b c.jpg"] == sample("animals/cat.jpg")
    assert storage.tags["analyzed/success/a/b c.jpg"] == {"verdict": "success", "categories": "felines"}
    order = [name for name, _ in storage.calls]
    assert order.index("copy") < order.index("put_record") < order.index("delete")
    # AND the record says what happened, with evidence and identities
    record = storage.records["results/success/a/b c.jpg.json"]
    assert record["source_key"] == key and record["destination_key"] == outcome.destination_key
    assert record["categories"] == ["felines"]
    assert record["matches"][0]["rule"] == "big-cat" and record["matches"][0]["evidence"]
    assert record["features"] == ["labels", "moderation"]
    assert record["calls"] == {"DetectLabels": 1, "DetectModerationLabels": 1}
    assert record["processed_at"] == FIXED.isoformat() and record["analyzer_version"]
    assert record["rules"]["name"] == "wildlife" and len(record["rules"]["sha256"]) == 64
    assert {"head", "read_head", "detect", "copy"} <= set(record["timings_ms"])
    # AND one notification with the docs/contracts.md §5 body
    (note,) = notifier.sent
    assert note.verdict == "success" and note.categories == ("felines",)
    assert {"bucket", "source_key", "destination_key", "verdict", "categories", "matches"} <= set(note.body)
    assert note.body["bucket"] == "bkt" and "b c.jpg" in note.subject
    # AND the detector got exactly the ruleset's needs
    assert detector.needs == [ruleset().needs]


def test_string_key_is_accepted() -> None:
    pipeline, _storage, *_ = make({"images/x.jpg": sample("animals/cat.jpg")})
    assert pipeline.process("images/x.jpg").destination_key == "analyzed/success/x.jpg"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (sample("invalid/cat.gif"), "unsupported_format:gif"),
        (sample("invalid/not-an-image.jpg"), "not_an_image"),
        (b"", "empty"),
        (picture(60, 60), "too_small"),
    ],
)
def test_precheck_rejections_cost_zero_detector_calls(data: bytes, reason: str) -> None:
    pipeline, storage, detector, notifier = make({"images/in/photo.jpg": data})
    outcome = pipeline.process("images/in/photo.jpg")
    assert detector.images == []
    assert (outcome.verdict, outcome.reason) == ("failure", reason)
    assert outcome.destination_key == "analyzed/failure/in/photo.jpg"
    assert storage.records["results/failure/in/photo.jpg.json"]["reason"] == reason
    assert storage.tags["analyzed/failure/in/photo.jpg"]["reason"] == reason
    assert notifier.sent[0].body["reason"] == reason


def test_too_large_is_rejected_without_reading_bytes() -> None:
    data = picture(200, 200)
    pipeline, storage, detector, _ = make({"images/big.jpg": data},
                                           limits=Limits(max_bytes=100))
    assert pipeline.process("images/big.jpg").reason == "too_large"
    assert ("read_head", "images/big.jpg") not in storage.calls and detector.images == []


def test_permanent_detector_error_goes_to_failure_with_reason() -> None:
    detector = FakeDetector(error=PermanentImageError("rekognition:invalid_image_format", "bad"))
    pipeline, storage, _, _notifier = make({"images/x.jpg": sample("animals/cat.jpg")}, detector)
    outcome = pipeline.process("images/x.jpg")
    assert (outcome.verdict, outcome.reason) == ("failure", "rekognition:invalid_image_format")
    assert "images/x.jpg" not in storage.objects and "analyzed/failure/x.jpg" in storage.objects


def test_throttling_propagates_and_leaves_the_source_untouched() -> None:
    throttle = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "DetectLabels")
    pipeline, storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")},
                                          FakeDetector(error=throttle))
    with pytest.raises(ClientError) as info:
        pipeline.process("images/x.jpg")
    assert info.value is throttle  # unwrapped
    assert set(storage.objects) == {"images/x.jpg"} and storage.records == {} and notifier.sent == []


def test_crash_between_copy_and_delete_is_redone_with_one_notification() -> None:
    # GIVEN the delete fails once (a crash after the copy)
    pipeline, storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    storage.fail_on["delete"] = RuntimeError("crash")
    with pytest.raises(RuntimeError):
        pipeline.process("images/x.jpg")
    assert "images/x.jpg" in storage.objects and notifier.sent == []
    # WHEN the message is redelivered
    outcome = pipeline.process("images/x.jpg")
    # THEN the work completes: one destination, source gone, one notification
    assert outcome.status == "routed"
    assert set(storage.objects) == {"analyzed/success/x.jpg"} and len(notifier.sent) == 1


def test_missing_source_with_destination_is_already_done() -> None:
    pipeline, _storage, detector, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    pipeline.process("images/x.jpg")
    again = pipeline.process("images/x.jpg")
    assert again.status == "already_done" and again.destination_key == "analyzed/success/x.jpg"
    assert len(detector.images) == 1 and len(notifier.sent) == 1


def test_missing_source_without_destination_is_missing() -> None:
    pipeline, _storage, detector, notifier = make({})
    outcome = pipeline.process("images/gone.jpg")
    assert outcome.status == "missing" and detector.images == [] and notifier.sent == []


@pytest.mark.parametrize(("verdicts", "sent"), [(frozenset({"failure", "review"}), 0),
                                                (frozenset({"success"}), 1)])
def test_notify_only_configured_verdicts(verdicts: frozenset[str], sent: int) -> None:
    pipeline, _, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")},
                                    notify_verdicts=verdicts)
    outcome = pipeline.process("images/x.jpg")
    assert len(notifier.sent) == sent and outcome.notified is bool(sent)


def test_originals_kept_when_delete_source_is_off() -> None:
    pipeline, storage, *_ = make({"images/x.jpg": sample("animals/cat.jpg")}, delete_source=False)
    pipeline.process("images/x.jpg")
    assert {"images/x.jpg", "analyzed/success/x.jpg"} <= set(storage.objects)
    assert "delete" not in [name for name, _ in storage.calls]


def test_labels_only_ruleset_asks_for_labels_only() -> None:
    pipeline, _, detector, _ = make({"images/x.jpg": sample("animals/cat.jpg")}, rules=LABELS_ONLY)
    outcome = pipeline.process("images/x.jpg")
    assert detector.needs[0].api_calls == ["DetectLabels"]
    assert outcome.calls == {"DetectLabels": 1}


def test_keys_outside_the_input_prefix_are_refused() -> None:
    pipeline, *_ = make({})
    for key in ("analyzed/success/x.jpg", "images/"):
        with pytest.raises(OutsideInputPrefixError):
            pipeline.process(key)


def test_local_style_empty_input_prefix() -> None:
    pipeline, _storage, *_ = make({"trip/cat.jpg": sample("animals/cat.jpg")},
                                  layout=KeyLayout(input_prefix=""))
    assert pipeline.process("trip/cat.jpg").destination_key == "analyzed/success/trip/cat.jpg"


def test_tag_values_are_sanitised_and_bounded() -> None:
    assert tag_value(["dogs", "a,b", "café!"]) == "dogs a_b café_"
    long = tag_value([f"category-{i:03d}" for i in range(100)])
    assert len(long) <= 256 and long.split()[0] == "category-000"
    assert not long.endswith(" ")


def test_record_round_trips() -> None:
    pipeline, _storage, *_ = make({"images/x.jpg": sample("animals/cat.jpg")})
    outcome = pipeline.process("images/x.jpg")
    assert ImageOutcome.from_dict(outcome.to_dict()).to_dict() == outcome.to_dict()


def test_failed_publish_is_owed_and_sent_by_the_redelivery() -> None:
    # GIVEN a notifier that fails once (SNS throttled, or a bad topic policy)
    pipeline, storage, detector, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    sent = notifier.sent

    class Flaky:
        calls = 0

        def notify(self, notification: object) -> None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("publish failed")
            sent.append(notification)  # type: ignore[arg-type]

    pipeline.notifier = Flaky()
    # WHEN the first run fails after the source was moved
    with pytest.raises(RuntimeError):
        pipeline.process("images/x.jpg")
    assert "images/x.jpg" not in storage.objects
    assert storage.records["results/success/x.jpg.json"]["notified"] is False
    # AND the message is redelivered
    again = pipeline.process("images/x.jpg")
    # THEN the owed announcement is made once, from the record, without a new analysis
    assert again.status == "already_done" and again.notified
    assert len(sent) == 1 and sent[0].body["categories"] == ["felines"]
    assert len(detector.images) == 1
    assert storage.records["results/success/x.jpg.json"]["notified"] is True
    # AND a further redelivery announces nothing more
    pipeline.process("images/x.jpg")
    assert len(sent) == 1


def test_record_is_marked_notified_before_the_publish() -> None:
    pipeline, storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    marks: list[bool] = []

    class Watching:
        def notify(self, notification: object) -> None:
            marks.append(storage.records["results/success/x.jpg.json"]["notified"])
            notifier.sent.append(notification)  # type: ignore[arg-type]

    pipeline.notifier = Watching()
    pipeline.process("images/x.jpg")
    puts = [key for name, key in storage.calls if name == "put_record"]
    assert puts == ["results/success/x.jpg.json"] * 2
    assert marks == [True] and len(notifier.sent) == 1


class Crash(BaseException):
    """The process dies (timeout, OOM): nothing gets to clean up."""


def test_crash_after_the_publish_never_announces_twice() -> None:
    pipeline, _storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    sent = notifier.sent

    class PublishThenDie:
        def notify(self, notification: object) -> None:
            sent.append(notification)  # type: ignore[arg-type]
            raise Crash()

    pipeline.notifier = PublishThenDie()
    with pytest.raises(Crash):
        pipeline.process("images/x.jpg")
    pipeline.notifier = notifier
    assert pipeline.process("images/x.jpg").status == "already_done"
    assert len(sent) == 1


def test_crash_between_delete_and_the_mark_is_announced_by_the_redelivery() -> None:
    pipeline, storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")})
    original = storage.put_record
    calls = {"n": 0}

    def put_record(key: str, record: dict[str, object]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the mark before the publish
            raise Crash()
        original(key, record)

    storage.put_record = put_record  # type: ignore[method-assign]
    with pytest.raises(Crash):
        pipeline.process("images/x.jpg")
    assert "images/x.jpg" not in storage.objects and notifier.sent == []
    again = pipeline.process("images/x.jpg")
    assert again.status == "already_done" and len(notifier.sent) == 1


def test_unannounced_verdict_writes_the_record_once() -> None:
    pipeline, storage, _, notifier = make({"images/x.jpg": sample("animals/cat.jpg")},
                                          notify_verdicts=frozenset({"failure"}))
    pipeline.process("images/x.jpg")
    assert [n for n, _ in storage.calls].count("put_record") == 1 and notifier.sent == []
    assert pipeline.process("images/x.jpg").status == "already_done" and notifier.sent == []
