"""The key vocabulary: one layout maps sources to verdict folders and result records."""

from __future__ import annotations

import pytest

from analyzer.config import Settings
from analyzer.layout import (
    DEFAULT_LAYOUT,
    VERDICTS,
    AnalysedKey,
    KeyLayout,
    OutsideInputPrefixError,
    folder,
    parse_verdict,
)
from rules import Verdict


def test_the_contract_example() -> None:
    # docs/contracts.md §5: images/a/b c.jpg judged success ends at analyzed/success/a/b c.jpg
    assert DEFAULT_LAYOUT.destination_key("images/a/b c.jpg", "success") == "analyzed/success/a/b c.jpg"
    assert DEFAULT_LAYOUT.record_key("images/a/b c.jpg", Verdict.REVIEW) == "results/review/a/b c.jpg.json"
    assert DEFAULT_LAYOUT.relative_key("images/a/b c.jpg") == "a/b c.jpg"
    assert DEFAULT_LAYOUT.source_key("a/b c.jpg") == "images/a/b c.jpg"


def test_verdicts_are_the_engines() -> None:
    assert VERDICTS == (Verdict.SUCCESS, Verdict.FAILURE, Verdict.REVIEW)
    assert VERDICTS == ("success", "failure", "review")  # the folder names on the wire


@pytest.mark.parametrize("key", ["images/", "other/x.jpg", "analyzed/success/x.jpg", "image/x.jpg"])
def test_keys_outside_the_input_prefix_are_refused(key: str) -> None:
    assert not DEFAULT_LAYOUT.is_input(key)
    with pytest.raises(OutsideInputPrefixError):
        DEFAULT_LAYOUT.destination_key(key, "success")


def test_an_unknown_verdict_folder_is_refused() -> None:
    with pytest.raises(ValueError):
        DEFAULT_LAYOUT.destination_key("images/x.jpg", "maybe")


def test_every_destination_of_a_key() -> None:
    assert list(DEFAULT_LAYOUT.destinations("images/d/x.jpg")) == [
        ("success", "analyzed/success/d/x.jpg", "results/success/d/x.jpg.json"),
        ("failure", "analyzed/failure/d/x.jpg", "results/failure/d/x.jpg.json"),
        ("review", "analyzed/review/d/x.jpg", "results/review/d/x.jpg.json"),
    ]


@pytest.mark.parametrize("key,expected", [
    ("analyzed/review/a/b c.jpg", AnalysedKey(Verdict.REVIEW, "a/b c.jpg")),
    ("analyzed/success/x.jpg", AnalysedKey(Verdict.SUCCESS, "x.jpg")),
    ("analyzed/bogus/x.jpg", None),
    ("analyzed/review/", None),
    ("analyzed/review", None),
    ("images/x.jpg", None),
])
def test_analysed_keys_are_parsed(key: str, expected: AnalysedKey | None) -> None:
    assert DEFAULT_LAYOUT.analysed(key) == expected


def test_analysed_key_back_to_its_source() -> None:
    layout = KeyLayout("in/", "out/", "rec/")
    assert layout.source_of_analysed("out/failure/cams/1.jpg") == "in/cams/1.jpg"
    assert layout.source_of_analysed("in/cams/1.jpg") is None


def test_an_empty_input_prefix_takes_every_key() -> None:
    layout = KeyLayout(input_prefix="")
    assert layout.destination_key("trip/cat.jpg", "success") == "analyzed/success/trip/cat.jpg"


@pytest.mark.parametrize("raw,expected", [("images", "images/"), ("/images/", "images/"), ("", "")])
def test_folder_prefixes(raw: str, expected: str) -> None:
    assert folder(raw) == expected


def test_parse_verdict() -> None:
    assert parse_verdict(" Review ") is Verdict.REVIEW
    with pytest.raises(ValueError, match="use success, failure, review"):
        parse_verdict("maybe")


def test_the_functions_settings_give_the_layout_and_the_pipeline_settings() -> None:
    settings = Settings.from_env({"RULES_PATH": "r", "INPUT_PREFIX": "in", "OUTPUT_PREFIX": "/out",
                                  "NOTIFY_VERDICTS": "review", "DELETE_SOURCE": "false"})
    assert settings.layout == KeyLayout("in/", "out/", "results/")
    pipeline = settings.pipeline("bkt")
    assert pipeline.layout == settings.layout and pipeline.bucket == "bkt"
    assert pipeline.notify_verdicts == {Verdict.REVIEW} and pipeline.delete_source is False
    assert pipeline.limits == settings.limits and pipeline.sniff_bytes == settings.sniff_bytes
