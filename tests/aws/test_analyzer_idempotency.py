"""Exactly-once effects under at-least-once delivery (Powertools idempotency on moto DynamoDB)."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.fakes import FakeContext, FakeDetector
from tests.support.paths import sample


class Crash(BaseException):
    """A process dying mid-invocation (timeout, OOM): nothing gets to clean up."""


def _image_event(
    world: Any, key: str = "images/cat.jpg", sequencer: str | None = None
) -> dict[str, Any]:
    world.put(key, sample("animals/cat.jpg"))
    event = world.receive_event()
    event["Records"] = [r for r in event["Records"] if '"Records"' in r["body"]]
    assert len(event["Records"]) == 1
    if sequencer is not None:  # real S3 sends one per event; moto's notifications omit it
        body = json.loads(event["Records"][0]["body"])
        body["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        event["Records"][0]["body"] = json.dumps(body)
    return event


def _table_items(world: Any) -> list[dict[str, Any]]:
    return world.ddb.scan(TableName=world.table)["Items"]


def test_same_message_three_times_gives_one_move_and_one_notification(world: Any) -> None:
    # GIVEN idempotency on, and one image message
    event = _image_event(world)
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    analyzer = world.analyzer(detector, **world.idempotency_env())
    # WHEN the same message is delivered three times
    responses = [analyzer.handle(copy.deepcopy(event), FakeContext()) for _ in range(3)]
    # THEN all succeed, the image was analysed once, moved once, announced once
    assert responses == [{"batchItemFailures": []}] * 3
    assert len(detector.images) == 1
    assert sorted(world.keys()) == ["analyzed/success/cat.jpg", "results/success/cat.jpg.json"]
    assert len(world.notifications()) == 1
    (item,) = _table_items(world)
    assert item["status"]["S"] == "COMPLETED" and item["id"]["S"].startswith("imgpipe-analyzer#")


def test_the_idempotency_item_leaves_the_stored_analysis_to_the_s3_record(world: Any) -> None:
    # GIVEN idempotency on, and one image analysed
    event = _image_event(world)
    analyzer = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}), **world.idempotency_env())
    assert analyzer.handle(copy.deepcopy(event), FakeContext()) == {"batchItemFailures": []}
    # THEN the S3 record carries the analysis the verdict was judged on
    record = json.loads(world.s3.get_object(Bucket=world.bucket,
                                            Key="results/success/cat.jpg.json")["Body"].read())
    assert record["analysis"]["encoding"] == "gzip+base64" and record["analysis"]["bytes"] > 0
    # AND the DynamoDB item keeps the rest of the record, without it
    (item,) = _table_items(world)
    stored = json.loads(item["data"]["S"])
    assert stored["analysis"] is None
    assert stored["verdict"] == "success" and stored["record_key"] == "results/success/cat.jpg.json"
    # AND a replay is still answered from the item (no second analysis, move or announcement)
    assert analyzer.handle(copy.deepcopy(event), FakeContext()) == {"batchItemFailures": []}
    assert len(world.notifications()) == 1


def test_same_message_three_times_in_one_batch(world: Any) -> None:
    event = _image_event(world)
    record = event["Records"][0]
    event["Records"] = [dict(record, messageId=f"copy-{i}") for i in range(3)]
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    response = world.analyzer(detector, **world.idempotency_env()).handle(event, FakeContext())
    assert response == {"batchItemFailures": []}
    assert len(detector.images) == 1 and len(world.notifications()) == 1


def test_concurrent_duplicates_in_three_containers(world: Any) -> None:
    # GIVEN three containers receiving the same message at the same time
    event = _image_event(world)
    losers_done = threading.Event()
    finished: list[int] = []
    lock = threading.Lock()

    class SlowDetector(FakeDetector):
        def detect(self, image: Any, needs: Any) -> Any:
            # hold the winner in flight until the others answered (a generous bound: a loaded
            # machine can take seconds to run two handlers; the bound only stops a hang)
            losers_done.wait(timeout=120)
            return super().detect(image, needs)

    detectors = [SlowDetector(scenarios={"cat": "cat"}) for _ in range(3)]
    analyzers = [world.analyzer(d, **world.idempotency_env()) for d in detectors]
    responses: list[Any] = [None] * 3

    def invoke(i: int) -> None:
        responses[i] = analyzers[i].handle(copy.deepcopy(event), FakeContext())
        with lock:
            finished.append(i)
            if len(finished) == 2:
                losers_done.set()

    threads = [threading.Thread(target=invoke, args=(i,)) for i in range(3)]
    # WHEN they all handle it
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    # THEN exactly one analysed it; the others were told to retry (in progress elsewhere)
    assert sum(len(d.images) for d in detectors) == 1
    failed = [r for r in responses if r["batchItemFailures"]]
    assert len(failed) == 2
    # AND their redelivery returns the stored result without new effects
    for i, r in enumerate(responses):
        if r["batchItemFailures"]:
            assert analyzers[i].handle(copy.deepcopy(event), FakeContext()) == {"batchItemFailures": []}
    assert sorted(world.keys()) == ["analyzed/success/cat.jpg", "results/success/cat.jpg.json"]
    assert len(world.notifications()) == 1


@pytest.mark.parametrize("idempotency", [True, False])
def test_crash_between_copy_and_delete_is_completed_by_redelivery(
    world: Any, idempotency: bool
) -> None:
    # GIVEN a container that dies right after the copy, before deleting the source
    event = _image_event(world)
    env = world.idempotency_env() if idempotency else {}
    first = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}), **env)

    def die(**_: Any) -> None:
        raise Crash("container killed")

    first.s3_client.meta.events.register("before-call.s3.DeleteObject", die)
    with pytest.raises(Crash):
        first.handle(copy.deepcopy(event), FakeContext(remaining_ms=1))
    assert {"images/cat.jpg", "analyzed/success/cat.jpg"} <= set(sorted(world.keys()))
    assert world.notifications() == []
    if idempotency:
        assert _table_items(world)[0]["status"]["S"] == "INPROGRESS"

    # WHEN the message is redelivered to a fresh container (after the invocation's timeout)
    second = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}), **env)
    response = second.handle(copy.deepcopy(event), FakeContext())

    # THEN the work completes: one destination, the source gone, exactly one notification
    assert response == {"batchItemFailures": []}
    assert sorted(world.keys()) == ["analyzed/success/cat.jpg", "results/success/cat.jpg.json"]
    assert len(world.notifications()) == 1


def test_redelivery_after_source_was_moved_without_idempotency(world: Any) -> None:
    # GIVEN idempotency off and a message processed once
    event = _image_event(world)
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    analyzer = world.analyzer(detector)
    analyzer.handle(copy.deepcopy(event), None)
    # WHEN it is delivered again
    assert analyzer.handle(copy.deepcopy(event), None) == {"batchItemFailures": []}
    # THEN the missing source with an existing destination counts as done: nothing new happens
    assert len(detector.images) == 1 and len(world.notifications()) == 1
    assert sorted(world.keys()) == ["analyzed/success/cat.jpg", "results/success/cat.jpg.json"]


def test_reupload_of_identical_bytes_is_a_new_upload(world: Any) -> None:
    # GIVEN an image processed with idempotency on
    detector = FakeDetector.for_scenarios({"cat": "cat"})
    analyzer = world.analyzer(detector, **world.idempotency_env())
    analyzer.handle(_image_event(world, sequencer="0065F1A2B3C4D5E600"), FakeContext())
    # WHEN the very same bytes are uploaded again to the same key (same ETag, a new S3 event with
    # a later sequencer)
    analyzer.handle(_image_event(world, sequencer="0065F1A2B3C4D5E7FF"), FakeContext())
    # THEN the second upload is processed too, not mistaken for a duplicate delivery
    assert len(detector.images) == 2 and sorted(world.keys("images/")) == []
    assert len(world.notifications()) == 2


@pytest.mark.parametrize("idempotency", [True, False])
def test_failed_publish_is_retried_until_announced(world: Any, idempotency: bool) -> None:
    # GIVEN SNS refusing the first publish (throttled), after the image was moved
    event = _image_event(world)
    env = world.idempotency_env() if idempotency else {}
    analyzer = world.analyzer(FakeDetector.for_scenarios({"cat": "cat"}), **env)
    sns = analyzer.notifier.client  # the SNS client the function publishes with
    failures = [ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")]

    def refuse_once(**_: Any) -> None:
        if failures:
            raise failures.pop()

    sns.meta.events.register("before-call.sns.Publish", refuse_once)
    first = analyzer.handle(copy.deepcopy(event), FakeContext())
    assert first["batchItemFailures"] and world.notifications() == []
    # WHEN SQS redelivers the message
    second = analyzer.handle(copy.deepcopy(event), FakeContext())
    # THEN the announcement is made exactly once and the work is not redone
    assert second == {"batchItemFailures": []}
    assert len(world.notifications()) == 1
    assert world.json("results/success/cat.jpg.json")["notified"] is True
    assert sorted(world.keys()) == ["analyzed/success/cat.jpg", "results/success/cat.jpg.json"]
