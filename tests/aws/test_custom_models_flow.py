"""Custom models in the real flow (moto): upload -> SQS -> handler -> the real Rekognition adapter
over a botocore Stubber client -> routing, record, SNS.

A Custom Labels model is the analysis ``custom_labels@<project version ARN>`` (DetectCustomLabels
with ``ProjectVersionArn`` and ``MinConfidence: 0``); a moderation rule with ``adapter:`` is
``moderation_adapter@<ARN>`` (DetectModerationLabels with ``ProjectVersion``). The Stubber checks
every request parameter, spelled out here as Rekognition's API reference names them.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.stub import Stubber
from typer.testing import CliRunner

from analyzer.ports import Detection, ImageSource, S3Image
from analyzer.rekognition import RekognitionDetector
from analyzer.stored import record_analysis
from imgpipe.cli import app
from imgpipe.ops import inspect_dlq, redrive
from rules import Needs, parse_ruleset
from tests.support.custom_models import ADAPTER, DAMAGE, SHOES, SHOES_RETRAINED, SHOES_RULES
from tests.support.faults import FaultPlan, aws_client
from tests.support.paths import rekognition_response, sample
from tests.support.world import MAX_RECEIVE_COUNT, MotoStack

REGION = "eu-west-1"

TWO_MODELS_RULES = SHOES_RULES + f"""  - name: damaged
    type: custom_labels
    project_version: {DAMAGE}
    labels: [damaged]
    min_confidence: 90
    outcome: failure
"""

ADAPTER_RULES = f"""version: 1
name: forum
default_verdict: success
rules:
  - name: explicit
    type: moderation
    adapter: {ADAPTER}
    categories: [Explicit]
    min_confidence: 80
    outcome: failure
"""


@dataclass(frozen=True, slots=True)
class Call:
    """One Rekognition call an analysis makes: the method, the exact request parameters besides
    ``Image`` (always the image's S3 reference), and the answer."""

    analysis: str  # the analysis id: moderation, custom_labels@ARN, ...
    method: str
    params: dict[str, Any]
    response: dict[str, Any] | None = None
    error: str | None = None  # a Rekognition error code instead of a response


def custom_labels(arn: str, scenario: str) -> Call:
    return Call(f"custom_labels@{arn}", "detect_custom_labels",
                {"ProjectVersionArn": arn, "MinConfidence": 0},
                rekognition_response("detect_custom_labels", scenario))


def adapter(arn: str, scenario: str) -> Call:
    return Call(f"moderation_adapter@{arn}", "detect_moderation_labels", {"ProjectVersion": arn},
                rekognition_response("detect_moderation_labels", scenario))


def moderation(scenario: str) -> Call:
    return Call("moderation", "detect_moderation_labels", {},
                rekognition_response("detect_moderation_labels", scenario))


class StubbedRekognition:
    """The real Rekognition adapter, over a Stubber client expecting exactly the calls of
    ``answers(key)`` that the analyses asked for need (every one of them must be there)."""

    def __init__(self, answers: Callable[[str], list[Call]]) -> None:
        self.answers = answers
        self.made: Counter[str] = Counter()
        self.needs: list[Needs] = []

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        assert isinstance(image, S3Image)
        self.needs.append(needs)
        by_id = {call.analysis: call for call in self.answers(image.key)}
        calls = [by_id[analysis_id] for analysis_id in needs.features]  # the adapter's order
        client = boto3.client("rekognition", region_name=REGION)
        s3_object = {"S3Object": {"Bucket": image.bucket, "Name": image.key}}
        with Stubber(client) as stub:
            for call in calls:
                expected = {"Image": s3_object, **call.params}
                if call.error:
                    stub.add_client_error(call.method, call.error, f"{call.error} (stubbed)", 400,
                                          expected_params=expected)
                else:
                    stub.add_response(call.method, call.response, expected)
            try:
                return RekognitionDetector(client).detect(image, needs)
            finally:
                self.made.update(c.method for c in calls)
                stub.assert_no_pending_responses()


def upload(world: Any, *names: str) -> dict[str, Any]:
    for name in names:
        world.put(f"images/{name}.jpg", sample("animals/cat.jpg"), ContentType="image/jpeg")
    return dict(world.receive_event())


def handle(world: Any, rules: str, scenes: dict[str, str],
           calls: Callable[[str], list[Call]]) -> StubbedRekognition:
    """Upload ``images/<name>.jpg`` per scene and handle the batch under ``rules``, Rekognition
    answering each photo with ``calls(its scene)``; every message must succeed."""
    event = upload(world, *scenes)
    detector = StubbedRekognition(lambda key: calls(next(v for k, v in scenes.items() if k in key)))
    assert world.analyzer(detector, rules=rules).handle(event, None) == {"batchItemFailures": []}
    return detector


def test_a_custom_labels_rule_routes_by_the_models_boxes(world: Any) -> None:
    # GIVEN three photos under a rule on a Custom Labels model (two sneakers or more: review)
    # WHEN the handler gets the batch
    scenes = {"pair": "sneakers_two", "bare": "empty"}
    detector = handle(world, SHOES_RULES, scenes, lambda scene: [custom_labels(SHOES, scene)])

    # THEN only the model was asked (the Stubber checked ARN, MinConfidence 0 and the S3 object)
    analysis_id = f"custom_labels@{SHOES}"
    assert all(n == Needs(extra=frozenset({analysis_id})) for n in detector.needs)
    pair = world.json("results/review/pair.jpg.json")
    assert pair["calls"] == {"DetectCustomLabels": 1}
    assert pair["features"] == [analysis_id]
    assert pair["categories"] == ["sneakers"]
    assert pair["matches"][0]["evidence"] == [{"label": "Sneaker", "confidence": 96.12, "instances": 2}]
    # AND the record keeps the model's answer under its analysis id, for re-judging later
    assert pair["analysis"]["features"] == [analysis_id]
    stored = record_analysis(pair)
    assert stored is not None
    assert stored[analysis_id]["CustomLabels"][1]["Geometry"]["BoundingBox"]["Left"] == 0.5612
    bare = world.json("results/success/bare.jpg.json")
    assert bare["calls"] == {"DetectCustomLabels": 1} and bare["categories"] == []
    assert world.read("analyzed/review/pair.jpg") == sample("animals/cat.jpg")
    notes = {n["body"]["source_key"]: n["body"]["verdict"] for n in world.notifications()}
    assert notes == {"images/pair.jpg": "review", "images/bare.jpg": "success"}


def test_two_custom_labels_models_are_two_calls_and_two_stored_analyses(world: Any) -> None:
    # GIVEN rules on two models: an object detector (sneakers) and a classifier (damage)
    # WHEN handled
    handle(world, TWO_MODELS_RULES, {"parcel": ""}, lambda _: [custom_labels(DAMAGE, "classification"),
                                                              custom_labels(SHOES, "sneakers_two")])

    # THEN one call per model (each with its own ARN), both answers stored under their own ids
    record = world.json("results/failure/parcel.jpg.json")
    assert record["calls"] == {"DetectCustomLabels": 2}
    ids = sorted([f"custom_labels@{SHOES}", f"custom_labels@{DAMAGE}"])
    assert record["features"] == ids and record["analysis"]["features"] == ids
    stored = record_analysis(record)
    assert stored is not None and sorted(stored) == ids
    assert "Geometry" not in stored[f"custom_labels@{DAMAGE}"]["CustomLabels"][0]  # classification
    # AND each model's rule judged its own answer: damaged (failure) and sneakers (review)
    assert record["categories"] == ["sneakers", "damaged"]
    assert {m["rule"]: m["evidence"] for m in record["matches"]} == {
        "sneakers": [{"label": "Sneaker", "confidence": 96.12, "instances": 2}],
        "damaged": [{"label": "damaged", "confidence": 93.71}],
    }


def explain(rules: Path, analysis: Path) -> Any:
    result = CliRunner().invoke(app, ["rules", "explain", str(rules), str(analysis), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_moderation_adapter_is_called_and_an_expired_one_still_judges(
    world: Any, tmp_path: Path
) -> None:
    # GIVEN two photos under a moderation rule with an adapter; for the second the adapter has
    # expired and Rekognition's base model answers (no ProjectVersion in the response)
    # WHEN handled
    scenes = {"fresh": "adapter_explicit", "stale": "adapter_expired"}
    handle(world, ADAPTER_RULES, scenes, lambda scene: [adapter(ADAPTER, scene)])

    # THEN DetectModerationLabels was called with the adapter (ProjectVersion), once per image,
    # and both images are judged on what came back
    analysis_id = f"moderation_adapter@{ADAPTER}"
    for name, confidence in (("fresh", 97.35), ("stale", 88.02)):
        record = world.json(f"results/failure/{name}.jpg.json")
        assert record["calls"] == {"DetectModerationLabels": 1}
        assert record["features"] == [analysis_id]
        assert record["matches"][0]["evidence"][0]["confidence"] == confidence
    # AND the explanation says when the base model answered instead of the adapter
    rules = tmp_path / "rules.yaml"
    rules.write_text(ADAPTER_RULES)
    reasons = {}
    for name in scenes:
        doc = tmp_path / f"{name}.json"
        doc.write_text(json.dumps(record_analysis(world.json(f"results/failure/{name}.jpg.json"))))
        [rule] = explain(rules, doc)["rules"]
        reasons[name] = rule["reasons"]
    base_model = "the adapter had expired: Rekognition's base model answered instead"
    assert base_model in reasons["stale"] and base_model not in reasons["fresh"]


def test_motos_own_detect_custom_labels_through_the_real_adapter(world: Any) -> None:
    # GIVEN moto's canned DetectCustomLabels (AWS's documented example: one "MyLogo" box at 77.8)
    event = upload(world, "logo")
    rules = SHOES_RULES.replace("labels: [Sneaker]\n    min_instances: 2\n    min_confidence: 80",
                                "labels: [MyLogo]\n    min_confidence: 75")
    client = boto3.client("rekognition", region_name=REGION)

    # WHEN the real adapter calls moto
    assert world.analyzer(RekognitionDetector(client), rules=rules).handle(event, None) == {
        "batchItemFailures": []}

    # THEN the answer routed the image and is stored like Rekognition's
    record = world.json("results/review/logo.jpg.json")
    assert record["calls"] == {"DetectCustomLabels": 1}
    assert record["matches"][0]["evidence"] == [{"label": "MyLogo", "confidence": 77.77}]


# --- a model that cannot answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "says"),
    [("ResourceNotReadyException", f"the Custom Labels model {SHOES} is not running"),
     ("ResourceNotFoundException", f"the Custom Labels model {SHOES} was not found")],
)
def test_a_model_that_cannot_answer_keeps_images_waiting_and_ends_in_the_dlq(
    aws: None, code: str, says: str
) -> None:
    # GIVEN two uploads under Custom Labels rules, and the model stopped (or a wrong ARN)
    stack = MotoStack(rules=parse_ruleset(SHOES_RULES, "shoes.yaml"), max_receive_count=MAX_RECEIVE_COUNT)
    keys = [stack.upload(name, sample("animals/cat.jpg")) for name in ("pair.jpg", "shelf/pair 2.jpg")]
    stopped = StubbedRekognition(lambda key: [replace(custom_labels(SHOES, "empty"), error=code)])
    plan = FaultPlan()
    analyzer = stack.analyzer(stopped, plan=plan)
    log = io.StringIO()
    analyzer.logger = Logger(service=f"imgpipe-model-{uuid.uuid4().hex[:8]}", level="INFO", stream=log)

    # WHEN the queue is drained like the event source mapping does (redelivery, then the DLQ)
    stats = stack.drain(analyzer.handle)

    # THEN every delivery was retried, none routed to failure: after maxReceiveCount receives
    # each message is in the DLQ and each image still under images/, nothing written, nothing sent
    assert stopped.made == {"detect_custom_labels": len(keys) * MAX_RECEIVE_COUNT}
    assert stats.item_failures == len(keys) * MAX_RECEIVE_COUNT
    tally = stack.check(plan)
    assert tally.problems == [] and tally.lost == 0 and tally.in_two_places == 0
    assert (tally.images, tally.in_dlq, tally.analysed, tally.notifications) == (2, 2, 0, 0)
    assert sorted(stack.keys()) == sorted(keys)
    # AND each failure is logged as what it is: which model, what is wrong, no traceback
    errors = [line for line in map(json.loads, log.getvalue().splitlines()) if line["level"] == "ERROR"]
    assert len(errors) == len(keys) * MAX_RECEIVE_COUNT
    for line in errors:
        assert line["message"].startswith(says) and "exception" not in line
        assert (line["error_type"], line["error_code"], line["model"]) == ("ModelUnavailableError", code, SHOES)
        assert line["object_key"] in keys
    if code == "ResourceNotReadyException":
        assert f"aws rekognition start-project-version --project-version-arn {SHOES}" in errors[0]["message"]
    # AND with those lines in CloudWatch Logs, `imgpipe dlq inspect` says why each image waits
    group = "/aws/lambda/imgpipe-analyzer"
    logs = aws_client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": int(time.time() * 1000), "message": line} for line in log.getvalue().splitlines()])
    waiting = inspect_dlq(stack.sqs, stack.dlq_url, s3=stack.s3, logs=logs, log_group=group,
                          bucket_name=stack.bucket, wait_seconds=0)
    assert sorted((o.key, o.state) for m in waiting for o in m.objects) == [(k, "pending") for k in sorted(keys)]
    assert all(m.why.startswith(f"ModelUnavailableError: {says}") for m in waiting)

    # WHEN the model runs again and the DLQ is redriven
    redrive(stack.sqs, stack.dlq_url, stack.queue_url, wait_seconds=0)
    running = StubbedRekognition(lambda key: [custom_labels(SHOES, "sneakers_two")])
    stack.drain(stack.analyzer(running, plan=plan).handle)

    # THEN both images are analysed exactly once and announced once
    after = stack.check(plan)
    assert after.problems == [] and (after.analysed, after.in_dlq, after.notifications) == (2, 0, 2)
    assert sorted(stack.keys("analyzed/")) == ["analyzed/review/pair.jpg", "analyzed/review/shelf/pair 2.jpg"]


@pytest.mark.parametrize(
    ("code", "says"),
    [("ResourceNotFoundException", f"the moderation adapter {ADAPTER} was not found"),
     ("ResourceNotReadyException", f"the moderation adapter {ADAPTER} is not ready")],
)
def test_an_adapter_that_cannot_answer_is_named_and_the_base_model_is_not(code: str, says: str) -> None:
    from botocore.exceptions import ClientError

    from analyzer.errors import ModelUnavailableError, PermanentImageError

    image = S3Image("photos", "images/a.jpg")
    s3_object = {"S3Object": {"Bucket": "photos", "Name": "images/a.jpg"}}
    adapter_needs = Needs(extra=frozenset({f"moderation_adapter@{ADAPTER}"}))
    client = boto3.client("rekognition", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        # an adapter that cannot answer: the model's problem, retried, never the image's failure
        stub.add_client_error("detect_moderation_labels", code, "stubbed", 400,
                              expected_params={"Image": s3_object, "ProjectVersion": ADAPTER})
        with pytest.raises(ModelUnavailableError) as info:
            RekognitionDetector(client).detect(image, adapter_needs)
        assert not isinstance(info.value, PermanentImageError)
        assert str(info.value).startswith(says) and info.value.model == ADAPTER
        # the same code from a call without a model stays the SDK's error, unwrapped
        stub.add_client_error("detect_moderation_labels", code, "stubbed", 400,
                              expected_params={"Image": s3_object})
        with pytest.raises(ClientError):
            RekognitionDetector(client).detect(image, Needs(moderation=True))
        stub.assert_no_pending_responses()


# --- stored analyses and economical plans --------------------------------------------------------

#: a moderation failure rule first, then the Custom Labels rule, under calls: economical
ECONOMICAL_RULES = SHOES_RULES.replace("rules:\n", """calls: economical
rules:
  - name: violence
    type: moderation
    categories: [Violence]
    outcome: failure
""", 1)


@pytest.mark.parametrize("sneakers", ["review", "tag"])
def test_economical_skips_a_custom_labels_call_after_a_moderation_failure_but_never_a_tags(
    world: Any, sneakers: str
) -> None:
    # GIVEN calls: economical, a moderation failure rule and a Custom Labels rule that can only
    # send to review (or only tag); one violent photo and one harmless photo
    rules = ECONOMICAL_RULES.replace("    outcome: review\n", f"    outcome: {sneakers}\n")

    # WHEN handled
    detector = handle(world, rules, {"weapon": "weapon", "pair": "empty"},
                      lambda scene: [moderation(scene), custom_labels(SHOES, "sneakers_two")])

    # THEN moderation is called first; the violent photo's model call is skipped, with the
    # reason in the record, unless a tag rule needs the model (its categories belong in the record)
    analysis_id = f"custom_labels@{SHOES}"
    weapon = world.json("results/failure/weapon.jpg.json")
    if sneakers == "review":
        assert weapon["calls"] == {"DetectModerationLabels": 1}
        assert weapon["skipped_calls"][analysis_id].startswith("verdict already failure (rule 'violence')")
        assert weapon["analysis"]["features"] == ["moderation"]  # what was fetched is stored
    else:
        assert weapon["calls"] == {"DetectModerationLabels": 1, "DetectCustomLabels": 1}
        assert "skipped_calls" not in weapon and weapon["categories"] == ["violence", "sneakers"]
    pair = world.json(f"results/{sneakers if sneakers == 'review' else 'success'}/pair.jpg.json")
    assert pair["calls"] == {"DetectModerationLabels": 1, "DetectCustomLabels": 1}
    assert pair["categories"] == ["sneakers"]
    assert detector.made["detect_custom_labels"] == (1 if sneakers == "review" else 2)


def rejudge(world: Any, rules: str, run: str, key: str) -> dict[str, Any]:
    """Send a re-judge message for ``key`` and handle it under ``rules`` with a detector that
    must not be called; return the image's outcome."""
    from analyzer.rejudge import rejudge_message

    def no_call(key: str) -> list[Call]:
        raise AssertionError(f"Rekognition called for {key} while re-judging")

    analyzer = world.analyzer(StubbedRekognition(no_call), rules=rules)
    outcomes: list[Any] = []
    original = analyzer._rejudge_one
    analyzer._rejudge_one = lambda job: outcomes.append(original(job)) or outcomes[-1]  # type: ignore[method-assign]
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=json.dumps(
        rejudge_message(world.bucket, run, [{"source_key": key}])))
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}
    [outcome] = outcomes
    return dict(outcome)


def test_a_stored_custom_labels_analysis_is_re_judged_with_zero_calls(world: Any) -> None:
    # GIVEN two sneakers routed to review by a Custom Labels rule
    handle(world, SHOES_RULES, {"pair": "sneakers_two"}, lambda scene: [custom_labels(SHOES, scene)])
    world.notifications()

    # WHEN re-judged with rules where two sneakers are a failure
    failing = SHOES_RULES.replace("outcome: review", "outcome: failure")
    outcome = rejudge(world, failing, "run-1", "images/pair.jpg")

    # THEN judged from the stored model answer: no call, moved, announced
    assert (str(outcome["status"]), str(outcome["verdict"])) == ("changed", "failure")
    moved = world.json("results/failure/pair.jpg.json")
    assert moved["calls"] == {"DetectCustomLabels": 1}  # the original call, not a new one
    assert moved["matches"][0]["evidence"] == [{"label": "Sneaker", "confidence": 96.12, "instances": 2}]
    assert sorted(world.keys("analyzed/")) == ["analyzed/failure/pair.jpg"]
    [note] = world.notifications()
    assert note["body"]["previous_verdict"] == "review"

    # WHEN the rules name another version of the model (not stored): not re-judgeable, no call
    retrained = failing.replace(SHOES, SHOES_RETRAINED)
    outcome = rejudge(world, retrained, "run-2", "images/pair.jpg")
    assert str(outcome["status"]) == "not_rejudgeable"
    assert f"lacks custom_labels@{SHOES_RETRAINED}" in outcome["why"]

    # WHEN re-analysed with that version while it is not running
    from analyzer.rejudge import rejudge_message

    stopped = StubbedRekognition(
        lambda key: [replace(custom_labels(SHOES_RETRAINED, "empty"), error="ResourceNotReadyException")])
    analyzer = world.analyzer(stopped, rules=retrained)
    log = io.StringIO()
    analyzer.logger = Logger(service=f"imgpipe-model-{uuid.uuid4().hex[:8]}", level="INFO", stream=log)
    emitted: Counter[str] = Counter()

    class RecordedMetrics:
        def add_metric(self, name: str, unit: object, value: float) -> None:
            emitted[name] += int(value)

        def flush_metrics(self) -> None:
            pass

    analyzer.metrics = RecordedMetrics()  # type: ignore[assignment]
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=json.dumps(rejudge_message(
        world.bucket, "run-3", [{"source_key": "images/pair.jpg"}], mode="reanalyse")))
    event = world.receive_event()

    # THEN the message is retried (it will reach the DLQ), the log line names the model, and the
    # image stays where it was judged
    assert analyzer.handle(event, None) == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert stopped.made == {"detect_custom_labels": 1}
    [line] = [json.loads(x) for x in log.getvalue().splitlines() if '"ERROR"' in x]
    assert line["message"].startswith(f"the Custom Labels model {SHOES_RETRAINED} is not running")
    assert sorted(world.keys("analyzed/")) == ["analyzed/failure/pair.jpg"]
    assert (emitted["ModelUnavailable"], emitted["RejudgeFailedMessages"]) == (1, 1)


def test_an_economical_plan_calls_each_model_once_and_adds_up_their_time(world: Any) -> None:
    # GIVEN two Custom Labels models under calls: economical, each call taking 5 ms
    rules = TWO_MODELS_RULES.replace("rules:\n", "calls: economical\nrules:\n", 1)
    event = upload(world, "parcel")
    stubbed = StubbedRekognition(lambda key: [custom_labels(DAMAGE, "empty"), custom_labels(SHOES, "empty")])

    class FiveMs:
        def detect(self, image: ImageSource, needs: Needs) -> Detection:
            detection = stubbed.detect(image, needs)
            detection.timings_ms = dict.fromkeys(detection.timings_ms, 5.0)
            return detection

    # WHEN handled
    assert world.analyzer(FiveMs(), rules=rules).handle(event, None) == {"batchItemFailures": []}

    # THEN one call per model, one at a time, and the record's time for the API is both calls'
    assert [sorted(n.extra) for n in stubbed.needs] == [[f"custom_labels@{DAMAGE}"], [f"custom_labels@{SHOES}"]]
    record = world.json("results/success/parcel.jpg.json")
    assert record["calls"] == {"DetectCustomLabels": 2}
    assert record["timings_ms"]["DetectCustomLabels"] == 10.0
