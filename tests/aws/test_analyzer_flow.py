"""The real flow in moto: upload -> S3 notification -> SQS -> handler -> S3 + SNS."""

from __future__ import annotations

import json
from typing import Any

from analyzer.ports import S3Image
from tests.support.fakes import FakeDetector
from tests.support.paths import sample

# real photos under keys with spaces, '+', unicode and nested folders
UPLOADS = {
    "images/trail cams/cat 01.jpg": ("animals/cat.jpg", "image/jpeg"),
    "images/a+b/c+d astronaut.jpg": ("people/astronaut.jpg", "image/jpeg"),
    "images/été/naïve café page.png": ("documents/printed-page.png", "image/png"),
    "images/deep/er/and/deeper/grace-hopper.jpg": ("people/grace-hopper.jpg", "image/jpeg"),
}
SCENARIOS = {"cat 01": "cat", "astronaut": "beach", "grace-hopper": "weapon", "page": "empty"}
EXPECTED = {
    "images/trail cams/cat 01.jpg": ("success", ["felines"]),
    "images/a+b/c+d astronaut.jpg": ("review", ["people"]),
    "images/été/naïve café page.png": ("failure", []),
    "images/deep/er/and/deeper/grace-hopper.jpg": ("failure", ["people", "unsafe"]),
}


def test_real_flow_end_to_end(world: Any) -> None:
    # GIVEN real photos uploaded with metadata, and a folder marker, all notifying the queue
    for key, (path, content_type) in UPLOADS.items():
        world.put(key, sample(path), ContentType=content_type, Metadata={"camera": "trail-7"})
    world.put("images/", b"")
    event = world.receive_event()
    bodies = [json.loads(r["body"]) for r in event["Records"]]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)  # configured notification
    detector = FakeDetector.for_scenarios(SCENARIOS)
    analyzer = world.analyzer(detector)

    # WHEN the handler gets the queue's messages as its SQS event
    response = analyzer.handle(event, None)

    # THEN no item failed, and every image ended under its verdict folder, relative path kept
    assert response == {"batchItemFailures": []}
    for key, (verdict, categories) in EXPECTED.items():
        rel = key.removeprefix("images/")
        dest = f"analyzed/{verdict}/{rel}"
        assert world.read(dest) == sample(UPLOADS[key][0])
        head = world.s3.head_object(Bucket=world.bucket, Key=dest)
        assert head["Metadata"] == {"camera": "trail-7"}
        assert head["ContentType"] == UPLOADS[key][1]
        assert world.tags(dest) == {"verdict": verdict, "categories": " ".join(categories)}
        record = world.json(f"results/{verdict}/{rel}.json")
        assert (record["source_key"], record["destination_key"]) == (key, dest)
        assert record["verdict"] == verdict and record["categories"] == categories
        assert record["etag"] and record["bucket"] == world.bucket
        assert record["calls"] == {"DetectLabels": 1, "DetectModerationLabels": 1}
    # AND the sources are gone; only the folder marker (skipped) remains under images/
    assert sorted(world.keys("images/")) == ["images/"]
    # AND Rekognition was given S3 references in the bucket's region, never bytes
    assert all(isinstance(i, S3Image) and i.bucket == world.bucket and i.region == "eu-west-1"
               for i in detector.images)
    assert sorted(i.key for i in detector.images) == sorted(UPLOADS)

    # AND one SNS message per image, with the docs/contracts.md §5 body and attributes
    notes = world.notifications()
    assert sorted(n["body"]["source_key"] for n in notes) == sorted(UPLOADS)
    for note in notes:
        body = note["body"]
        verdict, categories = EXPECTED[body["source_key"]]
        assert body["bucket"] == world.bucket and body["verdict"] == verdict
        assert body["categories"] == categories
        assert body["destination_key"] == f"analyzed/{verdict}/{body['source_key'][7:]}"
        assert isinstance(body["matches"], list)
        attrs = note["MessageAttributes"]
        assert attrs["verdict"] == {"Type": "String", "Value": verdict}
        assert attrs["categories"]["Type"] == "String.Array"
        assert json.loads(attrs["categories"]["Value"]) == categories
        assert note["Subject"].isascii() and verdict in note["Subject"]


def test_notify_verdicts_filters_announcements(world: Any) -> None:
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    world.put("images/astronaut.jpg", sample("people/astronaut.jpg"))
    analyzer = world.analyzer(FakeDetector.for_scenarios({"cat": "cat", "astronaut": "beach"}),
                              NOTIFY_VERDICTS="review,failure")
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
    notes = world.notifications()
    assert [n["body"]["verdict"] for n in notes] == ["review"]
    assert sorted(world.keys("analyzed/")) == ["analyzed/review/astronaut.jpg", "analyzed/success/cat.jpg"]


def test_no_topic_means_no_notification(world: Any) -> None:
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    analyzer = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}), TOPIC_ARN="")
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
    assert sorted(world.keys("analyzed/")) == ["analyzed/success/cat.jpg"]
    assert world.notifications() == []


def test_records_for_another_bucket_are_skipped(world: Any) -> None:
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    event = world.receive_event()
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    analyzer = world.analyzer(detector, BUCKET_NAME="some-other-bucket")
    assert analyzer.handle(event, None) == {"batchItemFailures": []}
    assert detector.images == [] and sorted(world.keys()) == ["images/cat.jpg"]


def test_malformed_message_fails_alone(world: Any) -> None:
    # GIVEN a good image message and a message whose body is not an S3 notification
    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    event = world.receive_event()
    good = [r for r in event["Records"] if "Records" in json.loads(r["body"])]
    broken = dict(good[0], messageId="broken-1", body='{"Records": [{"s3": {}}]}')
    event["Records"].append(broken)
    # WHEN the batch is handled
    response = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"})).handle(event, None)
    # THEN only the broken message is reported (it will reach the DLQ); the image was processed
    assert response == {"batchItemFailures": [{"itemIdentifier": "broken-1"}]}
    assert sorted(world.keys("analyzed/")) == ["analyzed/success/cat.jpg"]


def test_non_sqs_event_is_harmless(world: Any) -> None:
    assert world.analyzer().handle({"foo": "bar"}, None) == {"batchItemFailures": []}


def test_tag_values_with_spaces_and_plus_survive_the_copy(world: Any) -> None:
    from analyzer.s3 import S3Storage

    world.put("images/x.jpg", sample("animals/cat.jpg"))
    storage = S3Storage(world.s3, world.bucket)
    info = storage.head("images/x.jpg")
    assert info is not None
    storage.copy(info, "analyzed/review/x.jpg", {"verdict": "review", "categories": "c++ dogs"})
    assert world.tags("analyzed/review/x.jpg") == {"verdict": "review", "categories": "c++ dogs"}


def test_a_failing_batch_runner_reports_every_item(world: Any, monkeypatch: Any) -> None:
    import analyzer.app

    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    event = world.receive_event()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the runner")

    monkeypatch.setattr(analyzer.app, "run_batch", broken)
    response = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"})).handle(event, None)
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {
        r["messageId"] for r in event["Records"]}


def test_failing_metrics_never_turn_done_work_into_a_retry(world: Any) -> None:
    class BrokenMetrics:
        def add_metric(self, *args: Any, **kwargs: Any) -> None:
            raise ValueError("EMF limit")

    world.put("images/cat.jpg", sample("animals/cat.jpg"))
    analyzer = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}))
    analyzer.metrics = BrokenMetrics()
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
    assert sorted(world.keys("analyzed/")) == ["analyzed/success/cat.jpg"]
