"""The SNS adapter: message shape and subject rules (botocore Stubber, no AWS)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.stub import Stubber

from analyzer.messages import verdict_messages
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
            "Message": verdict_messages(NOTE.body, "dev"),
            "MessageStructure": "json",
            "MessageAttributes": {
                "verdict": {"DataType": "String", "StringValue": "review"},
                "categories": {"DataType": "String.Array", "StringValue": '["people"]'},
            },
        })
        SnsNotifier(client, TOPIC, stack="dev").notify(NOTE)
        stub.assert_no_pending_responses()
    # one text per protocol; machines keep the JSON body, versioned
    message = json.loads(verdict_messages(NOTE.body, "dev"))
    assert set(message) == {"default", "sms", "email"}
    assert json.loads(message["default"]) == {
        "schema": "imgpipe.notification/1", "event": "verdict", **NOTE.body}


def test_empty_categories_are_an_empty_array() -> None:
    client = _client()
    note = Notification("s", {"verdict": "failure"}, "failure", ())
    with Stubber(client) as stub:
        stub.add_response("publish", {"MessageId": "1"}, {
            "TopicArn": TOPIC, "Subject": "s", "Message": verdict_messages(note.body, "dev"),
            "MessageStructure": "json",
            "MessageAttributes": {
                "verdict": {"DataType": "String", "StringValue": "failure"},
                "categories": {"DataType": "String.Array", "StringValue": "[]"},
            },
        })
        SnsNotifier(client, TOPIC, stack="dev").notify(note)


def test_subject_is_ascii_one_line_and_short() -> None:
    subject = sns_subject("imgpipe failure: " + "ünïcode/" * 30 + "\nsecond line")
    assert subject.isascii() and "\n" not in subject and len(subject) < 100
    assert subject.endswith("...")
    assert sns_subject("   ") == "imgpipe"


class _LostAnswer:
    """A client whose publish went out but whose answer never came back."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def publish(self, **_: Any) -> None:
        raise self.error


def test_lost_answer_is_delivery_unknown_but_an_error_answer_is_not() -> None:
    import pytest
    from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

    from analyzer.errors import DeliveryUnknownError

    # a read timeout: SNS may have accepted the message
    with pytest.raises(DeliveryUnknownError):
        SnsNotifier(_LostAnswer(ReadTimeoutError(endpoint_url="https://sns")), TOPIC).notify(NOTE)
    # a connect timeout or an error answer: it provably was not published
    with pytest.raises(ConnectTimeoutError):
        SnsNotifier(_LostAnswer(ConnectTimeoutError(endpoint_url="https://sns")), TOPIC).notify(NOTE)
    refused = ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "Publish")
    with pytest.raises(ClientError):
        SnsNotifier(_LostAnswer(refused), TOPIC).notify(NOTE)
