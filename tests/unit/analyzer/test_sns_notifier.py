"""The SNS adapter: message shape, subject rules, and which failures are certain."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from analyzer.errors import NotificationNotSentError
from analyzer.ports import Notification
from analyzer.sns import SnsNotifier, sns_subject

TOPIC = "arn:aws:sns:eu-west-1:123456789012:verdicts"
NOTE = Notification(
    subject="imgpipe review: été/b c.jpg (people)",
    body={"bucket": "b", "source_key": "images/été/b c.jpg", "verdict": "review",
          "categories": ["people"], "matches": []},
    verdict="review",
    categories=("people",),
)


def _client() -> Any:
    return boto3.client("sns", region_name="eu-west-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_publish_shape() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("publish", {"MessageId": "1"}, {
            "TopicArn": TOPIC,
            "Subject": "imgpipe review: ?t?/b c.jpg (people)",
            "Message": json.dumps(dict(NOTE.body), ensure_ascii=False),
            "MessageAttributes": {
                "verdict": {"DataType": "String", "StringValue": "review"},
                "categories": {"DataType": "String.Array", "StringValue": '["people"]'},
            },
        })
        SnsNotifier(client, TOPIC).notify(NOTE)
        stub.assert_no_pending_responses()


def test_subject_is_ascii_one_line_and_short() -> None:
    subject = sns_subject("imgpipe failure: " + "ünïcode/" * 30 + "\nsecond line")
    assert subject.isascii() and "\n" not in subject and len(subject) < 100
    assert subject.endswith("...")
    assert sns_subject("   ") == "imgpipe"


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("AuthorizationError", 403),
                                              ("NotFound", 404), ("KMSDisabled", 400)])
def test_refusals_are_certain_failures(code: str, status: int) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("publish", code, "no", status)
        with pytest.raises(NotificationNotSentError) as info:
            SnsNotifier(client, TOPIC).notify(NOTE)
    assert isinstance(info.value.__cause__, ClientError)


def test_server_errors_are_ambiguous() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("publish", "InternalError", "oops", 500)
        with pytest.raises(ClientError):
            SnsNotifier(client, TOPIC).notify(NOTE)


@pytest.mark.parametrize(
    ("error", "certain"),
    [(EndpointConnectionError(endpoint_url="https://sns"), True),
     (ReadTimeoutError(endpoint_url="https://sns"), False)],
)
def test_connection_errors(error: Exception, certain: bool) -> None:
    class Raising:
        def publish(self, **_: Any) -> None:
            raise error

    expected = NotificationNotSentError if certain else type(error)
    with pytest.raises(expected):
        SnsNotifier(Raising(), TOPIC).notify(NOTE)
