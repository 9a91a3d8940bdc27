"""Custom models: Custom Labels rules and moderation adapters, as parameterised analyses."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from rules import Analysis, RulesValidationError
from rules.analyses import build_analyses, iam_grants, split_id
from rules.custom import (
    AdapterModeration,
    adapter_response,
    arn_region,
    custom_labels_response,
    project_version_arn,
)
from rules.errors import AnalysisError, MissingAnalysisError, PluginError
from rules.registry import build_registry
from rules.schema import rules_schema
from rules.testing import analysis, assert_decision, load_rules, responses

SHOES = "arn:aws:rekognition:eu-west-1:123456789012:project/shoes/version/shoes.2026-11-30/1764460800000"
BIRDS = "arn:aws:rekognition:eu-west-1:123456789012:project/birds/version/birds.v3/1764460800001"
ADAPTER = "arn:aws:rekognition:eu-west-1:123456789012:project/ugc/version/ugc.1/1764460800002"

RULES = f"""version: 1
name: catalogue
default_verdict: review
rules:
  - name: sneaker
    type: custom_labels
    project_version: {SHOES}
    labels: [Sneaker, Boot]
    outcome: success
  - name: flock
    type: custom_labels
    project_version: {BIRDS}
    labels: [Gull]
    min_instances: 3
    outcome: tag
  - name: unsafe
    type: moderation
    adapter: {ADAPTER}
    categories: [Explicit]
    outcome: failure
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(RulesValidationError) as info:
        load_rules(text)
    return [str(i) for i in info.value.issues]


def test_each_model_is_its_own_analysis_and_call() -> None:
    rules = load_rules(RULES)
    assert rules.needs.features == [f"custom_labels@{BIRDS}", f"custom_labels@{SHOES}", f"moderation_adapter@{ADAPTER}"]
    assert rules.needs.api_calls == ["DetectCustomLabels", "DetectCustomLabels", "DetectModerationLabels"]
    assert not rules.needs.moderation  # the adapter is not the base model


def test_the_bound_spec_carries_the_arn_into_the_call_and_the_grant() -> None:
    registry = build_analyses(load_plugins=False)
    spec = registry.get(f"custom_labels@{SHOES}")
    assert (spec.api, spec.method, spec.kind) == ("DetectCustomLabels", "detect_custom_labels", "custom_labels")
    assert dict(spec.params) == {"MinConfidence": 0, "ProjectVersionArn": SHOES}
    assert spec.iam_resources == (SHOES,)
    adapter = registry.get(f"moderation_adapter@{ADAPTER}")
    assert dict(adapter.params) == {"ProjectVersion": ADAPTER} and adapter.iam_resources == (ADAPTER,)
    assert split_id(f"custom_labels@{SHOES}") == ("custom_labels", SHOES)
    with pytest.raises(PluginError, match=r"needs an argument \(ProjectVersionArn\)"):
        registry.get("custom_labels")
    with pytest.raises(PluginError, match="takes no argument"):
        registry.get("faces@x")
    with pytest.raises(PluginError, match="is a project ARN"):
        registry.get("custom_labels@arn:aws:rekognition:eu-west-1:123456789012:project/shoes/1764460800000")


def test_an_analysis_name_cannot_hold_the_id_separator() -> None:
    from rules.analyses import AnalysisRegistry, AnalysisSpec

    with pytest.raises(PluginError, match="without '@'"):
        AnalysisRegistry().register(AnalysisSpec("celebs@v2", "RecognizeCelebrities", "recognize_celebrities"))


def test_iam_grants_scope_custom_models_and_let_star_win() -> None:
    ids = [f"custom_labels@{SHOES}", f"custom_labels@{BIRDS}", f"moderation_adapter@{ADAPTER}", "labels"]
    assert iam_grants(ids) == {
        "rekognition:DetectCustomLabels": tuple(sorted((SHOES, BIRDS))),
        "rekognition:DetectLabels": ("*",),
        "rekognition:DetectModerationLabels": (ADAPTER,),
    }
    # base moderation and an adapter: the base call needs "*", which also covers the adapter
    assert iam_grants([f"moderation_adapter@{ADAPTER}", "moderation"]) == {"rekognition:DetectModerationLabels": ("*",)}


def test_custom_labels_decide_with_their_own_threshold_and_instances() -> None:
    rules = load_rules(RULES)
    image = analysis(
        custom_labels={SHOES: {"sneaker": [91, 70]}, BIRDS: {"Gull": [95, 90, 85]}},
        adapters={ADAPTER: {}},
    )
    decision = assert_decision(rules, image, verdict="success", categories=["sneaker", "flock"])
    assert decision.matches[0].evidence == ({"label": "sneaker", "confidence": 91.0},)
    assert decision.matches[1].evidence == ({"label": "Gull", "confidence": 95.0, "instances": 3},)
    # two gulls are not a flock; a boot at 70 is below the file's 80
    fewer = analysis(custom_labels={SHOES: {"Boot": 70}, BIRDS: {"Gull": [95, 90]}}, adapters={ADAPTER: {}})
    assert_decision(rules, fewer, verdict="review", categories=[])
    reasons = {e.rule: e.reasons for e in rules.explain(fewer)}
    assert "Boot: only at 70.0%, below the threshold 80.0" in reasons["sneaker"]
    assert "Sneaker: not found by the model" in reasons["sneaker"]
    assert "Gull: 2 at >= 80.0, needs 3" in reasons["flock"]


def test_match_all_and_any_class_of_the_model() -> None:
    rules = load_rules(f"""version: 1
default_verdict: review
rules:
  - {{name: pair, type: custom_labels, project_version: {SHOES}, labels: [Left, Right], match: all, outcome: success}}
  - {{name: anything, type: custom_labels, project_version: {SHOES}, min_confidence: 50, outcome: tag}}
""")
    both = analysis(custom_labels={SHOES: {"LEFT": 90, "right": 88}})
    assert_decision(rules, both, verdict="success", categories=["pair", "anything"])
    one = analysis(custom_labels={SHOES: {"Left": 90, "Lace": 55}})
    decision = assert_decision(rules, one, verdict="review", categories=["anything"])
    assert [e["label"] for e in decision.matches[0].evidence] == ["Left", "Lace"]
    assert_decision(rules, analysis(custom_labels={SHOES: {}}), verdict="review", categories=[])


def test_a_missing_model_analysis_is_reported_by_its_id() -> None:
    rules = load_rules(RULES)
    with pytest.raises(MissingAnalysisError, match=f"custom_labels@{BIRDS}"):
        rules.evaluate(analysis(custom_labels={SHOES: {}}, adapters={ADAPTER: {}}))
    # with needs=, the kit fills every model left out as "run, nothing found"
    assert_decision(rules, analysis(needs=rules.needs), verdict="review", categories=[])


def test_the_adapter_answers_moderation_rules_instead_of_the_base_model() -> None:
    rules = load_rules(RULES)
    # the base model's labels are not read by an adapter rule
    image = analysis(moderation={"Explicit": 99}, custom_labels={SHOES: {}, BIRDS: {}},
                     adapters={ADAPTER: {"Exposed Female Genitalia": 93}})
    decision = assert_decision(rules, image, verdict="failure", categories=["unsafe"])
    # the documented taxonomy places the level-3 label under Explicit
    assert decision.matches[0].evidence[0]["path"] == "Explicit > Explicit Nudity > Exposed Female Genitalia"
    clean = analysis(moderation={"Explicit": 99}, custom_labels={SHOES: {}, BIRDS: {}}, adapters={ADAPTER: {}})
    assert_decision(rules, clean, verdict="review", categories=[])


def test_an_expired_adapter_is_said_in_the_explanation() -> None:
    doc = responses(custom_labels={SHOES: {}, BIRDS: {}})
    doc[f"moderation_adapter@{ADAPTER}"] = adapter_response(ADAPTER, {"Explicit": 90}, expired=True)
    image = Analysis.from_mapping(doc)
    parsed = image.extra[f"moderation_adapter@{ADAPTER}"]
    assert isinstance(parsed, AdapterModeration) and not parsed.adapter_used
    reasons = {e.rule: e.reasons for e in load_rules(RULES).explain(image)}
    assert reasons["unsafe"][0] == "the adapter had expired: Rekognition's base model answered instead"
    assert load_rules(RULES).evaluate(image).verdict == "failure"  # still judged on what came back


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("arn:aws:rekognition:eu-west-1:123456789012:project/shoes/1764460800000", "is a project ARN; give one of its versions"),
        ("shoes.2026-11-30", "is not an ARN; expected a project version ARN like"),
        ("arn:aws:s3:::bucket/key", "is not a Rekognition project version ARN"),
        (f" {SHOES}", "is not an ARN"),
        (SHOES.replace("123456789012", "1234"), "is not a Rekognition project version ARN"),
    ],
)
def test_bad_arns_are_refused_with_what_to_give(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        project_version_arn(value)


def test_rules_file_errors_name_line_and_field() -> None:
    text = f"""version: 1
rules:
  - name: sneaker
    type: custom_labels
    project_version: arn:aws:rekognition:eu-west-1:123456789012:project/shoes/1764460800000
    outcome: success
  - name: typo
    type: custom_label
    project_version: {SHOES}
    outcome: success
  - name: field
    type: custom_labels
    project_versoin: {SHOES}
    min_instances: 0
    outcome: success
  - name: adapter
    type: moderation
    categories: [Explicit]
    adapter: not-an-arn
    outcome: failure
"""
    errors = _errors(text)
    assert any(e.startswith("<test rules>:5: rules[0].project_version: ") and "is a project ARN" in e for e in errors)
    assert any(e.startswith("<test rules>:8: rules[1].type: ") and "did you mean 'custom_labels'" in e for e in errors)
    assert any(e.startswith("<test rules>:13: rules[2].project_versoin: ") and "did you mean 'project_version'" in e
               for e in errors)
    assert any(e.startswith("<test rules>:14: rules[2].min_instances: ") for e in errors)
    assert any(e.startswith("<test rules>:19: rules[3].adapter: ") and "is not an ARN" in e for e in errors)


def test_parser_errors_start_with_the_analysis() -> None:
    cases = {
        f"custom_labels@{SHOES}": ({"CustomLabels": [{"Name": "x", "Confidence": "high"}]},
                                   f"custom_labels@{SHOES}.CustomLabels[0].Confidence: expected a number"),
        "faces": ({"FaceDetails": [{"Confidence": 99, "AgeRange": {"Low": 9, "High": 3}}]},
                  "faces.FaceDetails[0].AgeRange: Low 9 is above High 3"),
        "protective_equipment": ({"Persons": "nobody"}, "protective_equipment.Persons: expected a list"),
        f"moderation_adapter@{ADAPTER}": ({"ModerationLabels": [{"Name": 3}]},
                                          f"moderation_adapter@{ADAPTER}.ModerationLabels[0].Name: expected a string"),
        "faces ": ({}, "unknown analysis keys"),
    }
    for key, (response, message) in cases.items():
        with pytest.raises(AnalysisError) as info:
            Analysis.from_mapping({key: response})
        assert str(info.value).startswith(message) or message in str(info.value), (key, str(info.value))
    with pytest.raises(AnalysisError, match=r"^custom_labels@arn:x: analysis 'custom_labels': 'arn:x' is not"):
        Analysis.from_mapping({"custom_labels@arn:x": {}})


def test_the_editor_schema_checks_the_arn_shape() -> None:
    schema = rules_schema(build_registry(load_plugins=False))
    validator = jsonschema.Draft202012Validator(schema)

    def errors(arn: str) -> list[str]:
        doc = {"version": 1, "rules": [{"name": "s", "type": "custom_labels", "project_version": arn, "outcome": "tag"}]}
        return [e.message for e in validator.iter_errors(doc)]

    assert errors(SHOES) == []
    assert errors("arn:aws:rekognition:eu-west-1:123456789012:project/shoes/1764460800000")


def test_region_of_a_model() -> None:
    assert arn_region(SHOES) == "eu-west-1"
    assert arn_region(SHOES.replace("eu-west-1", "us-gov-west-1")) == "us-gov-west-1"
    with pytest.raises(ValueError):
        arn_region("arn:aws:s3:::bucket")


def test_response_helpers_make_boto3_shapes() -> None:
    assert custom_labels_response({"Gull": [90, 80]})["CustomLabels"][1]["Confidence"] == 80.0
    assert adapter_response(ADAPTER, {"Explicit": 90})["ProjectVersion"] == ADAPTER
    assert "ProjectVersion" not in adapter_response(ADAPTER, {}, expired=True)


def test_cases_files_give_custom_models_inline(tmp_path: Path) -> None:
    from rules.cases import CasesError, run_cases

    (tmp_path / "shop.yaml").write_text(RULES)
    (tmp_path / "shop.cases.yml").write_text(f"""cases:
  - name: a sneaker from the shoes model
    custom_labels: {{Sneaker: 93}}
    verdict: success
    categories: [sneaker]
  - name: per model
    custom_labels: {{"{BIRDS}": {{Gull: [99, 98, 97]}}}}
    verdict: review
    categories: [flock]
  - name: the adapter fails it
    moderation_adapter: {{Explicit: 97}}
    custom_labels: {{Sneaker: 93}}
    verdict: failure
""")
    report = run_cases(tmp_path / "shop.cases.yml")
    assert [r.passed for r in report.results] == [True, True, True], [r.message for r in report.results]
    (tmp_path / "shop.cases.yml").write_text(f"""cases:
  - name: mixed
    custom_labels: {{Sneaker: 93, "{BIRDS}": {{Gull: 99}}}}
    verdict: success
""")
    with pytest.raises(CasesError, match=r"shop.cases.yml:2: .*either label names or project version ARNs"):
        run_cases(tmp_path / "shop.cases.yml")
