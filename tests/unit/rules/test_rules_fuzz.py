"""Fuzzing the engine's untrusted inputs (issue 12): the rules loader, the analysis parser and
evaluation. Any input gives a result or a clear, located error (``RulesValidationError``,
``AnalysisError``), never another exception, within a time budget per example (hypothesis'
``deadline``) and a memory budget (the process' peak RSS may grow at most MEMORY_BUDGET per test).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import Analysis, Ruleset, RulesValidationError, load_ruleset, parse_ruleset
from rules.errors import AnalysisError

ROOT = Path(__file__).resolve().parents[3]
PRESETS = sorted((ROOT / "rules" / "presets").glob("*.yaml"))
BUDGET = settings(
    deadline=timedelta(seconds=5),  # generous on 2 shared cores; a hang or blow-up is far beyond
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MEMORY_BUDGET = 200 * 1024 * 1024

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["on", "NO", "Dog", "LINE", "WORD", "Explicit", "(a+)+$", "[/]", "\x1b[31m", "\udc80"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.sampled_from(
                ["Name", "Confidence", "Labels", "Instances", "Parents", "Aliases", "Categories",
                 "ModerationLabels", "ParentName", "TaxonomyLevel", "TextDetections", "DetectedText",
                 "Type", "Id", "ParentId", "Geometry", "BoundingBox", "ImageProperties", "Quality"])),
            inner, max_size=5,
        ),
    ),
    max_leaves=40,
)


@pytest.fixture(autouse=True)
def memory_budget() -> Iterator[None]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    yield
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert after - before < MEMORY_BUDGET, f"peak RSS grew by {(after - before) / 2**20:.0f} MB"


def _load(text: str) -> Ruleset | None:
    try:
        return parse_ruleset(text, "fuzz.yaml")
    except RulesValidationError as exc:
        assert exc.issues, "an error without issues"
        for issue in exc.issues:
            assert issue.file == "fuzz.yaml" and issue.line >= 1 and issue.message
        return None


@BUDGET
@given(st.text(max_size=400))
def test_any_text_is_a_ruleset_or_located_errors(text: str) -> None:
    _load(text)


@BUDGET
@given(st.binary(max_size=300))
def test_any_bytes_on_disk_are_a_ruleset_or_located_errors(data: bytes) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".yaml") as fh:
        fh.write(data)
        fh.flush()
        try:
            load_ruleset(fh.name)
        except RulesValidationError as exc:
            assert all(i.line >= 1 for i in exc.issues)


rule_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": json_like, "type": st.sampled_from(["label_match", "moderation", "text_detection", "nope"]),
        "labels": json_like, "categories": json_like, "pattern": json_like, "words": json_like,
        "match": json_like, "min_confidence": json_like, "min_instances": json_like,
        "outcome": st.sampled_from(["success", "failure", "review", "tag", "keep"]),
        "detection_type": json_like, "category": json_like,
    },
)


@BUDGET
@given(st.lists(rule_fields, min_size=0, max_size=4), json_like)
def test_structured_rules_are_a_ruleset_or_located_errors(rules: list[Any], extra: Any) -> None:
    doc = {"version": 1, "rules": rules, "min_confidence": extra}
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, UnicodeEncodeError):
        return
    _load(text)


@BUDGET
@given(st.sampled_from(PRESETS), st.data())
def test_mutated_presets_are_a_ruleset_or_located_errors(path: Path, data: st.DataObject) -> None:
    text = path.read_text("utf-8")
    position = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n  ", "'", '"', "!!python/object ", "<<: *a\n", "\t", "#", "?", "\x00"]))
    cut = data.draw(st.integers(0, 3))
    _load(text[:position] + insert + text[position + cut :])


analyses = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.one_of(json_like, st.fixed_dictionaries({"Labels": st.lists(json_like, max_size=4)})),
        "moderation": st.one_of(json_like, st.fixed_dictionaries({"ModerationLabels": st.lists(json_like, max_size=4)})),
        "text": st.one_of(json_like, st.fixed_dictionaries({"TextDetections": st.lists(json_like, max_size=4)})),
    },
)
ALL_RULES = parse_ruleset(
    "version: 1\nrules:\n"
    "  - {name: a, type: label_match, labels: [Dog, Cat], match: all, min_instances: 1, outcome: failure}\n"
    "  - {name: b, type: moderation, categories: [Explicit, Violence], outcome: review}\n"
    "  - {name: c, type: text_detection, pattern: '(a+)+$', detection_type: LINE, outcome: tag}\n"
    "  - {name: d, type: text_detection, words: [total, 'İd'], match: any, detection_type: WORD, outcome: success}\n"
)


@BUDGET
@given(analyses)
def test_any_analysis_is_a_decision_or_a_located_error(data: dict[str, Any]) -> None:
    try:
        analysis = Analysis.from_mapping(data)
    except AnalysisError as exc:
        assert str(exc)
        return
    decision = ALL_RULES.evaluate(analysis) if not ALL_RULES.missing(analysis) else None
    explained = ALL_RULES.explain(analysis) if decision else []
    # the output is strict JSON (no NaN) and encodable as UTF-8 (no lone surrogates)
    out = {"d": decision.to_dict() if decision else None, "e": [e.to_dict() for e in explained]}
    json.dumps(out, allow_nan=False, ensure_ascii=False).encode("utf-8")


@BUDGET
@given(json_like)
def test_any_json_value_as_an_analysis(value: Any) -> None:
    with contextlib.suppress(AnalysisError):
        Analysis.from_mapping(value)
