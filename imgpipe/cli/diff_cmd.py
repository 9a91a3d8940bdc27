"""`imgpipe rules diff OLD NEW --history SOURCE` — back-test a rules change on past analyses.

OLD and NEW are rules files or git revisions of one (``HEAD~1:rules/prod.yaml``). The stored
analyses of SOURCE (see :mod:`imgpipe.ops.history`) are judged by both; nothing calls
Rekognition. ``--fail-above N`` exits 1 when more than N verdicts would flip (a CI gate).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from imgpipe.cli._common import EXIT_RUNTIME, console, fail, print_json
from imgpipe.ops.errors import OpsError, OutputsError
from imgpipe.ops.history import HistoryError, parse_source, read_cases
from imgpipe.ops.outputs import load_outputs
from imgpipe.textsafe import markup_safe, printable
from rules import Ruleset, RulesValidationError, load_ruleset, parse_ruleset
from rules.backtest import BacktestResult, backtest


class RulesSpecError(OpsError):
    """OLD or NEW names neither a file nor a readable git revision of one."""


def load_rules_spec(spec: str, cwd: Path | None = None) -> Ruleset:
    """A rules file path, or ``REV:PATH`` read with ``git show`` (PATH from the repository root,
    or ``./PATH`` relative to the current folder)."""
    path = Path(spec)
    if path.is_file():
        return load_ruleset(path)
    rev, sep, file = spec.partition(":")
    if not sep or not rev or not file:
        raise RulesSpecError(f"{spec}: no such file (and not REV:PATH)")
    try:
        done = subprocess.run(["git", "show", f"{rev}:{file}"], cwd=cwd, capture_output=True,
                              text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RulesSpecError(f"{spec}: cannot run git: {exc}") from exc
    if done.returncode != 0:
        raise RulesSpecError(f"{spec}: {done.stderr.strip() or 'git show failed'}")
    return parse_ruleset(done.stdout, spec)


def run_backtest(
    old: Ruleset,
    new: Ruleset,
    history: str,
    *,
    outputs: Path | None = None,
    s3: Any = None,
    region: str | None = None,
    profile: str | None = None,
) -> tuple[BacktestResult, str]:
    """The back-test over SOURCE; returns the result and a description of the source."""
    bucket = load_outputs(outputs).bucket_name if outputs else None
    source = parse_source(history, bucket_from_outputs=bucket)
    if source.kind == "s3" and s3 is None:
        import boto3

        s3 = boto3.session.Session(region_name=region, profile_name=profile).client("s3")
    return backtest(old, new, read_cases(source, s3)), source.describe()


def render(result: BacktestResult, where: str, examples: int) -> None:
    """The human summary (also used by `imgpipe plan`).

    Keys, rule names, sources and the reasons (labels, text read in images) are untrusted: printed
    without markup or control characters (:mod:`imgpipe.textsafe`)."""
    console.print(
        f"[bold]{markup_safe(result.old_source)}[/] -> [bold]{markup_safe(result.new_source)}[/] "
        f"over {markup_safe(where)}: "
        f"{result.total} image(s), {result.judged} judged again, "
        f"[bold]{result.verdict_flips}[/] verdict flip(s), "
        f"{result.category_changes} category change(s); 0 Rekognition calls",
        highlight=False,
    )
    if result.not_judgeable:
        why = "; ".join(f"{n} {reason}" for reason, n in result.not_judgeable.most_common())
        console.print(printable(f"not re-judgeable: {why}"), highlight=False, markup=False)
    if result.stored_disagreements:
        console.print(f"[yellow]note[/]: {result.stored_disagreements} stored verdict(s) differ "
                      "from OLD's: OLD may not be the rules that judged them", highlight=False)
    if result.transitions:
        console.print(printable("flips: " + ", ".join(f"{a} -> {b}: {n}" for (a, b), n in
                                                      sorted(result.transitions.items()))),
                      highlight=False, markup=False)
    if result.by_rule:
        table = Table(title="by rule")
        for col in ("rule", "verdict flips", "category changes"):
            table.add_column(col, justify="left" if col == "rule" else "right")
        for name, impact in sorted(result.by_rule.items(),
                                   key=lambda kv: (-kv[1].verdict_flips, kv[0])):
            table.add_row(markup_safe(name), str(impact.verdict_flips), str(impact.category_changes))
        console.print(table)
    shown = result.examples(examples)
    if shown:
        table = Table(title="examples", show_lines=True)
        for col in ("image", "old", "new"):
            table.add_column(col, overflow="fold")
        for change in shown:
            d = change.to_dict()
            table.add_row(markup_safe(change.key), markup_safe(d["old"]["why"]),
                          markup_safe(d["new"]["why"]))
        console.print(table)


def diff(
    old: Annotated[str, typer.Argument(help="The rules before: a file or REV:PATH (git).", show_default=False)],
    new: Annotated[str, typer.Argument(help="The rules after: a file or REV:PATH (git).", show_default=False)],
    history: Annotated[str | None, typer.Option("--history", help="Past analyses: stack[:NAME] (with --outputs), s3://BUCKET/PREFIX, or a local --out / recordings / analyses folder.")] = None,
    stack: Annotated[str | None, typer.Option("--stack", help="Same as --history stack:NAME (needs --outputs).")] = None,
    outputs: Annotated[Path | None, typer.Option("--outputs", help="Stack outputs JSON (`pulumi stack output --json`).", dir_okay=False)] = None,
    fail_above: Annotated[int | None, typer.Option("--fail-above", min=0, help="Exit 1 when more than N verdicts flip (CI gate).")] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="How many examples to show.")] = 5,
    region: Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile (default: boto3's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which past images would change verdict or categories under NEW (zero Rekognition calls)."""
    if history is None and stack is None:
        fail("give --history SOURCE (or --stack NAME with --outputs FILE)")
    source = history or f"stack:{stack}"
    try:
        before, after = load_rules_spec(old), load_rules_spec(new)
    except RulesValidationError as exc:
        fail(str(exc))
    except RulesSpecError as exc:
        fail(str(exc))
    try:
        result, where = run_backtest(before, after, source, outputs=outputs, region=region,
                                     profile=profile)
    except (HistoryError, OutputsError) as exc:
        fail(str(exc))
    except Exception as exc:  # AWS errors: a runtime failure
        fail(f"error: {exc}", EXIT_RUNTIME)
    gate = fail_above is not None and result.verdict_flips > fail_above
    if as_json:
        print_json({"history": where, **result.to_dict(examples),
                    "fail_above": fail_above, "gate_failed": gate})
    else:
        render(result, where, examples)
        if gate:
            console.print(f"[red]{result.verdict_flips} flips > --fail-above {fail_above}[/]")
    if gate:
        raise typer.Exit(1)
