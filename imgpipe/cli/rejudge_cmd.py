"""`imgpipe reprocess PREFIX --mode rejudge|reanalyse` — enqueue fleet work (see
:mod:`imgpipe.ops.rejudge`); the stack's function does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from analyzer.layout import KeyLayout
from imgpipe.cli._common import EXIT_RUNTIME, console, fail, print_json
from imgpipe.ops.errors import OpsError, OutputsError, ReprocessError
from imgpipe.ops.outputs import load_outputs
from imgpipe.ops.rejudge import enqueue, listed_targets, manifest_targets
from imgpipe.textsafe import markup_safe, printable
from rules import RulesValidationError, load_ruleset


def fleet_reprocess(
    prefix: str,
    *,
    mode: str,
    bucket: str | None,
    queue_url: str | None,
    outputs: Path | None,
    verdicts: tuple[str, ...] | None,
    layout: KeyLayout,
    max_objects: int | None,
    dry_run: bool,
    run_id: str | None,
    manifest: Path | None,
    per_message: int,
    senders: int,
    restore_tier: str,
    restore_days: int,
    expect_rules: Path | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
    session: Any = None,
) -> None:
    if mode not in ("rejudge", "reanalyse"):
        fail(f"--mode: expected requeue, rejudge or reanalyse, not {mode!r}")
    try:
        out = load_outputs(outputs)
        name = bucket or out.require("bucket_name")
        queue = queue_url or (None if dry_run else out.require("queue_url"))
    except OutputsError as exc:
        fail(str(exc))
    digest = None
    if expect_rules is not None:
        try:
            digest = load_ruleset(expect_rules).digest
        except RulesValidationError as exc:
            fail(str(exc))
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region, profile_name=profile)
    try:
        if manifest is not None:
            targets = manifest_targets(manifest, layout=layout, verdicts=verdicts)
        else:
            targets = listed_targets(session.client("s3"), name, prefix, layout=layout,
                                     verdicts=verdicts)
        result = enqueue(
            session.client("sqs") if not dry_run else None, queue or "", name, targets,
            mode=mode, run=run_id, per_message=per_message, senders=senders,
            rules_sha256=digest, restore_tier=restore_tier, restore_days=restore_days,
            dry_run=dry_run, max_images=max_objects,
        )
    except ReprocessError as exc:
        fail(str(exc))
    except (ClientError, BotoCoreError, OpsError, OSError) as exc:
        fail(f"error: {exc}", EXIT_RUNTIME)
    if as_json:
        print_json({"bucket": name, "queue_url": queue, **result.to_dict()})
        return
    verb = "would enqueue" if dry_run else "enqueued"
    per = ", ".join(f"{v} {n}" for v, n in sorted(result.by_verdict.items())) or "none"
    console.print(printable(
        f"{verb} {result.images} image(s) ({per}) in {result.messages} message(s) for the "
        f"stack's function, mode {mode}, run {result.run}; {result.images_per_second:.0f} "
        f"images/s enqueued"), highlight=False, markup=False)
    if not dry_run:
        console.print("The function re-judges at the stack's concurrency; watch the Rejudge* "
                      "metrics and the DLQ. Archived copies are restored and moved by running "
                      "the same command again once restores are done.", highlight=False)


def print_cost_comparison(
    ruleset: Any, rules: Path, images: int, *, changed: float, archived: float,
    restore_tier: str, image_kb: int, as_json: bool,
) -> None:
    """`imgpipe cost --compare-rejudge`: re-judging vs re-analysing N images."""
    from decimal import Decimal

    from rich.table import Table

    from imgpipe.ops.rejudge_cost import AWS_PRICES_CHECKED_ON, CostAssumptions, comparison_dict

    if restore_tier not in ("Bulk", "Standard", "Expedited"):
        fail(f"--restore-tier: expected Bulk, Standard or Expedited, not {restore_tier!r}")
    assumptions = CostAssumptions(changed_fraction=Decimal(str(changed)),
                                  archived_fraction=Decimal(str(archived)),
                                  restore_tier=restore_tier, image_kb=image_kb)
    data = comparison_dict(ruleset.needs, images, assumptions)
    if as_json:
        print_json({"rules": str(rules), **data})
        return
    table = Table(title=f"{markup_safe(rules)}: {images} image(s), {changed:.0%} change verdict, "
                        f"{archived:.0%} archived")
    table.add_column("USD")
    table.add_column("re-judge (stored analyses)", justify="right")
    table.add_column("re-analyse (Rekognition again)", justify="right")
    for line in data["rejudge"]["lines"]:
        table.add_row(line, data["rejudge"]["lines"][line], data["reanalyse"]["lines"][line])
    table.add_row("total", data["rejudge"]["usd"], data["reanalyse"]["usd"], style="bold")
    console.print(table)
    console.print(f"re-analysing costs {data['reanalyse_over_rejudge']}x re-judging. AWS list "
                  f"prices (US East) as recorded on {AWS_PRICES_CHECKED_ON}: check before "
                  "quoting.", highlight=False)
