"""Property-based tests of the verdict (hypothesis): generated analyses and generated rulesets."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Analysis, EvalContext, Rule, Ruleset, Verdict, build_registry, taxonomy

REGISTRY = build_registry(load_plugins=False)
PROPERTIES = settings(max_examples=100, deadline=None)

LABEL_NAMES = ("Dog", "Cat", "Person", "Car", "Tree", "Grass", "Beach", "Text")
ALIASES = ("Canine", "Human", "Automobile", "Kitty", "Sofa")
MODERATION_NAMES = tuple(taxonomy.PARENT)
TEXTS = ("SN-123456", "sn-000001", "Invoice total", "INVOICE", "Subtotal: $9", "Total:", "SN-12345X", "tot al")
PATTERNS = (r"SN-\d{6}", r"(?i)invoice", r"total", r"^SN", r"\d")
WORDS = ("invoice", "total", "sn", "subtotal", "SN-123456")

# thresholds and confidences drawn from one pool, so that equality (the boundary) is common
BOUNDARY = (0.0, 50.0, 79.99, 80.0, 85.5, 90.0, 99.9, 100.0)
confidence = st.one_of(st.sampled_from(BOUNDARY), st.floats(0, 100, allow_nan=False, allow_infinity=False))
outcome = st.sampled_from(("success", "failure", "review", "tag"))
verdict = st.sampled_from(tuple(Verdict))


def cased(words: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(words).flatmap(lambda w: st.sampled_from((w, w.lower(), w.upper())))


# -- analyses: raw responses shaped like boto3's ---------------------------------------------

box = st.fixed_dictionaries(
    {"Width": st.floats(0, 1), "Height": st.floats(0, 1), "Left": st.floats(0, 1), "Top": st.floats(0, 1)}
)
raw_label = st.fixed_dictionaries(
    {
        "Name": st.sampled_from(LABEL_NAMES),
        "Confidence": confidence,
        "Instances": st.lists(st.fixed_dictionaries({"BoundingBox": box, "Confidence": confidence}), max_size=3),
        "Parents": st.just([]),
        "Aliases": st.lists(st.sampled_from(ALIASES).map(lambda a: {"Name": a}), max_size=1),
        "Categories": st.just([]),
    }
)


@st.composite
def raw_moderation_label(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(MODERATION_NAMES))
    level = len(taxonomy.ancestors(name)) + 1
    # the response may omit the parent (the engine then falls back to the documented taxonomy)
    parent = draw(st.sampled_from((taxonomy.PARENT[name], "")))
    return {"Confidence": draw(confidence), "Name": name, "ParentName": parent, "TaxonomyLevel": level}


raw_text = st.fixed_dictionaries(
    {
        "DetectedText": st.sampled_from(TEXTS),
        "Type": st.sampled_from(("LINE", "WORD")),
        "Id": st.integers(0, 99),
        "Confidence": confidence,
        "Geometry": st.fixed_dictionaries({"BoundingBox": box}),
    }
)

analyses = st.builds(
    lambda labels, moderation, text: Analysis.from_responses(
        labels={"Labels": labels, "LabelModelVersion": "3.0"},
        moderation={"ModerationLabels": moderation, "ModerationModelVersion": "7.0"},
        text={"TextDetections": text, "TextModelVersion": "3.0"},
    ),
    st.lists(raw_label, max_size=6),
    st.lists(raw_moderation_label(), max_size=5),
    st.lists(raw_text, max_size=6),
)

# -- rules ------------------------------------------------------------------------------------

label_rule = st.fixed_dictionaries(
    {
        "type": st.just("label_match"),
        "labels": st.lists(cased(LABEL_NAMES + ALIASES), min_size=1, max_size=3),
        "match": st.sampled_from(("any", "all")),
        "outcome": outcome,
    },
    optional={"min_confidence": confidence, "min_instances": st.integers(1, 3)},
)
moderation_rule = st.fixed_dictionaries(
    {
        "type": st.just("moderation"),
        "categories": st.lists(cased(MODERATION_NAMES), min_size=1, max_size=2),
        "outcome": outcome,
    },
    optional={"min_confidence": confidence},
)
pattern_rule = st.fixed_dictionaries(
    {"type": st.just("text_detection"), "pattern": st.sampled_from(PATTERNS), "outcome": outcome},
    optional={"min_confidence": confidence, "detection_type": st.sampled_from(("LINE", "WORD"))},
)
words_rule = st.fixed_dictionaries(
    {"type": st.just("text_detection"), "words": st.lists(cased(WORDS), min_size=1, max_size=2), "outcome": outcome},
    optional={
        "min_confidence": confidence,
        "detection_type": st.sampled_from(("LINE", "WORD")),
        "match": st.sampled_from(("any", "all")),
    },
)
rule_fields = st.one_of(label_rule, moderation_rule, pattern_rule, words_rule)
categories = st.one_of(st.none(), st.sampled_from(("pets", "unsafe", "docs")))


def build(fields: dict[str, Any], name: str, category: str | None = None) -> Rule:
    data = {**fields, "name": name} | ({"category": category} if category else {})
    cls = REGISTRY.get(data["type"])
    assert cls is not None
    return cls.model_validate(data)


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    items = draw(st.lists(st.tuples(rule_fields, categories), min_size=1, max_size=6))
    rules = tuple(build(fields, f"r{i}", category) for i, (fields, category) in enumerate(items))
    return Ruleset(rules=rules, default_verdict=draw(verdict), min_confidence=draw(confidence))


# -- properties -------------------------------------------------------------------------------


@PROPERTIES
@given(rs=rulesets(), analysis=analyses, tag=rule_fields, category=categories, at=st.integers(0, 6))
def test_adding_a_tag_rule_never_changes_the_verdict(rs, analysis, tag, category, at):
    # GIVEN a ruleset and the same ruleset with one more rule whose outcome is tag
    tag_rule = build({**tag, "outcome": "tag"}, "tag-only", category)
    rules = list(rs.rules)
    rules.insert(min(at, len(rules)), tag_rule)
    tagged = Ruleset(rules=tuple(rules), default_verdict=rs.default_verdict, min_confidence=rs.min_confidence)

    # WHEN both judge the same image
    before = rs.evaluate(analysis)
    after = tagged.evaluate(analysis)

    # THEN the verdict is the same, and at most the tag's category was added
    assert after.verdict == before.verdict
    assert set(before.categories) <= set(after.categories) <= {*before.categories, tag_rule.effective_category}


@PROPERTIES
@given(fields=rule_fields, analysis=analyses, low=confidence, high=confidence)
def test_raising_a_rule_threshold_never_turns_a_non_match_into_a_match(fields, analysis, low, high):
    low, high = sorted((low, high))
    ctx = EvalContext()

    at_low = build({**fields, "min_confidence": low}, "r").evaluate(analysis, ctx).matched
    at_high = build({**fields, "min_confidence": high}, "r").evaluate(analysis, ctx).matched

    assert at_low or not at_high


@PROPERTIES
@given(fields=rule_fields, analysis=analyses, low=confidence, high=confidence)
def test_raising_the_file_threshold_never_turns_a_non_match_into_a_match(fields, analysis, low, high):
    low, high = sorted((low, high))
    fields = {k: v for k, v in fields.items() if k != "min_confidence"}
    rule = build(fields, "r")

    at_low = rule.evaluate(analysis, EvalContext(min_confidence=low)).matched
    at_high = rule.evaluate(analysis, EvalContext(min_confidence=high)).matched

    assert at_low or not at_high


@PROPERTIES
@given(rs=rulesets(), analysis=analyses)
def test_verdict_and_categories_follow_the_contract(rs, analysis):
    # GIVEN which rules match, judged one by one
    ctx = EvalContext(min_confidence=rs.min_confidence)
    hits = [r for r in rs.rules if r.evaluate(analysis, ctx).matched]
    outcomes = {r.outcome.value for r in hits}

    # WHEN the ruleset judges the image
    decision = rs.evaluate(analysis)

    # THEN failure > review > success > default, and categories are in rule order without repeats
    expected = next((Verdict(o) for o in ("failure", "review", "success") if o in outcomes), rs.default_verdict)
    assert decision.verdict == expected
    assert [m.rule for m in decision.matches] == [r.name for r in hits]
    assert decision.categories == list(dict.fromkeys(r.effective_category for r in hits))


@PROPERTIES
@given(rs=rulesets(), analysis=analyses)
def test_explain_agrees_with_evaluate(rs, analysis):
    matched = {m.rule for m in rs.evaluate(analysis).matches}

    assert {e.rule for e in rs.explain(analysis) if e.matched} == matched


@PROPERTIES
@given(analysis=analyses, name=st.sampled_from(LABEL_NAMES + ALIASES), threshold=confidence)
def test_label_names_match_regardless_of_case(analysis, name, threshold):
    results = {
        build({"type": "label_match", "labels": [variant], "outcome": "tag", "min_confidence": threshold}, "r")
        .evaluate(analysis, EvalContext())
        .matched
        for variant in (name, name.lower(), name.upper(), name.swapcase())
    }

    assert len(results) == 1
