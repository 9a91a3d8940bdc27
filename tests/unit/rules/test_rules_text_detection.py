"""``text_detection``: regular expressions, whole words, LINE vs WORD, confidence."""

from __future__ import annotations

import pytest

from rules import Analysis, RulesValidationError


def text_rule(**fields):
    return {"name": "text", "type": "text_detection", "outcome": "tag", **fields}


def found(make_rules, analysis, **fields):
    """The texts in the rule's evidence, or None when it did not match."""
    matches = make_rules(text_rule(**fields)).evaluate(analysis).matches
    return [e["text"] for e in matches[0].evidence] if matches else None


# serial label LINEs: "SN-004217" 96.03, "sn-123456" 95.0, "SN-99817X" 90.1, "SN-555000" 84.99
@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (80, ["SN-004217", "SN-555000"]),
        (84.99, ["SN-004217", "SN-555000"]),
        (85, ["SN-004217"]),
        (96.03, ["SN-004217"]),
        (96.04, None),
    ],
)
def test_pattern_threshold_is_inclusive(make_rules, scenario, threshold, expected):
    analysis = scenario("serial_label")

    assert found(make_rules, analysis, pattern=r"SN-\d{6}", min_confidence=threshold) == expected


def test_pattern_is_case_sensitive_unless_the_regex_says_otherwise(make_rules, scenario):
    analysis = scenario("serial_label")

    assert found(make_rules, analysis, pattern=r"SN-\d{6}", min_confidence=95) == ["SN-004217"]
    assert found(make_rules, analysis, pattern=r"(?i)SN-\d{6}", min_confidence=95) == ["SN-004217", "sn-123456"]


def test_pattern_is_searched_not_fully_matched(make_rules, scenario):
    # GIVEN the LINE "Invoice No: INV-2024-0042"
    analysis = scenario("invoice")

    assert found(make_rules, analysis, pattern=r"INV-\d{4}-\d{4}") == ["Invoice No: INV-2024-0042"]
    assert found(make_rules, analysis, pattern=r"^INV-\d{4}-\d{4}$") is None


def test_evidence_has_text_match_confidence_and_type(make_rules, scenario):
    decision = make_rules(text_rule(pattern=r"INV-\d{4}-\d{4}")).evaluate(scenario("invoice"))

    assert decision.matches[0].evidence == (
        {"text": "Invoice No: INV-2024-0042", "match": "INV-2024-0042", "confidence": 99.31, "type": "LINE"},
    )


@pytest.mark.parametrize("word", ["invoice", "INVOICE", "Invoice", "iNvOiCe"])
def test_words_match_in_any_case(make_rules, scenario, word):
    assert found(make_rules, scenario("invoice"), words=[word]) == ["INVOICE", "Invoice No: INV-2024-0042"]


def test_words_match_whole_words_only(make_rules, scenario):
    # GIVEN "Subtotal: $1,100.00" at 97.92 and "Total: $1,234.56" at 84.99
    analysis = scenario("invoice")

    # THEN "total" is found in "Total:" (punctuation is a boundary) but never inside "Subtotal"
    assert found(make_rules, analysis, words=["total"], min_confidence=84.99) == ["Total: $1,234.56"]
    assert found(make_rules, analysis, words=["total"], min_confidence=85) is None
    assert found(make_rules, analysis, words=["voice"], min_confidence=0) is None
    assert found(make_rules, analysis, words=["subtotal"]) == ["Subtotal: $1,100.00"]


def test_words_are_literal_not_regular_expressions(make_rules, scenario):
    analysis = scenario("invoice")

    assert found(make_rules, analysis, words=["$1,234.56"], min_confidence=0) == ["Total: $1,234.56"]
    assert found(make_rules, analysis, words=["$1.234.56"], min_confidence=0) is None
    assert found(make_rules, analysis, words=["INV.2024.0042"], min_confidence=0) is None


def test_a_phrase_matches_a_line(make_rules, scenario):
    assert found(make_rules, scenario("invoice"), words=["invoice no"]) == ["Invoice No: INV-2024-0042"]


def test_line_and_word_detections_are_separate(make_rules, scenario):
    # GIVEN the LINE "Total: $1,234.56" at 84.99 whose WORD "Total:" is at 85.0
    analysis = scenario("invoice")

    # THEN at 85 only the WORD qualifies
    assert found(make_rules, analysis, words=["total"], min_confidence=85, detection_type="WORD") == ["Total:"]
    assert found(make_rules, analysis, words=["total"], min_confidence=85, detection_type="LINE") is None
    # AND a phrase spans words only in a LINE
    assert found(make_rules, analysis, words=["invoice no"], detection_type="WORD") is None


def test_detection_type_defaults_to_line(make_rules, scenario):
    # GIVEN a pattern anchored to a whole WORD
    analysis = scenario("invoice")

    assert found(make_rules, analysis, pattern=r"^INV-\d{4}-\d{4}$", detection_type="WORD") == ["INV-2024-0042"]
    assert found(make_rules, analysis, pattern=r"^INV-\d{4}-\d{4}$") is None


def test_words_match_any_and_all(make_rules, scenario):
    analysis = scenario("invoice")

    assert found(make_rules, analysis, words=["receipt", "invoice"])
    assert found(make_rules, analysis, words=["invoice", "date"], match="all")
    assert found(make_rules, analysis, words=["invoice", "receipt"], match="all") is None


@pytest.mark.parametrize("scene", ["empty", "dog"])
def test_no_text_matches_nothing(make_rules, scenario, scene):
    assert found(make_rules, scenario(scene), pattern=".", min_confidence=0) is None


def test_detections_with_missing_fields_are_tolerated(make_rules):
    # GIVEN a detection without Type or Geometry: treated as a LINE
    analysis = Analysis.from_responses(text={"TextDetections": [{"DetectedText": "SN-000001", "Confidence": 99.0}]})

    assert found(make_rules, analysis, pattern=r"SN-\d{6}") == ["SN-000001"]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"pattern": "SN-(", "words": None}, "rules[0].pattern", "invalid regular expression"),
        ({"pattern": "SN", "words": ["sn"]}, "rules[0]", "exactly one of 'pattern' or 'words'"),
        ({}, "rules[0]", "exactly one of 'pattern' or 'words'"),
        ({"pattern": "SN", "match": "all"}, "rules[0]", "'match' applies to 'words' only"),
        ({"words": []}, "rules[0].words", "must not be empty"),
        ({"words": ["sn"], "detection_type": "line"}, "rules[0].detection_type", "LINE"),
    ],
)
def test_invalid_text_rules(make_rules, fields, path, message):
    fields = {k: v for k, v in fields.items() if v is not None}

    with pytest.raises(RulesValidationError) as err:
        make_rules(text_rule(**fields))

    assert [(i.path, message in i.message) for i in err.value.issues] == [(path, True)]


def test_line_rules_do_not_see_words_and_word_rules_do_not_see_lines(make_rules, response):
    # GIVEN the serial label's response without the WORD detections of the "SN-004217" line
    raw = response("text", "serial_label")
    line_id = next(d["Id"] for d in raw["TextDetections"] if d["DetectedText"] == "SN-004217")
    raw["TextDetections"] = [d for d in raw["TextDetections"] if d.get("ParentId") != line_id]
    analysis = Analysis.from_responses(text=raw)

    # THEN a LINE rule still finds it and a WORD rule no longer does
    assert found(make_rules, analysis, pattern=r"SN-\d{6}", min_confidence=96) == ["SN-004217"]
    assert found(make_rules, analysis, pattern=r"SN-\d{6}", min_confidence=96, detection_type="WORD") is None


@pytest.mark.parametrize(
    ("word", "text"),
    [("İstanbul", "Welcome to ISTANBUL"), ("café", "CAFÉ OPEN"), ("STRAßE", "straße 12"), ("σοφος", "ΣΟΦΟΣ")],
)
def test_words_are_case_insensitive_beyond_ascii(make_rules, word, text):
    # GIVEN a non-ASCII word and a detection that differs from it only by case
    analysis = Analysis.from_responses(text={"TextDetections": [{"DetectedText": text, "Type": "LINE", "Confidence": 99.0}]})

    # THEN it matches, exactly as Python's case-insensitive regex of the word does
    assert found(make_rules, analysis, words=[word]) == [text]
