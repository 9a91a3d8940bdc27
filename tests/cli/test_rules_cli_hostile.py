"""Issue 12 through the console script: hostile analysis JSON exits 2 with a message (never a
traceback), and untrusted text (labels, OCR lines, names) is printed without markup or escapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IMGPIPE = shutil.which("imgpipe", path=str(Path(sys.executable).parent))
LABELS = "version: 1\nrules:\n  - {name: d, type: label_match, labels: [Dog], outcome: failure}\n"
ALL = (
    "version: 1\nrules:\n"
    "  - {name: d, type: label_match, labels: [Dog], outcome: failure}\n"
    "  - {name: m, type: moderation, categories: [Explicit], outcome: review}\n"
    "  - {name: t, type: text_detection, pattern: 'ID', outcome: tag}\n"
)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert IMGPIPE
    return subprocess.run([IMGPIPE, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(LABELS, "utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"labels": {"Labels": [{"Name": "Dog", "Confidence": NaN}]}}', "NaN is not a number JSON allows"),
        (b'{"labels": {"Labels": [{"Name": "Dog", "Confidence": Infinity}]}}', "Infinity is not a number"),
        (b'{"labels": {"Labels": [{"Name": "Dog", "Confidence": 1e999}]}}', "labels.Labels[0].Confidence: expected a finite number"),
        (b'{"labels": {"Labels": [{"Name": "Dog", "Confidence": ' + b"9" * 5000 + b"}]}}", "invalid JSON"),
        (b'{"labels": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"labels": {"Labels": [{"Name": "Dog", "Confidence": "99"}]}}', "labels.Labels[0].Confidence: expected a number"),
        (b'{"labels": null}', "labels: is null; give the DetectLabels response"),
    ],
)
def test_hostile_analysis_files_exit_2_with_a_message(tmp_path: Path, rules: Path, content: bytes, expected: str) -> None:
    analysis = tmp_path / "a.json"
    analysis.write_bytes(content)
    for command in ("evaluate", "explain"):
        result = run("rules", command, rules, analysis)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
        assert "Traceback" not in result.stderr
        assert "NaN" not in result.stdout


def test_explain_prints_hostile_text_literally(tmp_path: Path) -> None:
    # GIVEN labels and OCR text carrying console markup and terminal escape sequences
    rules = tmp_path / "r.yaml"
    rules.write_text(ALL, "utf-8")
    analysis = tmp_path / "a.json"
    analysis.write_text(json.dumps({
        "labels": {"Labels": [{"Name": "Dog[/]", "Confidence": 99.0}]},
        "moderation": {"ModerationLabels": [{"Name": "[bold red]x[/]", "Confidence": 99.0}]},
        "text": {"TextDetections": [
            {"DetectedText": "ID \x1b[2J\x1b]0;pwned\x07[/] [link=http://x]y[/link]\nline", "Type": "LINE", "Confidence": 99.0},
            {"DetectedText": "ID [/]", "Type": "LINE", "Confidence": 10.0},
        ]},
    }), "utf-8")

    # WHEN explained and evaluated
    explained = run("rules", "explain", rules, analysis)
    evaluated = run("rules", "evaluate", rules, analysis)

    # THEN no crash, markup shown as text, no escape sequence reaches the terminal
    assert explained.returncode == 0, explained.stderr
    assert "[bold red]x[/]" in explained.stdout
    assert "\x1b" not in explained.stdout and "\x07" not in explained.stdout
    assert evaluated.returncode == 0
    assert json.loads(evaluated.stdout)["matches"][-1]["evidence"][0]["match"] == "ID"


def test_validate_prints_label_warnings_and_exits_0(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - {name: d, type: label_match, labels: [Dgo], outcome: success}\n", "utf-8")
    result = run("rules", "validate", rules)
    assert result.returncode == 0
    assert f"{rules}:3: rules[0].labels[0]: warning: 'Dgo' is not among" in result.stderr
    assert "did you mean 'Dog'?" in result.stderr


def test_validate_hints_to_quote_yaml_booleans(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - {name: on, type: label_match, labels: [Dog], outcome: success}\n", "utf-8")
    result = run("rules", "validate", rules)
    assert result.returncode == 2
    assert "quote it ('on')" in result.stderr


def test_validate_rejects_a_redos_pattern_re2_cannot_bound(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - {name: t, type: text_detection, pattern: '(a+)\\1', outcome: tag}\n", "utf-8")
    result = run("rules", "validate", rules)
    assert result.returncode == 2
    assert "no backreferences" in result.stderr
