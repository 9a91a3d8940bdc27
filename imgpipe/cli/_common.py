"""Helpers shared by the CLI command modules: exit codes, error output, JSON input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from analyzer.results import dumps
from imgpipe.textsafe import printable

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INVALID = 2

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print ``message`` on stderr (plain text, no markup) and exit with ``code``.

    Each line is passed through :func:`~imgpipe.textsafe.printable`: messages quote file names and
    values from untrusted files, whose escape sequences must not reach the terminal."""
    typer.echo("\n".join(printable(line) for line in message.split("\n")), err=True)
    raise typer.Exit(code)


#: Largest JSON input read (an analysis of one image is a few hundred KB at most).
MAX_JSON_BYTES = 64 << 20


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file or exit 2 with a message naming the file and the position.

    Refused (exit 2, never a traceback): files over :data:`MAX_JSON_BYTES`, bytes that are not
    UTF-8, ``NaN``/``Infinity`` (not JSON), integers too long to convert, nesting too deep.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        fail(f"{path}: cannot read {what}: {exc.strerror or exc}")
    if len(data) > MAX_JSON_BYTES:
        fail(f"{path}: {what} is larger than {MAX_JSON_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{path}: {what} is not UTF-8 text (byte {exc.start})")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}: invalid JSON in {what}: {exc.msg}")
    except RecursionError:
        fail(f"{path}: invalid JSON in {what}: nested too deeply")
    except ValueError as exc:  # NaN/Infinity, integers over the int-conversion limit
        fail(f"{path}: invalid JSON in {what}: {exc}")


def print_json(data: Any) -> None:
    """One JSON document on stdout, for machines."""
    # allow_nan=False: output is strict JSON (non-finite numbers are refused when parsed)
    sys.stdout.write(dumps(data, indent=2, allow_nan=False) + "\n")
