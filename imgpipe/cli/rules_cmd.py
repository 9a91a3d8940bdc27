"""`imgpipe rules ...` — validate, evaluate and explain rules files offline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from imgpipe.cli._common import console, fail, print_json, read_json
from imgpipe.textsafe import markup_safe
from rules import (
    Analysis,
    MissingAnalysisError,
    Ruleset,
    RulesValidationError,
    default_registry,
    load_ruleset,
)

app = typer.Typer(help="Validate, evaluate and explain rules files (offline, no AWS needed).", no_args_is_help=True)

RulesFile = Annotated[Path, typer.Argument(help="A rules YAML file (version 1).", show_default=False)]
AnalysisFile = Annotated[
    Path,
    typer.Argument(
        help='JSON {"labels": <DetectLabels>, "moderation": <DetectModerationLabels>, "text": <DetectText>} '
        "as boto3 returns them; keys optional.",
        show_default=False,
    ),
]


def _load(path: Path) -> Ruleset:
    try:
        return load_ruleset(path)
    except RulesValidationError as exc:
        fail(str(exc))


def _analysis(path: Path, ruleset: Ruleset) -> Analysis:
    data = read_json(path, "the analysis")
    if not isinstance(data, dict):
        fail(f"{path}: expected a JSON object with keys labels, moderation, text")
    try:
        analysis = Analysis.from_mapping(data)
    except (ValueError, TypeError, AttributeError) as exc:
        fail(f"{path}: invalid analysis: {exc}")
    missing = ruleset.missing(analysis)
    if missing:
        fail(
            f"{path}: the rules in {ruleset.source} need {', '.join(missing)}, which the file lacks "
            f"(it has: {', '.join(k for k in ('labels', 'moderation', 'text') if k in data) or 'nothing'})"
        )
    return analysis


def summary(ruleset: Ruleset) -> str:
    """One line describing a valid ruleset."""
    kinds = Counter(rule.type for rule in ruleset.rules)
    types = ", ".join(f"{n} {t}" for t, n in kinds.items())
    calls = ", ".join(ruleset.needs.api_calls) or "no Rekognition API"
    label_features = ruleset.needs.label_features
    if label_features and label_features != ["GENERAL_LABELS"]:
        calls = calls.replace("DetectLabels", f"DetectLabels[{'+'.join(label_features)}]")
    count = len(ruleset.rules)
    return (
        f"{ruleset.source}: ok — {count} rule{'s' if count != 1 else ''} ({types}); "
        f"calls {calls}; default verdict {ruleset.default_verdict.value}"
    )


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Rules files to check.", show_default=False)]) -> None:
    """Check rules files: a one-line summary per valid file, FILE:LINE: FIELD: message otherwise."""
    failed = False
    for path in files:
        try:
            ruleset = load_ruleset(path)
        except RulesValidationError as exc:
            typer.echo(str(exc), err=True)
            failed = True
            continue
        typer.echo(summary(ruleset))
        for warning in ruleset.warnings:
            typer.echo(str(warning), err=True)
    if failed:
        raise typer.Exit(2)


@app.command()
def evaluate(rules_file: RulesFile, analysis_file: AnalysisFile) -> None:
    """Print the verdict of the rules on one recorded analysis, as JSON."""
    ruleset = _load(rules_file)
    analysis = _analysis(analysis_file, ruleset)
    try:
        decision = ruleset.evaluate(analysis)
    except MissingAnalysisError as exc:
        fail(f"{analysis_file}: {exc}")
    print_json(decision.to_dict())


@app.command()
def explain(
    rules_file: RulesFile,
    analysis_file: AnalysisFile,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Per rule: matched or not, and why (which label at what confidence missed which threshold)."""
    ruleset = _load(rules_file)
    analysis = _analysis(analysis_file, ruleset)
    decision = ruleset.evaluate(analysis)
    explanations = ruleset.explain(analysis)
    if as_json:
        result: dict[str, Any] = decision.to_dict()
        result["rules"] = [e.to_dict() for e in explanations]
        print_json(result)
        return
    # names, labels and text come from files and images: never parsed as markup, no control chars
    table = Table(title=f"{markup_safe(rules_file)} on {markup_safe(analysis_file)}", show_lines=True)
    table.add_column("rule", style="bold")
    table.add_column("type")
    table.add_column("outcome")
    table.add_column("matched")
    table.add_column("why")
    for e in explanations:
        mark = "[green]yes[/green]" if e.matched else "[dim]no[/dim]"
        why = "\n".join(markup_safe(reason) for reason in e.reasons) or "-"
        table.add_row(markup_safe(e.rule), markup_safe(e.type), e.outcome, mark, why, style=None if e.matched else "dim")
    console.print(table)
    deciding = any(m.outcome != "tag" for m in decision.matches)
    default_note = "" if deciding else " (no deciding rule matched: default_verdict)"
    console.print(
        f"verdict: [bold]{decision.verdict.value}[/bold]{default_note}; "
        f"categories: {markup_safe(', '.join(decision.categories)) or '-'}"
    )


@app.command("types")
def list_types() -> None:
    """List the rule types available here: built-ins and installed plugins."""
    registry = default_registry()
    table = Table()
    table.add_column("type", style="bold")
    table.add_column("from")
    table.add_column("reads")
    for name in registry.names:
        cls = registry.types[name]
        table.add_row(name, registry.origin[name], cls.summary or (cls.__doc__ or "").strip().splitlines()[0])
    for name, why in sorted(registry.broken.items()):
        table.add_row(name, f"[red]{why}[/red]", "-")
    console.print(table)
