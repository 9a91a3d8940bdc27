"""Helpers shared by the CLI command modules: exit codes, error output, JSON input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from analyzer.results import dumps

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INVALID = 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` on stderr (plain text, no markup) and exit with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file or exit 2 with a message naming the file and the position."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read {what}: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}: invalid JSON in {what}: {exc.msg}")


def print_json(data: Any) -> None:
    """One JSON document on stdout, for machines."""
    sys.stdout.write(dumps(data, indent=2) + "\n")
