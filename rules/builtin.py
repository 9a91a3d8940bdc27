"""The three built-in rule types: ``label_match``, ``moderation``, ``text_detection``."""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from itertools import accumulate
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from rules import taxonomy
from rules.analysis import Analysis, TextDetection
from rules.base import EvalContext, Evidence, Rule, RuleResult
from rules.custom import MODERATION_ADAPTER, AdapterModeration, ProjectVersionArn
from rules.features import Needs
from rules.patterns import CompiledPattern, PatternError, compile_pattern

NonEmptyName = Annotated[str, Field(min_length=1)]
#: a pattern is kept exactly as written: leading and trailing spaces are part of it ('ID ')
Pattern = Annotated[str, StringConstraints(strip_whitespace=False), Field(min_length=1)]
MatchMode = Literal["any", "all"]
MAX_EVIDENCE = 10
_WORD_CHAR = re.compile(r"\w")


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _line_starts(detections: list[TextDetection]) -> list[int]:
    """Offsets of each detection's text inside their newline-joined concatenation."""
    return [0, *accumulate(len(d.text) + 1 for d in detections[:-1])]


def _text_evidence(detection: TextDetection, matched: str) -> Evidence:
    return {
        "text": detection.text,
        "match": matched,
        "confidence": round(detection.confidence, 2),
        "type": detection.type,
    }


class LabelMatchRule(Rule):
    """Matches objects, scenes and concepts found by DetectLabels (name or alias, any case)."""

    summary: ClassVar[str] = "labels found by DetectLabels"

    type: Literal["label_match"] = "label_match"
    labels: list[NonEmptyName] = Field(min_length=1)
    match: MatchMode = "any"
    min_instances: int | None = Field(default=None, ge=1, strict=True)

    _wanted: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: object, /) -> None:
        self._wanted = tuple(label.casefold() for label in self.labels)

    def needs(self) -> Needs:
        return Needs(labels=frozenset({"GENERAL_LABELS"}))

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        index = analysis.label_index
        wanted_names = self._wanted  # pydantic private attributes are slow to read: read once
        evidence: list[Evidence] = []
        reasons: list[str] = []
        hits = 0
        for wanted, shown in zip(wanted_names, self.labels, strict=True):
            label = index.get(wanted)
            if label is None:
                if ctx.explain:
                    reasons.append(f"{shown}: not detected")
                continue
            if label.confidence < threshold:
                if ctx.explain:
                    reasons.append(
                        f"{shown}: detected as {label.name} at {_fmt(label.confidence)}%, "
                        f"below the threshold {_fmt(threshold)}"
                    )
                continue
            item: Evidence = {"label": label.name, "confidence": round(label.confidence, 2)}
            if self.min_instances is not None:
                count = label.instances_at(threshold)
                item["instances"] = count
                if count < self.min_instances:
                    if ctx.explain:
                        reasons.append(
                            f"{shown}: {count} instance(s) at >= {_fmt(threshold)}%, "
                            f"needs {self.min_instances}"
                        )
                    continue
            hits += 1
            evidence.append(item)
            if ctx.explain:
                extra = f", {item['instances']} instance(s)" if "instances" in item else ""
                reasons.append(
                    f"{shown}: detected as {label.name} at {_fmt(label.confidence)}% "
                    f">= {_fmt(threshold)}{extra}"
                )
        matched = hits == len(wanted_names) if self.match == "all" else hits > 0
        if ctx.explain and self.match == "all" and not matched:
            reasons.append(f"match: all — {hits} of {len(wanted_names)} labels satisfied")
        return RuleResult(matched, tuple(evidence) if matched else (), tuple(reasons))


def _known_moderation_category(name: str) -> str:
    canonical = taxonomy.CANONICAL.get(name.casefold())
    if canonical is None:
        close = difflib.get_close_matches(name, list(taxonomy.PARENT), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ValueError(
            f"'{name}' is not a Rekognition moderation category; {hint}"
            f"top-level categories: {', '.join(taxonomy.TOP_LEVEL)}"
        )
    return name


class ModerationRule(Rule):
    """Matches unsafe content found by DetectModerationLabels, at any taxonomy level.

    With ``adapter`` (a custom moderation adapter's project version ARN) the labels come from
    DetectModerationLabels called with that adapter (``ProjectVersion``) instead of the base model.
    """

    summary: ClassVar[str] = "unsafe content found by DetectModerationLabels (optionally with your adapter)"

    type: Literal["moderation"] = "moderation"
    categories: list[Annotated[str, Field(min_length=1), AfterValidator(_known_moderation_category)]] = Field(
        min_length=1
    )
    adapter: ProjectVersionArn | None = None

    _wanted: frozenset[str] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: object, /) -> None:
        self._wanted = frozenset(c.casefold() for c in self.categories)

    @property
    def analysis_id(self) -> str:
        """``moderation``, or ``moderation_adapter@<ARN>`` with an adapter."""
        return "moderation" if self.adapter is None else f"{MODERATION_ADAPTER}@{self.adapter}"

    def needs(self) -> Needs:
        if self.adapter is not None:
            return Needs(extra=frozenset({self.analysis_id}))
        return Needs(moderation=True)

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        wanted = self._wanted  # pydantic private attributes are slow to read: read once
        evidence: list[Evidence] = []
        reasons: list[str] = []
        lineage = analysis.moderation_lineage
        if self.adapter is not None:
            result = analysis.extra.get(self.analysis_id)
            lineage = result.lineage if isinstance(result, AdapterModeration) else ()
            if ctx.explain and isinstance(result, AdapterModeration) and not result.adapter_used:
                reasons.append("the adapter had expired: Rekognition's base model answered instead")
        for label, names, chain in lineage:
            if names.isdisjoint(wanted):
                if ctx.explain:
                    reasons.append(f"{label.name}: not in the categories {self.categories}")
                continue
            path = " > ".join((*reversed(chain), label.name))
            if label.confidence < threshold:
                if ctx.explain:
                    reasons.append(f"{path}: {_fmt(label.confidence)}%, below the threshold {_fmt(threshold)}")
                continue
            if len(evidence) < MAX_EVIDENCE:
                evidence.append(
                    {"label": label.name, "confidence": round(label.confidence, 2), "path": path}
                )
            if ctx.explain:
                reasons.append(f"{path}: {_fmt(label.confidence)}% >= {_fmt(threshold)}")
        if ctx.explain and not lineage:
            reasons.append("no moderation labels were detected")
        return RuleResult(bool(evidence), tuple(evidence), tuple(reasons))


class TextDetectionRule(Rule):
    """Matches text found by DetectText: a regular expression, or whole words."""

    summary: ClassVar[str] = "text found by DetectText"

    type: Literal["text_detection"] = "text_detection"
    pattern: Pattern | None = None
    words: list[NonEmptyName] | None = Field(default=None, min_length=1)
    match: MatchMode = "any"
    detection_type: Literal["LINE", "WORD"] = "LINE"

    # the pattern on RE2 (linear time: the text comes from the image, see rules.patterns), or
    # one Python regex per word (escaped literals between fixed-width look-arounds: linear too)
    _regexes: tuple[CompiledPattern | re.Pattern[str], ...] = PrivateAttr(default=())
    _folded_words: tuple[str, ...] = PrivateAttr(default=())
    # the word regexes without their leading look-behind: a literal first lets the regex engine
    # skip ahead fast; the word boundary before a hit is checked by hand (same \w definition)
    _scanners: tuple[re.Pattern[str], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _one_of_pattern_or_words(self) -> TextDetectionRule:
        if (self.pattern is None) == (self.words is None):
            raise ValueError("give exactly one of 'pattern' or 'words'")
        if self.pattern is not None and "match" in self.model_fields_set:
            raise ValueError("'match' applies to 'words' only")
        return self

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_pattern(value)
            except PatternError as exc:
                raise ValueError(str(exc)) from None
        return value

    def model_post_init(self, context: object, /) -> None:
        if self.pattern is not None:
            self._regexes = (compile_pattern(self.pattern),)
        elif self.words is not None:
            self._regexes = tuple(
                re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word in self.words
            )
            self._folded_words = tuple(word.casefold() for word in self.words)
            self._scanners = tuple(
                re.compile(rf"{re.escape(word)}(?!\w)", re.IGNORECASE) for word in self.words
            )

    def needs(self) -> Needs:
        return Needs(text=True)

    def evaluate(self, analysis: Analysis, ctx: EvalContext) -> RuleResult:
        threshold = self.threshold(ctx)
        candidates = [
            d for d in analysis.text_by_type.get(self.detection_type, ()) if d.confidence >= threshold
        ]
        if self.pattern is not None:
            found, evidence = self._search_pattern(candidates)
        else:
            found, evidence = self._search_words(candidates)
        matched = all(found) if self.match == "all" else any(found)
        reasons: list[str] = []
        if ctx.explain:
            reasons = self._explain(analysis, threshold, candidates, found)
        return RuleResult(matched, tuple(evidence) if matched else (), tuple(reasons))

    def _search_pattern(self, candidates: list[TextDetection]) -> tuple[list[bool], list[Evidence]]:
        regex = self._regexes[0]
        evidence: list[Evidence] = []
        for detection in candidates:
            hit = regex.search(detection.text)
            if hit is not None:
                evidence.append(_text_evidence(detection, hit.group(0)))
                if len(evidence) >= MAX_EVIDENCE:
                    break
        return [bool(evidence)], evidence

    def _search_words(self, candidates: list[TextDetection]) -> tuple[list[bool], list[Evidence]]:
        # One scan per word over all candidate texts joined by newlines: a word regex (an escaped
        # literal between non-word look-arounds) can never span the separator.
        found = [False] * len(self._regexes)
        evidence: list[Evidence] = []
        if not candidates:
            return found, evidence
        joined = "\n".join(d.text for d in candidates)
        folded = joined.casefold()
        ascii_only = joined.isascii()  # casefold() and re.IGNORECASE agree on ASCII only (e.g. 'İ')
        starts: list[int] = []
        for i, (scanner, word) in enumerate(zip(self._scanners, self._folded_words, strict=True)):
            if ascii_only and word.isascii() and word not in folded:  # cheap pre-filter (exact for ASCII)
                continue
            for hit in scanner.finditer(joined):
                if hit.start() and _WORD_CHAR.match(joined, hit.start() - 1):
                    continue  # not at the start of a word
                found[i] = True
                if len(evidence) >= MAX_EVIDENCE:
                    break
                if not starts:
                    starts = _line_starts(candidates)
                detection = candidates[bisect_right(starts, hit.start()) - 1]
                evidence.append(_text_evidence(detection, hit.group(0)))
        return found, evidence

    def _explain(
        self, analysis: Analysis, threshold: float, candidates: list[TextDetection], found: list[bool]
    ) -> list[str]:
        of_type = analysis.text_by_type.get(self.detection_type, ())
        reasons = [
            f"{len(of_type)} {self.detection_type} detection(s), {len(candidates)} at >= {_fmt(threshold)}%"
        ]
        targets = [f"pattern {self.pattern!r}"] if self.pattern is not None else [f"word {w!r}" for w in self.words or ()]
        for target, regex, hit in zip(targets, self._regexes, found, strict=True):
            if hit:
                reasons.append(f"{target}: found")
                continue
            below = [d for d in of_type if d.confidence < threshold and regex.search(d.text)]
            if below:
                best = max(below, key=lambda d: d.confidence)
                reasons.append(
                    f"{target}: only in {best.text!r} at {_fmt(best.confidence)}%, below the threshold"
                )
            else:
                reasons.append(f"{target}: not found")
        return reasons


BUILTIN_RULES: tuple[type[Rule], ...] = (LabelMatchRule, ModerationRule, TextDetectionRule)
