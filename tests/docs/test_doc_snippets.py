"""The docs cannot show rules that do not load: every rules-file snippet in docs/ and the README.

A ```yaml block that is a rules file (it has top-level ``version:`` and ``rules:``) must load with
``rules.parse_ruleset``. A block meant to show an error is marked by an ``<!-- invalid -->``
comment on the line before its fence, and must then fail to load. Also: the moderation taxonomy
listed in docs/rules.md is exactly the engine's, and the README's links point at files that exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from rules import RulesValidationError, default_registry, parse_ruleset, taxonomy

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
INVALID_MARK = "<!-- invalid -->"
_FENCE = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RULES_FILE = re.compile(r"^version:.*^rules:", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    text: str
    invalid: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def rules_snippets(page: Path) -> list[Snippet]:
    """The rules-file yaml blocks of a page, with their line and whether they are marked invalid."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        body = match[1]
        if not _RULES_FILE.search(body):
            continue
        before = text[: match.start()].rstrip("\n").splitlines()
        invalid = bool(before) and before[-1].strip() == INVALID_MARK
        line = text.count("\n", 0, match.start()) + 2  # first line inside the fence
        found.append(Snippet(page, line, body, invalid))
    return found


SNIPPETS = [s for page in PAGES for s in rules_snippets(page)]


def test_the_docs_have_rules_snippets() -> None:
    # the README's example and the rules page's at least: a broken regex must not find nothing
    pages = {s.page.name for s in SNIPPETS}
    assert {"README.md", "rules.md", "contracts.md"} <= pages


def test_finder_sees_fences_and_marks(tmp_path: Path) -> None:
    # GIVEN a page with a valid rules block, a marked invalid one, and yaml that is not a rules file
    page = tmp_path / "page.md"
    page.write_text(
        "```yaml\nversion: 1\nrules: []\n```\n\n"
        f"{INVALID_MARK}\n```yaml\nversion: 2\nrules: []\n```\n\n"
        "```yaml\nimage-pipeline:batchSize: 5\n```\n"
    )
    # WHEN the snippets are collected
    found = rules_snippets(page)
    # THEN two rules files, the second marked invalid, with the line of their first yaml line
    assert [(s.line, s.invalid) for s in found] == [(2, False), (8, True)]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.where)
def test_rules_snippet_loads_or_is_marked_invalid(snippet: Snippet) -> None:
    types = set(re.findall(r"^\s*(?:-\s+)?type:\s*([A-Za-z0-9_]+)", snippet.text, re.MULTILINE))
    missing = types - set(default_registry().types)
    if missing and not snippet.invalid:
        pytest.skip(f"plugin types not installed here: {sorted(missing)} (make test installs them)")
    if snippet.invalid:
        with pytest.raises(RulesValidationError):
            parse_ruleset(snippet.text, snippet.where)
    else:
        parse_ruleset(snippet.text, snippet.where)


def test_taxonomy_list_in_rules_page_is_the_engines() -> None:
    # GIVEN the nested list under the taxonomy marker of docs/rules.md
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    listed = text.split("<!-- taxonomy:", 1)[1].split("\n## ", 1)[0]
    parents: dict[str, str] = {}
    for line in listed.splitlines()[1:]:
        if m := re.fullmatch(r"- \*\*(.+)\*\*", line):
            top = m[1]
            parents[top] = ""
        elif m := re.fullmatch(r" {4}- ([^:]+)(?:: (.+))?", line):
            parents[m[1]] = top
            for leaf in (m[2] or "").split(", "):
                if leaf:
                    parents[leaf] = m[1]
    # THEN it is the engine's taxonomy, label for label and parent for parent
    assert parents == taxonomy.PARENT


def test_readme_links_point_at_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    assert targets, "the README links to the docs"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing
