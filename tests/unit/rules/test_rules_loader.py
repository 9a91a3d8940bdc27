"""Loading rules files: the docs/contracts.md §2 example, and errors that name file, line and field."""

from __future__ import annotations

import pytest

from rules import (
    Issue,
    LabelMatchRule,
    ModerationRule,
    RulesValidationError,
    TextDetectionRule,
    Verdict,
    build_registry,
    load_ruleset,
)

CONTRACT_EXAMPLE = """\
version: 1                 # required; must be 1
name: wildlife             # optional
default_verdict: failure   # success | failure | review
min_confidence: 80         # 0..100
rules:
  - name: dog
    type: label_match
    labels: [Dog]
    match: any
    min_confidence: 90
    min_instances: 2
    outcome: success
    category: dogs
  - name: unsafe
    type: moderation
    categories: [Explicit, Violence]
    min_confidence: 60
    outcome: failure
  - name: serial-number
    type: text_detection
    pattern: 'SN-\\d{6}'
    # words: [invoice, total]
    detection_type: LINE
    min_confidence: 85
    outcome: tag
"""


def issues_of(rules_yaml, text: str) -> list[tuple[int, str]]:
    with pytest.raises(RulesValidationError) as err:
        rules_yaml(text)
    return [(i.line, i.path) for i in err.value.issues]


def test_the_contract_example_loads(tmp_path):
    # GIVEN the example of docs/contracts.md §2 in a file
    path = tmp_path / "wildlife.yaml"
    path.write_text(CONTRACT_EXAMPLE)

    # WHEN it is loaded
    rs = load_ruleset(path)

    # THEN every setting is kept
    assert (rs.name, rs.default_verdict, rs.min_confidence, rs.source) == ("wildlife", Verdict.FAILURE, 80, str(path))
    dog, unsafe, serial = rs.rules
    assert isinstance(dog, LabelMatchRule)
    assert (dog.labels, dog.match, dog.min_confidence, dog.min_instances, dog.category) == (["Dog"], "any", 90, 2, "dogs")
    assert isinstance(unsafe, ModerationRule)
    assert (unsafe.categories, unsafe.min_confidence, unsafe.effective_category) == (["Explicit", "Violence"], 60, "unsafe")
    assert isinstance(serial, TextDetectionRule)
    assert (serial.pattern, serial.words, serial.detection_type) == (r"SN-\d{6}", None, "LINE")
    assert rs.needs.api_calls == ["DetectLabels", "DetectModerationLabels", "DetectText"]


def test_defaults(rules_yaml):
    rs = rules_yaml(
        """\
        version: 1
        rules:
          - {name: dog, type: label_match, labels: [Dog], outcome: success}
          - {name: words, type: text_detection, words: [total], outcome: tag}
        """
    )

    assert (rs.name, rs.default_verdict, rs.min_confidence) == (None, Verdict.FAILURE, 80)
    dog, words = rs.rules
    assert (dog.match, dog.min_instances, dog.min_confidence, dog.category) == ("any", None, None, None)
    assert (words.detection_type, words.match) == ("LINE", "any")


def test_a_missing_file_is_reported_with_its_name(tmp_path):
    path = tmp_path / "nope.yaml"

    with pytest.raises(RulesValidationError) as err:
        load_ruleset(path)

    (issue,) = err.value.issues
    assert issue.file == str(path) and issue.line == 1
    assert "cannot read the rules file" in issue.message


def test_issue_format_is_file_line_path_message():
    assert str(Issue("rules/dev.yaml", 12, "rules[2].min_confidence", "too high")) == (
        "rules/dev.yaml:12: rules[2].min_confidence: too high"
    )
    assert str(Issue("rules/dev.yaml", 3, "", "YAML syntax error: x")) == "rules/dev.yaml:3: YAML syntax error: x"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\nrules:\n  - name: dog\n    labels: [Dog, Cat\n    outcome: success\n", 5),
        ("version: 1\nrules:\n  - name: dog\n\ttype: label_match\n", 4),
        ("version: 1\nrules:\n  - name: 'dog\n", 4),
    ],
    ids=["unclosed-list", "tab", "unclosed-quote"],
)
def test_yaml_syntax_errors_name_the_line(rules_yaml, text, line):
    with pytest.raises(RulesValidationError) as err:
        rules_yaml(text, "bad.yaml")

    (issue,) = err.value.issues
    assert (issue.file, issue.line, issue.path) == ("bad.yaml", line, "")
    assert issue.message.startswith("YAML syntax error")


def test_duplicate_keys_at_every_level(rules_yaml):
    # GIVEN a key repeated at the top level and another inside a rule
    text = """\
        version: 1
        min_confidence: 70
        rules:
          - name: dog
            type: label_match
            labels: [Dog]
            labels: [Cat]
            outcome: success
        min_confidence: 90
        """

    with pytest.raises(RulesValidationError) as err:
        rules_yaml(text)

    assert [str(i) for i in err.value.issues] == [
        "rules.yaml:7: rules[0].labels: duplicate key (first at line 6)",
        "rules.yaml:9: min_confidence: duplicate key (first at line 2)",
    ]


def test_duplicate_rule_names(rules_yaml):
    text = """\
        version: 1
        rules:
          - {name: dog, type: label_match, labels: [Dog], outcome: success}
          - {name: cat, type: label_match, labels: [Cat], outcome: success}
          - {name: dog, type: moderation, categories: [Violence], outcome: failure}
        """

    with pytest.raises(RulesValidationError) as err:
        rules_yaml(text)

    (issue,) = err.value.issues
    assert (issue.line, issue.path) == (5, "rules[2].name")
    assert issue.message == "duplicate rule name 'dog' (first used at line 3)"


def test_unknown_rule_type_lists_every_known_type(rules_yaml):
    with pytest.raises(RulesValidationError) as err:
        rules_yaml("version: 1\nrules:\n  - {name: x, type: colour_match, outcome: tag}\n")

    (issue,) = err.value.issues
    assert (issue.line, issue.path) == (3, "rules[0].type")
    assert "unknown rule type 'colour_match'" in issue.message
    for known in ("label_match", "moderation", "text_detection"):
        assert known in issue.message


def test_several_errors_in_one_file_are_all_reported_in_line_order(rules_yaml):
    text = """\
        version: 3
        rules:
          - name: dog
            type: label_match
            labels: [Dog]
            outcome: sucess
          - name: bad name
            type: moderation
            categories: [Violence]
            outcome: failure
          - name: serial
            type: text_detection
            pattern: '[0-9'
            outcome: tag
        """

    assert issues_of(rules_yaml, text) == [
        (1, "version"),
        (6, "rules[0].outcome"),
        (7, "rules[1].name"),
        (13, "rules[2].pattern"),
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("version: 1\nmin_confidence: true\nrules:\n  - {name: a, type: label_match, labels: [Dog], outcome: success}\n", (2, "min_confidence")),
        ("version: 1\nrules:\n  - {name: a, type: label_match, labels: [Dog], outcome: success,\n     min_instances: on}\n", (4, "rules[0].min_instances")),
        ("version: 1\nrules:\n  - {name: a, type: moderation, categories: [Violence], outcome: failure,\n     min_confidence: no}\n", (4, "rules[0].min_confidence")),
    ],
    ids=["file-min_confidence", "min_instances", "rule-min_confidence"],
)
def test_yaml_booleans_are_not_numbers(rules_yaml, text, where):
    # GIVEN a number field holding a YAML boolean (yes/no/on/off/true/false)
    # THEN it is an error: True must never silently become a threshold of 1
    assert issues_of(rules_yaml, text) == [where]


def test_a_registry_without_plugins_knows_the_builtins():
    registry = build_registry(load_plugins=False)

    assert registry.names == ["custom_labels", "faces", "label_match", "moderation", "protective_equipment",
                              "text_detection"]


def test_digest_follows_the_file_text(rules_yaml):
    a = rules_yaml("version: 1\nrules: [{name: a, type: label_match, labels: [Dog], outcome: success}]\n")
    b = rules_yaml("version: 1\nrules: [{name: a, type: label_match, labels: [Dog], outcome: review}]\n")
    a2 = rules_yaml("version: 1\nrules: [{name: a, type: label_match, labels: [Dog], outcome: success}]\n")

    assert a.digest == a2.digest != b.digest
    assert len(a.digest) == 64


def test_rules_are_immutable(rules_yaml):
    rs = rules_yaml("version: 1\nrules: [{name: a, type: label_match, labels: [Dog], outcome: success}]\n")

    with pytest.raises(ValueError):
        rs.rules[0].outcome = "failure"


def test_yaml_merge_keys_share_settings_between_rules(rules_yaml):
    # GIVEN a second rule that reuses the first through a YAML anchor and overrides two keys
    text = """\
        version: 1
        rules:
          - &base
            name: dog
            type: label_match
            labels: [Dog]
            min_confidence: 90
            outcome: success
          - <<: *base
            name: cat
            labels: [Cat]
        """

    # WHEN it is loaded
    rs = rules_yaml(text)

    # THEN overriding a merged key is not a duplicate key
    assert [(r.name, r.labels, r.min_confidence, r.outcome.value) for r in rs.rules] == [
        ("dog", ["Dog"], 90, "success"),
        ("cat", ["Cat"], 90, "success"),
    ]
