"""imgpipe's rule engine: pure Python (no AWS SDK), shared by the Lambda, the CLI and tests."""

from rules.analysis import (
    Analysis,
    BoundingBox,
    ImageProperties,
    ImageQuality,
    Instance,
    Label,
    ModerationLabel,
    TextDetection,
)
from rules.base import Confidence, EvalContext, Evidence, Outcome, Rule, RuleResult, Verdict
from rules.builtin import LabelMatchRule, ModerationRule, TextDetectionRule
from rules.errors import Issue, MissingAnalysisError, PluginError, RulesError, RulesValidationError
from rules.features import Feature, Needs
from rules.loader import load_ruleset, parse_ruleset
from rules.registry import ENTRY_POINT_GROUP, Registry, build_registry, default_registry
from rules.ruleset import RULE_ERROR, Decision, Match, RuleError, RuleExplanation, Ruleset, decide

__all__ = [
    "ENTRY_POINT_GROUP",
    "RULE_ERROR",
    "Analysis",
    "BoundingBox",
    "Confidence",
    "Decision",
    "EvalContext",
    "Evidence",
    "Feature",
    "ImageProperties",
    "ImageQuality",
    "Instance",
    "Issue",
    "Label",
    "LabelMatchRule",
    "Match",
    "MissingAnalysisError",
    "ModerationLabel",
    "ModerationRule",
    "Needs",
    "Outcome",
    "PluginError",
    "Registry",
    "Rule",
    "RuleError",
    "RuleExplanation",
    "RuleResult",
    "RulesError",
    "RulesValidationError",
    "Ruleset",
    "TextDetection",
    "TextDetectionRule",
    "Verdict",
    "build_registry",
    "decide",
    "default_registry",
    "load_ruleset",
    "parse_ruleset",
]
