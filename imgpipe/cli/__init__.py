"""`imgpipe` — the command line of imgpipe (typer + rich).

Each command group lives in its own module and is registered here; heavy dependencies (models,
Pulumi, boto3 clients) are imported inside the commands that need them.
"""

from __future__ import annotations

import sys

import typer

from imgpipe.cli import ops_cmd, plan_cmd, plugin_cmd, review_cmd, rules_cmd, run_cmd
from rules._guard import StdoutRouter

app = typer.Typer(
    name="imgpipe",
    help="imgpipe: image-analysis pipeline — rules, local runs, plans and operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("run")(run_cmd.run)
app.command("plan")(plan_cmd.plan)
app.command("reprocess")(ops_cmd.reprocess_command)
app.command("cost")(ops_cmd.cost_command)
app.add_typer(rules_cmd.app, name="rules")
app.add_typer(plugin_cmd.app, name="plugin")
app.add_typer(ops_cmd.dlq_app, name="dlq")
app.add_typer(review_cmd.app, name="review")


@app.callback()
def _keep_plugin_output_off_stdout() -> None:
    # stdout carries results (--json); whatever plugin code prints goes to stderr instead
    if not isinstance(sys.stdout, StdoutRouter):
        sys.stdout = StdoutRouter(sys.stdout, sys.stderr)  # type: ignore[assignment]


def main() -> None:
    app()
