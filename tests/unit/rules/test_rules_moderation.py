"""``moderation``: categories at any taxonomy level, via ParentName or the documented v7 taxonomy."""

from __future__ import annotations

import pytest

from rules import Analysis, RulesValidationError, taxonomy


def mod_rule(**fields):
    return {"name": "unsafe", "type": "moderation", "outcome": "failure", **fields}


def evidence(make_rules, analysis, **fields):
    """The evidence of the rule, or None when it did not match."""
    matches = make_rules(mod_rule(**fields)).evaluate(analysis).matches
    return [e["label"] for e in matches[0].evidence] if matches else None


# weapon photo: Violence 98.74 (L1) > Graphic Violence 93.12 (L2) > Weapon Violence 93.12 (L3);
#               Weapons 60.0 (L2, parent Violence)
@pytest.mark.parametrize(
    ("categories", "threshold", "expected"),
    [
        (["Violence"], 80, ["Violence", "Graphic Violence", "Weapon Violence"]),
        (["Violence"], 60, ["Violence", "Graphic Violence", "Weapon Violence", "Weapons"]),
        (["Graphic Violence"], 93.12, ["Graphic Violence", "Weapon Violence"]),
        (["Graphic Violence"], 93.1201, None),
        (["Weapon Violence"], 50, ["Weapon Violence"]),
        (["Weapons"], 60, ["Weapons"]),
        (["Weapons"], 60.01, None),
        (["Explicit", "Hate Symbols"], 0, None),
    ],
)
def test_three_level_response(make_rules, scenario, categories, threshold, expected):
    analysis = scenario("weapon", "moderation")

    assert evidence(make_rules, analysis, categories=categories, min_confidence=threshold) == expected


@pytest.mark.parametrize("category", ["violence", "VIOLENCE", "graphic violence", "Weapon violence"])
def test_categories_match_in_any_case(make_rules, scenario, category):
    assert evidence(make_rules, scenario("weapon", "moderation"), categories=[category])


def test_evidence_shows_the_taxonomy_path(make_rules, scenario):
    decision = make_rules(mod_rule(categories=["Graphic Violence"])).evaluate(scenario("weapon"))

    assert decision.matches[0].evidence[1] == {
        "label": "Weapon Violence",
        "confidence": 93.12,
        "path": "Violence > Graphic Violence > Weapon Violence",
    }


def test_a_parent_label_does_not_match_a_child_category(make_rules):
    # GIVEN only the level-1 label was returned
    analysis = Analysis.from_responses(
        moderation={
            "ModerationLabels": [{"Confidence": 99.0, "Name": "Violence", "ParentName": "", "TaxonomyLevel": 1}],
            "ModerationModelVersion": "7.0",
        }
    )

    # THEN a rule on a more specific category does not fire
    assert evidence(make_rules, analysis, categories=["Violence"]) == ["Violence"]
    assert evidence(make_rules, analysis, categories=["Weapon Violence"]) is None


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        # Smoking arrives with ParentName "Drugs & Tobacco Paraphernalia & Use" but without level 1;
        # Pills arrives with an empty ParentName.
        ("Drugs & Tobacco", ["Smoking", "Pills"]),
        ("Drugs & Tobacco Paraphernalia & Use", ["Smoking"]),
        ("Products", ["Pills"]),
        ("Smoking", ["Smoking"]),
        ("Alcohol", None),
    ],
)
def test_omitted_levels_are_filled_from_the_taxonomy(make_rules, scenario, category, expected):
    analysis = scenario("omitted_levels", "moderation")

    assert evidence(make_rules, analysis, categories=[category]) == expected


def test_omitted_level_path_in_evidence(make_rules, scenario):
    decision = make_rules(mod_rule(categories=["Drugs & Tobacco"])).evaluate(scenario("omitted_levels", "moderation"))

    assert [e["path"] for e in decision.matches[0].evidence] == [
        "Drugs & Tobacco > Drugs & Tobacco Paraphernalia & Use > Smoking",
        "Drugs & Tobacco > Products > Pills",
    ]


def test_parent_name_from_the_response_wins_over_the_taxonomy(make_rules, response):
    # GIVEN a model-6 style response: "Weapon Violence" directly under "Violence", no level 2
    raw = response("moderation", "weapon")
    raw["ModerationModelVersion"] = "6.1"
    raw["ModerationLabels"] = [
        {"Confidence": 91.0, "Name": "Weapon Violence", "ParentName": "Violence", "TaxonomyLevel": 2},
    ]
    analysis = Analysis.from_responses(moderation=raw)

    # THEN the ancestor named by the response is used, and the v7 level-2 parent is not invented
    assert evidence(make_rules, analysis, categories=["Violence"]) == ["Weapon Violence"]
    assert evidence(make_rules, analysis, categories=["Graphic Violence"]) is None


def test_swimwear_two_levels(make_rules, scenario):
    analysis = scenario("beach")

    assert evidence(make_rules, analysis, categories=["Swimwear or Underwear"]) == [
        "Swimwear or Underwear",
        "Female Swimwear or Underwear",
    ]
    assert evidence(make_rules, analysis, categories=["Male Swimwear or Underwear"], min_confidence=71.8) == [
        "Male Swimwear or Underwear"
    ]
    assert evidence(make_rules, analysis, categories=["Explicit"], min_confidence=0) is None


@pytest.mark.parametrize("scene", ["dog", "empty"])
def test_safe_and_empty_responses_match_nothing(make_rules, scenario, scene):
    assert evidence(make_rules, scenario(scene), categories=list(taxonomy.TOP_LEVEL), min_confidence=0) is None


def test_unknown_category_is_a_validation_error_with_a_hint(rules_yaml):
    with pytest.raises(RulesValidationError) as err:
        rules_yaml(
            """\
            version: 1
            rules:
              - name: unsafe
                type: moderation
                categories: [Violense]
                outcome: failure
            """
        )

    (issue,) = err.value.issues
    assert (issue.line, issue.path) == (5, "rules[0].categories[0]")
    assert "did you mean 'Violence'" in issue.message



def test_weapon_response_without_its_upper_levels_still_matches(make_rules, response):
    # GIVEN the weapon response with the level-1 and level-2 labels removed
    raw = response("moderation", "weapon")
    raw["ModerationLabels"] = [m for m in raw["ModerationLabels"] if m["TaxonomyLevel"] == 3]
    analysis = Analysis.from_responses(moderation=raw)

    # THEN the level-3 label still matches its ancestors' categories
    assert evidence(make_rules, analysis, categories=["Violence"]) == ["Weapon Violence"]
    assert evidence(make_rules, analysis, categories=["Graphic Violence"]) == ["Weapon Violence"]
