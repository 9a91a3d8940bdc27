"""The economical plan never changes a verdict, saves calls on the mixed feed, and shows in
`imgpipe cost`; the bench script runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from imgpipe.ops.callmix import measure, mixed_feed
from rules import load_ruleset
from rules.planning import CallPlan, run_plan

ROOT = Path(__file__).resolve().parents[2]
FILES = [*sorted((ROOT / "rules/presets").glob("*.yaml")), ROOT / "rules/dev.yaml", ROOT / "rules/prod.yaml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_economical_verdicts_equal_complete_ones(path: Path) -> None:
    ruleset = load_ruleset(path)
    for doc in mixed_feed(200, unsafe=0.2):
        complete = run_plan(ruleset, lambda n, _, d=doc: d[n], CallPlan.COMPLETE).decision
        economical = run_plan(ruleset, lambda n, _, d=doc: d[n], CallPlan.ECONOMICAL).decision
        assert complete is not None and economical is not None
        assert economical.verdict == complete.verdict
        # the categories kept are those of the analyses run, in the same order
        assert [c for c in complete.categories if c in economical.categories] == economical.categories


def test_the_feed_has_the_share_of_unsafe_images_asked_for() -> None:
    feed = list(mixed_feed(1000))
    unsafe = [d for d in feed if d["moderation"]["ModerationLabels"]
              and d["moderation"]["ModerationLabels"][0]["Name"] in {"Explicit", "Graphic Violence"}]
    assert len(unsafe) == 50
    with pytest.raises(ValueError):
        list(mixed_feed(10, unsafe=1.5))


def test_content_moderation_saves_calls_on_the_mixed_feed() -> None:
    ruleset = load_ruleset(ROOT / "rules/presets/content-moderation.yaml")
    complete = measure(ruleset, CallPlan.COMPLETE, 1000)
    economical = measure(ruleset, CallPlan.ECONOMICAL, 1000)
    assert complete.per_image == 3.0
    assert economical.per_image == pytest.approx(2.8)  # unsafe (5 %) and swimwear (5 %) skip 2 calls
    assert economical.skipped == 200


def test_cost_shows_both_plans() -> None:
    preset = ROOT / "rules/presets/content-moderation.yaml"
    result = CliRunner().invoke(app, ["cost", "--rules", str(preset), "--images", "100", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calls_plan"] == "complete"
    assert data["calls_per_image_mixed_feed"] == {"complete": 3.0, "economical": 2.8}
    text = CliRunner().invoke(app, ["cost", "--rules", str(preset), "--images", "100"])
    assert "complete 3.00, economical 2.80" in text.stdout


def test_calls_bench_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench/calls_bench.py"), "--images", "40"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert "content-moderation.yaml" in out and "moderation > text > faces" in out
