"""The public test kit (rules.testing) and its pytest fixtures (issue 11 item 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import pytest

from rules import (
    Analysis,
    EvalContext,
    LabelMatchRule,
    ModerationRule,
    Needs,
    Rule,
    RuleResult,
    TextDetectionRule,
)
from rules.testing import (
    ConformanceError,
    analysis,
    assert_decision,
    check_rule_type,
    load_rules,
    responses,
)

RULES = """
version: 1
default_verdict: failure
rules:
  - {name: dog, type: label_match, labels: [Dog], outcome: success}
  - {name: pack, type: label_match, labels: [Dog], min_instances: 2, outcome: tag}
  - {name: unsafe, type: moderation, categories: [Violence], outcome: failure}
  - {name: serial, type: text_detection, pattern: 'SN-\\d{6}', outcome: tag}
  - {name: invoice, type: text_detection, words: [invoice], detection_type: WORD, outcome: tag}
"""


def test_compact_analyses_have_sane_defaults() -> None:
    a = analysis(labels=[("Dog", 97)])
    assert a.labels is not None and a.labels[0].name == "Dog" and a.labels[0].confidence == 97
    assert a.moderation == () and a.text == ()  # run, nothing found
    assert analysis(moderation=None).moderation is None  # not run
    doc = responses(labels={"Dog": 97}, quality={"sharpness": 10})
    assert doc["labels"]["ImageProperties"]["Quality"] == {"Sharpness": 10.0}
    with pytest.raises(ValueError, match="unknown quality keys"):
        responses(quality={"sharpnes": 10})


def test_the_built_ins_decide_on_compact_analyses() -> None:
    rules = load_rules(RULES, plugins=False)
    assert_decision(rules, analysis(labels=[("Dog", 97, 2)]), verdict="success", categories=["dog", "pack"])
    assert_decision(rules, analysis(labels=[("Dog", 97)], moderation=[("Graphic Violence", 90)]),
                    verdict="failure", categories=["dog", "unsafe"])
    assert_decision(rules, analysis(text=["SN-123456 invoice total"]), verdict="failure",
                    categories=["serial", "invoice"])
    assert_decision(rules, analysis(text=[("SN-123456", 50.0)]), verdict="failure", categories=[])


def test_a_failing_assertion_says_what_was_expected_and_why() -> None:
    rules = load_rules(RULES, plugins=False)
    with pytest.raises(AssertionError) as caught:
        assert_decision(rules, analysis(labels=[("Dog", 97)]), verdict="failure", categories=["cats"])
    message = str(caught.value)
    assert "expected verdict 'failure', got 'success'" in message
    assert "expected categories ['cats'], got ['dog']" in message
    assert "matched rule 'dog' (label_match) -> success, category 'dog', evidence" in message


@pytest.mark.parametrize(("cls", "example"), [
    (LabelMatchRule, {"labels": ["Dog"]}),
    (ModerationRule, {"categories": ["Explicit"]}),
    (TextDetectionRule, {"pattern": "SN-\\d+"}),
])
def test_the_built_ins_pass_the_conformance_check(cls: type[Rule], example: dict[str, Any]) -> None:
    check_rule_type(cls, examples=[example])


class _Good(Rule):
    """Always matches."""

    type: Literal["kit_good"] = "kit_good"

    def needs(self) -> Needs:
        return Needs()

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        return RuleResult(True, ({"ok": True},))


class _BadEvidence(_Good):
    """Evidence holds a set."""

    type: Literal["kit_bad_evidence"] = "kit_bad_evidence"  # type: ignore[assignment]

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        return RuleResult(True, ({"labels": {"a", "b"}},))


class _ReturnsBool(_Good):
    """Returns a bool."""

    type: Literal["kit_returns_bool"] = "kit_returns_bool"  # type: ignore[assignment]

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        return True  # type: ignore[return-value]


class _BadNeeds(_Good):
    """needs() returns a list."""

    type: Literal["kit_bad_needs"] = "kit_bad_needs"  # type: ignore[assignment]

    def needs(self) -> Needs:
        return ["labels"]  # type: ignore[return-value]


class _NoSummary(_Good):
    type: Literal["kit_no_summary"] = "kit_no_summary"  # type: ignore[assignment]
    summary: ClassVar[str] = ""


@pytest.mark.parametrize(("cls", "problem"), [
    (_BadEvidence, "evidence is not JSON-serialisable"),
    (_ReturnsBool, "evaluate() returned bool, not RuleResult"),
    (_BadNeeds, "needs() returned list, not rules.Needs"),
    (_NoSummary, "has neither a docstring nor a `summary`"),
])
def test_the_conformance_check_finds_each_broken_contract(cls: type[Rule], problem: str) -> None:
    with pytest.raises(ConformanceError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        check_rule_type(cls, examples=[{}])


def test_a_test_class_loads_in_a_ruleset_without_installation() -> None:
    check_rule_type(_Good, examples=[{}])
    rules = load_rules("version: 1\nrules:\n  - {name: g, type: kit_good, outcome: review}\n", plugins=[_Good])
    assert_decision(rules, analysis(), verdict="review", categories=["g"])


def test_the_pytest_fixtures(imgpipe_analysis: Callable[..., Any], imgpipe_rules: Callable[..., Any],
                             imgpipe_assert: Callable[..., Any], imgpipe_conformance: Callable[..., Any]) -> None:
    rules = imgpipe_rules(RULES, plugins=False)
    imgpipe_assert(rules, imgpipe_analysis(labels={"Dog": 99}), verdict="success")
    imgpipe_conformance(_Good, examples=[{}])
