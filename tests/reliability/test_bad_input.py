"""The bad-input corpus: every odd object, key and event gets a defined outcome.

Objects are uploaded into a moto bucket whose notifications feed the queue (so keys arrive
encoded exactly as S3 encodes them); hand-made bodies are sent to the queue directly. The queue
is drained like Lambda's event source mapping. Outcomes:

- ``analysed:<verdict>`` — routed normally;
- ``failure:<reason>`` — routed to ``analyzed/failure/`` with that machine-readable reason
  (pre-check reasons with zero Rekognition calls);
- ``ack`` — acknowledged and deleted, nothing moved, nothing announced;
- ``dlq`` — reported as a batch item failure on every delivery, so it reaches the DLQ for
  inspection (the object, if any, stays under ``images/``).

The Lambda table of docs/bad-input.md lists the same cases (``CORPUS`` below), with every other class
of bad input; docs/reliability.md links it.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus

import pytest
from PIL import Image

from tests.support.fakes import FakeContext
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.paths import load_event
from tests.support.world import INPUT, MotoStack

pytestmark = pytest.mark.usefixtures("aws")


# --- data --------------------------------------------------------------------------------------


def jpeg(width: int = 96, height: int = 96) -> bytes:
    return picture(width, height)


def png_bad_crc() -> bytes:
    data = bytearray(picture(fmt="PNG"))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(data)


def heic() -> bytes:
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(256)


def huge_jpeg_header() -> bytes:
    head = picture(96, 96)
    return head[:200] + bytes(16 * 1024 * 1024 - 200)


def fat_metadata(width: int, height: int = 90) -> bytes:
    """A JPEG whose 3 x 64 KB of metadata (COM segments) precede the frame header."""
    data = picture(width, height)
    comment = b"\xff\xfe" + (65535).to_bytes(2, "big") + bytes(65533)
    return data[:2] + comment * 3 + data[2:]


def svg() -> bytes:
    return (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" '
            b'height="100"><circle cx="50" cy="50" r="40"/></svg>')


def body_truncated_jpeg() -> bytes:
    data = picture(200, 200)
    return data[: len(data) // 2]


# --- events ------------------------------------------------------------------------------------


def s3_event(bucket: str, key: str, event_name: str = "ObjectCreated:Put") -> dict[str, object]:
    """A real S3 notification (tests/events) pointed at ``bucket``/``key``, key encoded like S3."""
    event = copy.deepcopy(load_event("analyzer/s3_put_notification.json"))
    record = event["Records"][0]
    record["eventName"] = event_name
    record["awsRegion"] = "eu-west-1"
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    record["s3"]["object"].pop("versionId", None)
    return event


@dataclass(frozen=True, slots=True)
class Bad:
    """One corpus entry: uploads (relative key, bytes) and/or raw SQS bodies, and the outcome."""

    id: str
    what: str
    outcome: str
    uploads: tuple[tuple[str, Callable[[], bytes]], ...] = ()
    bodies: Callable[[MotoStack], list[str]] | None = None


def _bodies(*make: Callable[[MotoStack], object]) -> Callable[[MotoStack], list[str]]:
    return lambda st: [m if isinstance(m, str) else json.dumps(m) for m in (f(st) for f in make)]


CORPUS: list[Bad] = [
    # content
    Bad("zero-byte", "zero-byte file", "failure:empty", (("empty.jpg", lambda: b""),)),
    Bad("truncated-jpeg-header", "JPEG cut inside its header", "failure:truncated",
        (("cut.jpg", lambda: jpeg()[:120]),)),
    Bad("truncated-jpeg-body", "JPEG cut in the middle of its data",
        "failure:rekognition:invalid_image_format", (("half.jpg", body_truncated_jpeg),)),
    Bad("png-bad-crc", "PNG with a bad IHDR CRC", "failure:rekognition:invalid_image_format",
        (("crc.png", png_bad_crc),)),
    Bad("gif-as-jpg", "GIF named .jpg", "failure:unsupported_format:gif",
        (("gif.jpg", lambda: picture(fmt="GIF")),)),
    Bad("webp-as-jpg", "WEBP named .jpg", "failure:unsupported_format:webp",
        (("webp.jpg", lambda: picture(fmt="WEBP")),)),
    Bad("heic-as-jpg", "HEIC named .jpg", "failure:unsupported_format:heic",
        (("heic.jpg", heic),)),
    Bad("tiff-as-jpg", "TIFF named .jpg", "failure:unsupported_format:tif",
        (("tiff.jpg", lambda: picture(fmt="TIFF")),)),
    Bad("bmp-as-jpg", "BMP named .jpg", "failure:unsupported_format:bmp",
        (("bmp.jpg", lambda: picture(fmt="BMP")),)),
    Bad("pdf-as-jpg", "PDF named .jpg", "failure:not_an_image:pdf",
        (("doc.jpg", lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(200)),)),
    Bad("svg-as-jpg", "SVG named .jpg", "failure:not_an_image", (("vector.jpg", svg),)),
    Bad("text-as-jpg", "plain text named .jpg", "failure:not_an_image",
        (("notes.jpg", lambda: b"hello, this is not an image\n" * 10),)),
    Bad("79px", "79 px wide image", "failure:too_small", (("narrow.jpg", lambda: jpeg(79, 200)),)),
    Bad("80px", "80 px wide image (the limit)", "analysed:review",
        (("edge80.jpg", lambda: jpeg(80, 200)),)),
    Bad("10001px", "10,001 px wide image", "failure:too_big_dimensions",
        (("wide.jpg", lambda: jpeg(10_001, 90)),)),
    Bad("10000px", "10,000 px wide image (the limit)", "analysed:review",
        (("edge10000.jpg", lambda: jpeg(10_000, 90)),)),
    Bad("16mb", "16 MB object", "failure:too_large", (("big.jpg", huge_jpeg_header),)),
    Bad("metadata-10001px", "10,001 px wide JPEG behind 192 KB of metadata (header read on past 64 KB)",
        "failure:too_big_dimensions", (("fat-wide.jpg", lambda: fat_metadata(10_001)),)),
    Bad("metadata-ok", "JPEG behind 192 KB of metadata, sizes within limits", "analysed:review",
        (("fat.jpg", lambda: fat_metadata(80, 200)),)),
    Bad("png-named-jpg", "real PNG named .jpg (type sniffed, not guessed)", "analysed:success",
        (("cat-png.jpg", lambda: picture(fmt="PNG")),)),
    # keys
    Bad("key-spaces", "key with spaces", "analysed:success", (("my cat photo.jpg", jpeg),)),
    Bad("key-plus", "key with '+'", "analysed:success", (("cat+dog=cat.jpg", jpeg),)),
    Bad("key-percent", "key with '%' (and a literal %2F)", "analysed:success",
        (("100% cat %2F.jpg", jpeg),)),
    Bad("key-unicode", "unicode key", "analysed:success", (("été/日本の猫 cat 🐱.jpg", jpeg),)),
    Bad("key-long-ok", "1,000-byte key (routable)", "analysed:success",
        (("cat-" + "l" * 989 + ".jpg", jpeg),)),
    Bad("key-too-long", "1,020-byte key (its destination would exceed S3's 1,024 bytes)", "dlq",
        (("cat-" + "l" * 1005 + ".jpg", jpeg),)),
    Bad("folder-marker", "folder marker images/sub/", "ack", (("sub/", lambda: b""),)),
    Bad("nested", "deeply nested prefixes", "analysed:success", (("a/b/c/d/e/f/cat.jpg", jpeg),)),
    # events
    Bad("test-event", "s3:TestEvent", "ack",
        bodies=_bodies(lambda st: load_event("analyzer/s3_test_event.json"))),
    Bad("malformed-json", "body that is not JSON", "dlq", bodies=_bodies(lambda st: '{"Records": [')),
    Bad("not-s3", "JSON body that is not an S3 notification", "dlq",
        bodies=_bodies(lambda st: {"hello": "world"})),
    Bad("no-records", "S3 body with an empty Records list", "dlq",
        bodies=_bodies(lambda st: {"Records": []})),
    Bad("record-without-key", "S3 record without object key", "dlq",
        bodies=_bodies(lambda st: {"Records": [{"eventName": "ObjectCreated:Put",
                                                "s3": {"bucket": {"name": st.bucket},
                                                       "object": {"size": 1}}}]})),
    Bad("other-bucket", "event for another bucket", "ack",
        bodies=_bodies(lambda st: s3_event("someone-elses-bucket", "images/cat.jpg"))),
    Bad("object-removed", "ObjectRemoved:Delete event", "ack",
        bodies=_bodies(lambda st: s3_event(st.bucket, "images/cat.jpg", "ObjectRemoved:Delete"))),
    Bad("images2-prefix", "look-alike prefix images2/", "ack",
        bodies=_bodies(lambda st: s3_event(st.bucket, "images2/cat.jpg"))),
    Bad("output-prefix", "event for analyzed/ (recursion guard)", "ack",
        bodies=_bodies(lambda st: s3_event(st.bucket, "analyzed/success/cat.jpg"))),
    Bad("gone-object", "event for an object deleted before processing", "ack",
        bodies=_bodies(lambda st: s3_event(st.bucket, "images/deleted-meanwhile.jpg"))),
]


# --- running -------------------------------------------------------------------------------------


def run(bad: Bad) -> tuple[MotoStack, FaultPlan]:
    stack = MotoStack()
    for rel, make in bad.uploads:
        stack.upload(rel, make())
    if bad.bodies is not None:
        for body in bad.bodies(stack):
            stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan, decode=True).handle)
    return stack, plan


@pytest.mark.parametrize("bad", CORPUS, ids=lambda b: b.id)
def test_bad_input_has_its_defined_outcome(bad: Bad) -> None:
    # GIVEN one odd object or event  WHEN the queue is drained
    stack, plan = run(bad)

    # THEN it ended exactly as documented
    analysed = stack.keys("analyzed/")
    dlq = stack.queue_messages(stack.dlq_url)
    assert stack.queue_messages(stack.queue_url) == []
    rels = [rel for rel, _ in bad.uploads]
    kind, _, detail = bad.outcome.partition(":")
    if kind == "failure":
        rel = rels[0]
        assert analysed == {f"analyzed/failure/{rel}"}
        record = stack.record("failure", rel)
        assert record is not None and record["reason"] == detail
        if not detail.startswith("rekognition:"):
            assert record["calls"] == {}  # pre-check: not a cent spent on Rekognition
        assert [p["source_key"] for p in plan.published] == [INPUT + rel]
        assert dlq == []
    elif kind == "analysed":
        rel = rels[0]
        assert analysed == {f"analyzed/{detail}/{rel}"}
        assert stack.keys(INPUT) == set()
        assert [p["source_key"] for p in plan.published] == [INPUT + rel]
        assert dlq == []
    elif kind == "ack":
        assert analysed == set() and dlq == [] and plan.published == []
        assert stack.keys(INPUT) == {INPUT + rel for rel in rels}  # untouched
    elif kind == "dlq":
        assert analysed == set() and plan.published == []
        assert len(dlq) == 1
        assert stack.keys(INPUT) == {INPUT + rel for rel in rels}
    else:  # pragma: no cover - a typo in CORPUS
        raise AssertionError(f"unknown outcome {bad.outcome!r}")
    if bad.uploads and kind != "ack":
        tally = stack.check(plan)
        assert tally.problems == [] and tally.lost == 0 and tally.in_two_places == 0


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert len({b.id for b in CORPUS}) == len(CORPUS)


def test_image_outside_the_prefix_never_reaches_the_queue() -> None:
    # GIVEN the stack's notification filter on images/
    stack = MotoStack()
    stack.s3.put_object(Bucket=stack.bucket, Key="images2/cat.jpg", Body=jpeg())
    stack.s3.put_object(Bucket=stack.bucket, Key="imagescat.jpg", Body=jpeg())

    # THEN only the s3:TestEvent of the configuration is queued
    bodies = [json.loads(m["Body"]) for m in stack.queue_messages(stack.queue_url)]
    assert [b.get("Event") for b in bodies] == ["s3:TestEvent"]


def test_body_with_several_records_processes_each_once() -> None:
    # GIVEN three uploads whose three events are merged into one body, delivered twice
    stack = MotoStack()
    keys = [stack.upload(rel, jpeg()) for rel in ("m/cat 1.jpg", "m/weapon.jpg", "m/plain.jpg")]
    msgs = stack.queue_messages(stack.queue_url)
    records = [r for m in msgs for r in json.loads(m["Body"]).get("Records", [])]
    for m in stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]:
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert len(records) == 3
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps({"Records": records}))

    # WHEN drained
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)

    # THEN each image is analysed once and announced once
    tally = stack.check(plan, keys=keys)
    assert tally.problems == [] and tally.analysed == 3
    assert sorted(p["source_key"] for p in plan.published) == sorted(keys)


def test_sns_wrapped_s3_event_is_unwrapped() -> None:
    # GIVEN an S3 event fanned out through SNS (S3 -> SNS -> SQS, raw delivery off)
    stack = MotoStack()
    key = INPUT + "fan/cat.jpg"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=jpeg())
    stack.queue_messages(stack.queue_url)
    for m in stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10)["Messages"]:
        stack.sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=m["ReceiptHandle"])
    envelope = {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:eu-west-1:1:t",
                "Message": json.dumps(s3_event(stack.bucket, key))}
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(envelope))

    # WHEN drained  THEN it is analysed
    plan = FaultPlan()
    stack.drain(stack.analyzer(plan=plan).handle)
    assert stack.keys("analyzed/") == {"analyzed/success/fan/cat.jpg"}


def test_direct_s3_invocation_is_not_processed() -> None:
    # GIVEN an S3 event delivered to the function directly (an S3 -> Lambda trigger, unsupported)
    stack = MotoStack()
    key = stack.upload("direct/cat.jpg", jpeg())
    analyzer = stack.analyzer(plan=FaultPlan())

    # WHEN the handler receives it
    response = analyzer.handle(s3_event(stack.bucket, key), FakeContext(remaining_ms=0))

    # THEN its record is reported as failed (it is not an SQS message) and nothing moves
    assert response == {"batchItemFailures": [{"itemIdentifier": "<record 0>"}]}
    assert stack.keys("analyzed/") == set() and key in stack.keys(INPUT)


@pytest.mark.parametrize("event", [{"Records": []}, {}, {"Records": None}],
                         ids=["empty-batch", "no-records", "null-records"])
def test_empty_or_shapeless_event_returns_no_failures(event: dict[str, object]) -> None:
    stack = MotoStack()
    analyzer = stack.analyzer(plan=FaultPlan())
    assert analyzer.handle(event, FakeContext(remaining_ms=0)) == {"batchItemFailures": []}


def test_mixed_batch_of_ten_fails_only_the_bad_records() -> None:
    # GIVEN a batch of 10: 4 good uploads, a too-small image, a duplicate of a good one, a
    # TestEvent, a malformed body, an event for another bucket and an ObjectRemoved event
    stack = MotoStack()
    good = [stack.upload(f"mix/{name}", jpeg()) for name in
            ("cat 1.jpg", "cat+2.jpg", "weapon.jpg", "ünï cat.jpg")]
    good.append(stack.upload("mix/tiny.jpg", jpeg(40, 40)))
    good_msgs = stack.sqs.receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10,
                                          AttributeNames=["All"])["Messages"]
    bodies = [m["Body"] for m in good_msgs if "TestEvent" not in m["Body"]]
    assert len(bodies) == 5
    stack.sqs.purge_queue(QueueUrl=stack.queue_url)  # this test invokes the handler itself
    extra = [
        bodies[0],
        json.dumps(load_event("analyzer/s3_test_event.json")),
        "not json at all",
        json.dumps(s3_event("another-bucket", "images/x.jpg")),
        json.dumps(s3_event(stack.bucket, good[0], "ObjectRemoved:Delete")),
    ]
    records = [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": b, "attributes": {},
                "messageAttributes": {}, "eventSource": "aws:sqs", "awsRegion": "eu-west-1"}
               for i, b in enumerate(bodies[:5] + extra)]
    assert len(records) == 10
    plan = FaultPlan()

    # WHEN one invocation handles the batch
    response = stack.analyzer(plan=plan, decode=True).handle({"Records": records}, FakeContext(remaining_ms=0))

    # THEN only the malformed body is a failure; each image is routed and announced once
    assert response == {"batchItemFailures": [{"itemIdentifier": "m7"}]}
    tally = stack.check(plan, keys=good)
    assert tally.problems == [] and tally.analysed == 5 and tally.notifications == 5
    assert tally.verdicts["failure"] == 2  # the weapon (moderation) and the tiny image


def test_generated_images_are_what_they_claim() -> None:
    # the corpus' own data: a guard that the fixtures are built right
    with Image.open(io.BytesIO(jpeg(79, 200))) as img:
        assert img.size == (79, 200)
    with Image.open(io.BytesIO(jpeg(10_001, 90))) as img:
        assert img.size == (10_001, 90)
    assert len(huge_jpeg_header()) == 16 * 1024 * 1024
