"""bench/rules_bench.py keeps running (figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "rules_bench.py"


def test_rules_bench_runs_and_prints_every_figure():
    # WHEN the benchmark runs in its quick mode
    out = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300, check=True
    ).stdout

    # THEN it measured the workload of the issue and printed each figure
    assert "10 rules vs 50 labels / 20 moderation labels / 100 text detections" in out
    for figure in (
        "evaluate, parsed analysis reused",
        "evaluate, fresh parsed analysis",
        "Analysis.from_responses",
        "load_ruleset 10-rule file, after imports",
        "import rules in a fresh interpreter",
    ):
        assert figure in out
    assert "ruleset evals/s" in out and "rule evals/s" in out
