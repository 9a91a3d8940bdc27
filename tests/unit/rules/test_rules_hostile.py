"""Issue 12: hostile or careless rules files and analyses get a defined outcome.

Severe case 2 (a ReDoS reaching the Lambda) and the classes "non-finite numbers", "YAML and JSON
limits" and "silent rule semantics". Evaluation time is never asserted against the clock; the
ReDoS test only guards against a hang (a backtracking engine would need ~2**1000 steps).
"""

from __future__ import annotations

import math
import threading
import tracemalloc
from typing import Any

import pytest

from rules import Analysis, RulesValidationError, parse_ruleset
from rules.errors import AnalysisError
from rules.loader import MAX_DEPTH, MAX_NODES, MAX_RULES_BYTES
from rules.patterns import SYNTAX_NOTE, compile_pattern


def text_rules(pattern: str) -> str:
    escaped = pattern.replace("'", "''")
    return (
        "version: 1\nrules:\n"
        f"  - {{name: t, type: text_detection, pattern: '{escaped}', outcome: review, min_confidence: 0}}\n"
    )


def text_analysis(*lines: str) -> Analysis:
    return Analysis.from_responses(
        text={"TextDetections": [{"DetectedText": t, "Type": "LINE", "Confidence": 99.0} for t in lines]}
    )


def errors_of(text: str) -> list[str]:
    with pytest.raises(RulesValidationError) as caught:
        parse_ruleset(text, "r.yaml")
    return [str(issue) for issue in caught.value.issues]


# -- severe case 2: regular-expression denial of service ----------------------------------------


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)*$", r"^(\w+\s?)*$", r"(a|a?)+$", r"(.*a){12}$"])
def test_nested_quantifiers_on_hostile_ocr_text_finish(pattern: str) -> None:
    # GIVEN a pattern that backtracks exponentially, and 100 lines of 1,000 hostile characters
    ruleset = parse_ruleset(text_rules(pattern))
    analysis = text_analysis(*["a" * 999 + "!"] * 100)
    done: list[Any] = []

    # WHEN evaluated (in a watchdog thread: a regression would hang, not fail)
    worker = threading.Thread(target=lambda: done.append(ruleset.evaluate(analysis)), daemon=True)
    worker.start()
    worker.join(120)

    # THEN it finished (RE2 is linear in the text)
    assert done, f"{pattern} did not finish: text patterns must run in linear time"


def test_patterns_run_on_re2_with_python_like_results() -> None:
    ruleset = parse_ruleset(text_rules(r"SN-\d{6}"))
    decision = ruleset.evaluate(text_analysis("label SN-123456 ok"))
    assert decision.matches[0].evidence[0]["match"] == "SN-123456"
    assert compile_pattern("(?i)é+").search("xxÉé") is not None
    # lone surrogates (possible in JSON text) are replaced, not a crash
    assert compile_pattern("a").search("\udc80a") is not None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"(a)\1", "invalid escape sequence"), (r"(?<=a)b", "invalid perl operator"), (r"(?=a)", "")],
)
def test_patterns_re2_cannot_run_are_rejected_with_the_syntax_note(pattern: str, why: str) -> None:
    [message] = errors_of(text_rules(pattern))
    assert "rules[0].pattern: regular expression not supported" in message
    assert why in message
    assert SYNTAX_NOTE in message


def test_invalid_regex_is_still_an_invalid_regex() -> None:
    [message] = errors_of(text_rules("(unclosed"))
    assert "invalid regular expression" in message and "not supported" not in message


def test_pattern_too_large_for_re2_is_rejected() -> None:
    [message] = errors_of(text_rules("((a{100}){100}){100}"))
    assert "rules[0].pattern" in message


# -- non-finite numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("key", "response"),
    [
        ("labels", lambda v: {"Labels": [{"Name": "Dog", "Confidence": v}]}),
        ("labels", lambda v: {"Labels": [{"Name": "Dog", "Confidence": 99, "Instances": [{"Confidence": v}]}]}),
        ("moderation", lambda v: {"ModerationLabels": [{"Name": "Explicit", "Confidence": v}]}),
        ("text", lambda v: {"TextDetections": [{"DetectedText": "x", "Type": "LINE", "Confidence": v}]}),
        ("labels", lambda v: {"Labels": [], "ImageProperties": {"Quality": {"Brightness": v}}}),
    ],
)
def test_non_finite_numbers_are_refused_with_their_path(key: str, response: Any, value: float) -> None:
    with pytest.raises(AnalysisError, match=r"expected a finite number") as caught:
        Analysis.from_mapping({key: response(value)})
    assert caught.value.path.startswith(key + ".")


def test_nan_never_makes_a_rule_match() -> None:
    ruleset = parse_ruleset(
        "version: 1\nrules:\n  - {name: d, type: label_match, labels: [Dog], outcome: failure}\n"
    )
    with pytest.raises(AnalysisError):
        ruleset.evaluate(Analysis.from_mapping({"labels": {"Labels": [{"Name": "Dog", "Confidence": math.nan}]}}))


def test_huge_integer_confidence_is_refused() -> None:
    with pytest.raises(AnalysisError, match="number too large"):
        Analysis.from_mapping({"labels": {"Labels": [{"Name": "Dog", "Confidence": 10**400}]}})


# -- wrong types in an analysis: a message with the field path ------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"labels": {"Labels": {"Name": "Dog"}}}, "labels.Labels: expected a list, got an object"),
        ({"labels": {"Labels": ["Dog"]}}, "labels.Labels[0]: expected an object, got a string"),
        ({"labels": {"Labels": [{"Name": 3}]}}, "labels.Labels[0].Name: expected a string, got a number"),
        ({"labels": {"Labels": [{"Name": "Dog", "Confidence": "99"}]}}, "labels.Labels[0].Confidence: expected a number"),
        ({"labels": {"Labels": [{"Name": "Dog", "Confidence": True}]}}, "expected a number, got a boolean"),
        ({"labels": {"Labels": [{"Name": "Dog", "Parents": [1]}]}}, "labels.Labels[0].Parents[0]: expected an object"),
        ({"text": {"TextDetections": [{"DetectedText": "x", "Id": "1"}]}}, "text.TextDetections[0].Id: expected an integer"),
        ({"moderation": []}, "moderation: expected an object, got a list"),
        ({"labels": None}, "labels: is null; give the DetectLabels response"),
        ({"text": None}, "text: is null; give the DetectText response"),
    ],
)
def test_wrong_types_name_the_field(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(AnalysisError) as caught:
        Analysis.from_mapping(data)
    assert expected in str(caught.value)


# -- YAML limits ------------------------------------------------------------------------------------


def test_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    lines.append("rules: *a11")  # 9**12 values once expanded
    tracemalloc.start()
    try:
        [message] = errors_of("\n".join(lines))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"expands to more than {MAX_NODES} values through aliases" in message
    assert peak < 50 * 1024 * 1024


def test_aliases_that_stay_small_are_fine() -> None:
    parse_ruleset(
        "version: 1\nrules:\n"
        "  - {name: a, type: label_match, labels: &l [Dog], outcome: success}\n"
        "  - {name: b, type: label_match, labels: *l, outcome: tag}\n"
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 5000])
def test_deep_nesting_is_a_located_error_not_a_recursion_error(depth: int) -> None:
    [message] = errors_of("version: 1\nrules: " + "[" * depth + "]" * depth + "\n")
    assert message == f"r.yaml:2: refused: nested deeper than {MAX_DEPTH} levels"


def test_block_style_deep_nesting_too() -> None:
    text = "version: 1\nrules:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    [message] = errors_of(text)
    assert "nested deeper than" in message


def test_oversized_file_is_refused() -> None:
    text = "version: 1\n# " + "x" * MAX_RULES_BYTES + "\nrules: []\n"
    [message] = errors_of(text)
    assert "larger than" in message


def test_oversized_file_on_disk_is_refused_without_reading_it_all(tmp_path: Any) -> None:
    from rules import load_ruleset

    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_RULES_BYTES + 10))
    with pytest.raises(RulesValidationError, match="larger than"):
        load_ruleset(path)


def test_huge_values_in_messages_are_shortened() -> None:
    text = "version: 1\nrules:\n  - " + "x" * 100_000 + "\n"
    [message] = errors_of(text)
    assert len(message) < 400


# -- silent rule semantics ---------------------------------------------------------------------------


def test_pattern_spaces_are_kept() -> None:
    ruleset = parse_ruleset(text_rules("ID "))
    assert ruleset.rules[0].pattern == "ID "  # type: ignore[attr-defined]
    assert ruleset.evaluate(text_analysis("IDENTITY")).matches == []
    assert ruleset.evaluate(text_analysis("MY ID CARD")).matches


def test_names_differing_only_by_whitespace_are_duplicates() -> None:
    messages = errors_of(
        "version: 1\nrules:\n"
        "  - {name: dog, type: label_match, labels: [Dog], outcome: success}\n"
        "  - {name: 'dog ', type: label_match, labels: [Dog], outcome: tag}\n"
    )
    assert messages == ["r.yaml:4: rules[1].name: duplicate rule name 'dog' (first used at line 3)"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("D\u043eg", "U+043E CYRILLIC SMALL LETTER O"),
        ("Dgo", "did you mean 'Dog'?"),
        ("Moblie Phone", "did you mean 'Mobile Phone'?"),
        ("Cat\u200b", "U+200B ZERO WIDTH SPACE"),
    ],
)
def test_label_names_that_cannot_match_warn(label: str, expected: str) -> None:
    ruleset = parse_ruleset(
        "version: 1\nrules:\n"
        f"  - {{name: d, type: label_match, labels: [Cat, '{label}'], outcome: success}}\n",
        "r.yaml",
    )
    [warning] = [str(w) for w in ruleset.warnings]
    assert warning.startswith("r.yaml:3: rules[0].labels[1]: warning: ")
    assert expected in warning


def test_known_and_unknown_but_plausible_labels_do_not_warn() -> None:
    ruleset = parse_ruleset(
        "version: 1\nrules:\n"
        "  - {name: d, type: label_match, labels: [Dog, dog, Mobile Phone, Hoodie], outcome: success}\n"
    )
    assert ruleset.warnings == ()


@pytest.mark.parametrize("word", ["on", "NO", "yes", "Off", "true"])
def test_yaml_booleans_where_a_name_was_meant_get_a_quoting_hint(word: str) -> None:
    messages = errors_of(
        "version: 1\nrules:\n"
        f"  - {{name: {word}, type: label_match, labels: [{word}], outcome: success}}\n"
    )
    assert len(messages) == 2
    for message in messages:
        assert f"YAML reads the bare word {word} as a boolean: quote it ('{word}')" in message


def test_quoted_booleans_are_names() -> None:
    parse_ruleset("version: 1\nrules:\n  - {name: 'on', type: label_match, labels: ['NO'], outcome: success}\n")


def test_patterns_with_a_huge_program_are_rejected_as_too_complex() -> None:
    [message] = errors_of(text_rules(r"^([^x]*?a){1000}$"))
    assert "too complex" in message and "limit is 5000" in message
