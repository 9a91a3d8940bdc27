"""`imgpipe reprocess PREFIX`: analysed images go back through the pipeline as new analyses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.layout import KeyLayout
from imgpipe.cli import app
from imgpipe.ops import reprocess
from imgpipe.ops.errors import ReprocessError
from imgpipe.ops.reprocess import _delete_seen, split_prefix
from tests.support.fakes import RELIABILITY_RULES as RULES_YAML
from tests.support.fakes import reliability_ruleset as ruleset
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.world import INPUT, MotoStack

pytestmark = pytest.mark.usefixtures("aws")

#: The rule change: cats are now rejected.
CATS_REJECTED = RULES_YAML.replace("    labels: [Cat]\n    outcome: success",
                                   "    labels: [Cat]\n    outcome: failure")
IMAGES = ("r/cat 1.jpg", "r/sub/cat+2.jpg", "r/plain.jpg", "other/cat.jpg")


def analysed_stack(versioned: bool = True) -> tuple[MotoStack, list[str]]:
    stack = MotoStack(versioned=versioned)
    keys = [stack.upload(rel, picture()) for rel in IMAGES]
    first = FaultPlan()
    stack.drain(stack.analyzer(plan=first).handle)
    assert stack.check(first, keys=keys).analysed == len(keys)
    return stack, keys


def idempotency_items(stack: MotoStack) -> int:
    return stack.ddb.scan(TableName=stack.table or "")["Count"]


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
def test_rule_change_then_reprocess_routes_by_the_new_rules(versioned: bool) -> None:
    # GIVEN images analysed under the old rules (cats -> success)
    stack, keys = analysed_stack(versioned)
    assert stack.keys("analyzed/success/") == {"analyzed/success/r/cat 1.jpg",
                                               "analyzed/success/r/sub/cat+2.jpg",
                                               "analyzed/success/other/cat.jpg"}
    records_before = idempotency_items(stack)

    # WHEN the rules change and the prefix r/ is reprocessed, then the queue drained
    result = reprocess(stack.s3, stack.bucket, "r/", dynamodb=stack.ddb, table_name=stack.table)
    stack.rules = ruleset(CATS_REJECTED)
    second = FaultPlan()
    stack.drain(stack.analyzer(plan=second).handle)

    # THEN the three images under r/ were analysed anew (not answered from the idempotency store)
    assert result.requeued == 3 and result.skipped == 0
    assert all(item.cleared_idempotency >= 1 for item in result.items)
    assert idempotency_items(stack) == records_before  # 3 cleared, 3 new
    assert stack.keys("analyzed/") == {
        "analyzed/failure/r/cat 1.jpg",
        "analyzed/failure/r/sub/cat+2.jpg",
        "analyzed/review/r/plain.jpg",
        "analyzed/success/other/cat.jpg",  # outside the prefix: untouched
    }
    # AND the old records are gone, the new ones name the new verdicts
    results = stack.keys("results/")
    assert "results/success/r/cat 1.jpg.json" not in results
    assert stack.record("failure", "r/cat 1.jpg")["verdict"] == "failure"  # type: ignore[index]
    # AND each re-analysis was announced once; the invariant holds everywhere
    assert sorted(p["source_key"] for p in second.published) == sorted(
        INPUT + rel for rel in IMAGES[:3])
    tally = stack.check(second, keys=keys)
    assert tally.problems == [] and tally.analysed == 4 and tally.duplicate_notifications == 0
    assert stack.keys(INPUT) == set()


def test_verdict_prefix_and_dry_run() -> None:
    stack, _ = analysed_stack()
    result = reprocess(stack.s3, stack.bucket, "analyzed/review/", dry_run=True)
    assert [(i.analysed_key, i.action) for i in result.items] == [
        ("analyzed/review/r/plain.jpg", "would-requeue")]
    assert stack.keys(INPUT) == set()  # nothing moved


def test_a_waiting_upload_is_never_overwritten() -> None:
    # GIVEN a new upload of the same key waiting under images/
    stack, _ = analysed_stack()
    stack.s3.put_object(Bucket=stack.bucket, Key="images/r/plain.jpg", Body=b"newer bytes")

    # WHEN r/plain.jpg is reprocessed
    result = reprocess(stack.s3, stack.bucket, "images/r/plain")

    # THEN it is skipped and both objects are untouched
    assert [i.action for i in result.items] == ["skipped:source-exists"]
    body = stack.s3.get_object(Bucket=stack.bucket, Key="images/r/plain.jpg")["Body"].read()
    assert body == b"newer bytes"
    assert "analyzed/review/r/plain.jpg" in stack.keys("analyzed/")


def test_only_the_version_seen_is_deleted() -> None:
    # GIVEN an analysed copy seen at version 1, then rewritten by the pipeline (version 2)
    stack = MotoStack()
    key = "analyzed/success/x/cat.jpg"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"v1")
    seen = stack.s3.head_object(Bucket=stack.bucket, Key=key)
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"v2")

    # WHEN the reprocess deletes what it saw
    _delete_seen(stack.s3, stack.bucket, key, dict(seen), versioned=True)

    # THEN the newer copy is still there
    assert stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read() == b"v2"


@pytest.mark.parametrize("prefix,expected", [
    ("cams/2026/", (None, "cams/2026/")),
    ("images/cams/", (None, "cams/")),
    ("analyzed/review/cams/", (("review",), "cams/")),
    ("analyzed/failure", (("failure",), "")),
])
def test_prefix_forms(prefix: str, expected: tuple[object, str]) -> None:
    assert split_prefix(prefix, KeyLayout("images/", "analyzed/")) == expected


def test_unknown_verdict_folder_is_an_error() -> None:
    with pytest.raises(ReprocessError, match="analyzed/<success"):
        split_prefix("analyzed/bogus/x", KeyLayout("images/", "analyzed/"))


def test_cli_reprocess_with_outputs(tmp_path: Path) -> None:
    # GIVEN the stack outputs of an analysed bucket
    stack, _ = analysed_stack()
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": stack.bucket, "table_name": stack.table}))
    runner = CliRunner()

    # WHEN reprocessing r/ (dry run first), THEN the JSON lists what was re-queued
    dry = runner.invoke(app, ["reprocess", "r/", "--outputs", str(outputs), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert {i["action"] for i in json.loads(dry.stdout)["items"]} == {"would-requeue"}
    done = runner.invoke(app, ["reprocess", "r/", "--outputs", str(outputs), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["requeued"] == 3
    assert len(stack.keys(INPUT)) == 3

    bad = runner.invoke(app, ["reprocess", "analyzed/bogus/", "--bucket", stack.bucket])
    assert bad.exit_code == 2
    nobucket = runner.invoke(app, ["reprocess", "r/"])
    assert nobucket.exit_code == 2 and "--bucket" in nobucket.output
