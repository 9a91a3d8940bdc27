"""In-memory ports and real image bytes for the analyzer's pure tests."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from analyzer.ports import Detection, ImageSource, ObjectInfo
from imgpipe import memory
from rules import Needs

RULES = """
version: 1
name: wildlife-test
default_verdict: failure
rules:
  - name: big-cat
    type: label_match
    labels: [Cat]
    outcome: success
    category: felines
  - name: people
    type: label_match
    labels: [Person]
    outcome: review
    category: people
  - name: unsafe
    type: moderation
    categories: [Violence]
    outcome: failure
"""

LABELS_ONLY_RULES = """
version: 1
name: labels-only
rules:
  - name: cat
    type: label_match
    labels: [Cat]
    outcome: success
"""

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"
EVENTS = ROOT / "tests" / "events"


def sample(relative: str) -> bytes:
    return (SAMPLES / relative).read_bytes()


def rekognition_response(api_dir: str, name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "rekognition" / api_dir / f"{name}.json").read_text())


def picture(width: int = 320, height: int = 240, fmt: str = "JPEG") -> bytes:
    """A real drawn picture (gradient + shapes) encoded by Pillow."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, max(1, width // 32)):
        draw.line([(x, 0), (x, height)], fill=(x * 255 // max(1, width), 90, 160))
    draw.ellipse([width // 4, height // 4, width * 3 // 4, height * 3 // 4], fill=(240, 200, 40))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


class MemoryStorage(memory.MemoryStorage):
    """The in-memory storage of :mod:`imgpipe.memory`, recording calls and failing on demand.

    ``fail_on[name] = exc`` raises ``exc`` once at the next call of that step.
    """

    def __init__(self, objects: Mapping[str, bytes] | None = None) -> None:
        super().__init__(objects)
        self.calls: list[tuple[str, str]] = []
        self.fail_on: dict[str, BaseException] = {}

    def _call(self, name: str, key: str) -> None:
        with self._lock:
            self.calls.append((name, key))
            exc = self.fail_on.pop(name, None)
        if exc is not None:
            raise exc

    def head(self, key: str) -> ObjectInfo | None:
        self._call("head", key)
        return super().head(key)

    def read_head(self, key: str, length: int) -> bytes:
        self._call("read_head", key)
        return super().read_head(key, length)

    def copy(self, info: ObjectInfo, dest_key: str, tags: Mapping[str, str]) -> None:
        self._call("copy", dest_key)
        super().copy(info, dest_key, tags)

    def put_record(self, key: str, record: Mapping[str, Any]) -> None:
        self._call("put_record", key)
        super().put_record(key, record)

    def delete(self, key: str) -> None:
        self._call("delete", key)
        super().delete(key)


class FakeDetector:
    """Returns canned responses for the features asked for; counts calls like Rekognition."""

    API = {"labels": "DetectLabels", "moderation": "DetectModerationLabels", "text": "DetectText"}

    def __init__(
        self,
        responses: Mapping[str, dict[str, Any]] | None = None,
        *,
        error: BaseException | Callable[[ImageSource], BaseException | None] | None = None,
    ) -> None:
        self.responses = dict(responses or {})
        self.error = error
        self.images: list[ImageSource] = []
        self.needs: list[Needs] = []
        self._lock = threading.Lock()

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        with self._lock:
            self.images.append(image)
            self.needs.append(needs)
        error = self.error(image) if callable(self.error) else self.error
        if error is not None:
            raise error
        detection = Detection()
        for feature in needs.features:
            detection.responses[feature] = self.responses.get(feature, {})
            detection.calls[self.API[feature]] = 1
        return detection


RecordingNotifier = memory.ListNotifier


class ScenarioDetector(FakeDetector):
    """Answers with the recorded responses of a scenario chosen by the image's file name.

    ``scenarios`` maps a substring of the key (or bytes name) to a scenario of
    ``tests/events/rekognition/<api>/<scenario>.json``; unmatched images get ``empty``.
    """

    DIRS = {"labels": "detect_labels", "moderation": "detect_moderation_labels", "text": "detect_text"}

    def __init__(self, scenarios: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenarios = dict(scenarios)

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        name = image.key if hasattr(image, "key") else getattr(image, "name", "")
        scenario = next((s for sub, s in self.scenarios.items() if sub in name), "empty")
        self.responses = {f: rekognition_response(d, scenario) for f, d in self.DIRS.items()}
        return super().detect(image, needs)


class FakeContext:
    """The parts of a Lambda context the handler and Powertools use."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.function_name = "imgpipe-analyzer-test"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:imgpipe-analyzer-test"
        self.aws_request_id = str(uuid.uuid4())
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining
