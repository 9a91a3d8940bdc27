"""Amazon Rekognition content-moderation taxonomy, model version 7 (three levels).

Used as a fallback when a DetectModerationLabels response omits an ancestor level, and to catch
misspelt category names in rules files. Maps every label to its parent ("" for level 1).
"""

from __future__ import annotations

_TREE: dict[str, dict[str, tuple[str, ...]]] = {
    "Explicit": {
        "Explicit Nudity": (
            "Exposed Male Genitalia",
            "Exposed Female Genitalia",
            "Exposed Buttocks or Anus",
            "Exposed Female Nipple",
        ),
        "Explicit Sexual Activity": (),
        "Sex Toys": (),
    },
    "Non-Explicit Nudity of Intimate parts and Kissing": {
        "Non-Explicit Nudity": (
            "Bare Back",
            "Exposed Male Nipple",
            "Partially Exposed Buttocks",
            "Partially Exposed Female Breast",
            "Implied Nudity",
        ),
        "Obstructed Intimate Parts": ("Obstructed Female Nipple", "Obstructed Male Genitalia"),
        "Kissing on the Lips": (),
    },
    "Swimwear or Underwear": {
        "Female Swimwear or Underwear": (),
        "Male Swimwear or Underwear": (),
    },
    "Violence": {
        "Weapons": (),
        "Graphic Violence": (
            "Weapon Violence",
            "Physical Violence",
            "Self-Harm",
            "Blood & Gore",
            "Explosions and Blasts",
        ),
    },
    "Visually Disturbing": {
        "Death and Emaciation": ("Emaciated Bodies", "Corpses"),
        "Crashes": ("Air Crash",),
    },
    "Drugs & Tobacco": {
        "Products": ("Pills",),
        "Drugs & Tobacco Paraphernalia & Use": ("Smoking",),
    },
    "Alcohol": {
        "Alcohol Use": ("Drinking",),
        "Alcoholic Beverages": (),
    },
    "Rude Gestures": {"Middle Finger": ()},
    "Gambling": {},
    "Hate Symbols": {"Nazi Party": (), "White Supremacy": (), "Extremist": ()},
}


def _flatten() -> dict[str, str]:
    parents: dict[str, str] = {}
    for top, children in _TREE.items():
        parents[top] = ""
        for child, grandchildren in children.items():
            parents[child] = top
            for grandchild in grandchildren:
                parents[grandchild] = child
    return parents


#: label name -> parent name ("" for a top-level category)
PARENT: dict[str, str] = _flatten()

#: casefolded label name -> canonical spelling
CANONICAL: dict[str, str] = {name.casefold(): name for name in PARENT}

#: the level-1 categories, in documentation order
TOP_LEVEL: tuple[str, ...] = tuple(_TREE)

MODEL_VERSION = "7.0"


def _chain(name: str) -> tuple[str, ...]:
    found: list[str] = []
    parent = PARENT.get(name, "")
    while parent:
        found.append(parent)
        parent = PARENT.get(parent, "")
    return tuple(found)


#: casefolded label name -> its documented ancestors, nearest first
ANCESTORS: dict[str, tuple[str, ...]] = {name.casefold(): _chain(name) for name in PARENT}


def ancestors(name: str) -> list[str]:
    """The documented ancestors of a label, nearest first (empty when unknown or top level)."""
    return list(ANCESTORS.get(name.casefold(), ()))
