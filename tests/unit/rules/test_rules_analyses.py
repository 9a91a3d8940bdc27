"""The registry of analyses: built-ins registered like plugins, plugins through entry points."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import EntryPoint

import pytest

from rules import Analysis
from rules.analyses import (
    ENTRY_POINT_GROUP,
    AnalysisRegistry,
    AnalysisSpec,
    build_analyses,
    default_analyses,
    spec,
)
from rules.errors import PluginError
from rules.features import Needs


def test_builtins_name_api_parameters_iam_and_local_support() -> None:
    registry = build_analyses(load_plugins=False)
    assert sorted(registry.specs) == ["custom_labels", "faces", "labels", "moderation",
                                      "moderation_adapter", "protective_equipment", "text"]
    faces = registry.get("faces")
    assert (faces.api, faces.method, dict(faces.params)) == ("DetectFaces", "detect_faces", {"Attributes": ["ALL"]})
    assert faces.iam_actions == ("rekognition:DetectFaces",) and faces.iam_resources == ("*",)
    assert faces.unit == "DetectFaces" and faces.usd_per_1000 == Decimal("1.00")
    assert faces.local_model is not None and "no age" in faces.local_model
    ppe = registry.get("protective_equipment")
    assert ppe.local_model is None
    assert "'protective_equipment' analysis (DetectProtectiveEquipment)" in ppe.local_unavailable()
    assert registry.by_api("DetectText").name == "text"
    assert all(s.local_model for s in registry.specs.values() if s.argument is None and s.name != "protective_equipment")
    assert all(s.local_model is None for s in registry.specs.values() if s.argument is not None)


def test_unknown_and_duplicate_analyses_are_clear_errors() -> None:
    registry = build_analyses(load_plugins=False)
    with pytest.raises(PluginError, match=r"unknown analysis 'ppe'; known analyses: custom_labels, faces, labels"):
        registry.get("ppe")
    with pytest.raises(PluginError, match=r"'faces' is already registered"):
        registry.register(AnalysisSpec("faces", "DetectFaces", "detect_faces"))
    with pytest.raises(PluginError, match=r"not a rules\.analyses\.AnalysisSpec"):
        registry.register("faces")  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="no analysis calls 'DetectNothing'"):
        registry.by_api("DetectNothing")


CELEBS = AnalysisSpec(
    "celebrities", "RecognizeCelebrities", "recognize_celebrities",
    parse=lambda raw: tuple(c["Name"] for c in raw.get("CelebrityFaces", ())),
    iam_actions=("rekognition:RecognizeCelebrities",), usd_per_1000=Decimal("1.00"), builtin=False,
)


def test_a_plugin_analysis_registers_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an installed plugin advertising an analysis, and a broken one
    good = EntryPoint("celebrities", f"{__name__}:CELEBS", ENTRY_POINT_GROUP)
    bad = EntryPoint("broken", "no_such_module_xyz:SPEC", ENTRY_POINT_GROUP)
    wrong = EntryPoint("famous", f"{__name__}:CELEBS", ENTRY_POINT_GROUP)

    def fake_entry_points(group: str) -> list[EntryPoint]:
        return [good, bad, wrong] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr("rules.analyses.entry_points", fake_entry_points)
    # WHEN the registry is built
    registry = build_analyses()
    # THEN the plugin is known, and the broken ones are recorded, not raised
    assert registry.get("celebrities") is CELEBS
    assert "no_such_module_xyz" in registry.broken["broken"]
    assert "loads analysis 'celebrities'" in registry.broken["famous"]
    with pytest.raises(PluginError, match="plugin analysis 'no_such_module_xyz:SPEC' failed"):
        registry.get("broken")


def test_a_plugin_analysis_flows_into_needs_and_the_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = AnalysisRegistry()
    for s in build_analyses(load_plugins=False).specs.values():
        registry.register(s)
    registry.register(CELEBS)
    monkeypatch.setattr("rules.analyses.default_analyses", lambda: registry)
    needs = Needs.of("labels") | Needs(extra=frozenset({"celebrities"}))
    assert needs.features == ["labels", "celebrities"]
    assert needs.api_calls == ["DetectLabels", "RecognizeCelebrities"]
    analysis = Analysis.from_mapping({"celebrities": {"CelebrityFaces": [{"Name": "Ada"}]}})
    assert analysis.extra["celebrities"] == ("Ada",) and analysis.has("celebrities")


def test_analysis_json_with_an_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown analysis keys: 'ppe'; expected custom_labels@<ProjectVersionArn>, faces, labels, moderation, moderation_adapter@<ProjectVersion>, protective_equipment, text"):
        Analysis.from_mapping({"ppe": {}})


def test_default_registry_is_cached_and_spec_looks_up() -> None:
    assert default_analyses() is default_analyses()
    assert spec("moderation").api == "DetectModerationLabels"


