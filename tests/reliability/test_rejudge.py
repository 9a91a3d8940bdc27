"""Stored analyses and fleet re-judging (issue 13), on the moto stack with the real handler.

The laptop side (:mod:`imgpipe.ops.rejudge`) enqueues re-judge messages on the stack's queue;
the emulated event source mapping feeds them to the analyzer, which judges the stored analyses
with its (new) rules: zero Rekognition calls, only changed images move and are announced.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from analyzer.stored import record_analysis
from imgpipe.ops.rejudge import Target, enqueue, listed_targets
from rules import Verdict
from tests.support.fakes import RELIABILITY_RULES as RULES_YAML
from tests.support.fakes import FakeContext
from tests.support.fakes import reliability_ruleset as ruleset
from tests.support.faults import Fault, FaultPlan
from tests.support.images import picture
from tests.support.paths import rekognition_response
from tests.support.world import INPUT, MotoStack

pytestmark = pytest.mark.usefixtures("aws")

CATS_REJECTED = RULES_YAML.replace("    labels: [Cat]\n    outcome: success",
                                   "    labels: [Cat]\n    outcome: failure")
IMAGES = ("r/cat 1.jpg", "r/sub/cat+2.jpg", "r/plain.jpg", "r/weapon.jpg")


def analysed_stack(**kwargs: Any) -> tuple[MotoStack, list[str]]:
    stack = MotoStack(**kwargs)
    keys = [stack.upload(rel, picture()) for rel in IMAGES]
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)
    assert stack.check(plan, keys=keys).analysed == len(keys)
    return stack, keys


def rekognition_calls(plan: FaultPlan) -> int:
    return sum(n for name, n in plan.calls.items() if name.startswith("rekognition."))


def enqueue_prefix(stack: MotoStack, prefix: str = "r/", **kwargs: Any) -> Any:
    targets = listed_targets(stack.s3, stack.bucket, prefix)
    return enqueue(stack.sqs, stack.queue_url, stack.bucket, targets, senders=1, **kwargs)


def test_every_record_keeps_the_analysis_it_was_judged_on() -> None:
    stack, _ = analysed_stack()
    record = stack.record("success", "r/cat 1.jpg")
    assert record is not None
    stored = record["analysis"]
    assert stored["encoding"] == "gzip+base64" and stored["features"] == ["labels", "moderation",
                                                                          "text"]
    assert 0 < stored["bytes"] < stored["raw_bytes"]
    responses = record_analysis(record)
    assert responses is not None
    assert responses["labels"]["Labels"] == rekognition_response("detect_labels", "cat")["Labels"]
    text = rekognition_response("detect_text", "cat")
    text.pop("ResponseMetadata", None)  # dropped: it is about the call, not the image
    assert responses["text"] == text


def test_rejudge_moves_only_changed_images_and_announces_only_changes() -> None:
    # GIVEN four images analysed under the old rules (cats -> success)
    stack, keys = analysed_stack()
    before = {rel: stack.record(v, rel) for v in ("success", "failure", "review") for rel in IMAGES
              if stack.record(v, rel)}

    # WHEN cats are rejected, the function redeployed, and r/ re-judged on the fleet
    stack.rules = ruleset(CATS_REJECTED)
    sent = enqueue_prefix(stack, per_message=3)
    plan = FaultPlan()
    stats = stack.drain(stack.analyzer(plan=plan).handle)

    # THEN nothing called Rekognition, and every message succeeded
    assert sent.images == 4 and sent.messages == 2
    assert rekognition_calls(plan) == 0
    assert (stats.item_failures, stats.crashes) == (0, 0)
    # AND only the cats moved (success -> failure), with new records and no leftovers
    assert stack.keys("analyzed/") == {
        "analyzed/failure/r/cat 1.jpg", "analyzed/failure/r/sub/cat+2.jpg",
        "analyzed/review/r/plain.jpg", "analyzed/failure/r/weapon.jpg"}
    assert not stack.keys("results/success/")
    cat = stack.record("failure", "r/cat 1.jpg")
    assert cat is not None and cat["verdict"] == "failure"
    assert cat["rejudge"]["from_verdict"] == "success" and cat["rejudge"]["changed"] is True
    assert [h["verdict"] for h in cat["history"]] == ["success"]
    assert cat["rules"]["sha256"] == stack.rules.digest
    assert cat["analysis"] == before["r/cat 1.jpg"]["analysis"]  # type: ignore[index]
    # AND the unchanged images kept their place; their records name the new rules and history
    plain = stack.record("review", "r/plain.jpg")
    assert plain is not None and plain["rules"]["sha256"] == stack.rules.digest
    assert [h["verdict"] for h in plain["history"]] == ["review"]
    # AND only the two changes were announced, saying what they were before
    assert sorted((p["source_key"], p["verdict"], p["previous_verdict"])
                  for p in plan.published) == [
        (INPUT + "r/cat 1.jpg", "failure", "success"),
        (INPUT + "r/sub/cat+2.jpg", "failure", "success")]
    # AND the pipeline's invariant holds (one copy, one record per image, nothing in the DLQ)
    tally = stack.check(FaultPlan(), keys=keys, records=True)
    assert tally.analysed == 4 and tally.in_dlq == 0 and tally.in_two_places == 0


def test_redelivered_rejudge_message_has_no_duplicate_effect() -> None:
    stack, _ = analysed_stack()
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, "r/cat 1", per_message=1)
    event = stack.receive_event()
    assert len(event["Records"]) == 1
    plan = FaultPlan()
    analyzer = stack.analyzer(plan=plan)

    # WHEN the same message is delivered twice (SQS at-least-once)
    first = analyzer.handle(event, FakeContext(remaining_ms=0))
    second = analyzer.handle(event, FakeContext(remaining_ms=0))

    # THEN one move, one record, one announcement; the second delivery changed nothing
    assert first == second == {"batchItemFailures": []}
    assert len(plan.published) == 1
    assert plan.calls["s3.copy_object"] == 1
    assert "analyzed/failure/r/cat 1.jpg" in stack.keys("analyzed/")
    assert "analyzed/success/r/cat 1.jpg" not in stack.keys("analyzed/")


@pytest.mark.parametrize("idempotency", [True, False], ids=["idempotency", "no-table"])
@pytest.mark.parametrize("crash_after", ["copy_object", "put_object", "delete_object", "publish"])
def test_crash_mid_rejudge_then_redelivery_converges(idempotency: bool, crash_after: str) -> None:
    # GIVEN a re-judge of one cat whose process dies right after one of its steps
    stack, keys = analysed_stack(idempotency=idempotency)
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, "r/cat 1", per_message=1)
    service = "sns" if crash_after == "publish" else "s3"
    plan = FaultPlan([Fault(service, crash_after, "crash", target="r/cat 1.jpg")])

    # WHEN the queue is drained (the crashed delivery comes back)
    stats = stack.drain(stack.analyzer(plan=plan).handle)

    # THEN the image is in exactly one place, under the new verdict, announced at most once
    assert stats.crashes == 1
    assert {k for k in stack.keys("analyzed/") if "cat 1" in k} == {
        "analyzed/failure/r/cat 1.jpg"}
    assert {k for k in stack.keys("results/") if "cat 1" in k} == {
        "results/failure/r/cat 1.jpg.json"}
    announced = [p for p in plan.published if "cat 1" in p["source_key"]]
    assert len(announced) == 1  # a crash after the publish is not announced again
    assert announced[0]["previous_verdict"] == "success"
    tally = stack.check(FaultPlan(), keys=keys)
    assert tally.in_two_places == 0 and tally.in_dlq == 0


def test_second_deliberate_rejudge_after_another_rule_change() -> None:
    stack, _ = analysed_stack()
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack)
    stack.drain(stack.analyzer(plan=FaultPlan()).handle)

    # WHEN the rules are changed back and r/ re-judged again (a new run)
    stack.rules = ruleset(RULES_YAML)
    again = FaultPlan()
    enqueue_prefix(stack)
    stack.drain(stack.analyzer(plan=again).handle)

    # THEN the cats are back in success with both earlier verdicts in their history
    cat = stack.record("success", "r/cat 1.jpg")
    assert cat is not None
    assert [h["verdict"] for h in cat["history"]] == ["success", "failure"]
    assert len(again.published) == 2 and rekognition_calls(again) == 0


def test_same_run_resent_is_answered_from_the_idempotency_table() -> None:
    stack, _ = analysed_stack()
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, run="run-1")
    stack.drain(stack.analyzer(plan=FaultPlan()).handle)
    enqueue_prefix(stack, run="run-1")  # an interrupted enqueue, sent again
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)
    assert plan.published == [] and plan.calls["s3.copy_object"] == 0


def _moto_key(stack: MotoStack, key: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends["123456789012"]["aws"].get_object(stack.bucket, key)


def test_archived_copy_is_restored_then_moved() -> None:
    from moto.moto_api import state_manager

    # GIVEN a cat whose analysed copy was archived to GLACIER by the lifecycle
    stack, _ = analysed_stack()
    old = "analyzed/success/r/cat 1.jpg"
    stack.s3.copy_object(Bucket=stack.bucket, Key=old, CopySource={"Bucket": stack.bucket,
                         "Key": old}, StorageClass="GLACIER", MetadataDirective="COPY")
    state_manager.set_transition("s3::keyrestore", {"progression": "manual", "times": 10**9})
    try:
        stack.rules = ruleset(CATS_REJECTED)

        # WHEN r/cat 1 is re-judged with a Standard restore tier
        enqueue_prefix(stack, "r/cat 1", restore_tier="Standard")
        plan = FaultPlan()
        stack.drain(stack.analyzer(plan=plan).handle)

        # THEN the verdict changed at once (record, announcement) but the move waits for the restore
        record = stack.record("failure", "r/cat 1.jpg")
        assert record is not None and record["pending_move"]["tier"] == "Standard"
        assert stack.record("success", "r/cat 1.jpg") is None
        assert old in stack.keys("analyzed/")
        assert "Restore" in stack.s3.head_object(Bucket=stack.bucket, Key=old)
        assert [p["move_pending"] for p in plan.published] == [True]
        _moto_key(stack, old).status = "IN_PROGRESS"

        # WHEN the same command runs again while the restore is still running: nothing moves
        enqueue_prefix(stack, "r/cat 1")
        waiting = FaultPlan()
        stack.drain(stack.analyzer(plan=waiting).handle)
        assert old in stack.keys("analyzed/") and waiting.published == []

        # WHEN the restore has finished and the command runs again
        _moto_key(stack, old).status = "RESTORED"
        enqueue_prefix(stack, "r/cat 1")
        done = FaultPlan()
        stack.drain(stack.analyzer(plan=done).handle)
    finally:
        state_manager.unset_transition("s3::keyrestore")

    # THEN the copy moved, the record says so, and nothing was announced twice
    assert {k for k in stack.keys("analyzed/") if "cat 1" in k} == {
        "analyzed/failure/r/cat 1.jpg"}
    record = stack.record("failure", "r/cat 1.jpg")
    assert record is not None and "pending_move" not in record and record["move_completed_at"]
    assert done.published == [] and rekognition_calls(done) == 0


def test_records_without_stored_analysis_are_reported_not_rejudgeable() -> None:
    stack, _ = analysed_stack()
    key = "results/success/r/cat 1.jpg.json"
    old = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    del old["analysis"]
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(old).encode())
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, "r/cat 1")
    analyzer = stack.analyzer(plan=FaultPlan())
    outcomes: list[Any] = []
    original = analyzer._rejudge_one
    analyzer._rejudge_one = lambda job: outcomes.append(original(job)) or outcomes[-1]  # type: ignore[method-assign]
    stack.drain(analyzer.handle)
    assert [(o["status"], o["why"]) for o in outcomes] == [
        ("not_rejudgeable", "no stored analysis (record older than stored analyses)")]
    assert "analyzed/success/r/cat 1.jpg" in stack.keys("analyzed/")


def test_a_tampered_stored_analysis_is_reported_not_rejudgeable() -> None:
    from analyzer.stored import pack_analysis

    stack, _ = analysed_stack()
    key = "results/success/r/cat 1.jpg.json"
    record = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    record["analysis"] = pack_analysis({"labels": {"Labels": [{"Name": "Cat", "Confidence": "99"}]}})
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(record).encode())
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, "r/cat 1")
    analyzer = stack.analyzer(plan=FaultPlan())
    outcomes: list[Any] = []
    original = analyzer._rejudge_one
    analyzer._rejudge_one = lambda job: outcomes.append(original(job)) or outcomes[-1]  # type: ignore[method-assign]
    stats = stack.drain(analyzer.handle)
    # THEN acknowledged and reported (not retried into the DLQ), the image left where it was
    [outcome] = outcomes
    assert outcome["status"] == "not_rejudgeable"
    assert outcome["why"].startswith("the stored analysis is unreadable: labels.Labels[0].Confidence")
    assert stats.item_failures == 0 and stack.queue_messages(stack.dlq_url) == []
    assert "analyzed/success/r/cat 1.jpg" in stack.keys("analyzed/")


def test_reanalyse_mode_calls_rekognition_on_the_fleet() -> None:
    stack, _ = analysed_stack()
    stack.rules = ruleset(CATS_REJECTED)
    enqueue_prefix(stack, "r/cat 1", mode="reanalyse")
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)
    assert rekognition_calls(plan) == 3
    record = stack.record("failure", "r/cat 1.jpg")
    assert record is not None and record["rejudge"]["mode"] == "reanalyse"


def test_unknown_control_messages_and_wrong_rules_fail_to_the_dlq() -> None:
    stack, _ = analysed_stack()
    for body in ({"imgpipe": "rejudge", "version": 2, "bucket": stack.bucket, "run": "x",
                  "items": [{"source_key": "images/r/plain.jpg"}]},
                 {"imgpipe": "something-else"}):
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(body))
    enqueue(stack.sqs, stack.queue_url, stack.bucket,
            [Target(Verdict.REVIEW, INPUT + "r/plain.jpg")], senders=1, rules_sha256="0" * 64)
    stack.drain(stack.analyzer(plan=FaultPlan()).handle)
    assert len(stack.queue_messages(stack.dlq_url)) == 3
    assert "analyzed/review/r/plain.jpg" in stack.keys("analyzed/")


def test_cli_rejudge_enqueues_from_the_stack_outputs(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from imgpipe.cli import app

    stack, _ = analysed_stack()
    rules = tmp_path / "new.yaml"
    rules.write_text(CATS_REJECTED)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": stack.bucket, "queue_url": stack.queue_url}))
    runner = CliRunner()
    dry = runner.invoke(app, ["reprocess", "r/", "--mode", "rejudge", "--outputs", str(outputs),
                              "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["images"] == 4 and stack.queue_messages(stack.queue_url) == []
    done = runner.invoke(app, ["reprocess", "analyzed/success/r/", "--mode", "rejudge",
                               "--outputs", str(outputs), "--expect-rules", str(rules),
                               "--per-message", "1", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["images"], data["messages"], data["by_verdict"]) == (2, 2, {"success": 2})
    stack.rules = ruleset(CATS_REJECTED)
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)
    assert len(plan.published) == 2 and rekognition_calls(plan) == 0
    bad = runner.invoke(app, ["reprocess", "r/", "--mode", "guess", "--outputs", str(outputs)])
    assert bad.exit_code == 2 and "--mode" in bad.output
