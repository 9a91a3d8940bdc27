"""`imgpipe rules diff OLD NEW --history SOURCE`: back-tests over S3 results, a stack's results and
local folders, with every AWS call counted (none to Rekognition)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.cli.diff_cmd import RulesSpecError, load_rules_spec
from imgpipe.local.runner import LocalRun, collect_inputs
from imgpipe.ops.history import case_from_record, local_cases, parse_source
from rules import parse_ruleset
from rules.backtest import backtest
from tests.support.custom_models import SHOES, SHOES_RETRAINED, SHOES_RULES
from tests.support.fakes import RELIABILITY_RULES as RULES_YAML
from tests.support.fakes import FakeDetector
from tests.support.faults import FaultPlan
from tests.support.images import picture
from tests.support.paths import EVENTS, REKOGNITION_DIRS, rekognition_response
from tests.support.world import MotoStack

ANALYSES = EVENTS / "analysis"
CATS_REJECTED = RULES_YAML.replace("    labels: [Cat]\n    outcome: success",
                                   "    labels: [Cat]\n    outcome: failure")
IMAGES = ("r/cat 1.jpg", "r/sub/cat+2.jpg", "r/plain.jpg", "r/weapon.jpg", "r/serial_label.jpg")


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every botocore API call made, by service."""
    from botocore.client import BaseClient

    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls[self.meta.service_model.service_name] += 1
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return calls


@pytest.fixture
def rules_files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(RULES_YAML)
    new.write_text(CATS_REJECTED)
    return old, new


@pytest.fixture
def stack(aws: None) -> Iterator[MotoStack]:
    stack = MotoStack()
    for rel in IMAGES:
        stack.upload(rel, picture())
    stack.drain(stack.analyzer(plan=FaultPlan()).handle)
    yield stack


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["rules", "diff", *args])


def test_diff_over_s3_results_counts_flips_by_rule_with_zero_rekognition_calls(
    stack: MotoStack, rules_files: tuple[Path, Path], aws_calls: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FakeDetector, "detect", lambda *a: pytest.fail("detector called"))
    old, new = rules_files
    result = invoke(str(old), str(new), "--history", f"s3://{stack.bucket}/results/", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["judged"], data["verdict_flips"]) == (5, 5, 2)
    assert data["transitions"] == [{"from": "success", "to": "failure", "count": 2}]
    assert data["by_rule"] == {"cat": {"verdict_flips": 2, "category_changes": 0}}
    assert data["stored_disagreements"] == 0
    example = data["examples"][0]
    assert example["key"].startswith("images/r/") and "cat" in example["key"]
    assert example["old"]["why"].startswith("success: cat -> success (Cat")
    assert example["new"]["why"].startswith("failure: cat -> failure (Cat")
    # THEN S3 was read and Rekognition never called
    assert aws_calls["s3"] > 0 and aws_calls["rekognition"] == 0


def test_diff_over_a_stack_from_its_outputs_and_the_ci_gate(
    stack: MotoStack, rules_files: tuple[Path, Path], tmp_path: Path, aws_calls: Counter[str]
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"bucket_name": stack.bucket}))
    old, new = rules_files
    human = invoke(str(old), str(new), "--stack", "prod", "--outputs", str(outputs))
    assert human.exit_code == 0, human.output
    text = " ".join(human.stdout.split())  # rich wraps long lines
    assert "2 verdict flip(s)" in text and "success -> failure: 2" in text
    gate = invoke(str(old), str(new), "--history", "stack:prod", "--outputs", str(outputs),
                  "--fail-above", "1")
    assert gate.exit_code == 1 and "2 flips > --fail-above 1" in " ".join(gate.stdout.split())
    ok = invoke(str(old), str(new), "--history", "stack", "--outputs", str(outputs),
                "--fail-above", "2", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["gate_failed"] is False
    assert aws_calls["rekognition"] == 0
    missing = invoke(str(old), str(new), "--history", "stack")
    assert missing.exit_code == 2 and "--outputs" in missing.output


def test_old_records_are_reported_not_rejudgeable(
    stack: MotoStack, rules_files: tuple[Path, Path]
) -> None:
    key = "results/success/r/cat 1.jpg.json"
    record = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
    del record["analysis"]
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(record).encode())
    old, new = rules_files
    data = json.loads(invoke(str(old), str(new), "--history", f"s3://{stack.bucket}",
                             "--json").stdout)
    assert data["not_judgeable"] == {"no stored analysis (older record)": 1}
    assert data["verdict_flips"] == 1


def test_diff_over_a_local_out_folder(tmp_path: Path, rules_files: tuple[Path, Path]) -> None:
    # GIVEN an `imgpipe run --out` folder made with the old rules
    photos = tmp_path / "photos"
    for rel in IMAGES:
        (photos / rel).parent.mkdir(parents=True, exist_ok=True)
        (photos / rel).write_bytes(picture())
    detector = FakeDetector.by_name()  # recorded responses chosen by the local image's name
    out = tmp_path / "out"
    LocalRun(parse_ruleset(RULES_YAML), detector, out, workers=1).run(collect_inputs([photos]))
    calls_to_make_it = len(detector.images)
    assert calls_to_make_it == len(IMAGES)

    # WHEN the change is back-tested over it
    old, new = rules_files
    result = invoke(str(old), str(new), "--history", str(out), "--json")

    # THEN the same answer as over S3, and the detector was not asked again
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["judged"], data["verdict_flips"]) == (5, 5, 2)
    assert len(detector.images) == calls_to_make_it


def test_diff_over_recordings_and_analysis_files(
    tmp_path: Path, rules_files: tuple[Path, Path]
) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    responses = {f: rekognition_response(d, "cat") for f, d in REKOGNITION_DIRS.items()}
    (rec / ("a" * 64 + ".json")).write_text(json.dumps(
        {"format": 1, "sha256": "a" * 64, "name": "cat.jpg", "responses": responses}))
    (rec / ("b" * 64 + ".json")).write_text(json.dumps(
        {"format": 1, "sha256": "b" * 64, "name": "bad.gif", "responses": {},
         "error": {"reason": "precheck:unsupported_format", "message": "GIF"}}))
    old, new = rules_files
    data = json.loads(invoke(str(old), str(new), "--history", str(rec), "--json").stdout)
    assert data["verdict_flips"] == 1 and data["examples"][0]["key"] == "cat.jpg"
    assert data["not_judgeable"] == {"rejected before analysis (precheck:unsupported_format)": 1}
    # the repository's ANALYSIS.json fixtures are a history too
    cases = list(local_cases(ANALYSES))
    assert len(cases) == 7 and all(c.analysis is not None for c in cases)


def test_old_and_new_may_be_git_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "rules").mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    (repo / "rules" / "prod.yaml").write_text(RULES_YAML)
    git("add", ".")
    git("commit", "-qm", "one")
    (repo / "rules" / "prod.yaml").write_text(CATS_REJECTED)
    git("commit", "-qam", "two")
    monkeypatch.chdir(repo)
    old, new = load_rules_spec("HEAD~1:rules/prod.yaml"), load_rules_spec("rules/prod.yaml")
    assert old.source == "HEAD~1:rules/prod.yaml" and old.digest != new.digest
    cases = list(local_cases(ANALYSES))
    assert backtest(old, new, cases).total == 7
    with pytest.raises(RulesSpecError, match="HEAD~5"):
        load_rules_spec("HEAD~5:rules/prod.yaml")
    bad = CliRunner().invoke(app, ["rules", "diff", "nope.yaml", "rules/prod.yaml",
                                   "--history", "."])
    assert bad.exit_code == 2 and "nope.yaml" in bad.output


def test_history_sources_are_parsed_or_refused(tmp_path: Path) -> None:
    assert parse_source("s3://b").prefix == "results/"
    assert parse_source("s3://b/results/success/").prefix == "results/success/"
    assert parse_source("stack:prod", bucket_from_outputs="b").bucket == "b"
    assert parse_source(str(tmp_path)).kind == "local"
    with pytest.raises(Exception, match="no such folder"):
        parse_source(str(tmp_path / "missing"))


def test_a_reviewed_record_is_compared_with_the_verdict_the_rules_gave() -> None:
    from analyzer.stored import pack_analysis

    responses = {f: rekognition_response(d, "cat") for f, d in REKOGNITION_DIRS.items()}
    record = {"schema": "imgpipe.result/1", "source_key": "images/r/cat.jpg", "verdict": "failure",
              "analysis": pack_analysis(responses),
              "review": {"decision": "reject", "previous_verdict": "success", "reason": "no"}}
    case = case_from_record("results/failure/r/cat.jpg.json", record)
    assert case.stored_verdict == "success" and case.analysis is not None
    result = backtest(parse_ruleset(RULES_YAML), parse_ruleset(RULES_YAML), [case])
    assert result.stored_disagreements == 0  # the person's "failure" is not the rules' verdict


def test_unreadable_analyses_are_reported_and_hostile_names_printed_as_text(
    tmp_path: Path, rules_files: tuple[Path, Path]
) -> None:
    from analyzer.stored import pack_analysis

    # GIVEN a local history: a cat whose key carries markup and a terminal escape, and a record
    # whose stored analysis is not shaped as Rekognition answers (a tampered record)
    cat = {f: rekognition_response(d, "cat") for f, d in REKOGNITION_DIRS.items()}
    hostile = "images/r/[bold]cat\x1b[31m.jpg"
    folder = tmp_path / "history"
    folder.mkdir()
    for name, key, responses in (("a", hostile, cat),
                                 ("b", "images/r/bad.jpg", {"labels": {"Labels": "no"}})):
        (folder / f"{name}.json").write_text(json.dumps(
            {"schema": "imgpipe.result/1", "source_key": key, "verdict": "success",
             "analysis": pack_analysis(responses)}))
    old, new = rules_files
    # WHEN the change is back-tested, for machines and for people
    data = json.loads(invoke(str(old), str(new), "--history", str(folder), "--json").stdout)
    human = invoke(str(old), str(new), "--history", str(folder), "--examples", "1")
    # THEN the tampered record is counted as unreadable, the others judged
    assert data["verdict_flips"] == 1 and data["judged"] == 1
    [(why, count)] = data["not_judgeable"].items()
    assert count == 1 and why.startswith("analysis unreadable (labels.Labels: expected a list")
    # AND the hostile key reaches the terminal as text: no escape, markup shown, not applied
    assert human.exit_code == 0, human.output
    assert "\x1b" not in human.stdout and "[bold]cat" in "".join(human.stdout.split())



def test_diff_over_stored_custom_labels_analyses_makes_no_rekognition_call(
    aws: None, tmp_path: Path, aws_calls: Counter[str]
) -> None:
    from analyzer.stored import pack_analysis

    # GIVEN result records whose stored analyses hold a Custom Labels model's answers
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="shop", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for name, scenario, verdict in (("pair", "sneakers_two", "review"), ("bare", "empty", "success")):
        responses = {f"custom_labels@{SHOES}": rekognition_response("detect_custom_labels", scenario)}
        s3.put_object(Bucket="shop", Key=f"results/{verdict}/{name}.jpg.json", Body=json.dumps(
            {"schema": "imgpipe.result/1", "source_key": f"images/{name}.jpg", "verdict": verdict,
             "analysis": pack_analysis(responses)}).encode())
    old, new, other = tmp_path / "old.yaml", tmp_path / "new.yaml", tmp_path / "other.yaml"
    old.write_text(SHOES_RULES)
    new.write_text(SHOES_RULES.replace("min_confidence: 80", "min_confidence: 90"))
    other.write_text(SHOES_RULES.replace(SHOES, SHOES_RETRAINED))
    aws_calls.clear()

    # WHEN a stricter threshold is back-tested over them
    data = json.loads(invoke(str(old), str(new), "--history", "s3://shop/results/", "--json").stdout)

    # THEN the pair flips (only one sneaker box is >= 90), judged from the stored answers alone
    assert (data["total"], data["judged"], data["verdict_flips"]) == (2, 2, 1)
    assert data["transitions"] == [{"from": "review", "to": "success", "count": 1}]
    assert data["stored_disagreements"] == 0
    # AND rules on another version of the model cannot be judged from these records
    data = json.loads(invoke(str(old), str(other), "--history", "s3://shop/results/", "--json").stdout)
    assert data["judged"] == 0 and sum(data["not_judgeable"].values()) == 2
    [why] = data["not_judgeable"]
    assert why == f"analysis lacks custom_labels@{SHOES_RETRAINED}"
    assert aws_calls["s3"] > 0 and aws_calls["rekognition"] == 0
