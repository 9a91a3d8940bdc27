"""Calls per image under each call plan, on a realistic mixed feed (5 % unsafe by default).

The feed is synthetic but shaped like a user-upload stream: each image has the responses every
analysis would give (built with :func:`rules.testing.responses`), so a ruleset's plans can be
compared without Rekognition. One cycle of 20 images: 1 unsafe (explicit or violent, in turn),
1 borderline (swimwear), 3 with people (one of them a child), 6 animals, 4 products (one with a
barcode), 2 documents, 3 landscapes. ``unsafe`` other than 0.05 replaces landscapes or animals
so that the share of unsafe images is the one asked for.

Used by ``imgpipe cost`` and ``bench/calls_bench.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rules.analyses import split_id
from rules.custom import MODERATION_ADAPTER
from rules.planning import CallPlan, run_plan
from rules.ppe import PPE
from rules.ruleset import Ruleset
from rules.testing import complete, responses

Doc = dict[str, Any]

_ADULT = [{"age": [29, 41]}]
_CHILD = [{"age": [5, 11]}]

_KINDS: dict[str, Doc] = {
    "explicit": responses(labels={"Person": 97}, moderation={"Explicit": 96, "Exposed Female Genitalia": 91},
                          faces=_ADULT),
    "violent": responses(labels={"Weapon": 94, "Person": 96}, moderation={"Graphic Violence": 92},
                         faces=_ADULT),
    "swimwear": responses(labels={"Beach": 98, "Person": 97}, moderation={"Swimwear or Underwear": 88},
                          faces=_ADULT),
    "people": responses(labels={"Person": 98, "Smile": 90}, faces=_ADULT),
    "child": responses(labels={"Person": 97, "Child": 93}, faces=_CHILD),
    "animal": responses(labels={"Animal": 97, "Dog": 95, "Mammal": 96}),
    "deer": responses(labels={"Animal": 98, "Deer": 96, "Wildlife": 93}),
    "product": responses(labels={"Shoe": 97, "Footwear": 97}),
    "barcode": responses(labels={"Bag": 95}, text=["4006381333931"]),
    "document": responses(labels={"Document": 97, "Paper": 92}, text=["INVOICE INV-2024-0042", "Total 12.00"]),
    "landscape": responses(labels={"Tree": 96, "Grass": 93, "Nature": 95}),
}
for _doc in _KINDS.values():
    _doc[PPE] = {"Persons": []}

#: One cycle of 20 images, 1 of them unsafe (5 %).
CYCLE: tuple[str, ...] = (
    "explicit", "swimwear", "people", "child", "people",
    "animal", "deer", "animal", "deer", "animal", "deer",
    "product", "product", "product", "barcode",
    "document", "document",
    "landscape", "landscape", "landscape",
)


def mixed_feed(images: int = 1000, unsafe: float = 0.05) -> Iterator[Doc]:
    """``images`` ANALYSIS.json documents; ``round(images * unsafe)`` of them unsafe, spread evenly."""
    if not 0 <= unsafe <= 1:
        raise ValueError("unsafe is a share between 0 and 1")
    bad = round(images * unsafe)
    violent = False
    for i in range(images):
        # the i-th image is unsafe when it crosses the next multiple of images/bad
        if bad and (i * bad) // images != ((i + 1) * bad) // images:
            violent = not violent
            yield _KINDS["violent" if violent else "explicit"]
            continue
        kind = CYCLE[i % len(CYCLE)]
        if kind in ("explicit", "violent"):
            kind = "landscape"
        yield _KINDS[kind]


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """Calls per image on a feed, under one plan."""

    plan: str
    images: int
    calls: int
    skipped: int

    @property
    def per_image(self) -> float:
        return self.calls / self.images if self.images else 0.0


def for_ruleset(doc: Doc, ruleset: Ruleset) -> Doc:
    """``doc`` with the ruleset's custom models: a moderation adapter answers what the base
    model does (its ``ProjectVersion`` echoed); a Custom Labels model finds nothing."""
    out = dict(doc)
    for analysis_id in ruleset.needs.extra:
        name, argument = split_id(analysis_id)
        if name == MODERATION_ADAPTER and argument:
            out[analysis_id] = {**doc["moderation"], "ProjectVersion": argument}
    return complete(out, ruleset.needs)


def measure(ruleset: Ruleset, plan: CallPlan | str, images: int = 1000, unsafe: float = 0.05) -> PlanFigures:
    """Run the plan (the analyzer's own :func:`rules.planning.run_plan`) over the mixed feed."""
    calls = skipped = 0
    for raw in mixed_feed(images, unsafe):
        doc = for_ruleset(raw, ruleset)
        run = run_plan(ruleset, lambda name, _needs, doc=doc: doc[name], CallPlan(plan))
        calls += len(run.responses)
        skipped += len(run.skipped)
    return PlanFigures(str(CallPlan(plan)), images, calls, skipped)
