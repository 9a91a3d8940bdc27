"""Re-judge messages and stored analyses: the wire shapes, without AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analyzer.errors import MalformedRecordError
from analyzer.layout import KeyLayout
from analyzer.rejudge import ArchiveState, parse_rejudge, peek_kind, rejudge_message
from analyzer.stored import StoredAnalysisError, pack_analysis, record_analysis, unpack_analysis
from imgpipe.ops.rejudge import Target, enqueue, manifest_targets, target_of
from rules import Verdict


def sqs(body: Any, message_id: str = "m-1") -> dict[str, Any]:
    return {"messageId": message_id, "body": body if isinstance(body, str) else json.dumps(body)}


def test_message_round_trip() -> None:
    body = rejudge_message("b", "run-1", [{"source_key": "images/a.jpg", "verdict": "success"}],
                           mode="reanalyse", rules_sha256="ab" * 32, restore_tier="Standard")
    assert peek_kind(sqs(body)) == "rejudge"
    [job] = parse_rejudge(sqs(body)).jobs
    assert (job.bucket, job.source_key, job.run, job.mode, job.verdict) == (
        "b", "images/a.jpg", "run-1", "reanalyse", "success")
    assert job.verdict is Verdict.SUCCESS
    assert (job.restore_tier, job.restore_days, job.rules_sha256) == ("Standard", 7, "ab" * 32)


@pytest.mark.parametrize("body", [
    {"Records": []},
    {"Event": "s3:TestEvent"},
    {"imgpipe": "something-else"},
    "not json",
])
def test_other_bodies_are_not_rejudge_messages(body: Any) -> None:
    assert peek_kind(sqs(body)) is None


@pytest.mark.parametrize("change,match", [
    ({"version": 2}, "version 2"),
    ({"run": ""}, "'bucket' and 'run'"),
    ({"mode": "guess"}, "mode 'guess'"),
    ({"items": []}, "no 'items'"),
    ({"items": [{"verdict": "success"}]}, r"items\[0\]"),
    ({"items": [{"source_key": "images/a.jpg", "verdict": "maybe"}]}, r"items\[0\]"),
    ({"restore": {"tier": "Instant"}}, "restore"),
])
def test_broken_messages_name_what_is_wrong(change: dict[str, Any], match: str) -> None:
    body = {**rejudge_message("b", "r", [{"source_key": "images/a.jpg"}]), **change}
    with pytest.raises(MalformedRecordError, match=match):
        parse_rejudge(sqs(body))


def test_stored_analysis_round_trip_and_corruption() -> None:
    responses = {"labels": {"Labels": [{"Name": "Cat", "Confidence": 99.0}],
                            "ResponseMetadata": {"RequestId": "x"}}}
    field = pack_analysis(responses, {"DetectLabels": "3.0"})
    assert field["features"] == ["labels"] and field == pack_analysis(responses,
                                                                      {"DetectLabels": "3.0"})
    assert unpack_analysis(field) == {"labels": {"Labels": [{"Name": "Cat", "Confidence": 99.0}]}}
    assert record_analysis({"verdict": "success"}) is None
    with pytest.raises(StoredAnalysisError, match="corrupt"):
        unpack_analysis({**field, "data": field["data"][:-8] + "AAAAAAAA"})
    with pytest.raises(StoredAnalysisError, match="unknown"):
        unpack_analysis({**field, "format": 9})


def test_registered_analyses_beyond_the_core_three_are_stored_too() -> None:
    from rules.planning import analysis_of

    # GIVEN responses of a core analysis, a registered further one (faces), and an unknown key
    faces = {"FaceDetails": [{"Confidence": 99.0, "AgeRange": {"Low": 8, "High": 12}}]}
    field = pack_analysis({"labels": {"Labels": []}, "faces": faces, "not-an-analysis": {}})
    # THEN the registered ones are kept, in canonical order, and come back parsed
    assert field["features"] == ["labels", "faces"]
    stored = record_analysis({"analysis": field})
    assert stored is not None and set(stored) == {"labels", "faces"}
    analysis = analysis_of(stored)
    assert analysis.has("faces") and analysis.has("labels") and not analysis.has("text")


def test_archive_state() -> None:
    assert ArchiveState("STANDARD", None).readable
    assert not ArchiveState("GLACIER", None).readable
    assert not ArchiveState("DEEP_ARCHIVE", 'ongoing-request="true"').readable
    assert ArchiveState("GLACIER", 'ongoing-request="false", expiry-date="x"').readable


def test_targets_from_record_keys_and_an_inventory_manifest(tmp_path: Path) -> None:
    review = target_of("results/review/a/b c.jpg.json")
    assert review == Target(Verdict.REVIEW, "images/a/b c.jpg")
    assert review is not None and review.verdict is Verdict.REVIEW
    assert target_of("results/other/a.jpg.json") is None
    assert target_of("analyzed/review/a.jpg") is None
    # another bucket layout: its prefixes, not the defaults
    layout = KeyLayout("in/", "out/", "done/")
    assert target_of("done/failure/x.png.json", layout) == Target(Verdict.FAILURE, "in/x.png")
    assert target_of("results/failure/x.png.json", layout) is None
    manifest = tmp_path / "inventory.csv"
    manifest.write_text('"bkt","results/success/cams/a+b.jpg.json","123"\n'
                        '"bkt","results/failure/cams/c%2Bd.jpg.json","45"\n'
                        '"bkt","analyzed/success/cams/a.jpg","99"\n')
    assert list(manifest_targets(manifest)) == [Target(Verdict.SUCCESS, "images/cams/a b.jpg"),
                                                 Target(Verdict.FAILURE, "images/cams/c+d.jpg")]
    assert list(manifest_targets(manifest, verdicts=("failure",))) == [
        Target(Verdict.FAILURE, "images/cams/c+d.jpg")]


class RecordingSqs:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.fail_first = fail_first

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.fail_first:
            self.fail_first = False
            return {"Failed": [{"Id": Entries[0]["Id"], "Code": "InternalError"}]}
        return {"Successful": Entries}


def test_enqueue_packs_images_and_retries_refused_entries() -> None:
    sqs_client = RecordingSqs(fail_first=True)
    targets = [Target(Verdict.SUCCESS, f"images/{i}.jpg") for i in range(45)]
    result = enqueue(sqs_client, "url", "b", targets, per_message=2, senders=1, run="r")
    assert (result.images, result.messages, result.batches) == (45, 23, 3)
    assert result.retried_entries == 1 and len(sqs_client.calls) == 4
    unique = {e["MessageBody"] for call in sqs_client.calls for e in call}  # the retry resends one
    bodies = [json.loads(b) for b in unique]
    assert len(bodies) == 23
    assert sum(len(b["items"]) for b in bodies) == 45 and {b["run"] for b in bodies} == {"r"}
