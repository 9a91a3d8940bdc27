"""What each kind of subscriber receives from one publish (MessageStructure='json').

moto delivers to SQS (envelope and raw) and HTTPS subscribers for real (here: a local HTTP
server); it does not deliver e-mail or SMS, so for those the text is picked by moto's own SNS
code (``Subscription._parse_message_structure``, the documented "protocol key, else default")
from the message the function really published.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from analyzer.messages import NOTIFICATION_SCHEMA, SMS_MAX
from tests.support.fakes import FakeDetector
from tests.support.paths import sample

CONTRACT_KEYS = {"bucket", "source_key", "destination_key", "verdict", "categories", "matches"}


class _Inbox(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def https_inbox() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sns", received
    server.shutdown()
    server.server_close()


def _queue(world: Any, name: str) -> tuple[str, str]:
    url = world.sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = world.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return url, arn


def _drain(world: Any, url: str) -> list[dict[str, Any]]:
    resp = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                     MessageAttributeNames=["All"])
    return resp.get("Messages", [])


def test_each_protocol_gets_its_own_text(world: Any, https_inbox: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.sns.models import Subscription

    monkeypatch.setenv("IMGPIPE_STACK", "prod")
    # GIVEN subscribers of every kind: SQS (envelope and raw), HTTP, e-mail and SMS
    raw_url, raw_arn = _queue(world, "raw-inbox")
    sub = world.sns.subscribe(TopicArn=world.topic_arn, Protocol="sqs", Endpoint=raw_arn,
                              ReturnSubscriptionArn=True)["SubscriptionArn"]
    world.sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery",
                                          AttributeValue="true")
    http_endpoint, http_received = https_inbox
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="http", Endpoint=http_endpoint)
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="email", Endpoint="qc@example.com")
    world.sns.subscribe(TopicArn=world.topic_arn, Protocol="sms", Endpoint="+15550100")
    published: list[dict[str, Any]] = []
    analyzer = world.analyzer(FakeDetector.for_scenarios({"grace-hopper": "weapon"}))
    analyzer.notifier.client.meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: published.append(dict(params)))

    # WHEN one image is judged (a failure with two reasons)
    key = "images/deep/er/and/deeper/a very long folder name/grace-hopper portrait.jpg"
    world.put(key, sample("people/grace-hopper.jpg"), ContentType="image/jpeg")
    assert analyzer.handle(world.receive_event(), None) == {"batchItemFailures": []}

    # THEN one publish with one text per protocol and the verdict attributes unchanged
    [call] = published
    assert call["MessageStructure"] == "json"
    assert call["MessageAttributes"] == {
        "verdict": {"DataType": "String", "StringValue": "failure"},
        "categories": {"DataType": "String.Array", "StringValue": '["people", "unsafe"]'},
    }
    # AND machines (SQS with envelope) get the versioned JSON body with the contract's keys
    [note] = world.notifications()
    body = note["body"]
    assert set(body) >= CONTRACT_KEYS
    assert body["schema"] == NOTIFICATION_SCHEMA and body["event"] == "verdict"
    assert body["verdict"] == "failure" and body["categories"] == ["people", "unsafe"]
    assert note["MessageAttributes"]["verdict"] == {"Type": "String", "Value": "failure"}
    # AND raw SQS delivery is the same JSON body, attributes as SQS attributes
    [raw] = _drain(world, raw_url)
    assert json.loads(raw["Body"]) == body
    assert raw["MessageAttributes"]["verdict"]["StringValue"] == "failure"
    # AND HTTP(S) endpoints get the envelope around the same JSON body
    [posted] = http_received
    assert json.loads(posted["Message"]) == body
    # AND SMS is one short line: stack, verdict, key, top reason
    sms = Subscription._parse_message_structure(_as(call, "sms"), call["Message"], "sms")
    assert len(sms) <= SMS_MAX and "\n" not in sms
    assert sms.startswith("imgpipe prod: FAILURE ")
    assert "portrait.jpg" in sms and "unsafe" in sms
    # AND e-mail is a readable message: verdict, categories, reasons, where, what to do
    email = Subscription._parse_message_structure(_as(call, "email"), call["Message"], "email")
    assert not email.lstrip().startswith("{")
    assert "FAILURE" in email and "Categories:  people, unsafe" in email
    assert 'rule "unsafe" (moderation) -> failure' in email
    assert f"s3://{world.bucket}/analyzed/failure/" in email
    assert "imgpipe reprocess" in email


def _as(call: dict[str, Any], protocol: str) -> Any:
    """A stand-in subscription of ``protocol`` for moto's per-protocol selection."""
    return type("Sub", (), {"protocol": protocol})()


def test_review_email_says_how_to_decide(world: Any) -> None:
    analyzer = world.analyzer(FakeDetector.for_scenarios({"astronaut": "beach"}))
    published: list[dict[str, Any]] = []
    analyzer.notifier.client.meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: published.append(dict(params)))
    world.put("images/beach/astronaut.jpg", sample("people/astronaut.jpg"))
    analyzer.handle(world.receive_event(), None)
    message = json.loads(published[0]["Message"])
    assert "imgpipe review approve 'beach/astronaut.jpg'" in message["email"]
    assert "imgpipe review serve --stack" in message["email"]
    assert "REVIEW" in message["sms"] and "beach/astronaut.jpg" in message["sms"]
