"""ImageNet class probabilities (+ detected objects and faces) -> a DetectLabels-shaped response.

The curated table ``data/label_map.json`` maps each ImageNet-1k class onto general,
Rekognition-style labels (``Cat`` -> ``Pet``/``Mammal``/``Animal``, ``espresso`` -> ``Coffee`` and
``Coffee Cup`` -> ``Cup``, ...). A general label's confidence is the probability mass of every
class that implies it (so three kinds of cat at 38 %, 36 % and 17 % give ``Cat`` 91), and each
label is also reported with all its ancestors in ``Parents``, as Rekognition does. The class
itself is reported too (``Egyptian Cat``) when its own probability reaches the floor.

Objects (YOLOX-Nano, 80 COCO classes, :mod:`imgpipe.local.objects`) are mapped through
``data/coco_labels.json`` onto labels of the same table (``car`` -> ``Car``, parents ``Vehicle``,
``Transportation``); a detected label gets the best of its boxes' confidences and the classifier's
score, its boxes as ``Instances``, and its ancestors at least that confidence. An animal box
whose class the classifier contradicts goes to the classifier's animal label instead
(:data:`SURE`). With objects, ``Person`` comes only from the object detector (never from faces
or from the three ImageNet classes that show people) and faces give ``Face`` and ``Head``.
Without objects (the legacy models), faces give ``Person`` and ``Face``, as before.

Labels below :data:`MIN_CONFIDENCE` are not reported (Rekognition's own default floor is 55).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from imgpipe.local.objects import ObjectBox

#: Labels under this confidence (0..100) are left out of the response.
MIN_CONFIDENCE = 50.0
#: When the classifier is this sure (0..100) of an animal label and gives the object detector's
#: animal class less than :data:`CONTRADICTED`, the detector's box is reported under the
#: classifier's most specific animal label (YOLOX-Nano knows 10 animals; a squirrel comes out
#: as a bird, a small dog as a cat).
SURE = 80.0
CONTRADICTED = 20.0
LABEL_MODEL_VERSION = "local:efficientnet-lite0+yolox-nano+centerface"
LEGACY_LABEL_MODEL_VERSION = "local:efficientnet-lite0+haar-faces"


@dataclass(frozen=True, slots=True)
class Box:
    """A box as ratios of the image size (Rekognition's ``BoundingBox``)."""

    left: float
    top: float
    width: float
    height: float

    def to_dict(self) -> dict[str, float]:
        return {
            "Width": round(self.width, 6),
            "Height": round(self.height, 6),
            "Left": round(self.left, 6),
            "Top": round(self.top, 6),
        }


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face with its confidence (0..100)."""

    box: Box
    confidence: float


@dataclass(frozen=True, slots=True)
class LabelInfo:
    parents: tuple[str, ...]  # all ancestors, nearest first
    aliases: tuple[str, ...]
    categories: tuple[str, ...]


def _load(name: str) -> Any:
    return json.loads(
        resources.files("imgpipe.local").joinpath("data").joinpath(name).read_text("utf-8")
    )


def _parse_ids(ids: str) -> list[int]:
    out: list[int] = []
    for part in ids.split(","):
        first, _, last = part.strip().partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def _title(lemma: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in lemma.split(" "))


class LabelMap:
    """The curated ImageNet -> general-label table, with ancestors resolved."""

    def __init__(
        self,
        table: dict[str, Any],
        classes: Sequence[Sequence[str]],
        coco: Sequence[Sequence[str]] = (),
    ) -> None:
        raw: dict[str, dict[str, list[str]]] = table["labels"]
        self.info: dict[str, LabelInfo] = {}
        for name in raw:
            self.info[name] = LabelInfo(
                parents=tuple(self._ancestors(name, raw)),
                aliases=tuple(raw[name].get("aliases", [])),
                categories=tuple(raw[name].get("categories", [])),
            )
        self.general: list[tuple[str, ...]] = [() for _ in classes]
        for entry in table["classes"]:
            for idx in _parse_ids(entry["ids"]):
                self.general[idx] = tuple(entry["labels"])
        names: dict[str, str] = table.get("names", {})
        self.class_names = [
            names.get(str(i), _title(lemmas.split(",")[0].strip()))
            for i, (_, lemmas) in enumerate(classes)
        ]
        #: per class: every general label it implies (its labels and their ancestors)
        self.implied: list[frozenset[str]] = [
            frozenset(x for g in labels for x in (g, *self.info[g].parents))
            for labels in self.general
        ]
        #: per COCO class index (the object detector's output order): the label it is reported as
        self.coco: list[str] = [str(label) for _, label in coco]
        unknown = [label for label in self.coco if label not in self.info]
        if unknown:
            raise ValueError(f"COCO labels missing from the label table: {unknown}")

    def _is_animal(self, name: str) -> bool:
        return "Animal" in self.info[name].parents

    def _classifier_animal(self, scores: dict[str, float]) -> str | None:
        """The most specific animal label the classifier is sure of (>= :data:`SURE`), if any."""
        sure = [n for n, c in scores.items() if c >= SURE and n in self.info and self._is_animal(n)]
        if not sure:
            return None
        return max(sure, key=lambda n: (len(self.info[n].parents), scores[n]))

    @staticmethod
    def _ancestors(name: str, raw: dict[str, dict[str, list[str]]]) -> list[str]:
        order: list[str] = []
        queue = list(raw[name].get("parents", []))
        while queue:
            parent = queue.pop(0)
            if parent in order or parent == name:
                continue
            order.append(parent)
            queue.extend(raw[parent].get("parents", []))
        return order

    def labels(
        self,
        probabilities: np.ndarray,
        faces: Sequence[FaceBox] = (),
        min_confidence: float = MIN_CONFIDENCE,
        *,
        objects: Sequence[ObjectBox] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``Labels`` list of a DetectLabels response, most confident first.

        ``objects=None`` is the legacy path (no object detector: faces make ``Person``).
        """
        scores: dict[str, float] = {}
        for idx in np.flatnonzero(probabilities >= 1e-4):
            p = float(probabilities[idx]) * 100.0
            for name in self.implied[idx]:
                scores[name] = scores.get(name, 0.0) + p
        specific: dict[str, tuple[float, int]] = {}
        for idx in np.flatnonzero(probabilities * 100.0 >= min_confidence / 2):
            name = self.class_names[idx]
            prev = specific.get(name, (0.0, int(idx)))
            specific[name] = (prev[0] + float(probabilities[idx]) * 100.0, prev[1])
        instances: dict[str, list[FaceBox]] = {}
        if objects is None:
            if faces:
                best = max(f.confidence for f in faces)
                for name in ("Person", "Face"):
                    scores[name] = max(scores.get(name, 0.0), best)
                    instances[name] = list(faces)
        else:
            scores.pop("Person", None)  # people come from the person detector only
            species = self._classifier_animal(scores)
            for obj in objects:
                name = self.coco[obj.class_id]
                if species and scores.get(name, 0.0) < CONTRADICTED and self._is_animal(name):
                    name = species  # e.g. the detector's "cat" box on what the classifier sees as a dog
                instances.setdefault(name, []).append(FaceBox(obj.box, obj.confidence))
            if faces:
                instances["Face"] = list(faces)
            for name, boxes in instances.items():
                best = max(b.confidence for b in boxes)
                implied = (name, *self.info[name].parents)
                if name == "Face":
                    implied = ("Face", "Head")  # a face alone never makes a Person
                for label in implied:
                    scores[label] = max(scores.get(label, 0.0), best)
        out: list[dict[str, Any]] = []
        for name, conf in scores.items():
            if conf >= min_confidence:
                info = self.info[name]
                out.append(
                    _label(
                        name,
                        conf,
                        info.parents,
                        info.aliases,
                        info.categories,
                        instances.get(name, ()),
                    )
                )
        for name, (conf, cls) in specific.items():
            if conf < min_confidence or name in scores:
                continue
            parents = _unique(x for g in self.general[cls] for x in (g, *self.info[g].parents))
            categories = _unique(c for g in self.general[cls] for c in self.info[g].categories)
            out.append(_label(name, conf, parents, (), categories, ()))
        out.sort(key=lambda lab: (-lab["Confidence"], lab["Name"]))
        return out


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _label(
    name: str,
    confidence: float,
    parents: Sequence[str],
    aliases: Sequence[str],
    categories: Sequence[str],
    faces: Sequence[FaceBox],
) -> dict[str, Any]:
    return {
        "Name": name,
        "Confidence": round(min(confidence, 100.0), 4),
        "Instances": [
            {"BoundingBox": f.box.to_dict(), "Confidence": round(f.confidence, 4)} for f in faces
        ],
        "Parents": [{"Name": p} for p in parents],
        "Aliases": [{"Name": a} for a in aliases],
        "Categories": [{"Name": c} for c in categories],
    }


@cache
def label_map() -> LabelMap:
    """The bundled table (loaded once)."""
    return LabelMap(
        _load("label_map.json"),
        _load("imagenet_classes.json")["classes"],
        _load("coco_labels.json")["classes"],
    )
