"""The invalid-config corpus: every broken file reports each problem at its line and field path.

Each file in ``invalid/`` starts with comment lines of the form::

    # expect: LINE FIELD.PATH ~ part of the message

(``-`` for an empty path). The file must give exactly these issues, in this order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from rules import RulesValidationError, load_ruleset

CORPUS = Path(__file__).resolve().parent / "invalid"
EXPECT = re.compile(r"^# expect: (?P<line>\d+) (?P<path>\S+) ~ (?P<message>.+)$")


@dataclass(frozen=True)
class Expected:
    line: int
    path: str
    message: str


def expectations(path: Path) -> list[Expected]:
    found = []
    for text in path.read_text(encoding="utf-8").splitlines():
        m = EXPECT.match(text)
        if m:
            where = m["path"] if m["path"] != "-" else ""
            found.append(Expected(int(m["line"]), where, m["message"].strip()))
    return found


FILES = sorted(CORPUS.glob("*.yaml"))


def test_the_corpus_is_large_enough_and_every_file_states_its_expectations():
    assert len(FILES) >= 15
    for path in FILES:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_invalid_file_reports_line_and_field_path(path):
    # GIVEN a broken rules file and the issues it must produce
    expected = expectations(path)

    # WHEN it is loaded
    with pytest.raises(RulesValidationError) as err:
        load_ruleset(path)

    # THEN exactly these issues are reported, each with file, line, path and an explanation
    issues = err.value.issues
    assert [(i.line, i.path) for i in issues] == [(e.line, e.path) for e in expected], "\n".join(
        str(i) for i in issues
    )
    for issue, want in zip(issues, expected, strict=True):
        assert issue.file == str(path)
        assert want.message in issue.message, str(issue)
        prefix = f"{path}:{want.line}: {want.path}: " if want.path else f"{path}:{want.line}: "
        assert str(issue).startswith(prefix)
    # AND the exception text lists them all, one per line
    assert str(err.value).splitlines() == [str(i) for i in issues]


def test_messages_speak_to_a_rule_author_not_a_programmer():
    # GIVEN every issue of the whole corpus
    issues = []
    for path in FILES:
        try:
            load_ruleset(path)
        except RulesValidationError as err:
            issues.extend(err.issues)

    # THEN none carries pydantic's links or Python reprs of its internals
    assert len(issues) >= len(FILES) - 1
    for issue in issues:
        assert "errors.pydantic.dev" not in issue.message
        assert "Value error," not in issue.message
        assert "<class" not in issue.message
