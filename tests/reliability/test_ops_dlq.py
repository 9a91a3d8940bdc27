"""`imgpipe dlq inspect` / `imgpipe dlq redrive` against moto, and the day-after flow."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.ops import inspect_dlq, redrive
from imgpipe.ops.errors import RedriveError
from tests.support.faults import Fault, FaultPlan, aws_client, client_error
from tests.support.images import picture
from tests.support.paths import load_event
from tests.support.world import MotoStack

pytestmark = pytest.mark.usefixtures("aws")


def s3_body(bucket: str, key: str) -> str:
    event = load_event("analyzer/s3_put_notification.json")
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    event["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
    return json.dumps(event)


def fill_dlq(stack: MotoStack) -> dict[str, str]:
    """Four typical DLQ messages; returns body name -> message id."""
    stack.upload("pending/cat 1.jpg", picture())
    stack.s3.put_object(Bucket=stack.bucket, Key="analyzed/success/done/cat.jpg", Body=picture())
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)
    bodies = {
        "pending": s3_body(stack.bucket, "images/pending/cat 1.jpg"),
        "done": s3_body(stack.bucket, "images/done/cat.jpg"),
        "malformed": "this is not json",
        "test": json.dumps(load_event("analyzer/s3_test_event.json")),
    }
    ids = {}
    for name, body in bodies.items():
        ids[name] = stack.sqs.send_message(
            QueueUrl=stack.dlq_url, MessageBody=body,
            MessageAttributes={"origin": {"DataType": "String", "StringValue": name}},
        )["MessageId"]
    return ids


def log_error(group: str, line: dict[str, Any]) -> None:
    logs = aws_client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/11/29/[$LATEST]abc")
    logs.put_log_events(
        logGroupName=group, logStreamName="2026/11/29/[$LATEST]abc",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
    )


def test_inspect_explains_each_message_and_leaves_them_in_place() -> None:
    # GIVEN four DLQ messages and the analyzer's log line for the pending image
    stack = MotoStack()
    ids = fill_dlq(stack)
    log_error("/aws/lambda/imgpipe-analyzer", {
        "level": "ERROR", "message": "processing failed; message will be retried",
        "object_key": "images/pending/cat 1.jpg", "error_type": "ClientError",
        "exception": "Traceback...\nbotocore.exceptions.ClientError: An error occurred "
                     "(AccessDeniedException) when calling the DetectLabels operation",
    })

    # WHEN the DLQ is inspected
    found = inspect_dlq(stack.sqs, stack.dlq_url, s3=stack.s3, logs=aws_client("logs"),
                        log_group="/aws/lambda/imgpipe-analyzer", bucket_name=stack.bucket,
                        wait_seconds=0)

    # THEN each message says where its image is and why it is there
    by_id = {m.message_id: m for m in found}
    assert set(by_id) == set(ids.values())
    pending = by_id[ids["pending"]]
    assert [(o.key, o.state) for o in pending.objects] == [("images/pending/cat 1.jpg", "pending")]
    assert "AccessDeniedException" in pending.why and pending.why.startswith("ClientError")
    assert by_id[ids["done"]].objects[0].state == "done:success"
    assert by_id[ids["malformed"]].why.startswith("malformed message: body is not JSON")
    assert by_id[ids["test"]].why.startswith("s3:TestEvent")
    assert all(m.receive_count == 1 for m in found)
    # AND the messages are all still there, visible at once
    again = stack.sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10)
    assert len(again["Messages"]) == 4


def test_redrive_falls_back_to_the_copy_loop_on_moto() -> None:
    # GIVEN four DLQ messages (moto has no StartMessageMoveTask)
    stack = MotoStack()
    fill_dlq(stack)

    # WHEN redriven with the default strategy
    result = redrive(stack.sqs, stack.dlq_url, stack.queue_url, wait_seconds=0)

    # THEN the copy loop moved all four, bodies and attributes intact, and the DLQ is empty
    assert (result.strategy, result.moved, result.failed, result.available) == ("copy", 4, 0, 4)
    assert stack.queue_messages(stack.dlq_url) == []
    moved = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10,
                                      MessageAttributeNames=["All"])["Messages"]
    assert sorted(m["MessageAttributes"]["origin"]["StringValue"] for m in moved) == [
        "done", "malformed", "pending", "test"]


def test_redrive_with_a_limit_moves_only_that_many() -> None:
    stack = MotoStack()
    fill_dlq(stack)
    result = redrive(stack.sqs, stack.dlq_url, stack.queue_url, max_messages=3, wait_seconds=0)
    assert (result.strategy, result.moved) == ("copy", 3)
    assert len(stack.queue_messages(stack.dlq_url)) == 1
    assert len(stack.queue_messages(stack.queue_url)) == 3


def test_dry_run_moves_nothing() -> None:
    stack = MotoStack()
    fill_dlq(stack)
    result = redrive(stack.sqs, stack.dlq_url, stack.queue_url, dry_run=True)
    assert (result.strategy, result.available, result.moved) == ("dry-run", 4, 0)
    assert len(stack.queue_messages(stack.dlq_url)) == 4


class _Sqs:
    """moto's SQS with scripted behaviour for one operation."""

    def __init__(self, real: Any, **overrides: Any) -> None:
        self._real = real
        self._overrides = overrides
        self.deleted: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        attr = getattr(self._real, name)
        if name == "delete_message_batch":
            def delete(**kwargs: Any) -> Any:
                self.deleted += [e["ReceiptHandle"] for e in kwargs["Entries"]]
                return attr(**kwargs)
            return delete
        return attr


def test_copy_loop_never_deletes_what_the_source_queue_refused() -> None:
    # GIVEN a source queue that refuses the first entry of every batch
    stack = MotoStack()
    fill_dlq(stack)
    real_send = stack.sqs.send_message_batch

    def send(**kwargs: Any) -> Any:
        first, rest = kwargs["Entries"][0], kwargs["Entries"][1:]
        ok = real_send(QueueUrl=kwargs["QueueUrl"], Entries=rest)
        ok["Failed"] = [{"Id": first["Id"], "SenderFault": False, "Code": "InternalError"}]
        return ok

    sqs = _Sqs(stack.sqs, send_message_batch=send)

    # WHEN redriven with the copy loop
    result = redrive(sqs, stack.dlq_url, stack.queue_url, strategy="copy", wait_seconds=0,
                     visibility_timeout=0)

    # THEN the refused message stays in the DLQ; only accepted ones were deleted
    assert result.failed >= 1 and result.moved == 4 - result.failed
    assert len(sqs.deleted) == result.moved
    left = stack.queue_messages(stack.dlq_url)
    assert len(left) == result.failed


def test_copy_loop_deletes_nothing_when_sending_raises() -> None:
    stack = MotoStack()
    fill_dlq(stack)

    def send(**kwargs: Any) -> Any:
        raise client_error("AccessDenied", "SendMessageBatch", 403)

    sqs = _Sqs(stack.sqs, send_message_batch=send)
    with pytest.raises(RedriveError, match="after 0 moved"):
        redrive(sqs, stack.dlq_url, stack.queue_url, strategy="copy", wait_seconds=0)
    assert sqs.deleted == []
    assert len(stack.queue_messages(stack.dlq_url)) == 4


def test_native_move_task_is_used_where_available() -> None:
    # GIVEN an endpoint that implements StartMessageMoveTask
    stack = MotoStack()
    fill_dlq(stack)
    calls: list[dict[str, Any]] = []

    def start(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return {"TaskHandle": "task-123"}

    sqs = _Sqs(stack.sqs, start_message_move_task=start)

    # WHEN redriven with the default strategy
    result = redrive(sqs, stack.dlq_url, stack.queue_url, max_per_second=50)

    # THEN the native task was started from the DLQ to the source queue, nothing copied by hand
    assert (result.strategy, result.task_handle) == ("native", "task-123")
    assert calls == [{"SourceArn": stack.queue_arn(stack.dlq_url),
                      "DestinationArn": stack.queue_arn_value,
                      "MaxNumberOfMessagesPerSecond": 50}]
    assert sqs.deleted == []


@pytest.mark.parametrize("code,fallback", [("UnsupportedOperation", True), ("AccessDenied", False)])
def test_native_errors_fall_back_only_when_unsupported(code: str, fallback: bool) -> None:
    stack = MotoStack()
    fill_dlq(stack)

    def start(**kwargs: Any) -> Any:
        raise client_error(code, "StartMessageMoveTask")

    sqs = _Sqs(stack.sqs, start_message_move_task=start)
    if fallback:
        assert redrive(sqs, stack.dlq_url, stack.queue_url, wait_seconds=0).strategy == "copy"
    else:
        with pytest.raises(RedriveError):
            redrive(sqs, stack.dlq_url, stack.queue_url, wait_seconds=0)
        assert sqs.deleted == []


def test_native_strategy_cannot_limit() -> None:
    stack = MotoStack()
    with pytest.raises(RedriveError, match="cannot limit"):
        redrive(stack.sqs, stack.dlq_url, stack.queue_url, strategy="native", max_messages=1)


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_inspect_and_redrive_with_stack_outputs(tmp_path: Path) -> None:
    # GIVEN the stack's outputs file and four DLQ messages
    stack = MotoStack()
    fill_dlq(stack)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": stack.bucket, "queue_url": stack.queue_url,
                                   "dlq_url": stack.dlq_url, "function_name": "imgpipe-fn",
                                   "table_name": "t", "code_sha256": "x"}))
    runner = CliRunner()

    # WHEN inspected (the log group of function_name does not exist: no last error, no crash)
    result = runner.invoke(app, ["dlq", "inspect", "--outputs", str(outputs), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 4
    states = sorted(o["state"] for m in data["messages"] for o in m["objects"])
    assert states == ["done:success", "pending"]

    # AND redriven
    result = runner.invoke(app, ["dlq", "redrive", "--outputs", str(outputs), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["moved"] == 4
    assert stack.queue_messages(stack.dlq_url) == []


def test_cli_table_output_and_missing_urls(tmp_path: Path) -> None:
    stack = MotoStack()
    fill_dlq(stack)
    runner = CliRunner()
    result = runner.invoke(app, ["dlq", "inspect", "--dlq-url", stack.dlq_url,
                                 "--bucket", stack.bucket])
    assert result.exit_code == 0, result.output
    text = "".join(result.stdout.split())  # rich wraps to the terminal's width
    assert "(pending)" in text and "4message(s)" in text and "s3:TestEvent" in text

    result = runner.invoke(app, ["dlq", "redrive", "--dlq-url", stack.dlq_url])
    assert result.exit_code == 2
    assert "--queue-url" in result.output

    result = runner.invoke(app, ["dlq", "redrive", "--outputs", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "nope.json" in result.output


# --- the day after ---------------------------------------------------------------------------------


def test_fix_the_cause_then_redrive_completes_the_work() -> None:
    # GIVEN images that kept failing (Rekognition access denied) and reached the DLQ
    stack = MotoStack()
    keys = [stack.upload(rel, picture()) for rel in ("d/cat 1.jpg", "d/weapon.jpg", "d/plain.jpg")]
    broken = FaultPlan([Fault("rekognition", "detect_labels", "AccessDeniedException", None)])
    stack.drain(stack.analyzer(plan=broken).handle)
    assert stack.check(broken, keys=keys).in_dlq == 3
    found = inspect_dlq(stack.sqs, stack.dlq_url, s3=stack.s3, wait_seconds=0)
    assert sorted(o.state for m in found for o in m.objects) == ["pending"] * 3

    # WHEN the permission is fixed and the DLQ redriven
    fixed = FaultPlan()
    result = redrive(stack.sqs, stack.dlq_url, stack.queue_url, wait_seconds=0)
    stack.drain(stack.analyzer(plan=fixed).handle)

    # THEN every image is analysed once and announced once
    assert result.moved == 3
    tally = stack.check(fixed, keys=keys)
    assert tally.problems == [] and tally.analysed == 3 and tally.notifications == 3


def test_inspect_reports_log_lookup_failure_instead_of_crashing() -> None:
    stack = MotoStack()
    fill_dlq(stack)

    class Logs:
        def filter_log_events(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                              "FilterLogEvents")

    found = inspect_dlq(stack.sqs, stack.dlq_url, s3=stack.s3, logs=Logs(), log_group="g",
                        wait_seconds=0)
    pending = [m for m in found if m.objects and m.objects[0].state == "pending"]
    assert pending and "log lookup failed: AccessDeniedException" in pending[0].why
