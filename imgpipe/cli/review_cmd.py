"""`imgpipe review list|show|approve|reject [KEY] [--reason TEXT]` and `imgpipe review serve`.

The stack comes from its outputs, like the operations commands: ``--outputs FILE`` (written by
``pulumi stack output --json``), or ``--stack NAME`` which asks the Pulumi CLI for them. The
reviewer is whoever the AWS credentials say (STS GetCallerIdentity). The work is done by
:class:`imgpipe.review.ReviewService`; this module parses, builds clients and prints.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from analyzer.messages import stack_label
from imgpipe.cli._common import EXIT_INVALID, EXIT_RUNTIME, console, fail, print_json
from imgpipe.ops import OutputsError, StackOutputs, load_outputs
from imgpipe.review import (
    DecisionConflictError,
    NotUnderReviewError,
    ReviewError,
    ReviewService,
)

app = typer.Typer(help="Decide images under review: list, show, approve, reject, or serve a "
                       "review page.", no_args_is_help=True)

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Stack outputs JSON (`pulumi stack output --json`).",
                 dir_okay=False),
]
StackOpt = Annotated[
    str | None,
    typer.Option("--stack", help="Stack name: its outputs come from `pulumi stack output --json "
                                 "--stack NAME` unless --outputs is given."),
]
BucketOpt = Annotated[str | None, typer.Option("--bucket", help="The image bucket.")]
TopicOpt = Annotated[str | None, typer.Option("--topic-arn", help="Announce decisions here.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region (default: boto3's).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile (default: boto3's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KeyArg = Annotated[str, typer.Argument(
    help="The image: its relative key (`cams/a.jpg`), or `images/...`, or `analyzed/review/...`.",
    show_default=False)]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the record and "
                                                                "the announcement).")]


def stack_outputs(outputs: Path | None, stack: str | None) -> StackOutputs:
    """The stack's outputs from ``--outputs FILE``, else from the Pulumi CLI for ``--stack``."""
    if outputs is not None or stack is None:
        try:
            return load_outputs(outputs)
        except OutputsError as exc:
            fail(str(exc))
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        fail(f"--stack {stack}: the pulumi CLI is not installed; write the outputs once with "
             f"`pulumi stack output --json --stack {stack} > {stack}.json` elsewhere and pass "
             f"--outputs {stack}.json")
    done = subprocess.run([pulumi, "stack", "output", "--json", "--stack", stack],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        fail(f"pulumi stack output --stack {stack}: {done.stderr.strip() or done.returncode}",
             EXIT_RUNTIME)
    try:
        return StackOutputs.model_validate(json.loads(done.stdout))
    except ValueError as exc:
        fail(f"pulumi stack output --stack {stack}: {exc}", EXIT_RUNTIME)


def build_service(outputs: Path | None, stack: str | None, bucket: str | None,
                  topic_arn: str | None, region: str | None, profile: str | None) -> ReviewService:
    import boto3

    out = stack_outputs(outputs, stack)
    name = bucket or out.bucket_name
    if not name:
        fail("no bucket: pass --outputs FILE (with bucket_name), --stack NAME or --bucket")
    label = stack or stack_label({"AWS_LAMBDA_FUNCTION_NAME": out.function_name or ""})
    session = boto3.session.Session(region_name=region, profile_name=profile)
    topic = topic_arn or out.topic_arn
    from botocore.config import Config

    # SigV4 presigned links (valid in every region), short-lived (see --url-seconds)
    s3 = session.client("s3", config=Config(signature_version="s3v4"))
    return ReviewService(
        s3, name, sts=session.client("sts"),
        sns=session.client("sns") if topic else None, topic_arn=topic,
        cloudwatch=session.client("cloudwatch"), stack=label,
    )


def _guard(call: Any) -> Any:
    try:
        return call()
    except NotUnderReviewError as exc:
        fail(str(exc), EXIT_INVALID)
    except DecisionConflictError as exc:
        fail(f"not decided: {exc}", EXIT_RUNTIME)
    except ReviewError as exc:
        fail(str(exc), EXIT_INVALID)
    except (ClientError, BotoCoreError) as exc:
        fail(f"error: {exc}", EXIT_RUNTIME)


@app.command("list")
def list_command(outputs: OutputsOpt = None, stack: StackOpt = None, bucket: BucketOpt = None,
                 region: RegionOpt = None, profile: ProfileOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Images waiting for a decision, oldest first, with why they wait."""
    service = build_service(outputs, stack, bucket, None, region, profile)
    items = _guard(lambda: service.queue())
    if as_json:
        print_json({"bucket": service.bucket, "pending": len(items),
                    "items": [i.to_dict() for i in items]})
        return
    table = Table(title=f"s3://{service.bucket}/ — {len(items)} image(s) waiting for review")
    for col in ("image", "waiting since", "categories", "why"):
        table.add_column(col, overflow="fold")
    for item in items:
        data = item.to_dict()
        table.add_row(item.rel, item.last_modified, ", ".join(data["categories"]) or "-",
                      "\n".join(data["reasons"]))
    console.print(table)


@app.command("show")
def show_command(key: KeyArg, outputs: OutputsOpt = None, stack: StackOpt = None,
                 bucket: BucketOpt = None, region: RegionOpt = None, profile: ProfileOpt = None,
                 as_json: JsonOpt = False) -> None:
    """One image: its verdict, reasons, where it is, and every decision taken on it."""
    service = build_service(outputs, stack, bucket, None, region, profile)
    shown = _guard(lambda: service.show(key))
    if as_json:
        print_json(shown)
        return
    record = shown["record"]
    from imgpipe.review import ReviewItem

    item = ReviewItem(shown["rel"], str(shown["image_key"]), 0, "", record)
    console.print(f"[b]{shown['rel']}[/b] — {shown['status']} (verdict {record.get('verdict')})",
                  highlight=False)
    console.print(f"  at s3://{service.bucket}/{shown['image_key']}", highlight=False)
    console.print(f"  categories: {', '.join(record.get('categories') or []) or '-'}",
                  highlight=False)
    for line in item.reasons():
        console.print(f"  - {line}", highlight=False, markup=False)
    for d in shown["decisions"]:
        console.print(f"  {d.get('decision')} by {d.get('reviewer')} at {d.get('decided_at')}: "
                      f"{d.get('reason') or '(no reason)'} (was {d.get('previous_verdict')})",
                      highlight=False, markup=False)


def _decide(decision: str, key: str, reason: str | None, outputs: Path | None,
            stack: str | None, bucket: str | None, topic_arn: str | None, region: str | None,
            profile: str | None, as_json: bool) -> None:
    service = build_service(outputs, stack, bucket, topic_arn, region, profile)
    result = _guard(lambda: service.decide(key, decision, reason))
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(result.message())


@app.command("approve")
def approve_command(key: KeyArg, reason: ReasonOpt = None, outputs: OutputsOpt = None,
                    stack: StackOpt = None, bucket: BucketOpt = None, topic_arn: TopicOpt = None,
                    region: RegionOpt = None, profile: ProfileOpt = None,
                    as_json: JsonOpt = False) -> None:
    """Approve: the image moves to success; the decision is recorded and announced."""
    _decide("approve", key, reason, outputs, stack, bucket, topic_arn, region, profile, as_json)


@app.command("reject")
def reject_command(key: KeyArg, reason: ReasonOpt = None, outputs: OutputsOpt = None,
                   stack: StackOpt = None, bucket: BucketOpt = None, topic_arn: TopicOpt = None,
                   region: RegionOpt = None, profile: ProfileOpt = None,
                   as_json: JsonOpt = False) -> None:
    """Reject (a reason is required): the image moves to failure; recorded and announced."""
    _decide("reject", key, reason, outputs, stack, bucket, topic_arn, region, profile, as_json)


@app.command("serve")
def serve_command(
    stack: StackOpt = None,
    outputs: OutputsOpt = None,
    bucket: BucketOpt = None,
    topic_arn: TopicOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default; "
                                                     "anything else exposes the page).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port (0: pick a free one).")] = 8765,
    url_seconds: Annotated[int, typer.Option("--url-seconds", min=30, max=3600,
                                             help="Lifetime of the image links.")] = 300,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Start the review page on this machine (stop with Ctrl+C)."""
    try:
        from imgpipe.review.web import serve
    except ImportError as exc:  # flask comes with the `review` extra
        fail(f"the review page needs Flask: pip install 'image-pipeline[review]' ({exc})")
    service = build_service(outputs, stack, bucket, topic_arn, region, profile)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: binding {host}: anyone who reaches it can decide as "
                   f"{service.identity().get('arn')}", err=True)
    serve(service, host=host, port=port, url_seconds=url_seconds)
