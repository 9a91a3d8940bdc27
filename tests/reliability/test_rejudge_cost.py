"""`imgpipe cost --compare-rejudge`: re-judging costs no Rekognition and far less than re-analysing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.ops.cost import PRICES
from imgpipe.ops.rejudge_cost import CostAssumptions, compare, stored_analysis_storage_usd
from rules.features import Needs


def test_rejudge_has_no_rekognition_line_and_reanalyse_pays_every_api() -> None:
    needs = Needs.of("labels", "moderation")
    rejudge, reanalyse = compare(needs, 1_000_000)
    assert rejudge.lines["rekognition"] == 0
    assert reanalyse.lines["rekognition"] == (PRICES["DetectLabels"]
                                              + PRICES["DetectModerationLabels"]) * 1000
    assert reanalyse.usd > 20 * rejudge.usd


def test_archived_copies_cost_restores_only_when_their_verdict_changes() -> None:
    a = CostAssumptions(changed_fraction=Decimal("0.1"), archived_fraction=Decimal("1"),
                        restore_tier="Standard", image_kb=1024)
    rejudge, reanalyse = compare(Needs.of("labels"), 10_000, a)
    # 1,000 changed and archived: 1,000 restore requests + 1,000 x 1 MB retrieved
    assert rejudge.lines["glacier_restores"] == Decimal("0.05") + Decimal("1000") / 1024 * Decimal(
        "0.01")
    assert reanalyse.lines["glacier_restores"] == 10 * rejudge.lines["glacier_restores"]


def test_stored_analysis_storage() -> None:
    assert stored_analysis_storage_usd(10_000_000, 1200) == Decimal("0.26")


def test_cli_compare_json(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - name: dog\n    type: label_match\n"
                     "    labels: [Dog]\n    outcome: success\n")
    result = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--images", "10000000",
                                      "--compare-rejudge", "--changed", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rejudge"]["lines"]["rekognition"] == "0.00"
    assert data["reanalyse"]["lines"]["rekognition"] == "10000.00"
    assert float(data["reanalyse_over_rejudge"]) > 50
    human = CliRunner().invoke(app, ["cost", "--rules", str(rules), "--compare-rejudge"])
    assert human.exit_code == 0 and "re-judge" in human.stdout
