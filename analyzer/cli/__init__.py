"""`imgpipe` — the command line of imgpipe (typer + rich).

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="imgpipe",
    help="imgpipe: image-analysis pipeline — rules, local runs, plans and operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from analyzer.cli import rules_cmd  # noqa: E402

app.add_typer(rules_cmd.app, name="rules")
# Further command groups register below (one import + add_typer/command each).
from analyzer.cli import ops_cmd  # noqa: E402

app.add_typer(ops_cmd.dlq_app, name="dlq")
app.command("reprocess")(ops_cmd.reprocess_command)
app.command("cost")(ops_cmd.cost_command)
from analyzer.cli import run_cmd  # noqa: E402

app.command("run")(run_cmd.run)
from analyzer.cli import plan_cmd  # noqa: E402

app.command("plan")(plan_cmd.plan)


def main() -> None:
    app()
