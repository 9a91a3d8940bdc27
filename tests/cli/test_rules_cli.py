"""`imgpipe rules ...` through the real console script, in a subprocess (docs/contracts.md §3)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANALYSES = ROOT / "tests" / "events" / "analysis"
PRESETS = sorted((ROOT / "rules" / "presets").glob("*.yaml"))
IMGPIPE = shutil.which("imgpipe", path=str(Path(sys.executable).parent))


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert IMGPIPE, "the imgpipe console script is not installed in this environment"
    return subprocess.run(
        [IMGPIPE, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )


def test_validate_every_preset_and_stack_file() -> None:
    files = [*PRESETS, ROOT / "rules" / "dev.yaml", ROOT / "rules" / "prod.yaml"]
    result = run("rules", "validate", *files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(files)
    for path, line in zip(files, lines, strict=True):
        assert line.startswith(f"{path}: ok — ")


def test_validate_reports_file_line_field_and_exits_2(tmp_path: Path) -> None:
    # GIVEN a file with a typo'd key on line 6 and an out-of-range confidence on line 8
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "rules:\n"
        "  - name: dog\n"
        "    type: label_match\n"
        "    labels: [Dog]\n"
        "    lables: [Cat]\n"
        "    outcome: success\n"
        "    min_confidence: 101\n"
    )
    # WHEN it is validated together with a valid file
    result = run("rules", "validate", ROOT / "rules" / "dev.yaml", bad)
    # THEN exit 2, the valid file summarised, every problem on stderr as FILE:LINE: PATH: message
    assert result.returncode == 2
    assert "rules/dev.yaml: ok" in result.stdout
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"{bad}:6: rules[0].lables: unknown key 'lables'; did you mean 'labels'?",
        f"{bad}:8: rules[0].min_confidence: Input should be less than or equal to 100 (got 101)",
    ]


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("rules", "validate", tmp_path / "nope.yaml")
    assert result.returncode == 2
    assert re.match(rf"{re.escape(str(tmp_path / 'nope.yaml'))}:1: cannot read the rules file", result.stderr)


def test_evaluate_prints_the_contract_json() -> None:
    result = run("rules", "evaluate", ROOT / "rules/presets/wildlife.yaml", ANALYSES / "deer_two.json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"verdict", "categories", "matches", "features"}
    assert out["verdict"] == "success"
    assert out["features"] == ["labels"]
    assert out["categories"] == ["deer", "animals"]
    first = out["matches"][0]
    assert set(first) == {"rule", "type", "outcome", "category", "evidence"}
    assert first == {
        "rule": "deer",
        "type": "label_match",
        "outcome": "success",
        "category": "deer",
        "evidence": [{"label": "Deer", "confidence": 96.41}],
    }


def test_evaluate_exits_2_when_an_analysis_is_missing() -> None:
    # content moderation needs moderation + text; the deer file has labels only
    result = run("rules", "evaluate", ROOT / "rules/presets/content-moderation.yaml", ANALYSES / "deer_two.json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "need moderation, text" in result.stderr


def test_evaluate_exits_2_on_invalid_json(tmp_path: Path) -> None:
    broken = tmp_path / "a.json"
    broken.write_text('{"labels": {"Labels": [}\n')
    result = run("rules", "evaluate", ROOT / "rules/presets/wildlife.yaml", broken)
    assert result.returncode == 2
    assert f"{broken}:1: invalid JSON" in result.stderr


def test_evaluate_exits_2_on_invalid_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\nrules: []\n")
    result = run("rules", "evaluate", bad, ANALYSES / "deer_two.json")
    assert result.returncode == 2
    assert f"{bad}:1: version: Input should be 1 (got 2)" in result.stderr
    assert f"{bad}:2: rules: must not be empty" in result.stderr


def test_explain_says_why_a_label_fell_short() -> None:
    # the fox in the empty frame is at 61.5%, below the wildlife threshold of 75
    result = run("rules", "explain", ROOT / "rules/presets/wildlife.yaml", ANALYSES / "empty_frame.json", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["verdict"] == "failure"
    canine = next(r for r in out["rules"] if r["rule"] == "canine")
    assert canine["matched"] is False
    assert "Fox: detected as Fox at 61.5%, below the threshold 75.0" in canine["reasons"]


def test_explain_human_output_names_the_verdict() -> None:
    result = run("rules", "explain", ROOT / "rules/presets/wildlife.yaml", ANALYSES / "empty_frame.json")
    assert result.returncode == 0, result.stderr
    assert "verdict: failure (no deciding rule matched: default_verdict)" in result.stdout


@pytest.mark.parametrize("args", [["rules"], ["rules", "evaluate", "only-one-arg.yaml"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert run(*args).returncode == 2
