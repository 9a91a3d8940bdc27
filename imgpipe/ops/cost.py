"""What a ruleset costs in Rekognition calls, from the analyses it needs.

The analyzer calls each needed API once per image (and DetectLabels once even when it asks for
several ``Features``), so the calls per image follow from ``Ruleset.needs`` alone. Images
rejected by the pre-checks cost nothing; the estimate is the upper bound for N accepted images.

Prices
------
ONE table, :data:`PRICES`: US dollars per 1,000 images at the first volume tier (the first
1 million images a month), US East (N. Virginia). These are **list prices as we recorded them
on** :data:`PRICES_CHECKED_ON` — not fetched live: check https://aws.amazon.com/rekognition/pricing/
before quoting, and update this table (and the date) when they change. Other regions and higher
tiers differ.

Assumption: DetectLabels with the ``IMAGE_PROPERTIES`` feature is billed as an **extra unit** on
top of the label detection (the pricing page lists Image Properties separately), so a call with
``GENERAL_LABELS`` + ``IMAGE_PROPERTIES`` is two billed units and a call with
``IMAGE_PROPERTIES`` only is one Image Properties unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from rules.analyses import default_analyses
from rules.analyses import spec as analysis_spec
from rules.features import Needs

#: The date the prices below were last compared with the pricing page.
PRICES_CHECKED_ON = "2026-11-29"

#: Billing unit -> USD per 1,000 images, first tier (US East). Edit here, nowhere else.
PRICES: dict[str, Decimal] = {
    "DetectLabels": Decimal("1.00"),
    "DetectLabels:IMAGE_PROPERTIES": Decimal("0.75"),
    "DetectModerationLabels": Decimal("1.00"),
    "DetectText": Decimal("1.00"),
    "DetectFaces": Decimal("1.00"),
    "DetectProtectiveEquipment": Decimal("1.00"),
    # per image with a custom moderation adapter: assumed equal to DetectModerationLabels
    "DetectModerationLabels:adapter": Decimal("1.00"),
    # Custom Labels bill the running model per inference hour, not per image: see PRICE_NOTES
    "DetectCustomLabels": Decimal("0"),
}


@dataclass(frozen=True, slots=True)
class CostLine:
    """One billed unit: how many per image, and what N images cost."""

    unit: str
    per_image: int
    calls: int
    usd_per_1000: Decimal
    usd: Decimal


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Calls and cost for ``images`` images under one ruleset."""

    images: int
    api_calls_per_image: list[str]
    label_features: list[str]
    lines: list[CostLine] = field(default_factory=list)
    #: billed unit -> how it is billed when not per image (Custom Labels: per inference hour)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        """Rekognition API requests (one DetectLabels request may bill two units)."""
        return self.images * len(self.api_calls_per_image)

    @property
    def usd(self) -> Decimal:
        return sum((line.usd for line in self.lines), Decimal("0"))

    @property
    def usd_per_1000(self) -> Decimal:
        return sum((line.usd_per_1000 * line.per_image for line in self.lines), Decimal("0"))

    def to_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "api_calls_per_image": list(self.api_calls_per_image),
            "label_features": list(self.label_features),
            "calls": self.calls,
            "lines": [
                {"unit": ln.unit, "per_image": ln.per_image, "calls": ln.calls,
                 "usd_per_1000": str(ln.usd_per_1000), "usd": str(ln.usd)}
                for ln in self.lines
            ],
            "usd": str(self.usd),
            "usd_per_1000_images": str(self.usd_per_1000),
            "not_per_image": dict(self.notes),
            "prices_checked_on": PRICES_CHECKED_ON,
        }


def billed_units(needs: Needs) -> list[str]:
    """The billing units one image costs under ``needs`` (keys of :data:`PRICES`)."""
    units: list[str] = []
    if "GENERAL_LABELS" in needs.labels:
        units.append("DetectLabels")
    if "IMAGE_PROPERTIES" in needs.labels:
        units.append("DetectLabels:IMAGE_PROPERTIES")
    if needs.moderation:
        units.append("DetectModerationLabels")
    if needs.text:
        units.append("DetectText")
    units += [analysis_spec(name).unit for name in sorted(needs.extra)]
    return units


def estimate_cost(
    needs: Needs, images: int, prices: dict[str, Decimal] | None = None
) -> CostEstimate:
    """Rekognition calls and cost of analysing ``images`` images with these needs."""
    if images < 0:
        raise ValueError("the number of images cannot be negative")
    table = PRICES if prices is None else prices
    lines = []
    for unit in billed_units(needs):
        per_1000 = table[unit] if unit in table else _registered_price(unit)
        usd = (per_1000 * images / 1000).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        lines.append(CostLine(unit, 1, images, per_1000, usd))
    notes = {}
    for analysis_id in sorted(needs.extra):
        spec = analysis_spec(analysis_id)
        if spec.price_note:
            notes[spec.unit] = spec.price_note
    return CostEstimate(images, needs.api_calls, needs.label_features, lines, notes)


def _registered_price(unit: str) -> Decimal:
    """The price a registered analysis declares (plugins'); the built-ins are in PRICES."""
    for spec in default_analyses().specs.values():
        if spec.unit == unit:
            return spec.usd_per_1000
    raise KeyError(unit)
