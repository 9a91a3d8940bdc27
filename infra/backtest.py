"""The rules back-test shown at ``pulumi preview``: the stack's rules file against the committed
one (``git show HEAD:<rules file>``), over the analyses shipped with the repository.

Logged with ``pulumi.log.info`` during previews only; it never fails a preview (any problem is
logged and skipped). ``imgpipe plan`` prints the same back-test with more history sources.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rules import Analysis, Ruleset, load_ruleset, parse_ruleset
from rules.backtest import BacktestResult, Case, backtest, summary_line

#: Analyses shipped with the repository (ANALYSIS.json files), relative to the project root.
SHIPPED_HISTORY = (Path("tests") / "events" / "analysis",)


def committed_ruleset(project_root: Path, rules_path: str, rev: str = "HEAD") -> Ruleset | None:
    """The rules file as committed at ``rev``, or None (no git, not committed)."""
    try:
        done = subprocess.run(["git", "show", f"{rev}:{rules_path}"], cwd=project_root,
                              capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return parse_ruleset(done.stdout, f"{rev}:{rules_path}")


def shipped_cases(project_root: Path) -> list[Case]:
    cases: list[Case] = []
    for folder in SHIPPED_HISTORY:
        for path in sorted((project_root / folder).glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            cases.append(Case(str(folder / path.name), Analysis.from_mapping(doc)))
    return cases


def preview_backtest(project_root: Path, rules_path: str) -> tuple[BacktestResult | None, str]:
    """The back-test of the working rules file against HEAD's, and its one-line summary."""
    old = committed_ruleset(project_root, rules_path)
    if old is None:
        return None, f"rules back-test skipped: {rules_path} is not committed (no baseline)"
    new = load_ruleset(project_root / rules_path)
    if new.text == old.text:
        return None, f"rules back-test: {rules_path} unchanged since HEAD"
    result = backtest(old, new, shipped_cases(project_root))
    result.new_source = rules_path
    return result, summary_line(result)


def log_preview_backtest(project_root: Path, rules_path: str) -> str | None:
    """Log the back-test at preview; return the line (None when not a preview)."""
    import pulumi

    if not pulumi.runtime.is_dry_run():
        return None
    try:
        _, line = preview_backtest(project_root, rules_path)
    except Exception as exc:  # informative only: never fail a preview for it
        line = f"rules back-test skipped: {exc}"
    pulumi.log.info(line)
    return line
