"""Bench figures into the docs: every bench script can rewrite its block of a docs page.

A block is a marked region of a page under ``docs/``::

    <!-- bench:NAME -->
    ...whatever the last ``--write-docs`` run printed, with its date, load and command...
    <!-- /bench:NAME -->

A script declares the block it owns with ``BLOCK = _docs.Block("performance.md", "NAME")`` and
ends with ``_docs.main(main, BLOCK)``: run plainly it only prints; with ``--write-docs`` it also
replaces the block's content with what it printed. So the figures on the performance and
reliability pages are the ones a run printed, never typed by hand. ``tests/docs`` checks that
every block in the docs has a script that writes it, and that the writer round-trips.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FLAG = "--write-docs"

_BLOCK_RE = re.compile(
    r"<!-- bench:(?P<name>[a-z0-9-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->", re.DOTALL
)


class BlockNotFoundError(LookupError):
    """The page has no ``<!-- bench:NAME -->`` ... ``<!-- /bench:NAME -->`` block of that name."""


@dataclass(frozen=True)
class Block:
    """The block of ``docs/<page>`` a bench script owns."""

    page: str
    name: str

    @property
    def path(self) -> Path:
        return DOCS / self.page


def read_blocks(text: str) -> dict[str, str]:
    """Every bench block of a page: name -> content (between the two markers)."""
    return {m["name"]: m["body"] for m in _BLOCK_RE.finditer(text)}


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the content of block ``name`` replaced by ``content``."""
    body = content if content.endswith("\n") else content + "\n"
    found = False

    def _swap(match: re.Match[str]) -> str:
        nonlocal found
        if match["name"] != name:
            return match[0]
        found = True
        return f"<!-- bench:{name} -->\n{body}<!-- /bench:{name} -->"

    new = _BLOCK_RE.sub(_swap, text)
    if not found:
        raise BlockNotFoundError(f"no block '{name}' (<!-- bench:{name} --> ... "
                                 f"<!-- /bench:{name} -->)")
    return new


def printed_figures(output: str) -> str:
    """What a run printed, minus lines that are whole JSON objects.

    Those are for machines (a script's one-line JSON summary, Powertools' EMF metrics that the
    handler prints to stdout); every figure they hold is also in the printed tables.
    """
    kept = []
    for line in output.strip("\n").splitlines():
        if line.startswith("{") and line.rstrip().endswith("}"):
            try:
                json.loads(line)
                continue
            except ValueError:
                pass
        kept.append(line.rstrip())
    return "\n".join(kept).strip("\n")


def render(output: str, command: str, when: dt.datetime, load: str) -> str:
    """The block's content: provenance line, then what the run printed (JSON lines left out)."""
    printed = printed_figures(output)
    return (
        f"*Written by `{command} {FLAG}` on {when:%Y-%m-%d %H:%M} UTC; {load}. "
        f"Re-run that command to refresh this block; do not edit it by hand.*\n\n"
        f"```text\n{printed}\n```\n"
    )


def load_average() -> str:
    """The 1/5/15-minute load average and the CPU count, as one phrase."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - platforms without getloadavg
        return f"{os.cpu_count()} CPUs"
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"


def write(block: Block, output: str, command: str, load: str) -> None:
    """Rewrite ``block`` in its page with ``output``."""
    text = block.path.read_text(encoding="utf-8")
    now = dt.datetime.now(dt.UTC)
    block.path.write_text(replace_block(text, block.name, render(output, command, now, load)),
                          encoding="utf-8")


class _Tee(io.TextIOBase):
    def __init__(self, out: io.TextIOBase) -> None:
        self.out = out
        self.seen = io.StringIO()

    def write(self, s: str) -> int:
        self.seen.write(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def main(run: Callable[[], object], block: Block) -> None:
    """Run a bench's ``main``; with ``--write-docs`` also write what it printed into ``block``.

    ``--write-docs`` is taken out of ``sys.argv`` before ``run`` parses its own options. It is
    refused with ``--quick`` (rough figures do not belong in the docs).
    """
    args = sys.argv[1:]
    write_docs = FLAG in args
    if write_docs:
        args = [a for a in args if a != FLAG]
        if "--quick" in args:
            sys.exit(f"{FLAG} is refused with --quick: the docs hold full runs only")
        sys.argv[1:] = args
    command = shlex.join([".venv/bin/python", f"bench/{Path(sys.argv[0]).name}", *args])
    load_before = load_average()
    tee = _Tee(sys.stdout)  # type: ignore[arg-type]
    with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
        status = run()
    if status not in (None, 0):
        sys.exit(status)  # type: ignore[arg-type]
    if write_docs:
        load = f"{load_before} at the start, {load_average().split(' on ')[0]} at the end"
        write(block, tee.seen.getvalue(), command, load)
        print(f"wrote block '{block.name}' of docs/{block.page}", file=sys.stderr)
