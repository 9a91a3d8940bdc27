"""Fakes at the ports and at the SDK: the one fake detector, a fake Rekognition client, an
in-memory storage that records its calls, a Lambda context, and the test rules."""

from __future__ import annotations

import io
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from PIL import Image

from analyzer.ports import Detection, ImageSource, ObjectInfo
from imgpipe import memory
from rules import Analysis, Needs, Ruleset, Verdict, parse_ruleset
from rules.analyses import spec as analysis_spec
from tests.support.faults import client_error
from tests.support.paths import REKOGNITION_DIRS, rekognition_response

REGION = "eu-west-1"
#: Every analysis the rules can ask for.
ALL_NEEDS = Needs.of("labels", "moderation", "text")

#: The rules of the analyzer's flows (tests/aws and the pipeline's unit tests).
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

#: The rules of the reliability suites (all three analyses).
RELIABILITY_RULES = r"""
version: 1
name: reliability
default_verdict: review
rules:
  - name: cat
    type: label_match
    labels: [Cat]
    outcome: success
  - name: unsafe
    type: moderation
    categories: [Violence, Explicit]
    min_confidence: 60
    outcome: failure
  - name: serial
    type: text_detection
    pattern: 'SN-\d{6}'
    outcome: tag
"""


def reliability_ruleset(text: str = RELIABILITY_RULES) -> Ruleset:
    return parse_ruleset(text, "reliability.yaml")


# --- recorded scenarios ------------------------------------------------------------------------

#: Scenario names of ``tests/events/rekognition/*/``, in the order a key is matched against them.
SCENARIO_NAMES = ("weapon", "serial_label", "cat", "dog", "invoice", "beach")

_CACHE: dict[tuple[str, str], dict[str, Any]] = {}
_CACHE_LOCK = threading.Lock()


def recorded(api_dir: str, scenario: str) -> dict[str, Any]:
    """A recorded response, read once per process (callers must not modify it)."""
    with _CACHE_LOCK:
        if (api_dir, scenario) not in _CACHE:
            _CACHE[(api_dir, scenario)] = rekognition_response(api_dir, scenario)
        return _CACHE[(api_dir, scenario)]


def scenario_for(name: str, scenarios: Mapping[str, str] | None = None) -> str:
    """The recorded scenario an object stands for: the first key of ``scenarios`` (default: the
    scenario names themselves) found in its name; ``empty`` if none is."""
    table = scenarios if scenarios is not None else {n: n for n in SCENARIO_NAMES}
    return next((s for sub, s in table.items() if sub in name), "empty")


def expected_verdict(rules: Ruleset, key: str) -> Verdict:
    """The verdict ``rules`` give an object named like ``key`` (by its recorded scenario)."""
    scenario = scenario_for(key)
    analysis = Analysis.from_responses(
        **{feature: recorded(api_dir, scenario) for feature, api_dir in REKOGNITION_DIRS.items()}
    )
    return rules.evaluate(analysis).verdict


# --- the detector --------------------------------------------------------------------------------


class FakeDetector:
    """The one fake :class:`~analyzer.ports.Detector`: answers the features asked for, counts
    calls like Rekognition, remembers what it saw, and fails on demand.

    Answers are ``responses`` (feature -> response) or, with ``scenarios`` (substring of the key
    -> scenario), the recorded responses of the scenario the image's key names
    (:func:`scenario_for`; :meth:`by_name` matches the scenario names themselves).
    ``error``: an exception to raise, or a function of the image returning one (or None).
    """

    def __init__(
        self,
        responses: Mapping[str, dict[str, Any]] | None = None,
        *,
        scenarios: Mapping[str, str] | None = None,
        error: BaseException | Callable[[ImageSource], BaseException | None] | None = None,
    ) -> None:
        self.responses = dict(responses or {})
        self.scenarios = None if scenarios is None else dict(scenarios)
        self.error = error
        self.images: list[ImageSource] = []
        self.needs: list[Needs] = []
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def for_scenarios(cls, scenarios: Mapping[str, str], **kwargs: Any) -> FakeDetector:
        """Recorded responses chosen by the key: ``{"cat": "cat", "astronaut": "beach"}``."""
        return cls(scenarios=scenarios, **kwargs)

    @classmethod
    def by_name(cls, **kwargs: Any) -> FakeDetector:
        """Recorded responses of the scenario named in the key (``.../weapon.jpg`` -> weapon)."""
        return cls(scenarios={n: n for n in SCENARIO_NAMES}, **kwargs)

    def _answers(self, image: ImageSource) -> Mapping[str, dict[str, Any]]:
        if self.scenarios is None:
            return self.responses
        name = image.key if hasattr(image, "key") else getattr(image, "name", "")
        scenario = scenario_for(name, self.scenarios)
        return {f: recorded(d, scenario) for f, d in REKOGNITION_DIRS.items()}

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        with self._lock:
            self.images.append(image)
            self.needs.append(needs)
        error = self.error(image) if callable(self.error) else self.error
        if error is not None:
            raise error
        answers = self._answers(image)
        detection = Detection()
        for feature in needs.features:  # an analysis id: labels, faces, custom_labels@ARN, ...
            api = analysis_spec(feature).api
            detection.responses[feature] = answers.get(feature, {})
            detection.calls[api] = detection.calls.get(api, 0) + 1
        with self._lock:
            self.calls.update(detection.calls)
        return detection


class FakeRekognition:
    """A Rekognition *client* answering with the recorded responses of the scenario named in the
    S3 key (moto's own Rekognition is canned); given an S3 client, it decodes each image first
    and refuses a broken one with InvalidImageFormatException, as Rekognition does."""

    class _Meta:
        region_name = REGION

    meta = _Meta()

    def __init__(self, s3: Any = None) -> None:
        self._s3 = s3

    def _validate(self, s3obj: Mapping[str, str]) -> None:
        data = self._s3.get_object(Bucket=s3obj["Bucket"], Key=s3obj["Name"])["Body"].read()
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
        except Exception as exc:  # Pillow raises many types for broken files
            raise client_error("InvalidImageFormatException", "Detect",
                               message=f"Request has invalid image format ({exc})") from exc

    def _answer(self, api_dir: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if self._s3 is not None:
            self._validate(kwargs["Image"]["S3Object"])
        return recorded(api_dir, scenario_for(kwargs["Image"]["S3Object"]["Name"]))

    def detect_labels(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("detect_labels", kwargs)

    def detect_moderation_labels(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("detect_moderation_labels", kwargs)

    def detect_text(self, **kwargs: Any) -> dict[str, Any]:
        return self._answer("detect_text", kwargs)


# --- storage, notifier, context -------------------------------------------------------------------


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


RecordingNotifier = memory.ListNotifier


class FakeContext:
    """The parts of a Lambda context the handler and Powertools use.

    ``remaining_ms=0`` is an invocation that died: its idempotency in-progress record has expired
    by the time SQS redelivers (as after a real timeout).
    """

    memory_limit_in_mb = 512

    def __init__(self, remaining_ms: int = 60_000, function_name: str = "imgpipe-analyzer-test"):
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining
