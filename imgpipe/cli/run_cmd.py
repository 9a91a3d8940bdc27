"""`imgpipe run INPUT... --rules FILE` — the whole pipeline on a laptop.

The Lambda's pipeline core with folder storage, a console notifier and a detector backend:
``local`` (offline models, default), ``rekognition`` (the real API with your credentials) or
``replay`` (responses recorded earlier with ``--record DIR``). Exit codes: 0 every image was
processed (whatever its verdict), 1 a runtime failure (an image could not be processed, a
missing package), 2 invalid input or usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analyzer.errors import AnalyzerError
from imgpipe.cli._common import EXIT_INVALID, EXIT_OK, EXIT_RUNTIME, console, fail, print_json
from imgpipe.errors import ImgpipeError
from imgpipe.local.backends import Backend, BackendConfigError, make_detector, warm_up
from imgpipe.local.errors import MissingExtraError
from imgpipe.local.notifier import VERDICT_STYLES, ConsoleNotifier
from imgpipe.local.paths import (
    REPORT_MARK,
    PathClashError,
    WalkReport,
    check_inputs,
    check_names,
    check_out,
    check_report,
)
from imgpipe.local.runner import (
    LAYOUT,
    InputError,
    LocalRun,
    RunSummary,
    collect_inputs,
    cpu_count,
)
from imgpipe.textsafe import markup_safe as escape
from rules import Ruleset, RulesValidationError, load_ruleset

MAX_TABLE_CELL = 70


def _load_rules(path: Path) -> Ruleset:
    try:
        return load_ruleset(path)
    except RulesValidationError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{path}: cannot read the rules: {exc.strerror or exc}")


def _short(text: str, limit: int = MAX_TABLE_CELL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_table(summary: RunSummary) -> Table:
    table = Table(title="imgpipe run", title_justify="left", expand=False)
    table.add_column("file", overflow="fold")
    table.add_column("verdict")
    table.add_column("categories")
    table.add_column("top evidence / reason", overflow="fold")
    for result in summary.results:
        style = VERDICT_STYLES.get(result.verdict, "magenta")
        cats = ", ".join(result.outcome.categories) if result.outcome else ""
        table.add_row(
            escape(result.image.rel),
            f"[bold {style}]{result.verdict}[/]",
            escape(cats),
            escape(_short(result.top_evidence())),
        )
    return table


def run(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Image files and folders (searched recursively).", show_default=False),
    ],
    rules: Annotated[
        Path, typer.Option("--rules", "-r", help="The rules YAML file.", show_default=False)
    ],
    backend: Annotated[
        Backend,
        typer.Option("--backend", "-b", help="Where analyses come from.", case_sensitive=False),
    ] = Backend.LOCAL,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output folder: analyzed/<verdict>/... and results/..."),
    ] = Path("out"),
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write a self-contained HTML report here.", show_default=False
        ),
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Recordings folder: saves every response (local/rekognition), or is read (replay).",
            show_default=False,
        ),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option(
            "--screenshot",
            help="Also save a PNG of the report (headless Chromium).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, help="Parallel images (default: the CPUs available).", show_default=False
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document for machines.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No per-image notification lines.")
    ] = False,
) -> None:
    """Run the pipeline on local files: same pre-checks, rules and routing as the Lambda."""
    ruleset = _load_rules(rules)
    if screenshot is not None and report is None:
        fail("--screenshot needs --report FILE.html")
    walk = WalkReport()
    # every path clash is refused here, before any work: a run only replaces its own outputs
    try:
        check_out(out)
        check_inputs(inputs, out)
        images = collect_inputs(inputs, exclude=[out, *([record] if record else [])], walk=walk)
        check_names((image.rel for image in images), out)
        paths = [image.path for image in images]
        if report is not None:
            check_report(
                "--report", report, out=out, images=paths, rules=rules,
                others=[("--screenshot", screenshot)] if screenshot else [], mark=REPORT_MARK,
            )  # fmt: skip
        if screenshot is not None:
            check_report("--screenshot", screenshot, out=out, images=paths, rules=rules)
    except (InputError, PathClashError) as exc:
        fail(str(exc))
    n_workers = max(1, min(workers or cpu_count(), len(images)))
    threads = max(1, cpu_count() // n_workers)
    err = Console(stderr=True)
    try:
        detector = make_detector(backend, record_dir=record, threads=threads)
        load_ms = warm_up(detector, ruleset.needs)
    except BackendConfigError as exc:
        fail(str(exc))
    except MissingExtraError as exc:
        fail(str(exc), EXIT_RUNTIME)
    except (AnalyzerError, ImgpipeError) as exc:
        fail(f"cannot start the {backend.value} backend: {exc}", EXIT_RUNTIME)

    notifier = ConsoleNotifier(err, quiet=quiet or json_out, strip_prefix=LAYOUT.input_prefix)
    runner = LocalRun(ruleset, detector, out, notifier=notifier, workers=n_workers)
    progress = Progress(
        TextColumn("[bold]analysing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=json_out or not err.is_terminal,
    )
    with progress:
        task = progress.add_task("images", total=len(images))
        summary = runner.run(images, on_done=lambda _r: progress.advance(task))

    report_error: str | None = None
    report_failed = False
    if report is not None:
        from imgpipe.report import BrowserError, render_report, screenshot_file

        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(
                render_report(
                    summary.results,
                    rules_name=ruleset.name or rules.stem,
                    rules_path=str(rules),
                    backend=backend.value,
                    elapsed=summary.elapsed,
                ),
                encoding="utf-8",
            )
        except OSError as exc:
            report_error = f"cannot write the report {report}: {exc.strerror or exc}"
            report_failed, screenshot = True, None
        if screenshot is not None:
            try:
                screenshot_file(report, screenshot)
            except BrowserError as exc:
                report_error = f"no screenshot: {exc}"

    rate = len(images) / summary.elapsed if summary.elapsed > 0 else 0.0
    if json_out:
        print_json(
            {
                "rules": {"path": str(rules), "name": ruleset.name, "sha256": ruleset.digest},
                "backend": backend.value,
                "out": str(out),
                "report": str(report) if report else None,
                "screenshot": str(screenshot) if screenshot and not report_error else None,
                "counts": summary.counts,
                "skipped": walk.to_dict(),
                "workers": summary.workers,
                "elapsed_s": round(summary.elapsed, 3),
                "model_load_ms": {k: round(v, 1) for k, v in load_ms.items()},
                "images": [r.to_dict() for r in summary.results],
            }
        )
    else:
        console.print(summary_table(summary))
        counts = "  ".join(
            f"[{VERDICT_STYLES.get(v, 'magenta')}]{v}[/] {n}"
            for v, n in summary.counts.items()
            if n or v != "error"
        )
        console.print(
            f"{len(images)} images in {summary.elapsed:.1f} s ({rate:.1f}/s, {summary.workers} workers, "
            f"backend {backend.value}):  {counts}",
            highlight=False,
        )
        console.print(
            f"copies and result records: {escape(str(out))}/{LAYOUT.output_prefix}, "
            f"{escape(str(out))}/{LAYOUT.results_prefix}"
        )
        if report is not None:
            console.print(
                f"report: {escape(str(report))}"
                + (
                    f"  screenshot: {escape(str(screenshot))}"
                    if screenshot and not report_error
                    else ""
                )
            )
    if report_error:
        err.print(f"[yellow]warning:[/] {escape(report_error)}")
    if walk.ignored and not json_out:
        err.print(
            f"[dim]{len(walk.ignored)} file(s) in the input folders ignored (hidden, README/LICENSE, "
            "*.md *.txt *.rst *.yaml *.yml *.json); name a file to process it anyway[/]"
        )
    for folder, why in walk.unreadable:
        err.print(f"[red]error:[/] {escape(str(folder))}: cannot read this folder ({escape(why)}); its files were not processed")
    for result in summary.errors:
        err.print(f"[red]error:[/] {escape(result.image.rel)}: {escape(result.error or '')}")
    code = EXIT_RUNTIME if summary.errors or walk.unreadable or report_failed else EXIT_OK
    if code != EXIT_OK:
        sys.stderr.flush()
    raise typer.Exit(code)


__all__ = ["EXIT_INVALID", "run"]
