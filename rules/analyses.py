"""Analyses as a registry: each names its API, parameters, parser, IAM, price and local support.

The three original analyses (``labels``, ``moderation``, ``text``) are described here for the
tools (IAM, cost, replay) while the engine keeps their dedicated fields on
:class:`~rules.analysis.Analysis`; every further analysis (``faces`` today) and any plugin's
lives in ``Analysis.extra[name]``, parsed by its spec. Plugins register an :class:`AnalysisSpec`
under the entry-point group :data:`ENTRY_POINT_GROUP` (the entry point's name is the analysis
name). A rule asks for one with ``Needs(extra=frozenset({"faces"}))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from rules.errors import PluginError
from rules.faces import FACES, parse_faces
from rules.ppe import PPE, parse_persons

ENTRY_POINT_GROUP = "imgpipe.analyses"


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

    @property
    def unit(self) -> str:
        return self.price_unit or self.api

    def local_unavailable(self) -> str:
        """The message the local backend gives when no offline model stands in."""
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
        if spec.name in self.specs:
            raise PluginError(f"analysis {spec.name!r} is already registered")
        self.specs[spec.name] = spec

    def get(self, name: str) -> AnalysisSpec:
        spec = self.specs.get(name)
        if spec is None:
            why = self.broken.get(name, f"known analyses: {', '.join(sorted(self.specs))}")
            raise PluginError(f"unknown analysis {name!r}; {why}")
        return spec

    def by_api(self, api: str) -> AnalysisSpec:
        for spec in self.specs.values():
            if spec.api == api:
                return spec
        raise PluginError(f"no analysis calls {api!r}")


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
