"""`imgpipe rules ...` — validate, evaluate and explain rules files offline."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from imgpipe.cli._common import EXIT_INVALID, EXIT_RUNTIME, console, fail, print_json, read_json
from imgpipe.textsafe import markup_safe, printable
from rules import (
    Analysis,
    Decision,
    MissingAnalysisError,
    Ruleset,
    RulesValidationError,
    default_registry,
    load_ruleset,
)
from rules.registry import rule_summary

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]

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
            f"(it has: {', '.join(k for k in data) or 'nothing'})"
        )
    return analysis


def summary(ruleset: Ruleset) -> str:
    """One line describing a valid ruleset."""
    kinds = Counter(rule.type for rule in ruleset.rules)
    types = ", ".join(f"{n} {t}" for t, n in kinds.items())
    per_api = Counter(ruleset.needs.api_calls)  # two Custom Labels models: one API, two calls
    calls = ", ".join(f"{api} ({n} models)" if n > 1 else api for api, n in per_api.items()) or "no Rekognition API"
    label_features = ruleset.needs.label_features
    if label_features and label_features != ["GENERAL_LABELS"]:
        calls = calls.replace("DetectLabels", f"DetectLabels[{'+'.join(label_features)}]")
    count = len(ruleset.rules)
    return (
        f"{ruleset.source}: ok — {count} rule{'s' if count != 1 else ''} ({types}); "
        f"calls {calls}; default verdict {ruleset.default_verdict.value}"
    )


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Rules files to check.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Check rules files: a one-line summary per valid file, FILE:LINE: FIELD: message otherwise."""
    failed = False
    results = []
    for path in files:
        try:
            ruleset = load_ruleset(path)
        except RulesValidationError as exc:
            failed = True
            results.append({"file": str(path), "valid": False,
                            "issues": [{"file": i.file, "line": i.line, "path": i.path, "message": i.message}
                                       for i in exc.issues]})
            if not as_json:
                typer.echo(str(exc), err=True)
            continue
        results.append({"file": str(path), "valid": True, "summary": summary(ruleset),
                        "rules": len(ruleset.rules), "api_calls": list(ruleset.needs.api_calls),
                        "default_verdict": ruleset.default_verdict.value,
                        "warnings": [{"file": w.file, "line": w.line, "path": w.path, "message": w.message}
                                     for w in ruleset.warnings]})
        if not as_json:
            typer.echo(summary(ruleset))
        for warning in ruleset.warnings:  # on stderr, also with --json
            typer.echo(str(warning), err=True)
    if as_json:
        print_json(results)
    if failed:
        raise typer.Exit(2)


def _report_rule_errors(decision: Decision) -> None:
    for error in decision.errors:
        typer.echo(printable(f"warning: {error} (the image goes to review: rule_error)"), err=True)


@app.command()
def evaluate(rules_file: RulesFile, analysis_file: AnalysisFile) -> None:
    """Print the verdict of the rules on one recorded analysis, as JSON."""
    ruleset = _load(rules_file)
    analysis = _analysis(analysis_file, ruleset)
    try:
        decision = ruleset.evaluate(analysis)
    except MissingAnalysisError as exc:
        fail(f"{analysis_file}: {exc}")
    _report_rule_errors(decision)
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
    _report_rule_errors(decision)
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
        why = "\n".join(markup_safe(reason) for reason in e.reasons) or "-"  # reasons quote image text and plugin messages
        table.add_row(markup_safe(e.rule), markup_safe(e.type), e.outcome, mark, why, style=None if e.matched else "dim")
    console.print(table)
    deciding = any(m.outcome != "tag" for m in decision.matches)
    default_note = "" if deciding else " (no deciding rule matched: default_verdict)"
    console.print(
        f"verdict: [bold]{decision.verdict.value}[/bold]{default_note}; "
        f"categories: {markup_safe(', '.join(decision.categories)) or '-'}"
    )


@app.command("types")
def list_types(as_json: JsonOption = False) -> None:
    """List the rule types available here: built-ins and installed plugins (exit 2 if one is broken)."""
    registry = default_registry()
    if as_json:
        print_json({
            "types": [{"type": name, "from": registry.origin[name], "summary": rule_summary(registry.types[name]),
                       "distribution": (registry.plugins[name].distribution if name in registry.plugins else None)}
                      for name in registry.names],
            "broken": [{"type": name, "error": why} for name, why in sorted(registry.broken.items())],
        })
    else:
        table = Table()
        table.add_column("type", style="bold")
        table.add_column("from")
        table.add_column("reads")
        for name in registry.names:  # plugin text is printed as text, never as markup
            table.add_row(markup_safe(name), markup_safe(registry.origin[name]),
                          markup_safe(rule_summary(registry.types[name])))
        for name, why in sorted(registry.broken.items()):
            table.add_row(markup_safe(name), f"[red]{markup_safe(why)}[/red]", "-")
        console.print(table)
    if registry.broken:
        for name, why in sorted(registry.broken.items()):
            typer.echo(f"rule type '{name}': {why}", err=True)
        raise typer.Exit(EXIT_INVALID)


@app.command("schema")
def schema_command(
    builtin_only: Annotated[bool, typer.Option("--builtin-only", help="Leave out installed plugins' types.")] = False,
    cases: Annotated[bool, typer.Option("--cases", help="The schema of a test cases file instead.")] = False,
) -> None:
    """Print the JSON Schema of the rules file (with the installed plugins' types), for editors.

    Save it and point your rules files at it with a first line like
    `# yaml-language-server: $schema=rules.schema.json` (see docs/plugins-kit.md).
    """
    from rules import build_registry
    from rules.schema import cases_schema, rules_schema

    if cases:
        typer.echo(json.dumps(cases_schema(), indent=2, sort_keys=True))
        return
    registry = build_registry(load_plugins=False) if builtin_only else default_registry()
    typer.echo(json.dumps(rules_schema(registry), indent=2, sort_keys=True))


CasesFiles = Annotated[
    list[Path] | None,
    typer.Argument(help="Rules files (their NAME.cases.yml beside them) or cases files; "
                   "default: every *.cases.yml under rules/.", show_default=False),
]


@app.command("test")
def test_command(files: CasesFiles = None, as_json: JsonOption = False) -> None:
    """Run the test cases written beside rules files (NAME.cases.yml): exit 1 if one fails."""
    from rules.cases import CASES_SUFFIX, CasesError, cases_file_for, run_cases

    targets: list[Path] = []
    for path in files or []:
        if path.name.endswith(CASES_SUFFIX):
            targets.append(path)
        elif (found := cases_file_for(path)) is not None:
            targets.append(found)
        else:
            fail(f"{path}: no cases file beside it (expected {path.name.rsplit('.', 1)[0]}{CASES_SUFFIX})")
    if not files:
        targets = sorted(Path("rules").rglob(f"*{CASES_SUFFIX}"))
        if not targets:
            fail(f"no *{CASES_SUFFIX} files under rules/; name files or write cases (docs/plugins-kit.md)")
    started = time.perf_counter()
    reports, invalid = [], []
    for target in targets:
        try:
            reports.append(run_cases(target))
        except CasesError as exc:
            invalid.append((target, str(exc)))
    results = [r for report in reports for r in report.results]
    failed = [r for r in results if not r.passed]
    if as_json:
        print_json({"passed": len(results) - len(failed), "failed": len(failed),
                    "invalid": [{"file": str(t), "error": e} for t, e in invalid],
                    "files": [report.to_dict() for report in reports]})
    else:
        for report in reports:
            marks = "".join("." if r.passed else "F" for r in report.results)
            typer.echo(f"{report.cases_file} {marks}")
        for target, error in invalid:
            typer.echo(f"{target} E", err=False)
            typer.echo(error, err=True)
        for r in failed:
            typer.echo(f"FAILED {r.describe()}")
        seconds = time.perf_counter() - started
        parts = [f"{len(failed)} failed"] if failed else []
        parts.append(f"{len(results) - len(failed)} passed")
        if invalid:
            parts.append(f"{len(invalid)} invalid file{'s' if len(invalid) > 1 else ''}")
        typer.echo(f"==== {', '.join(parts)} in {seconds:.2f}s ====")
    if invalid:
        raise typer.Exit(EXIT_INVALID)
    if failed:
        raise typer.Exit(EXIT_RUNTIME)
