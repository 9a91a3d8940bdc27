"""`imgpipe plan --stack dev` — an offline preview: the Pulumi program evaluated under mocks.

For users without the Pulumi CLI or AWS credentials, and for reviewers: the program runs exactly
as `pulumi preview` would run it (same config validation, rules validation and artifact build),
and the resource tree is printed with the settings that matter. Pulumi is imported lazily here.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from imgpipe.cli._common import EXIT_INVALID, EXIT_RUNTIME, console, fail
from imgpipe.textsafe import printable


def plan(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")],
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="Folder with Pulumi.yaml and __main__.py.")
    ] = Path("."),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print resources and outputs as JSON instead.")
    ] = False,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Rules to back-test against: a file or REV:PATH (default: HEAD:<the stack's rules file>).")] = None,
    history: Annotated[list[str] | None, typer.Option("--history", help="More past analyses for the back-test (repeatable): stack (with --outputs), s3://..., a local folder.")] = None,
    outputs: Annotated[Path | None, typer.Option("--outputs", help="Stack outputs JSON, for --history stack.", dir_okay=False)] = None,
) -> None:
    """Evaluate the Pulumi program offline (mocks) and print the resource tree."""
    root = project_dir.resolve()
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not (root / "__main__.py").is_file() or not stack_file.is_file():
        fail(f"{stack_file}: no such stack file (or no __main__.py in {root})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from infra.errors import ArtifactBuildError, InfraError
        from infra.mockrun import run_program, stack_config

        try:
            run = run_program(stack, stack_config(stack_file), root / "__main__.py")
        except ArtifactBuildError as exc:
            fail(str(exc), EXIT_RUNTIME)
        except InfraError as exc:
            fail(str(exc), EXIT_INVALID)
    from imgpipe.cli.plan_backtest import plan_backtest

    try:
        backtest, line, sources = plan_backtest(root, str(run.outputs.get("rules_file")),
                                                baseline=baseline, histories=history,
                                                outputs=outputs)
    except Exception as exc:  # the plan itself succeeded; the back-test is information
        backtest, line, sources = None, f"rules back-test failed: {exc}", []
    if as_json:
        typer.echo(json.dumps(
            {"stack": stack, "outputs": run.outputs,
             "backtest": {"summary": line, "history": sources,
                          **(backtest.to_dict() if backtest else {})},
             "resources": [{"type": r.type, "name": r.name, "inputs": _plain(r.inputs)}
                           for r in run.resources]},
            indent=2, sort_keys=True, default=str,
        ))
        return
    console.print(render_tree(run))
    console.print(f"[bold]{len(run.resources)}[/] resources; outputs:")
    for key, value in run.outputs.items():
        console.print(f"  {key} = {value}", highlight=False, markup=False)
    console.print(printable(line), highlight=False, markup=False)  # quotes rule and file names
    if backtest is not None and backtest.changes:
        from imgpipe.cli.diff_cmd import render

        render(backtest, ", ".join(sources), examples=3)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    path = getattr(value, "path", None)
    return f"<archive {path}>" if path is not None else value


def render_tree(run: Any) -> Tree:
    """Components with their children (by the ``<component>-`` naming convention)."""
    tree = Tree(f"[bold]stack {run.stack}[/]")
    components = [r for r in run.resources if r.type.startswith("imgpipe:")]
    placed: set[str] = set()
    for component in components:
        branch = tree.add(f"[cyan]{component.type}[/] {component.name}")
        for r in run.resources:
            if r is component or r.type.startswith("imgpipe:"):
                continue
            if r.name.startswith(f"{component.name}-"):
                branch.add(_line(r))
                placed.add(r.name)
    for r in run.resources:
        if not r.type.startswith("imgpipe:") and r.name not in placed:
            tree.add(_line(r))
    return tree


def _line(r: Any) -> str:
    kind = r.type.rsplit(":", 1)[-1]
    detail = summarize(r.type, r.inputs)
    text = f"{kind} [dim]{r.name}[/]"
    return f"{text} — {detail}" if detail else text


def summarize(type_: str, p: dict[str, Any]) -> str:
    """The settings of a resource a reviewer looks at first."""
    kind = type_.rsplit(":", 1)[-1]
    if kind == "Bucket":
        return f"forceDestroy={p.get('forceDestroy', False)}"
    if kind == "BucketPublicAccessBlock":
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        return "all public access blocked" if all(p.get(f) for f in flags) else "PUBLIC ACCESS OPEN"
    if kind == "BucketServerSideEncryptionConfiguration":
        sse = p["rules"][0]["applyServerSideEncryptionByDefault"]
        return f"{sse['sseAlgorithm']}" + (" (stack key)" if sse.get("kmsMasterKeyId") else "")
    if kind == "BucketVersioning":
        return f"versioning {p['versioningConfiguration']['status']}"
    if kind == "BucketPolicy":
        return "TLS only (deny aws:SecureTransport=false)"
    if kind == "BucketLifecycleConfiguration":
        parts = []
        for rule in p["rules"]:
            if rule.get("transitions"):
                t = rule["transitions"][0]
                f = rule["filter"]["and"]
                parts.append(f"{f['prefix']} -> {t['storageClass']} after {t['days']:g} d "
                             f"(> {f['objectSizeGreaterThan']:g} B)")
            if rule.get("noncurrentVersionExpiration"):
                days = rule["noncurrentVersionExpiration"]["noncurrentDays"]
                parts.append(f"noncurrent versions expire after {days:g} d")
            if rule.get("abortIncompleteMultipartUpload"):
                days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
                parts.append(f"abort multipart after {days:g} d")
        return "; ".join(parts)
    if kind == "Queue":
        enc = "stack key" if p.get("kmsMasterKeyId") else "SQS-managed SSE"
        text = (f"visibility {int(p.get('visibilityTimeoutSeconds', 30))} s, retention "
                f"{int(p.get('messageRetentionSeconds', 345600))} s, {enc}")
        if p.get("redrivePolicy"):
            text += f", DLQ after {json.loads(p['redrivePolicy'])['maxReceiveCount']} receives"
        return text
    if kind == "BucketNotification":
        return "; ".join(f"{','.join(q['events'])} under {q['filterPrefix']!r} -> queue"
                         for q in p.get("queues", []))
    if kind == "Function":
        return (f"{p['runtime']} {','.join(p['architectures'])}, {p['memorySize']:g} MB, "
                f"timeout {p['timeout']:g} s, handler {p['handler']}")
    if kind == "LayerVersion":
        return f"dependencies for {','.join(p['compatibleRuntimes'])} {','.join(p['compatibleArchitectures'])}"
    if kind == "EventSourceMapping":
        return (f"batch {p['batchSize']:g}, window {p.get('maximumBatchingWindowInSeconds', 0):g} s, "
                f"max concurrency {p['scalingConfig']['maximumConcurrency']:g}, "
                f"{','.join(p['functionResponseTypes'])}")
    if kind == "Table":
        return f"{p['billingMode']}, TTL on {p['ttl']['attributeName']}"
    if kind == "Topic":
        key = p.get("kmsMasterKeyId")
        return f"encrypted with {key if key and key.startswith('alias/') else 'stack key'}" if key \
            else "unencrypted (CloudWatch alarms; no stack key)"
    if kind == "TopicSubscription":
        flt = f", filter {p['filterPolicy']}" if p.get("filterPolicy") else ", no filter"
        return f"{p['protocol']} {p['endpoint']}{flt}"
    if kind == "MetricAlarm":
        op = ">" if p["comparisonOperator"] == "GreaterThanThreshold" else ">="
        return f"{p['namespace']} {p['metricName']} {op} {p['threshold']:g}"
    if kind == "RolePolicy":
        doc = json.loads(p["policy"])
        sids = [s.get("Sid", "?") for s in doc["Statement"]]
        return f"{len(sids)} statements: {', '.join(sids)}"
    if kind == "LogGroup":
        return f"{p['name']}, retention {p['retentionInDays']:g} d"
    if kind == "Key":
        return f"rotation {'on' if p.get('enableKeyRotation') else 'off'}"
    return ""
