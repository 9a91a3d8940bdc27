"""`imgpipe dlq inspect|redrive`, `imgpipe reprocess PREFIX`, `imgpipe cost` — operations.

AWS values come from options or from the stack's outputs (``--outputs outputs.json``, written by
``pulumi stack output --json > outputs.json``); an explicit option wins. Credentials and region
come from the usual boto3 chain (``--profile``/``--region`` override it). The logic lives in
:mod:`imgpipe.ops`; this module parses, builds clients and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from analyzer.layout import (
    DEFAULT_INPUT_PREFIX,
    DEFAULT_OUTPUT_PREFIX,
    DEFAULT_RESULTS_PREFIX,
    VERDICTS,
    KeyLayout,
    folder,
)
from imgpipe.cli._common import EXIT_RUNTIME, console, fail, print_json
from imgpipe.ops import (
    PRICES_CHECKED_ON,
    OpsError,
    OutputsError,
    StackOutputs,
    estimate_cost,
    inspect_dlq,
    load_outputs,
    redrive,
    reprocess,
)
from imgpipe.ops.callmix import measure
from imgpipe.ops.errors import ReprocessError
from imgpipe.textsafe import markup_safe as _safe
from rules import RulesValidationError, load_ruleset
from rules.planning import CallPlan

dlq_app = typer.Typer(help="Inspect the dead-letter queue and move its messages back.",
                      no_args_is_help=True)

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Stack outputs JSON (`pulumi stack output --json`).",
                 exists=False, dir_okay=False),
]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: boto3's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _layout(
    input_prefix: str, output_prefix: str, results_prefix: str = DEFAULT_RESULTS_PREFIX
) -> KeyLayout:
    """The bucket's layout from the prefix options (``images`` and ``images/`` alike)."""
    return KeyLayout(folder(input_prefix), folder(output_prefix), folder(results_prefix))


def _outputs(path: Path | None) -> StackOutputs:
    try:
        return load_outputs(path)
    except OutputsError as exc:
        fail(str(exc))


def _pick(explicit: str | None, outputs: StackOutputs, name: str) -> str:
    if explicit:
        return explicit
    try:
        return outputs.require(name)
    except OutputsError as exc:
        fail(str(exc))


def _session(region: str | None, profile: str | None) -> Any:
    import boto3

    return boto3.session.Session(region_name=region, profile_name=profile)


def _runtime_error(exc: Exception) -> None:
    fail(f"error: {exc}", EXIT_RUNTIME)


@dlq_app.command("inspect")
def dlq_inspect(
    dlq_url: Annotated[str | None, typer.Option("--dlq-url", help="The dead-letter queue URL.")] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="The image bucket (to say where each image is).")] = None,
    log_group: Annotated[str | None, typer.Option("--log-group", help="The analyzer's log group, for the last error (default: /aws/lambda/<function_name> from --outputs).")] = None,
    outputs: OutputsOpt = None,
    max_messages: Annotated[int, typer.Option("--max", min=1, help="Look at most at this many messages.")] = 100,
    input_prefix: Annotated[str, typer.Option("--input-prefix")] = DEFAULT_INPUT_PREFIX,
    output_prefix: Annotated[str, typer.Option("--output-prefix")] = DEFAULT_OUTPUT_PREFIX,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What is in the DLQ and why: objects, where they are now, last logged error."""
    out = _outputs(outputs)
    url = _pick(dlq_url, out, "dlq_url")
    bucket = bucket or out.bucket_name
    if log_group is None and out.function_name:
        log_group = f"/aws/lambda/{out.function_name}"
    session = _session(region, profile)
    try:
        messages = inspect_dlq(
            session.client("sqs"), url,
            s3=session.client("s3") if bucket else None,
            logs=session.client("logs") if log_group else None,
            log_group=log_group, layout=_layout(input_prefix, output_prefix),
            bucket_name=bucket, max_messages=max_messages,
        )
    except (ClientError, BotoCoreError, OpsError) as exc:
        _runtime_error(exc)
    if as_json:
        print_json({"dlq_url": url, "count": len(messages), "messages": [m.to_dict() for m in messages]})
        return
    table = Table(title=f"DLQ {_safe(url)} — {len(messages)} message(s)")
    for col in ("message id", "receives", "sent", "objects (state)", "why"):
        table.add_column(col, overflow="fold")
    for m in messages:
        # queue content is untrusted (keys come from uploads): no markup, no control characters
        objects = "\n".join(f"{_safe(o.key)} ({_safe(o.state)})" for o in m.objects) or "-"
        table.add_row(_safe(m.message_id), str(m.receive_count or "?"), _safe(m.sent_at or "?"), objects, _safe(m.why))
    console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    dlq_url: Annotated[str | None, typer.Option("--dlq-url", help="The dead-letter queue URL.")] = None,
    queue_url: Annotated[str | None, typer.Option("--queue-url", help="The source queue URL.")] = None,
    outputs: OutputsOpt = None,
    strategy: Annotated[str, typer.Option("--strategy", help="auto (native move task, else copy) | native | copy.")] = "auto",
    max_messages: Annotated[int | None, typer.Option("--max", min=1, help="Move at most this many (copy loop).")] = None,
    rate: Annotated[int | None, typer.Option("--rate", min=1, max=500, help="Native task: messages per second.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would move.")] = False,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move DLQ messages back to the source queue (fix the cause first: see `dlq inspect`)."""
    if strategy not in ("auto", "native", "copy"):
        fail(f"--strategy: expected auto, native or copy, not {strategy!r}")
    out = _outputs(outputs)
    dlq = _pick(dlq_url, out, "dlq_url")
    queue = _pick(queue_url, out, "queue_url")
    session = _session(region, profile)
    try:
        result = redrive(session.client("sqs"), dlq, queue, strategy=strategy,  # type: ignore[arg-type]
                         max_messages=max_messages, max_per_second=rate, dry_run=dry_run)
    except (ClientError, BotoCoreError, OpsError) as exc:
        _runtime_error(exc)
    if as_json:
        print_json(result.to_dict())
        return
    if result.strategy == "dry-run":
        console.print(f"{result.available} message(s) in the DLQ would be moved to {_safe(queue)}")
    elif result.strategy == "native":
        console.print(f"native move task started ({result.available} message(s)): {_safe(result.task_handle)}")
    else:
        console.print(f"moved {result.moved} message(s) to {_safe(queue)} with the copy loop; "
                      f"{result.failed} refused, {result.not_deleted} copied but not deleted")


def reprocess_command(
    prefix: Annotated[str, typer.Argument(help="Key prefix: relative (`cams/2026/`), `images/...` or `analyzed/<verdict>/...`.", show_default=False)],
    bucket: Annotated[str | None, typer.Option("--bucket", help="The image bucket.")] = None,
    table: Annotated[str | None, typer.Option("--table", help="The idempotency table (records are cleared so the image is analysed anew).")] = None,
    outputs: OutputsOpt = None,
    verdict: Annotated[list[str] | None, typer.Option("--verdict", help="Only images with this verdict (repeatable).")] = None,
    input_prefix: Annotated[str, typer.Option("--input-prefix")] = DEFAULT_INPUT_PREFIX,
    output_prefix: Annotated[str, typer.Option("--output-prefix")] = DEFAULT_OUTPUT_PREFIX,
    results_prefix: Annotated[str, typer.Option("--results-prefix")] = DEFAULT_RESULTS_PREFIX,
    max_objects: Annotated[int | None, typer.Option("--max", min=1, help="At most this many images.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be re-queued.")] = False,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    as_json: JsonOpt = False,
    mode: Annotated[str, typer.Option("--mode", help="requeue: copy back to images/ from here (laptop loop, new Rekognition calls); rejudge: the stack's function judges the stored analyses again (zero Rekognition calls); reanalyse: the function calls Rekognition again on the analysed copies.")] = "requeue",
    queue_url: Annotated[str | None, typer.Option("--queue-url", help="rejudge/reanalyse: the stack's queue (default: queue_url from --outputs).")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="rejudge/reanalyse: the run id (default: new). Re-sending a run is answered by the function's idempotency.")] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help="rejudge/reanalyse: S3 Inventory CSV or key list of result records, instead of listing PREFIX.", dir_okay=False)] = None,
    per_message: Annotated[int, typer.Option("--per-message", min=1, max=100, help="rejudge/reanalyse: images per SQS message.")] = 20,
    senders: Annotated[int, typer.Option("--senders", min=1, max=64, help="rejudge/reanalyse: concurrent SendMessageBatch threads.")] = 8,
    restore_tier: Annotated[str, typer.Option("--restore-tier", help="Archived (GLACIER/DEEP_ARCHIVE) copies whose verdict changes: restore tier Bulk | Standard | Expedited.")] = "Bulk",
    restore_days: Annotated[int, typer.Option("--restore-days", min=1, help="Days the restored copy stays readable.")] = 7,
    expect_rules: Annotated[Path | None, typer.Option("--expect-rules", help="rejudge/reanalyse: the rules file the function must run (its sha256 goes in each message; a function running other rules retries, then the DLQ).", dir_okay=False)] = None,
) -> None:
    """Send analysed images under PREFIX back through the pipeline (e.g. after a rule change)."""
    bad = [v for v in verdict or [] if v not in VERDICTS]
    if bad:
        fail(f"--verdict: expected success, failure or review, not {bad[0]!r}")
    if mode != "requeue":
        from imgpipe.cli.rejudge_cmd import fleet_reprocess

        fleet_reprocess(
            prefix, mode=mode, bucket=bucket, queue_url=queue_url, outputs=outputs,
            verdicts=tuple(verdict) if verdict else None,
            layout=_layout(input_prefix, output_prefix, results_prefix), max_objects=max_objects,
            dry_run=dry_run, run_id=run_id, manifest=manifest, per_message=per_message,
            senders=senders, restore_tier=restore_tier, restore_days=restore_days,
            expect_rules=expect_rules, region=region, profile=profile, as_json=as_json,
        )
        return
    out = _outputs(outputs)
    name = _pick(bucket, out, "bucket_name")
    table = table or out.table_name
    session = _session(region, profile)
    try:
        result = reprocess(
            session.client("s3"), name, prefix,
            layout=_layout(input_prefix, output_prefix, results_prefix),
            verdicts=tuple(verdict) if verdict else None,
            dynamodb=session.client("dynamodb") if table else None, table_name=table,
            dry_run=dry_run, max_objects=max_objects,
        )
    except ReprocessError as exc:
        fail(str(exc))
    except (ClientError, BotoCoreError, OpsError) as exc:
        _runtime_error(exc)
    if as_json:
        print_json(result.to_dict())
        return
    table_out = Table(title=f"reprocess s3://{_safe(name)}/ {_safe(repr(prefix))}")
    for col in ("analysed key", "verdict", "back to", "action"):
        table_out.add_column(col, overflow="fold")
    for item in result.items:
        table_out.add_row(_safe(item.analysed_key), _safe(item.verdict), _safe(item.source_key), _safe(item.action))
    console.print(table_out)
    console.print(f"{result.requeued} re-queued, {result.skipped} skipped"
                  + (" (dry run)" if dry_run else ""))


def cost_command(
    rules: Annotated[Path, typer.Option("--rules", help="A rules YAML file.", show_default=False)],
    images: Annotated[int, typer.Option("--images", min=0, help="Number of images.")] = 1000,
    as_json: JsonOpt = False,
    compare_rejudge: Annotated[bool, typer.Option("--compare-rejudge", help="Compare re-judging stored analyses with re-analysing N images.")] = False,
    changed: Annotated[float, typer.Option("--changed", min=0, max=1, help="--compare-rejudge: fraction of images whose verdict changes.")] = 0.05,
    archived: Annotated[float, typer.Option("--archived", min=0, max=1, help="--compare-rejudge: fraction of analysed copies already archived.")] = 0.0,
    restore_tier: Annotated[str, typer.Option("--restore-tier", help="--compare-rejudge: Bulk | Standard | Expedited.")] = "Bulk",
    image_kb: Annotated[int, typer.Option("--image-kb", min=1, help="--compare-rejudge: average image size.")] = 500,
) -> None:
    """Rekognition calls and cost for N images under a ruleset (first-tier list prices)."""
    try:
        ruleset = load_ruleset(rules)
    except RulesValidationError as exc:
        fail(str(exc))
    if compare_rejudge:
        from imgpipe.cli.rejudge_cmd import print_cost_comparison

        print_cost_comparison(ruleset, rules, images, changed=changed, archived=archived,
                              restore_tier=restore_tier, image_kb=image_kb, as_json=as_json)
        return
    estimate = estimate_cost(ruleset.needs, images)
    plans = {p.value: measure(ruleset, p) for p in CallPlan}  # docs/analyses.md: call planning
    if as_json:
        print_json({"rules": str(rules), **estimate.to_dict(), "calls_plan": ruleset.calls,
                    "calls_per_image_mixed_feed": {k: round(v.per_image, 3) for k, v in plans.items()}})
        return
    table = Table(title=f"{rules}: {images} image(s) -> {estimate.calls} Rekognition call(s)")
    for col in ("billed unit", "per image", "units", "USD / 1,000", "USD"):
        table.add_column(col, justify="right" if col != "billed unit" else "left")
    for line in estimate.lines:
        table.add_row(line.unit, str(line.per_image), str(line.calls), f"{line.usd_per_1000:.2f}",
                      f"{line.usd:.4f}")
    table.add_row("total", "", "", f"{estimate.usd_per_1000:.2f}", f"{estimate.usd:.4f}")
    console.print(table)
    for unit, note in estimate.notes.items():
        console.print(f"{unit}: {note}; the table counts its calls at 0.00.")
    console.print(f"List prices, first tier, US East, as recorded on {PRICES_CHECKED_ON}; "
                  "check https://aws.amazon.com/rekognition/pricing/ before quoting. "
                  "Pre-check rejections cost nothing.")
    console.print(
        f"Calls per image on a mixed feed (5 % unsafe): complete {plans['complete'].per_image:.2f}, "
        f"economical {plans['economical'].per_image:.2f}; this file: calls: {ruleset.calls}"
        + (" (the table above is the complete plan's upper bound)" if ruleset.calls == "economical" else "")
    )
