"""`imgpipe plan` and `pulumi preview` show the rules back-test of the stack's rules file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgpipe.cli import app
from infra.backtest import log_preview_backtest
from tests.support.paths import ROOT


def people_accepted() -> str:
    """dev's rules with people no longer sent to review: the hiker's verdict changes."""
    text = (ROOT / "rules" / "dev.yaml").read_text()
    start = text.index("  - name: people")
    head, tail = text[:start], text[start:]
    return head + tail.replace("outcome: review", "outcome: success", 1)


def test_plan_backtests_the_stack_rules_against_a_baseline(tmp_path: Path) -> None:
    baseline = tmp_path / "deployed.yaml"
    baseline.write_text(people_accepted())
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--project-dir", str(ROOT),
                                      "--baseline", str(baseline), "--json"])
    assert result.exit_code == 0, result.output
    bt = json.loads(result.stdout)["backtest"]
    assert bt["history"] == [str(ROOT / "tests" / "events" / "analysis")]
    assert bt["total"] == 7 and bt["verdict_flips"] >= 1
    assert "people" in bt["by_rule"]
    assert bt["summary"].startswith(f"rules back-test {baseline} -> rules/dev.yaml")


def test_plan_says_when_the_rules_did_not_change() -> None:
    committed = subprocess.run(["git", "show", "HEAD:rules/dev.yaml"], cwd=ROOT,
                               capture_output=True, text=True, check=False)
    if committed.returncode != 0 or committed.stdout != (ROOT / "rules/dev.yaml").read_text():
        pytest.skip("rules/dev.yaml differs from HEAD in this checkout")
    result = CliRunner().invoke(app, ["plan", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "rules/dev.yaml unchanged against HEAD:rules/dev.yaml" in " ".join(result.stdout.split())


def test_preview_logs_the_backtest_against_the_committed_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi

    # GIVEN a project whose rules file differs from its last commit
    (tmp_path / "rules").mkdir()
    shutil.copytree(ROOT / "tests" / "events" / "analysis", tmp_path / "tests/events/analysis")
    (tmp_path / "rules" / "dev.yaml").write_text((ROOT / "rules" / "dev.yaml").read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "deployed"], cwd=tmp_path, check=True)
    (tmp_path / "rules" / "dev.yaml").write_text(people_accepted())
    logged: list[str] = []
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *a, **k: logged.append(msg))

    # WHEN the program loads the stack during a preview
    line = log_preview_backtest(tmp_path, "rules/dev.yaml")

    # THEN the back-test is logged with the flips by rule
    assert logged == [line]
    assert line is not None and "HEAD:rules/dev.yaml -> rules/dev.yaml: 7 past image(s)" in line
    assert "people" in line and "verdict flip" in line
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    assert log_preview_backtest(tmp_path, "rules/dev.yaml") is None
