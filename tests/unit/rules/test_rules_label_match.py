"""``label_match``: names and aliases, any case, thresholds, ``match: all``, ``min_instances``."""

from __future__ import annotations

import pytest

from rules import Analysis, EvalContext, LabelMatchRule, Needs


def label_rule(**fields):
    return {"name": "dog", "type": "label_match", "outcome": "success", **fields}


def matches(make_rules, analysis, **fields) -> bool:
    return bool(make_rules(label_rule(**fields)).evaluate(analysis).matches)


# Dog is detected at 98.52 on the dog photo; Puppy at 86.31; Leash at 72.9.
@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(98.52, True), (98.5199, True), (98.5201, False), (98.53, False), (0, True)],
)
def test_rule_threshold_is_inclusive(make_rules, scenario, threshold, expected):
    assert matches(make_rules, scenario("dog"), labels=["Dog"], min_confidence=threshold) is expected


@pytest.mark.parametrize(("file_threshold", "expected"), [(86.31, True), (86.32, False)])
def test_file_threshold_applies_when_the_rule_sets_none(make_rules, scenario, file_threshold, expected):
    # GIVEN a rule without its own min_confidence
    rs = make_rules(label_rule(labels=["Puppy"]), min_confidence=file_threshold)

    # THEN the file-level min_confidence is the threshold
    assert bool(rs.evaluate(scenario("dog")).matches) is expected


def test_default_threshold_is_80(make_rules, scenario):
    # GIVEN neither the file nor the rule sets a threshold; Leash is at 72.9, Puppy at 86.31
    analysis = scenario("dog")

    assert not matches(make_rules, analysis, labels=["Leash"])
    assert matches(make_rules, analysis, labels=["Puppy"])


def test_rule_threshold_overrides_the_file_threshold(make_rules, scenario):
    rs = make_rules(label_rule(labels=["Leash"], min_confidence=70), min_confidence=95)

    assert rs.evaluate(scenario("dog")).matches


@pytest.mark.parametrize("wanted", ["Dog", "dog", "DOG", "dOg"])
def test_names_match_in_any_case(make_rules, scenario, wanted):
    assert matches(make_rules, scenario("dog"), labels=[wanted])


@pytest.mark.parametrize(
    ("scene", "wanted", "label"),
    [("dog", "Human", "Person"), ("cat", "kitty", "Cat"), ("cat", "SOFA", "Couch"), ("beach", "ocean", "Sea")],
)
def test_aliases_match_and_evidence_names_the_detected_label(make_rules, scenario, scene, wanted, label):
    # WHEN a rule names an alias of a detected label
    decision = make_rules(label_rule(labels=[wanted])).evaluate(scenario(scene))

    # THEN it matches, and the evidence shows the label Rekognition reported
    assert [e["label"] for e in decision.matches[0].evidence] == [label]


def test_parents_are_not_names(make_rules, scenario):
    # GIVEN the beach photo: "Shoreline" appears only as a parent of "Beach", never as a label
    analysis = scenario("beach")

    assert not matches(make_rules, analysis, labels=["Shoreline"])
    assert matches(make_rules, analysis, labels=["Beach"])


def test_an_absent_label_does_not_match(make_rules, scenario):
    assert not matches(make_rules, scenario("dog"), labels=["Zebra"])


def test_match_any_needs_one_label(make_rules, scenario):
    assert matches(make_rules, scenario("dog"), labels=["Cat", "Zebra", "Dog"])


def test_match_all_needs_every_label(make_rules, scenario):
    analysis = scenario("dog")

    assert matches(make_rules, analysis, labels=["Dog", "Grass", "human"], match="all")
    assert not matches(make_rules, analysis, labels=["Dog", "Cat"], match="all")


def test_match_all_fails_when_one_label_is_below_the_threshold(make_rules, scenario):
    # GIVEN Dog at 98.52 and Puppy at 86.31
    analysis = scenario("dog")

    # THEN a threshold between them breaks "all"
    assert matches(make_rules, analysis, labels=["Dog", "Puppy"], match="all", min_confidence=86.31)
    assert not matches(make_rules, analysis, labels=["Dog", "Puppy"], match="all", min_confidence=90)


def test_match_all_evidence_lists_every_label(make_rules, scenario):
    decision = make_rules(label_rule(labels=["Dog", "Grass"], match="all")).evaluate(scenario("dog"))

    assert [e["label"] for e in decision.matches[0].evidence] == ["Dog", "Grass"]


# Dog has two instances, at 98.52 and 91.07.
@pytest.mark.parametrize(
    ("min_instances", "threshold", "expected"),
    [(1, 80, True), (2, 80, True), (2, 91.07, True), (2, 91.08, False), (1, 91.08, True), (3, 80, False)],
)
def test_min_instances_counts_boxes_at_the_threshold(make_rules, scenario, min_instances, threshold, expected):
    analysis = scenario("dog")

    got = matches(make_rules, analysis, labels=["Dog"], min_instances=min_instances, min_confidence=threshold)

    assert got is expected


def test_min_instances_on_a_label_without_boxes_never_matches(make_rules, scenario):
    # GIVEN "Animal" is detected at 98.52 but Rekognition gives no boxes for it
    assert not matches(make_rules, scenario("dog"), labels=["Animal"], min_instances=1)
    assert matches(make_rules, scenario("dog"), labels=["Animal"])


def test_min_instances_evidence_reports_the_count(make_rules, scenario):
    decision = make_rules(label_rule(labels=["Dog"], min_instances=2)).evaluate(scenario("dog"))

    assert decision.matches[0].evidence == ({"label": "Dog", "confidence": 98.52, "instances": 2},)


def test_min_instances_works_through_an_alias(make_rules, scenario):
    # GIVEN the beach photo: Person (alias Human) with boxes at 99.1, 97.3 and 64.2
    analysis = scenario("beach")

    assert matches(make_rules, analysis, labels=["human"], min_instances=2)
    assert not matches(make_rules, analysis, labels=["human"], min_instances=3)
    assert matches(make_rules, analysis, labels=["human"], min_instances=3, min_confidence=64.2)


def test_empty_labels_response_matches_nothing(make_rules, scenario):
    analysis = scenario("empty")

    assert not matches(make_rules, analysis, labels=["Dog"])
    assert not matches(make_rules, analysis, labels=["Dog"], min_confidence=0)


def test_rule_used_directly_as_a_plugin_would():
    # GIVEN a rule built in Python, not from YAML
    rule = LabelMatchRule(name="dog", outcome="success", labels=["Dog"])
    analysis = Analysis.from_responses(labels={"Labels": [{"Name": "Dog", "Confidence": 80.0}]})

    # THEN it declares what it needs and judges with the context's threshold
    assert rule.needs() == Needs(labels=frozenset({"GENERAL_LABELS"}))
    assert rule.evaluate(analysis, EvalContext(min_confidence=80.0)).matched
    assert not rule.evaluate(analysis, EvalContext(min_confidence=80.01)).matched


def test_dog_without_boxes_fails_min_instances_only(make_rules, response):
    # GIVEN the dog photo's response with the Dog boxes removed (one thing broken)
    raw = response("labels", "dog")
    dog = next(label for label in raw["Labels"] if label["Name"] == "Dog")
    dog["Instances"] = []
    analysis = Analysis.from_responses(labels=raw)

    # THEN the label still matches, but not with a minimum number of instances
    assert matches(make_rules, analysis, labels=["Dog"])
    assert not matches(make_rules, analysis, labels=["Dog"], min_instances=1)
