"""The back-test part of `imgpipe plan`: the stack's rules file against its baseline.

Baseline: ``--baseline SPEC`` (a file or ``REV:PATH``), default the committed version
(``HEAD:<rules file>``), standing for the previously deployed rules (tag your deploys and pass
``--baseline deployed-prod:rules/prod.yaml`` to compare with exactly what runs). History: the
analyses shipped with the repository (``tests/events/analysis``) plus every ``--history SOURCE``
(a stack's results with ``--outputs``, ``s3://...``, local folders). Zero Rekognition calls.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from imgpipe.cli.diff_cmd import RulesSpecError, load_rules_spec
from imgpipe.ops.history import parse_source, read_cases
from imgpipe.ops.outputs import load_outputs
from rules import RulesValidationError, load_ruleset
from rules.backtest import BacktestResult, backtest, summary_line

SHIPPED_HISTORY = Path("tests") / "events" / "analysis"


def plan_backtest(
    root: Path,
    rules_file: str,
    *,
    baseline: str | None = None,
    histories: list[str] | None = None,
    outputs: Path | None = None,
) -> tuple[BacktestResult | None, str, list[str]]:
    """(result or None, one-line summary, history sources read)."""
    spec = baseline or f"HEAD:{rules_file}"
    try:
        old = load_rules_spec(spec, cwd=root)
    except (RulesSpecError, RulesValidationError) as exc:
        return None, f"rules back-test skipped: baseline {spec}: {exc}", []
    new = load_ruleset(root / rules_file)
    if old.text == new.text:
        return None, f"rules back-test: {rules_file} unchanged against {spec}", []
    bucket = load_outputs(outputs).bucket_name if outputs else None
    sources = [parse_source(str(root / SHIPPED_HISTORY))] if (root / SHIPPED_HISTORY).is_dir() else []
    s3: Any = None
    for history in histories or []:
        source = parse_source(history, bucket_from_outputs=bucket)
        if source.kind == "s3" and s3 is None:
            import boto3

            s3 = boto3.session.Session().client("s3")
        sources.append(source)
    cases = itertools.chain.from_iterable(read_cases(s, s3) for s in sources)
    result = backtest(old, new, cases)
    result.new_source = rules_file
    return result, summary_line(result), [s.describe() for s in sources]
