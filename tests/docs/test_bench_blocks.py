"""Figures in the docs come from the bench scripts: every ``<!-- bench:NAME -->`` block of a page
has a script in bench/ that declares it (``BLOCK = _docs.Block(PAGE, NAME)``) and writes it with
``--write-docs``, and the writer (bench/_docs.py) round-trips. Pure: no bench is run.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _load_docs_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_docs", BENCH / "_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_docs = _load_docs_module()


def declared_blocks() -> dict[tuple[str, str], str]:
    """(page, block name) -> the bench script declaring it, read from the scripts' source."""
    found: dict[tuple[str, str], str] = {}
    for script in sorted(BENCH.glob("*.py")):
        if script.name == "_docs.py":
            continue
        tree = ast.parse(script.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "Block" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "_docs"):
                page, name = (ast.literal_eval(arg) for arg in node.args)
                assert (page, name) not in found, f"{script.name} and {found[(page, name)]}"
                found[(page, name)] = script.name
        source = script.read_text(encoding="utf-8")
        if any(v == script.name for v in found.values()):
            assert "_docs.main(main, BLOCK)" in source, f"{script.name} declares but never writes"
    return found


def blocks_in_docs() -> set[tuple[str, str]]:
    found = set()
    for page in sorted((ROOT / "docs").rglob("*.md")):
        rel = page.relative_to(ROOT / "docs").as_posix()
        text = page.read_text(encoding="utf-8")
        names = _docs.read_blocks(text)
        # an opening marker without its closing one would be silently ignored: refuse it
        assert set(re.findall(r"<!-- bench:([a-z0-9-]+) -->", text)) == set(names), rel
        found.update((rel, name) for name in names)
    return found


def test_every_block_in_the_docs_has_a_bench_script_that_writes_it() -> None:
    in_docs = blocks_in_docs()
    declared = declared_blocks()
    assert in_docs, "the performance and reliability pages hold bench blocks"
    assert in_docs - set(declared) == set(), "blocks no script writes"
    assert set(declared) - in_docs == set(), "scripts whose block is missing from its page"


def test_every_bench_script_owns_a_block() -> None:
    scripts = {p.name for p in BENCH.glob("*.py") if p.name != "_docs.py"}
    assert scripts == set(declared_blocks().values())


def test_writer_round_trips() -> None:
    # GIVEN a page with two blocks and text around them
    page = ("# Perf\n\nintro\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\nmiddle\n\n"
            "<!-- bench:b -->\nold b\n<!-- /bench:b -->\n\nend\n")
    content = _docs.render("| x | 1 |\n", ".venv/bin/python bench/a.py",
                           dt.datetime(2026, 12, 2, 6, 0), "load average 1.0 / 1.0 / 1.0 on 2 CPUs")
    # WHEN block a is replaced
    new = _docs.replace_block(page, "a", content)
    # THEN a holds exactly the new content, b and the text around are untouched
    assert _docs.read_blocks(new) == {"a": content, "b": "old b\n"}
    assert new.replace(content, "old a\n") == page
    # AND writing the same content again changes nothing; the provenance is in the block
    assert _docs.replace_block(new, "a", content) == new
    assert "bench/a.py --write-docs" in content and "2026-12-02 06:00" in content
    assert "load average 1.0" in content and "| x | 1 |" in content


def test_writer_refuses_a_missing_block() -> None:
    with pytest.raises(_docs.BlockNotFoundError):
        _docs.replace_block("<!-- bench:a -->\nx\n<!-- /bench:a -->\n", "b", "y")


def test_write_updates_the_page_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a docs folder with one page holding block "demo"
    monkeypatch.setattr(_docs, "DOCS", tmp_path)
    (tmp_path / "perf.md").write_text("a\n<!-- bench:demo -->\n<!-- /bench:demo -->\nb\n")
    # WHEN a run writes its output
    _docs.write(_docs.Block("perf.md", "demo"), "figure 42 ms\n", "python bench/demo.py", "load x")
    # THEN the block holds the printed figures, fenced, and the page around it is kept
    text = (tmp_path / "perf.md").read_text()
    assert text.startswith("a\n<!-- bench:demo -->\n") and text.endswith("<!-- /bench:demo -->\nb\n")
    assert "```text\nfigure 42 ms\n```" in _docs.read_blocks(text)["demo"]


def test_readme_figures_are_the_latest_bench_output() -> None:
    # GIVEN the README's figures table (between <!-- figures --> markers): column "latest"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- figures -->", 1)[1].split("<!-- /figures -->", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[2:]]
    figures = [f for row in rows for f in re.findall(r"`([^`]+)`", row[1])]
    assert len(figures) == len(rows) > 0, "one `figure` per row"
    # THEN each one is printed, verbatim, in a bench block of the performance or reliability page
    printed = "".join(
        body for page in ("performance.md", "reliability.md")
        for body in _docs.read_blocks((ROOT / "docs" / page).read_text(encoding="utf-8")).values()
    )
    assert [f for f in figures if f not in printed] == []


def test_json_lines_are_left_out_of_a_block() -> None:
    output = 'table | 1 ms\n{"_aws": {"CloudWatchMetrics": []}}\n  raw: {"a": 1}\n{"latency_ms": 2}\n'
    assert _docs.printed_figures(output) == 'table | 1 ms\n  raw: {"a": 1}'
