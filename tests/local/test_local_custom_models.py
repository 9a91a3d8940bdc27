"""Custom models on a laptop, through `imgpipe run`: recorded once from Rekognition (a Stubber
client behind ``--backend rekognition --record DIR``), replayed by analysis id with the same
verdict; the local backend refuses them in one line."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.local import backends
from imgpipe.local.replay import content_hash
from tests.local.test_local_run_cli import imgpipe
from tests.support.custom_models import ADAPTER, DAMAGE, SHOES, SHOES_RETRAINED, SHOES_RULES
from tests.support.paths import rekognition_response, sample

RULES = SHOES_RULES + f"""  - name: damaged
    type: custom_labels
    project_version: {DAMAGE}
    min_confidence: 90
    outcome: tag
  - name: explicit
    type: moderation
    adapter: {ADAPTER}
    categories: [Explicit]
    outcome: failure
"""


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "parcel.jpg").write_bytes(sample("animals/cat.jpg"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return folder, rules


def run(*args: str | Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["run", *map(str, args), "--json", "--workers", "1"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_recorded_custom_models_replay_by_analysis_id_with_the_same_verdict(
    photos: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, rules = photos
    data = sample("animals/cat.jpg")
    image = {"Image": {"Bytes": data}}
    # GIVEN Rekognition (a Stubber client) answering each model's call, in the adapter's order
    client = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response("detect_custom_labels", rekognition_response("detect_custom_labels", "classification"),
                      {**image, "ProjectVersionArn": DAMAGE, "MinConfidence": 0})
    stub.add_response("detect_custom_labels", rekognition_response("detect_custom_labels", "sneakers_two"),
                      {**image, "ProjectVersionArn": SHOES, "MinConfidence": 0})
    stub.add_response("detect_moderation_labels", rekognition_response("detect_moderation_labels", "adapter_expired"),
                      {**image, "ProjectVersion": ADAPTER})
    monkeypatch.setattr("imgpipe.cli.run_cmd.make_detector",
                        functools.partial(backends.make_detector, rekognition_client=client))

    # WHEN the folder is run against Rekognition with --record
    with stub:
        live = run(folder, "--rules", rules, "--backend", "rekognition", "--record", tmp_path / "rec",
                   "--out", tmp_path / "live")
        stub.assert_no_pending_responses()

    # THEN three calls were made, and the recording keeps each answer under its analysis id
    [first] = live["images"]
    assert first["calls"] == {"DetectCustomLabels": 2, "DetectModerationLabels": 1}
    assert (first["verdict"], first["categories"]) == ("failure", ["sneakers", "damaged", "explicit"])
    recording = json.loads((tmp_path / "rec" / f"{content_hash(data)}.json").read_text())
    ids = [f"custom_labels@{DAMAGE}", f"custom_labels@{SHOES}", f"moderation_adapter@{ADAPTER}"]
    assert sorted(recording["responses"]) == ids
    assert "ProjectVersion" not in recording["responses"][ids[2]]  # the expired adapter, as answered

    # WHEN replayed from the recording (no client at all)
    monkeypatch.undo()
    replayed = run(folder, "--rules", rules, "--backend", "replay", "--record", tmp_path / "rec",
                   "--out", tmp_path / "replayed")

    # THEN the same verdict, categories and evidence, with no call
    [again] = replayed["images"]
    keys = ("verdict", "categories", "matches", "reason")
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    assert again["calls"] == {}
    # AND rules needing a model the recording lacks are refused, naming it
    other = rules.with_name("other.yaml")
    other.write_text(RULES.replace(SHOES, SHOES_RETRAINED))
    result = CliRunner().invoke(app, ["run", str(folder), "--rules", str(other), "--backend", "replay",
                                      "--record", str(tmp_path / "rec"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert f"lacks custom_labels@{SHOES_RETRAINED}".replace(" ", "") in "".join(result.output.split())  # rich wraps
    # AND so is explaining the run's analysis file with them: what it lacks, what it has
    explained = CliRunner().invoke(app, ["rules", "explain", str(other),
                                         str(tmp_path / "live" / "analyses" / "parcel.jpg.json")])
    assert explained.exit_code == 2
    said = "".join(explained.output.split())
    assert f"need custom_labels@{SHOES_RETRAINED}, which the file lacks (it has: {', '.join(ids)})".replace(" ", "") in said


@pytest.mark.parametrize(
    ("rules_text", "says"),
    [
        (RULES, f"the local backend cannot run the Custom Labels model {DAMAGE} (the 'custom_labels' "
                "analysis, DetectCustomLabels)"),
        (RULES.split("  - name: sneakers")[0] + RULES.split("outcome: tag\n")[1],
         f"the local backend cannot run the moderation adapter {ADAPTER} (the 'moderation_adapter' "
         "analysis, DetectModerationLabels)"),
        ("version: 1\nrules:\n  - {name: h, type: protective_equipment, equipment: [HEAD_COVER], "
         "outcome: failure}\n",
         "the local backend has no offline model for the 'protective_equipment' analysis"),
    ],
    ids=["custom-labels", "adapter", "protective-equipment"],
)
def test_the_local_backend_refuses_custom_models_in_one_line(
    photos: tuple[Path, Path], tmp_path: Path, rules_text: str, says: str
) -> None:
    # GIVEN rules needing a custom model (or, for comparison, protective equipment)
    folder, rules = photos
    rules.write_text(rules_text)

    # WHEN run with the default (local) backend
    result: subprocess.CompletedProcess[str] = imgpipe("run", folder, "--rules", rules,
                                                       "--out", tmp_path / "out")

    # THEN one line names the analysis and the model, exit 1 as for protective equipment, and
    # nothing was written
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr
    assert "use --backend rekognition, or --backend replay with recordings" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_stopped_model_is_a_runtime_failure_not_a_recorded_verdict(
    photos: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the first Custom Labels model stopped, behind --backend rekognition --record
    folder, rules = photos
    client = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    monkeypatch.setattr("imgpipe.cli.run_cmd.make_detector",
                        functools.partial(backends.make_detector, rekognition_client=client))
    with Stubber(client) as stub:
        stub.add_client_error("detect_custom_labels", "ResourceNotReadyException", "not deployed", 400)
        # WHEN the folder is run
        result = CliRunner().invoke(app, ["run", str(folder), "--rules", str(rules), "--backend",
                                          "rekognition", "--record", str(tmp_path / "rec"),
                                          "--out", str(tmp_path / "out"), "--quiet"])
    # THEN exit 1 naming the model, the photo not routed (it is not its fault) and nothing
    # recorded that a replay would take for the model's answer
    assert result.exit_code == 1
    assert f"the Custom Labels model {DAMAGE} is not running".replace(" ", "") in "".join(result.output.split())
    assert not (tmp_path / "out" / "analyzed").exists()
    assert not list((tmp_path / "rec").glob("*.json"))
