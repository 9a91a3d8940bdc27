"""Call planning: economical order, skips that cannot change the verdict, tag rules kept."""

from __future__ import annotations

from typing import Any

import pytest

from rules import load_ruleset
from rules.errors import RulesValidationError
from rules.features import Needs
from rules.loader import parse_ruleset
from rules.planning import CallPlan, needs_for, order, run_plan
from rules.testing import responses
from tests.support.paths import ROOT

MODERATION = ROOT / "rules" / "presets" / "content-moderation.yaml"
PRODUCTS = ROOT / "rules" / "presets" / "product-tagging.yaml"


def fetcher(doc: dict[str, Any]) -> tuple[Any, list[str]]:
    called: list[str] = []

    def fetch(name: str, needs: Needs) -> Any:
        called.append(name)
        return doc[name]

    return fetch, called


def test_the_rules_file_chooses_the_plan() -> None:
    base = "version: 1\n{calls}rules:\n  - {{name: a, type: label_match, labels: [Dog], outcome: success}}\n"
    assert parse_ruleset(base.format(calls="")).calls == "complete"
    assert parse_ruleset(base.format(calls="calls: economical\n")).calls == "economical"
    with pytest.raises(RulesValidationError, match=r"x\.yaml:2: calls: .*'complete' or 'economical'"):
        parse_ruleset(base.format(calls="calls: cheap\n"), "x.yaml")


def test_order_is_cheapest_decision_first() -> None:
    assert order(load_ruleset(MODERATION)) == ["moderation", "text", "faces"]
    assert order(load_ruleset(PRODUCTS)) == ["moderation", "labels", "text"]
    assert order(load_ruleset(MODERATION), {"text": 2.0}) == ["moderation", "faces", "text"]


def test_needs_for_one_analysis() -> None:
    needs = Needs(labels=frozenset({"GENERAL_LABELS", "IMAGE_PROPERTIES"}), text=True,
                  extra=frozenset({"faces"}))
    assert needs_for(needs, "labels") == Needs(labels=needs.labels)
    assert needs_for(needs, "faces") == Needs(extra=frozenset({"faces"}))
    assert needs_for(needs, "moderation") == Needs(moderation=True)


def test_a_deciding_failure_skips_what_cannot_change_it() -> None:
    # GIVEN an explicit image under the content-moderation preset
    ruleset = load_ruleset(MODERATION)
    fetch, called = fetcher(responses(moderation={"Explicit": 95}, text=["you idiot"], faces=[{"age": [6, 9]}]))
    # WHEN it is analysed economically
    run = run_plan(ruleset, fetch, CallPlan.ECONOMICAL)
    # THEN only moderation was called; text and faces were skipped, each with its reason
    assert called == ["moderation"]
    assert set(run.skipped) == {"text", "faces"}
    assert "verdict already failure (rule 'explicit')" in run.skipped["faces"]
    assert "(minor) cannot change it" in run.skipped["faces"]
    assert run.decision is not None and run.decision.verdict == "failure"
    assert run.decision.categories == ["explicit"] and run.decision.features == ["moderation"]


def test_a_review_skips_analyses_that_can_only_review() -> None:
    ruleset = load_ruleset(MODERATION)
    fetch, called = fetcher(responses(moderation={"Swimwear or Underwear": 90}, faces=[{"age": [6, 9]}]))
    run = run_plan(ruleset, fetch)
    assert called == ["moderation"] and run.decision is not None and run.decision.verdict == "review"


def test_a_clean_image_gets_every_call_and_the_complete_verdict() -> None:
    ruleset = load_ruleset(MODERATION)
    doc = responses(moderation={}, text=["hello"], faces=[{"age": [6, 9]}])
    fetch, called = fetcher(doc)
    run = run_plan(ruleset, fetch)
    assert called == ["moderation", "text", "faces"] and run.skipped == {}
    complete = run_plan(ruleset, fetcher(doc)[0], CallPlan.COMPLETE)
    assert run.decision == complete.decision


def test_an_analysis_a_tag_rule_needs_is_never_skipped() -> None:
    # product-tagging: text has a tag rule (has-barcode-text), labels has none
    ruleset = load_ruleset(PRODUCTS)
    fetch, called = fetcher(responses(labels={"Shoe": 99}, moderation={"Explicit": 95}, text=["4006381333931"]))
    run = run_plan(ruleset, fetch)
    assert called == ["moderation", "text"]
    assert list(run.skipped) == ["labels"]
    assert run.decision is not None and run.decision.verdict == "failure"


def test_complete_plan_calls_in_canonical_order() -> None:
    ruleset = load_ruleset(MODERATION)
    fetch, called = fetcher(responses(moderation={"Explicit": 95}, text=[], faces=[]))
    run = run_plan(ruleset, fetch, CallPlan.COMPLETE)
    assert called == ["moderation", "text", "faces"] and run.skipped == {}


def test_a_stored_analysis_of_an_economical_run_is_judged_without_its_skipped_calls() -> None:
    from rules.planning import analysis_of, judge_stored

    preset = MODERATION.read_text()
    economical = parse_ruleset(preset.replace("rules:\n", "calls: economical\nrules:\n", 1))
    complete = load_ruleset(MODERATION)
    explicit = {"ModerationLabels": [{"Name": "Explicit", "Confidence": 97.0, "ParentName": ""}]}
    # GIVEN what an economical run stored for an explicit image: moderation only
    stored = analysis_of({"moderation": explicit})
    # THEN economical rules decide without text and faces (their review rules cannot beat failure)
    judged = judge_stored(economical, stored)
    assert judged.decision is not None and judged.decision.verdict.value == "failure"
    assert set(judged.skipped) == {"text", "faces"} and judged.lacking == ()
    assert judged.skipped["faces"].startswith("verdict already failure (rule 'explicit')")
    # AND rules where a missing analysis could still change the verdict cannot decide
    text_fails = parse_ruleset(preset.replace("rules:\n", "calls: economical\nrules:\n", 1)
                               .replace("    detection_type: WORD\n    outcome: review",
                                        "    detection_type: WORD\n    outcome: failure")
                               .replace("    min_confidence: 70\n    outcome: failure",
                                        "    min_confidence: 70\n    outcome: review", 1))
    assert text_fails.rules[0].name == "explicit" and text_fails.rules[0].outcome.value == "review"
    undecided = judge_stored(text_fails, stored)
    assert undecided.decision is None and set(undecided.lacking) == {"text", "faces"}
    # AND nothing matched yet decides nothing either; a complete plan never does without a call
    assert judge_stored(economical, analysis_of({"moderation": {"ModerationLabels": []}})).decision is None
    assert judge_stored(complete, stored).lacking == ("text", "faces")
    # AND a complete analysis is simply evaluated
    full = analysis_of({"moderation": explicit, "text": {"TextDetections": []},
                        "faces": {"FaceDetails": []}})
    whole = judge_stored(complete, full)
    assert whole.decision == complete.evaluate(full) and whole.skipped == {}
