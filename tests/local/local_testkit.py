"""Helpers shared by the local-pipeline tests (registered by file path in conftest.py: with
pytest's importlib import mode test folders are not on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

from rules import Needs

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
DEMO_RULES = SAMPLES / "demo-rules.yaml"
ALL_NEEDS = Needs.of("labels", "moderation", "text")
PHOTOS = (
    "animals/cat.jpg",
    "animals/raccoon.jpg",
    "objects/coffee-cup.jpg",
    "objects/rocket.jpg",
    "people/astronaut.jpg",
    "people/grace-hopper.jpg",
    "documents/printed-page.png",
)


def sample(rel: str) -> bytes:
    return (SAMPLES / rel).read_bytes()
