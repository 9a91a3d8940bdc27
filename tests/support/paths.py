"""Where the repository's test data lives, and readers for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
SAMPLES = ROOT / "samples"
DEMO_RULES = SAMPLES / "demo-rules.yaml"
SAMPLE_JPEG = SAMPLES / "animals" / "cat.jpg"
#: Real photos with known content (and one document) among the samples.
PHOTOS = (
    "animals/cat.jpg",
    "animals/raccoon.jpg",
    "objects/coffee-cup.jpg",
    "objects/rocket.jpg",
    "people/astronaut.jpg",
    "people/grace-hopper.jpg",
    "documents/printed-page.png",
)
#: Folders of ``tests/events/rekognition/`` per analysis.
REKOGNITION_DIRS = {
    "labels": "detect_labels",
    "moderation": "detect_moderation_labels",
    "text": "detect_text",
}


def load_event(relative: str) -> Any:
    """A JSON fixture from tests/events/."""
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


def sample(relative: str) -> bytes:
    """The bytes of a file under samples/."""
    return (SAMPLES / relative).read_bytes()


def rekognition_response(api_dir: str, scenario: str) -> dict[str, Any]:
    """A recorded Rekognition response: ``tests/events/rekognition/<api_dir>/<scenario>.json``."""
    data: dict[str, Any] = load_event(f"rekognition/{api_dir}/{scenario}.json")
    return data
