"""Ruleset: verdict precedence, categories, needed analyses, missing analyses, explanations."""

from __future__ import annotations

import json

import pytest

from rules import Analysis, Decision, Match, MissingAnalysisError, Verdict, decide


def hit(name, outcome, category=None):
    """A rule that matches the dog photo."""
    rule = {"name": name, "type": "label_match", "labels": ["Dog"], "outcome": outcome}
    return rule | ({"category": category} if category else {})


def miss(name, outcome, category=None):
    """A rule that does not match the dog photo."""
    return hit(name, outcome, category) | {"labels": ["Zebra"]}


@pytest.mark.parametrize(
    ("matching_outcomes", "default", "expected"),
    [
        (["success", "review", "failure"], "success", "failure"),
        (["failure", "success"], "success", "failure"),
        (["tag", "failure", "tag"], "success", "failure"),
        (["success", "review"], "failure", "review"),
        (["review", "tag"], "success", "review"),
        (["success"], "failure", "success"),
        (["success", "tag"], "review", "success"),
        (["tag"], "review", "review"),
        (["tag"], "success", "success"),
        ([], "failure", "failure"),
        ([], "review", "review"),
        ([], "success", "success"),
    ],
)
def test_verdict_precedence(make_rules, scenario, matching_outcomes, default, expected):
    # GIVEN matching rules with these outcomes, and a non-matching failure rule in between
    rules = [hit(f"r{i}", o) for i, o in enumerate(matching_outcomes)]
    rules.insert(len(rules) // 2, miss("never", "failure"))
    rs = make_rules(*rules, default_verdict=default)

    # WHEN the dog photo is judged
    decision = rs.evaluate(scenario("dog"))

    # THEN the strongest matching outcome decides; tags never do
    assert decision.verdict == Verdict(expected)
    assert [m.rule for m in decision.matches] == [r["name"] for r in rules if r["name"] != "never"]


def test_default_verdict_is_failure(make_rules, scenario):
    rs = make_rules(miss("zebra", "success"))

    assert rs.default_verdict == Verdict.FAILURE
    assert rs.evaluate(scenario("dog")).verdict == Verdict.FAILURE


def test_non_matching_rules_do_not_decide(make_rules, scenario):
    rs = make_rules(miss("a", "failure"), miss("b", "review"), hit("c", "success"))

    assert rs.evaluate(scenario("dog")).verdict == Verdict.SUCCESS


def test_tag_only_adds_a_category(make_rules, scenario):
    # GIVEN a success rule and a tag rule that both match
    rs = make_rules(hit("good-dog", "success"), hit("has-dog", "tag", category="animals"))

    decision = rs.evaluate(scenario("dog"))

    assert decision.verdict == Verdict.SUCCESS
    assert decision.categories == ["good-dog", "animals"]


def test_categories_follow_rule_order_without_duplicates(make_rules, scenario):
    # GIVEN matching rules whose categories repeat, and a non-matching rule in between
    rs = make_rules(
        hit("b-rule", "tag", category="pets"),
        hit("a-rule", "review"),
        miss("unused", "failure", category="never"),
        hit("c-rule", "success", category="pets"),
        hit("d-rule", "tag", category="a-rule"),
        hit("z", "tag"),
    )

    decision = rs.evaluate(scenario("dog"))

    assert decision.categories == ["pets", "a-rule", "z"]
    assert [m.category for m in decision.matches] == ["pets", "a-rule", "pets", "a-rule", "z"]


def test_decision_to_dict_is_the_evaluate_json(make_rules, scenario):
    rs = make_rules(
        hit("dog", "success"),
        {"name": "unsafe", "type": "moderation", "categories": ["Violence"], "outcome": "failure"},
    )

    data = rs.evaluate(scenario("dog")).to_dict()

    assert json.loads(json.dumps(data)) == {
        "verdict": "success",
        "categories": ["dog"],
        "matches": [
            {
                "rule": "dog",
                "type": "label_match",
                "outcome": "success",
                "category": "dog",
                "evidence": [{"label": "Dog", "confidence": 98.52}],
            }
        ],
        "features": ["labels", "moderation"],
    }


def test_decide_directly():
    matches = [Match("a", "label_match", "tag", "a"), Match("b", "label_match", "review", "b")]

    assert decide(matches, Verdict.SUCCESS) == Verdict.REVIEW
    assert decide([], Verdict.REVIEW) == Verdict.REVIEW
    assert decide(matches[:1], Verdict.FAILURE) == Verdict.FAILURE


# -- needs ------------------------------------------------------------------------------------

LABEL = {"name": "l", "type": "label_match", "labels": ["Dog"], "outcome": "success"}
MODERATION = {"name": "m", "type": "moderation", "categories": ["Explicit"], "outcome": "failure"}
TEXT = {"name": "t", "type": "text_detection", "words": ["invoice"], "outcome": "tag"}


@pytest.mark.parametrize(
    ("rules", "features", "api_calls", "label_features"),
    [
        ([LABEL], ["labels"], ["DetectLabels"], ["GENERAL_LABELS"]),
        ([MODERATION], ["moderation"], ["DetectModerationLabels"], []),
        ([TEXT], ["text"], ["DetectText"], []),
        ([TEXT, MODERATION], ["moderation", "text"], ["DetectModerationLabels", "DetectText"], []),
        (
            [TEXT, LABEL, MODERATION],
            ["labels", "moderation", "text"],
            ["DetectLabels", "DetectModerationLabels", "DetectText"],
            ["GENERAL_LABELS"],
        ),
    ],
)
def test_needs_is_the_union_in_canonical_order(make_rules, rules, features, api_calls, label_features):
    rules = [r | {"name": f"r{i}"} for i, r in enumerate(rules)]

    needs = make_rules(*rules).needs

    assert needs.features == features
    assert needs.api_calls == api_calls
    assert needs.label_features == label_features


def test_a_labels_only_ruleset_needs_only_general_labels(make_rules):
    needs = make_rules(LABEL, LABEL | {"name": "l2", "labels": ["Cat"], "min_instances": 2}).needs

    assert needs.api_calls == ["DetectLabels"]
    assert needs.label_features == ["GENERAL_LABELS"]
    assert not needs.moderation and not needs.text


# -- missing analyses ---------------------------------------------------------------------------


def test_missing_analysis_is_an_error_not_a_silent_verdict(make_rules, scenario):
    # GIVEN rules on labels and text, and an analysis without text
    rs = make_rules(LABEL, TEXT)
    analysis = scenario("invoice", "labels")

    # WHEN evaluated or explained
    with pytest.raises(MissingAnalysisError) as err:
        rs.evaluate(analysis)
    with pytest.raises(MissingAnalysisError):
        rs.explain(analysis)

    # THEN the error names what is missing
    assert err.value.missing == ["text"]
    assert "text" in str(err.value)


def test_every_missing_analysis_is_named(make_rules):
    rs = make_rules(LABEL, MODERATION, TEXT)

    with pytest.raises(MissingAnalysisError) as err:
        rs.evaluate(Analysis())

    assert err.value.missing == ["labels", "moderation", "text"]


def test_an_empty_response_is_not_missing(make_rules, scenario):
    rs = make_rules(LABEL, MODERATION, TEXT, default_verdict="review")

    decision = rs.evaluate(scenario("empty"))

    assert decision == Decision(verdict=Verdict.REVIEW, categories=[], matches=[], features=rs.needs.features)


def test_extra_analyses_are_ignored(make_rules, scenario):
    assert make_rules(LABEL).evaluate(scenario("dog")).verdict == Verdict.SUCCESS


# -- explain ------------------------------------------------------------------------------------


def test_explain_names_the_label_its_confidence_and_the_threshold(make_rules, scenario):
    # GIVEN Puppy detected at 86.31 and a rule asking for 90
    rs = make_rules(LABEL | {"labels": ["Puppy"], "min_confidence": 90})

    (why,) = rs.explain(scenario("dog"))

    assert not why.matched
    (reason,) = why.reasons
    assert "Puppy" in reason and "86.3" in reason and "90.0" in reason and "below" in reason


def test_explain_says_when_a_label_is_not_detected(make_rules, scenario):
    (why,) = make_rules(LABEL | {"labels": ["Zebra"]}).explain(scenario("dog"))

    assert why.reasons == ("Zebra: not detected",)


def test_explain_min_instances_and_match_all(make_rules, scenario):
    rs = make_rules(LABEL | {"labels": ["Dog", "Cat"], "match": "all", "min_instances": 3})

    (why,) = rs.explain(scenario("dog"))

    assert not why.matched
    assert any("2 instance(s)" in r and "needs 3" in r for r in why.reasons)
    assert "Cat: not detected" in why.reasons
    assert any("0 of 2" in r for r in why.reasons)


def test_explain_moderation_below_threshold_shows_path_and_numbers(make_rules, scenario):
    (why,) = make_rules(MODERATION | {"categories": ["Weapons"], "min_confidence": 70}).explain(scenario("weapon"))

    assert not why.matched
    assert "Violence > Weapons: 60.0%, below the threshold 70.0" in why.reasons


def test_explain_text_below_threshold_names_the_detection(make_rules, scenario):
    (why,) = make_rules(TEXT | {"words": ["total"], "min_confidence": 90}).explain(scenario("invoice"))

    assert not why.matched
    assert any("Total: $1,234.56" in r and "85.0" in r and "below the threshold" in r for r in why.reasons)


@pytest.mark.parametrize("scene", ["dog", "cat", "beach", "weapon", "invoice", "serial_label", "empty"])
def test_explain_agrees_with_evaluate(make_rules, scenario, scene):
    # GIVEN one rule of each type, some matching each scene
    rs = make_rules(
        LABEL | {"name": "dogs", "labels": ["dog", "Human"], "match": "all"},
        LABEL | {"name": "persons", "labels": ["Person"], "min_instances": 2},
        MODERATION | {"categories": ["Violence", "Swimwear or Underwear"]},
        {"name": "serial", "type": "text_detection", "pattern": r"SN-\d{6}", "outcome": "tag"},
        TEXT | {"name": "t2", "words": ["invoice", "total"], "match": "all", "min_confidence": 84},
    )
    analysis = scenario(scene)

    decision = rs.evaluate(analysis)
    explained = rs.explain(analysis)

    assert [e.rule for e in explained if e.matched] == [m.rule for m in decision.matches]
    assert all(e.reasons for e in explained)
    assert [e.evidence for e in explained if e.matched] == [m.evidence for m in decision.matches]
