"""Analyses as a registry: each names its API, parameters, parser, IAM, price and local support.

The three original analyses (``labels``, ``moderation``, ``text``) are described here for the
tools (IAM, cost, replay) while the engine keeps their dedicated fields on
:class:`~rules.analysis.Analysis`; every further analysis (``faces``, ``protective_equipment``,
custom models, plugins') lives in ``Analysis.extra[id]``, parsed by its spec. Plugins register an
:class:`AnalysisSpec` under the entry-point group :data:`ENTRY_POINT_GROUP` (the entry point's
name is the analysis name). A rule asks for one with ``Needs(extra=frozenset({"faces"}))``.

An analysis with an :attr:`AnalysisSpec.argument` is *parameterised*: a rule names it together
with its argument, ``custom_labels@<project version ARN>``, and the registry binds the argument
into the call's parameters (and, with :attr:`AnalysisSpec.scope_to_argument`, into the IAM
resource): each model is its own analysis, called, recorded and permitted on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from rules.custom import (
    CUSTOM_LABELS,
    MODERATION_ADAPTER,
    parse_adapter_moderation,
    parse_custom_labels,
    project_version_arn,
)
from rules.errors import PluginError
from rules.faces import FACES, parse_faces
from rules.ppe import PPE, parse_persons

ENTRY_POINT_GROUP = "imgpipe.analyses"
#: separates an analysis name from its argument in an analysis id: ``custom_labels@arn:...``
ID_SEPARATOR = "@"


def split_id(analysis_id: str) -> tuple[str, str | None]:
    """``"custom_labels@arn:..."`` -> ``("custom_labels", "arn:...")``; ``"faces"`` -> ``("faces", None)``."""
    name, sep, argument = analysis_id.partition(ID_SEPARATOR)
    return name, (argument if sep else None)


def _keep(response: Mapping[str, Any]) -> Mapping[str, Any]:
    return response


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    """One analysis: how it is called, parsed, permitted, priced and run off-line."""

    name: str  # key of ANALYSIS.json / a recording / Detection.responses
    api: str  # Rekognition API name, e.g. "DetectFaces"
    method: str  # boto3 client method, e.g. "detect_faces"
    params: Mapping[str, Any] = field(default_factory=dict)  # besides Image
    parse: Callable[[Mapping[str, Any]], Any] = _keep  # response -> Analysis.extra[name]
    iam_actions: tuple[str, ...] = ()
    #: IAM resources; Detect* without a project version support no resource-level permission
    iam_resources: tuple[str, ...] = ("*",)
    price_unit: str = ""  # billing unit shown by `imgpipe cost` (default: the API name)
    usd_per_1000: Decimal = Decimal("1.00")  # first tier, US East; see imgpipe.ops.cost
    #: the replay backend always serves recordings; the local one needs an offline stand-in
    local_model: str | None = None
    builtin: bool = True
    #: the API parameter a rule's argument goes into (``ProjectVersionArn``): parameterised
    argument: str | None = None
    #: checks an argument; raises ValueError saying what is wrong
    check_argument: Callable[[str], str] | None = None
    #: the IAM resource is the argument (a project version ARN), not "*"
    scope_to_argument: bool = False
    #: how the price is billed when it is not per image (shown by ``imgpipe cost``)
    price_note: str = ""
    #: the base name of a bound (parameterised) spec; "" for an unbound one
    base: str = ""
    #: what the argument names, in messages ("Custom Labels model"); parameterised analyses only
    model_kind: str = ""

    @property
    def unit(self) -> str:
        return self.price_unit or self.api

    @property
    def kind(self) -> str:
        """The analysis name without its argument (``custom_labels``)."""
        return self.base or self.name

    def bind(self, argument: str) -> AnalysisSpec:
        """This parameterised analysis for one argument (one model): its id is ``name@argument``."""
        if self.argument is None:
            raise PluginError(f"analysis {self.name!r} takes no argument (got {argument!r})")
        if self.check_argument is not None:
            try:
                self.check_argument(argument)
            except ValueError as exc:
                raise PluginError(f"analysis {self.name!r}: {exc}") from None
        return replace(
            self,
            name=f"{self.name}{ID_SEPARATOR}{argument}",
            params={**self.params, self.argument: argument},
            iam_resources=(argument,) if self.scope_to_argument else self.iam_resources,
            base=self.name,
        )

    @property
    def model(self) -> str | None:
        """The bound argument (a project version ARN), None for an unparameterised analysis."""
        value = self.params.get(self.argument) if self.argument and self.base else None
        return value if isinstance(value, str) else None

    def local_unavailable(self) -> str:
        """The message the local backend gives when no offline model stands in."""
        if self.model is not None:
            return (
                f"the local backend cannot run the {self.model_kind or 'model'} {self.model} (the "
                f"{self.kind!r} analysis, {self.api}): it exists only in Rekognition; use --backend "
                "rekognition, or --backend replay with recordings"
            )
        return (
            f"the local backend has no offline model for the {self.name!r} analysis "
            f"({self.api}); use --backend rekognition, or --backend replay with recordings"
        )


BUILTIN_ANALYSES: tuple[AnalysisSpec, ...] = (
    AnalysisSpec("labels", "DetectLabels", "detect_labels",
                 iam_actions=("rekognition:DetectLabels",), local_model="efficientnet-lite0"),
    AnalysisSpec("moderation", "DetectModerationLabels", "detect_moderation_labels",
                 iam_actions=("rekognition:DetectModerationLabels",), local_model="opennsfw"),
    AnalysisSpec("text", "DetectText", "detect_text",
                 iam_actions=("rekognition:DetectText",), local_model="rapidocr"),
    AnalysisSpec(FACES, "DetectFaces", "detect_faces", params={"Attributes": ["ALL"]},
                 parse=parse_faces, iam_actions=("rekognition:DetectFaces",),
                 local_model="centerface (boxes and confidence only: no age, attributes, emotions)"),
    AnalysisSpec(PPE, "DetectProtectiveEquipment", "detect_protective_equipment",
                 parse=parse_persons, iam_actions=("rekognition:DetectProtectiveEquipment",)),
    # every label with its confidence (MinConfidence 0): the rule applies its own threshold
    AnalysisSpec(CUSTOM_LABELS, "DetectCustomLabels", "detect_custom_labels",
                 params={"MinConfidence": 0}, parse=parse_custom_labels,
                 iam_actions=("rekognition:DetectCustomLabels",), argument="ProjectVersionArn",
                 check_argument=project_version_arn, scope_to_argument=True,
                 model_kind="Custom Labels model", usd_per_1000=Decimal("0"),
                 price_note="billed per inference hour while the model runs (about 4 USD per "
                            "inference unit-hour, US East), not per image"),
    AnalysisSpec(MODERATION_ADAPTER, "DetectModerationLabels", "detect_moderation_labels",
                 parse=parse_adapter_moderation,
                 iam_actions=("rekognition:DetectModerationLabels",), argument="ProjectVersion",
                 check_argument=project_version_arn, scope_to_argument=True,
                 model_kind="moderation adapter", price_unit="DetectModerationLabels:adapter"),
)

#: The analyses with dedicated fields on Analysis (not in ``Analysis.extra``).
CORE = frozenset({"labels", "moderation", "text"})


@dataclass
class AnalysisRegistry:
    """Known analyses by name; plugins that failed to load are kept in :attr:`broken`."""

    specs: dict[str, AnalysisSpec] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def register(self, spec: AnalysisSpec) -> None:
        if not isinstance(spec, AnalysisSpec):
            raise PluginError(f"{spec!r} is not a rules.analyses.AnalysisSpec")
        if ID_SEPARATOR in spec.name or not spec.name:
            raise PluginError(f"analysis name {spec.name!r} must be non-empty and without {ID_SEPARATOR!r}")
        if spec.name in self.specs:
            raise PluginError(f"analysis {spec.name!r} is already registered")
        self.specs[spec.name] = spec

    def get(self, analysis_id: str) -> AnalysisSpec:
        """The spec of an analysis id; a parameterised one (``custom_labels@ARN``) comes bound."""
        name, argument = split_id(analysis_id)
        spec = self.specs.get(name)
        if spec is None:
            why = self.broken.get(name, f"known analyses: {', '.join(sorted(self.specs))}")
            raise PluginError(f"unknown analysis {name!r}; {why}")
        if argument is not None:
            return spec.bind(argument)
        if spec.argument is not None:
            raise PluginError(
                f"analysis {name!r} needs an argument ({spec.argument}): {name}{ID_SEPARATOR}<value>"
            )
        return spec

    def knows(self, analysis_id: object) -> bool:
        """Whether ``analysis_id`` names a registered analysis (bound when it needs an argument)."""
        if not isinstance(analysis_id, str):
            return False
        try:
            self.get(analysis_id)
        except PluginError:
            return False
        return True

    def keys_hint(self) -> str:
        """The analysis keys a document may have, for messages."""
        return ", ".join(
            f"{n}{ID_SEPARATOR}<{s.argument}>" if s.argument else n for n, s in sorted(self.specs.items())
        )

    def by_api(self, api: str) -> AnalysisSpec:
        for spec in self.specs.values():
            if spec.api == api:
                return spec
        raise PluginError(f"no analysis calls {api!r}")


def iam_grants(analysis_ids: Iterable[str], registry: AnalysisRegistry | None = None) -> dict[str, tuple[str, ...]]:
    """IAM action -> the resources the analyses need it on (``("*",)`` when any needs it
    unscoped, else the sorted project version ARNs), actions sorted."""
    registry = registry or default_analyses()
    wanted: dict[str, set[str]] = {}
    for analysis_id in analysis_ids:
        spec = registry.get(analysis_id)
        for action in spec.iam_actions:
            wanted.setdefault(action, set()).update(spec.iam_resources)
    return {
        action: ("*",) if "*" in resources else tuple(sorted(resources))
        for action, resources in sorted(wanted.items())
    }


def build_analyses(load_plugins: bool = True) -> AnalysisRegistry:
    """The built-in analyses plus (by default) every ``imgpipe.analyses`` entry point."""
    registry = AnalysisRegistry()
    for spec in BUILTIN_ANALYSES:
        registry.register(spec)
    if load_plugins:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                spec = ep.load()
                if isinstance(spec, AnalysisSpec) and spec.name != ep.name:
                    raise PluginError(f"entry point {ep.name!r} loads analysis {spec.name!r}")
                registry.register(spec)
            except Exception as exc:  # a broken plugin must not break the others
                registry.broken[ep.name] = f"plugin analysis {ep.value!r} failed: {exc}"
    return registry


@lru_cache(maxsize=1)
def default_analyses() -> AnalysisRegistry:
    """The process-wide analysis registry (entry points scanned once)."""
    return build_analyses()


def spec(name: str) -> AnalysisSpec:
    """The registered analysis called ``name``."""
    return default_analyses().get(name)
