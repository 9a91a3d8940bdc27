"""Parsing raw Rekognition responses (exactly as boto3 returns them) into an Analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules import Analysis, BoundingBox, Feature, taxonomy

EVENTS = Path(__file__).resolve().parents[2] / "events" / "rekognition"
API_FOLDERS = ("detect_labels", "detect_moderation_labels", "detect_text")
SCENARIOS = ("dog", "cat", "beach", "weapon", "invoice", "serial_label", "empty")


@pytest.mark.parametrize("path", sorted(EVENTS.rglob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_is_shaped_like_a_boto3_response(path):
    # GIVEN a recorded response
    data = json.loads(path.read_text())
    # THEN it carries boto3's metadata and the model version of its API
    assert data["ResponseMetadata"]["HTTPStatusCode"] == 200
    version_key, list_key = {
        "detect_labels": ("LabelModelVersion", "Labels"),
        "detect_moderation_labels": ("ModerationModelVersion", "ModerationLabels"),
        "detect_text": ("TextModelVersion", "TextDetections"),
        "detect_faces": (None, "FaceDetails"),
        "detect_protective_equipment": ("ProtectiveEquipmentModelVersion", "Persons"),  # DetectFaces returns no model version
        "detect_custom_labels": (None, "CustomLabels"),  # nor does DetectCustomLabels
    }[path.parent.name]
    assert version_key is None or isinstance(data[version_key], str)
    assert isinstance(data[list_key], list)


def test_every_scenario_has_all_three_responses():
    for name in SCENARIOS:
        for folder in API_FOLDERS:
            assert (EVENTS / folder / f"{name}.json").is_file(), f"{folder}/{name}.json"


def test_labels_keep_parents_aliases_categories_and_instances(scenario):
    # WHEN the dog photo's DetectLabels response is parsed
    analysis = scenario("dog", "labels")
    dog = next(label for label in analysis.labels if label.name == "Dog")
    person = next(label for label in analysis.labels if label.name == "Person")

    # THEN every part of a label survives
    assert dog.confidence == pytest.approx(98.52)
    assert dog.parents == ("Animal", "Canine", "Mammal", "Pet")
    assert dog.categories == ("Animals and Pets",)
    assert len(dog.instances) == 2
    assert dog.instances[0].box == BoundingBox(width=0.3121, height=0.5427, left=0.1093, top=0.3712)
    assert dog.instances_at(91.07) == 2
    assert dog.instances_at(91.08) == 1
    assert person.aliases == ("Human",)
    assert person.names == ("Person", "Human")


def test_image_properties_are_parsed_when_requested(scenario):
    analysis = scenario("dog", "labels")

    props = analysis.image_properties
    assert props is not None
    assert props.quality is not None
    assert (props.quality.brightness, props.quality.sharpness, props.quality.contrast) == (71.42, 83.9, 76.3)
    assert [c["SimplifiedColor"] for c in props.dominant_colors] == ["green", "brown", "white"]
    assert props.raw["Foreground"]["Quality"]["Sharpness"] == 88.5


def test_image_properties_absent_when_only_general_labels_were_requested(scenario):
    analysis = scenario("cat", "labels")

    assert analysis.image_properties is None
    assert len(analysis.labels) == 7


def test_model_versions_are_recorded(scenario):
    analysis = scenario("weapon")

    assert analysis.model_versions == {"labels": "3.0", "moderation": "7.0", "text": "3.0"}


def test_moderation_labels_keep_parent_and_level(scenario):
    analysis = scenario("weapon", "moderation")

    by_name = {m.name: m for m in analysis.moderation}
    assert by_name["Violence"].parent_name == ""
    assert by_name["Violence"].taxonomy_level == 1
    assert by_name["Graphic Violence"].parent_name == "Violence"
    assert by_name["Weapon Violence"].parent_name == "Graphic Violence"
    assert by_name["Weapon Violence"].taxonomy_level == 3


def test_text_detections_keep_type_ids_and_geometry(scenario):
    # WHEN the invoice scan's DetectText response is parsed
    analysis = scenario("invoice", "text")
    lines = [d for d in analysis.text if d.type == "LINE"]
    words = [d for d in analysis.text if d.type == "WORD"]

    # THEN LINEs and WORDs stay apart and each WORD points at its LINE
    assert [d.text for d in lines][:2] == ["INVOICE", "Invoice No: INV-2024-0042"]
    assert all(d.parent_id is None for d in lines)
    line_by_id = {d.id: d for d in lines}
    for word in words:
        assert word.text in line_by_id[word.parent_id].text.split(" ")
    assert lines[0].box == BoundingBox(width=0.2123, height=0.0402, left=0.0812, top=0.0611)


def test_empty_responses_count_as_run(scenario):
    # GIVEN responses that found nothing
    analysis = scenario("empty")

    # THEN each analysis was run, with no results
    assert analysis.labels == ()
    assert analysis.moderation == ()
    assert analysis.text == ()
    assert all(analysis.has(f) for f in Feature)


def test_an_analysis_that_was_not_run_is_none(scenario):
    analysis = scenario("dog", "labels")

    assert analysis.has("labels")
    assert not analysis.has("moderation")
    assert not analysis.has(Feature.TEXT)
    assert analysis.moderation is None


def test_from_mapping_reads_the_analysis_json_shape(response):
    data = {"labels": response("labels", "cat"), "text": response("text", "invoice")}

    analysis = Analysis.from_mapping(data)

    assert analysis.has("labels") and analysis.has("text") and not analysis.has("moderation")


def test_from_mapping_rejects_unknown_keys(response):
    with pytest.raises(ValueError, match="labelz"):
        Analysis.from_mapping({"labelz": response("labels", "cat")})


def test_missing_optional_fields_are_tolerated():
    # GIVEN a minimal label: no Parents, Aliases, Categories or Instances
    analysis = Analysis.from_responses(labels={"Labels": [{"Name": "Dog", "Confidence": 90.0}]})

    label = analysis.labels[0]
    assert (label.parents, label.aliases, label.categories, label.instances) == ((), (), (), ())


def test_label_index_keeps_the_most_confident_label_per_name_or_alias():
    # GIVEN two labels sharing an alias
    raw = {
        "Labels": [
            {"Name": "Sofa", "Confidence": 70.0, "Aliases": [{"Name": "Couch"}]},
            {"Name": "Couch", "Confidence": 90.0, "Aliases": []},
        ]
    }

    index = Analysis.from_responses(labels=raw).label_index

    assert index["couch"].name == "Couch"
    assert index["sofa"].name == "Sofa"


def test_moderation_lineage_follows_parent_name_then_the_taxonomy(scenario):
    # GIVEN a level-3 label whose level-1 ancestor is missing from the response
    analysis = scenario("omitted_levels", "moderation")

    lineage = {label.name: chain for label, _names, chain in analysis.moderation_lineage}

    assert lineage["Smoking"] == ("Drugs & Tobacco Paraphernalia & Use", "Drugs & Tobacco")
    assert lineage["Pills"] == ("Products", "Drugs & Tobacco")


def test_taxonomy_is_the_three_level_model_7():
    assert taxonomy.ancestors("Exposed Female Nipple") == ["Explicit Nudity", "Explicit"]
    assert taxonomy.ancestors("weapon violence") == ["Graphic Violence", "Violence"]
    assert taxonomy.ancestors("Gambling") == []
    assert taxonomy.ancestors("Not A Category") == []
    assert len(taxonomy.TOP_LEVEL) == 10
    assert taxonomy.MODEL_VERSION == "7.0"
