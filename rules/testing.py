"""A kit for testing rules files and rule-type plugins (public API; pure, no AWS).

Build analyses from compact Python, load rules from a string, check a verdict, and run the
conformance check of a rule type::

    from rules.testing import analysis, load_rules, assert_decision, check_rule_type

    rules = load_rules('''
    version: 1
    rules:
      - {name: dog, type: label_match, labels: [Dog], outcome: success}
    ''')
    assert_decision(rules, analysis(labels=[("Dog", 97)]), verdict="success", categories=["dog"])
    check_rule_type(MyRule, examples=[{"threshold": 10}])

Every analysis left out is "run, nothing found" (an empty response), so a ruleset that needs it
can be evaluated; pass ``None`` to mean "not run". The pytest plugin
(:mod:`rules.pytest_plugin`, registered through the ``pytest11`` entry point) offers the same as
fixtures. See docs/plugins-kit.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from rules.analyses import split_id
from rules.analysis import Analysis
from rules.base import EvalContext, Rule, RuleResult
from rules.custom import CUSTOM_LABELS, MODERATION_ADAPTER, adapter_response, custom_labels_response
from rules.errors import RulesValidationError
from rules.faces import FACES, faces_response
from rules.features import Needs
from rules.loader import parse_ruleset
from rules.registry import (
    Registry,
    build_registry,
    default_registry,
    rule_class_problems,
    rule_type_name,
)
from rules.ruleset import Decision, Ruleset

__all__ = [
    "ConformanceError",
    "LabelsSpec",
    "ModerationSpec",
    "TextSpec",
    "analysis",
    "assert_decision",
    "check_rule_type",
    "complete",
    "describe_decision",
    "load_rules",
    "registry_with",
    "responses",
]

#: ``[("Dog", 97)]``, ``[("Dog", 97, 2)]`` (2 instances), or ``{"Dog": 97}``
LabelsSpec: TypeAlias = Mapping[str, float] | Iterable[tuple[str, float] | tuple[str, float, int]]
#: ``[("Explicit", 90)]`` or ``{"Explicit": 90}`` — names at any taxonomy level
ModerationSpec: TypeAlias = Mapping[str, float] | Iterable[tuple[str, float]]
#: ``["SN-123456 invoice"]`` or ``[("SN-123456", 88.0)]``: lines; words are split from them
TextSpec: TypeAlias = Iterable[str | tuple[str, float]]
#: per model version ARN: ``{"Sneaker": 92}``, or ``{"Sneaker": [92, 88]}`` for two boxes
CustomLabelsSpec: TypeAlias = Mapping[str, Mapping[str, float | Sequence[float]]]
#: per adapter version ARN: ``{"Explicit Nudity": 91}``
AdaptersSpec: TypeAlias = Mapping[str, Mapping[str, float]]

_BOX = {"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25}


class ConformanceError(AssertionError):
    """A rule type breaks the plugin contract; the message lists every problem found."""


def _pairs(spec: Mapping[str, float] | Iterable[Any]) -> list[tuple[Any, ...]]:
    if isinstance(spec, Mapping):
        return [(str(k), float(v)) for k, v in spec.items()]
    out = []
    for item in spec:
        if isinstance(item, str):
            out.append((item, 99.0))
        else:
            out.append(tuple(item))
    return out


def responses(
    *,
    labels: LabelsSpec | None = (),
    moderation: ModerationSpec | None = (),
    text: TextSpec | None = (),
    quality: Mapping[str, float] | None = None,
    faces: Sequence[Mapping[str, Any]] | None = None,
    custom_labels: CustomLabelsSpec | None = None,
    adapters: AdaptersSpec | None = None,
) -> dict[str, Any]:
    """An ANALYSIS.json document (boto3 response shapes) from compact Python.

    ``quality`` is ``{"brightness": .., "sharpness": .., "contrast": ..}`` (0-100), which
    DetectLabels returns with the IMAGE_PROPERTIES feature. ``None`` leaves an analysis out.
    ``custom_labels`` and ``adapters`` are keyed by project version ARN (one analysis per
    model); :func:`complete` adds "run, nothing found" for the models a ruleset needs.
    """
    doc: dict[str, Any] = {}
    if labels is not None or quality is not None:
        items = []
        for entry in _pairs(labels or ()):
            name, confidence = str(entry[0]), float(entry[1])
            count = int(entry[2]) if len(entry) > 2 else 0
            instances = [{"Confidence": confidence, "BoundingBox": dict(_BOX)} for _ in range(count)]
            items.append({"Name": name, "Confidence": confidence, "Instances": instances,
                          "Parents": [], "Aliases": [], "Categories": []})
        doc["labels"] = {"Labels": items, "LabelModelVersion": "3.0"}
        if quality is not None:
            unknown = set(quality) - {"brightness", "sharpness", "contrast"}
            if unknown:
                raise ValueError(f"unknown quality keys {sorted(unknown)}; use brightness, sharpness, contrast")
            doc["labels"]["ImageProperties"] = {
                "Quality": {k.capitalize(): float(v) for k, v in quality.items()},
                "DominantColors": [],
            }
    if moderation is not None:
        doc["moderation"] = {
            "ModerationLabels": [
                {"Name": str(name), "Confidence": float(conf), "ParentName": ""}
                for name, conf, *_ in _pairs(moderation)
            ],
            "ModerationModelVersion": "7.0",
        }
    if text is not None:
        detections: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        for line_id, (line, conf, *_) in enumerate(_pairs(text)):
            detections.append({"DetectedText": str(line), "Type": "LINE", "Id": line_id,
                               "Confidence": float(conf), "Geometry": {"BoundingBox": dict(_BOX)}})
            for word in str(line).split():
                words.append({"DetectedText": word, "Type": "WORD", "Id": len(words) + 1000,
                              "ParentId": line_id, "Confidence": float(conf),
                              "Geometry": {"BoundingBox": dict(_BOX)}})
        doc["text"] = {"TextDetections": detections + words, "TextModelVersion": "3.0"}
    doc[FACES] = faces_response(faces or ())  # left out: "run, no face found"
    for arn, found in (custom_labels or {}).items():
        doc[f"{CUSTOM_LABELS}@{arn}"] = custom_labels_response(found)
    for arn, found in (adapters or {}).items():
        doc[f"{MODERATION_ADAPTER}@{arn}"] = adapter_response(arn, found)
    return doc


def complete(doc: Mapping[str, Any], needs: Needs) -> dict[str, Any]:
    """``doc`` plus "run, nothing found" for every further analysis ``needs`` names that it
    lacks (a Custom Labels model, an adapter, a plugin's analysis)."""
    out = dict(doc)
    for analysis_id in needs.extra:
        if analysis_id not in out:
            name, argument = split_id(analysis_id)
            out[analysis_id] = adapter_response(argument, {}) if name == MODERATION_ADAPTER and argument else {}
    return out


def analysis(
    *,
    labels: LabelsSpec | None = (),
    moderation: ModerationSpec | None = (),
    text: TextSpec | None = (),
    quality: Mapping[str, float] | None = None,
    faces: Sequence[Mapping[str, Any]] | None = None,
    custom_labels: CustomLabelsSpec | None = None,
    adapters: AdaptersSpec | None = None,
    needs: Needs | None = None,
) -> Analysis:
    """An :class:`~rules.Analysis` from compact Python; see :func:`responses`. With ``needs``
    (``ruleset.needs``), every further analysis it names and the call leaves out counts as
    "run, nothing found"."""
    doc = responses(labels=labels, moderation=moderation, text=text, quality=quality, faces=faces,
                    custom_labels=custom_labels, adapters=adapters)
    return Analysis.from_mapping(complete(doc, needs) if needs is not None else doc)


def registry_with(*classes: type[Rule], installed: bool = False) -> Registry:
    """The built-ins, the installed plugins when ``installed``, and ``classes``."""
    registry = build_registry(load_plugins=installed)
    for cls in classes:
        name = rule_type_name(cls) if not rule_class_problems(cls) else None
        if name is not None and name in registry.types:  # the installed copy of the same type
            del registry.types[name]
        registry.register(cls, f"test class {cls.__module__}.{cls.__qualname__}")
    return registry


def load_rules(
    text: str,
    *,
    plugins: bool | Sequence[type[Rule]] = True,
    filename: str = "<test rules>",
) -> Ruleset:
    """Parse a rules file given as a string.

    ``plugins=True`` uses every installed plugin, ``False`` only the built-ins, a list of rule
    classes the built-ins plus those (no installation needed).
    """
    if plugins is True:
        registry = default_registry()
    elif plugins is False:
        registry = build_registry(load_plugins=False)
    else:
        registry = registry_with(*plugins)
    return parse_ruleset(text, filename, registry)


def describe_decision(decision: Decision) -> str:
    """A readable account of a decision (used in failure messages)."""
    lines = [f"verdict {decision.verdict.value!r}, categories {decision.categories}"]
    for m in decision.matches:
        lines.append(f"  matched rule {m.rule!r} ({m.type}) -> {m.outcome}, category {m.category!r}, "
                     f"evidence {json.dumps(list(m.evidence), default=str)}")
    if not decision.matches:
        lines.append("  no rule matched (default_verdict)")
    return "\n".join(lines)


def assert_decision(
    subject: Ruleset | Decision,
    image: Analysis | None = None,
    *,
    verdict: str | None = None,
    categories: Sequence[str] | None = None,
    ordered: bool = False,
) -> Decision:
    """Evaluate (when given a ruleset and an analysis) and check the verdict and categories.

    Categories compare as a set unless ``ordered``. Raises :class:`AssertionError` with what was
    expected, what came out, and which rules matched with what evidence.
    """
    if isinstance(subject, Ruleset):
        if image is None:
            raise TypeError("assert_decision(ruleset, analysis, ...) needs an analysis")
        decision = subject.evaluate(image)
    else:
        decision = subject
    problems = []
    if verdict is not None and decision.verdict.value != verdict:
        problems.append(f"expected verdict {verdict!r}, got {decision.verdict.value!r}")
    if categories is not None:
        got, want = list(decision.categories), list(categories)
        same = got == want if ordered else sorted(set(got)) == sorted(set(want)) and len(got) == len(want)
        if not same:
            problems.append(f"expected categories {want}, got {got}")
    if problems:
        raise AssertionError("; ".join(problems) + "\n" + describe_decision(decision))
    return decision


# -- conformance -----------------------------------------------------------------------------


def _sample_analyses() -> list[Analysis]:
    """Varied images: empty, busy, low quality (each with every analysis present)."""
    return [
        analysis(quality={"brightness": 50, "sharpness": 50, "contrast": 50}),
        analysis(
            labels=[("Dog", 97.0, 2), ("Animal", 99.0), ("Person", 85.0, 1)],
            moderation=[("Explicit", 91.0), ("Violence", 62.0)],
            text=["SN-123456 invoice total", ("hello world", 81.0)],
            quality={"brightness": 3, "sharpness": 2, "contrast": 1},
        ),
        analysis(labels=[("Car", 55.0)], text=["x"], quality={"brightness": 99, "sharpness": 99, "contrast": 99}),
    ]


def check_rule_type(
    cls: type[Rule],
    examples: Sequence[Mapping[str, Any]] = (),
    analyses: Sequence[Analysis] = (),
) -> None:
    """Check that ``cls`` keeps the plugin contract; raise :class:`ConformanceError` if not.

    ``examples`` are valid YAML configurations of the rule (without ``name``/``type``/``outcome``,
    which are filled in). Checked: the class is a concrete :class:`~rules.Rule` with a
    ``Literal`` type and a docstring or ``summary``; its JSON schema builds and names the type;
    every example loads through a YAML rules file like a user's; ``needs()`` returns
    :class:`~rules.Needs`; ``evaluate()`` returns a :class:`~rules.RuleResult` whose evidence
    is JSON-serialisable and whose reasons are strings, on sample and given ``analyses``, with and
    without ``explain``.
    """
    problems = rule_class_problems(cls)
    if problems:
        raise ConformanceError(f"{cls.__qualname__}: " + "; ".join(problems))
    name = rule_type_name(cls)
    try:
        schema = cls.model_json_schema()
        type_schema = schema.get("properties", {}).get("type", {})
        if name not in (type_schema.get("const"), *type_schema.get("enum", ())):
            problems.append(f"the JSON schema does not pin 'type' to {name!r}: {type_schema}")
        json.dumps(schema)
    except Exception as exc:
        problems.append(f"the JSON schema cannot be built: {type(exc).__name__}: {exc}")
    if not examples:
        problems.append("give at least one example configuration (examples=[{...}])")
    registry = registry_with(cls)
    samples = [*_sample_analyses(), *analyses]
    for i, example in enumerate(examples):
        config = {"name": f"example-{i}", "outcome": "review", **example, "type": name}
        text = json.dumps({"version": 1, "rules": [config]})  # JSON is YAML
        try:
            rule = parse_ruleset(text, f"<example {i}>", registry).rules[0]
        except RulesValidationError as exc:
            problems.append(f"example {i} {dict(example)} does not load: {exc}")
            continue
        try:
            needs = rule.needs()
        except Exception as exc:
            problems.append(f"example {i}: needs() raised {type(exc).__name__}: {exc}")
            continue
        if not isinstance(needs, Needs):
            problems.append(f"example {i}: needs() returned {type(needs).__name__}, not Needs")
            continue
        for j, image in enumerate(samples):
            for explain in (False, True):
                ctx = EvalContext(min_confidence=80.0, explain=explain)
                try:
                    result = rule.evaluate(image, ctx)
                except Exception as exc:
                    problems.append(f"example {i}, analysis {j}: evaluate() raised {type(exc).__name__}: {exc}")
                    break
                if not isinstance(result, RuleResult):
                    problems.append(f"example {i}, analysis {j}: evaluate() returned "
                                    f"{type(result).__name__}, not RuleResult")
                    break
                try:
                    json.dumps(list(result.evidence))
                except (TypeError, ValueError) as exc:
                    problems.append(f"example {i}, analysis {j}: evidence is not JSON-serialisable: {exc}")
                if not all(isinstance(e, dict) for e in result.evidence):
                    problems.append(f"example {i}, analysis {j}: evidence items must be dicts")
                if not all(isinstance(r, str) for r in result.reasons):
                    problems.append(f"example {i}, analysis {j}: reasons must be strings")
    if problems:
        raise ConformanceError(f"{cls.__qualname__} (type {name!r}):\n  " + "\n  ".join(dict.fromkeys(problems)))
