"""Amazon Rekognition as a :class:`~analyzer.ports.Detector`, over an injected boto3 client.

Only the APIs a ruleset needs are called, once each per image, and DetectLabels asks only for the
``Features`` needed. Images go by S3 reference (up to 15 MB) or by bytes (5 MB, the laptop's
``--backend rekognition``).

Error classification: throttling and every other transient/unknown error propagate unwrapped
(the message is redelivered); errors that say "this image can never be analysed" become a
:class:`~analyzer.errors.PermanentImageError` whose reason starts with ``rekognition:``. A custom
model that cannot answer (not running, or no such ARN: :data:`MODEL_ERRORS`) is an operator's
problem, not the image's: a :class:`~analyzer.errors.ModelUnavailableError` naming the model, retried
like throttling (then the DLQ).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from analyzer.errors import ModelUnavailableError, PermanentImageError
from analyzer.ports import BytesImage, Detection, ImageSource, S3Image
from rules.analyses import AnalysisSpec
from rules.analyses import spec as analysis_spec
from rules.custom import CUSTOM_LABELS
from rules.features import Needs

if TYPE_CHECKING:
    from mypy_boto3_rekognition import RekognitionClient
else:
    RekognitionClient = Any

#: Rekognition error code -> machine-readable reason; permanent for that image.
PERMANENT_ERRORS: dict[str, str] = {
    "InvalidImageFormatException": "rekognition:invalid_image_format",
    "ImageTooLargeException": "rekognition:image_too_large",
    "InvalidS3ObjectException": "rekognition:invalid_s3_object",
    "InvalidParameterException": "rekognition:invalid_parameter",
}

#: Error codes that mean "slow down"; re-raised unwrapped so retry logic sees them.
THROTTLING_ERRORS = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "TooManyRequestsException",
    }
)

#: Error codes of a call to a custom model (a project version) saying the model cannot answer
#: now: raised as :class:`ModelUnavailableError` (retried; never the image's failure).
MODEL_ERRORS = frozenset({"ResourceNotReadyException", "ResourceNotFoundException"})

MAX_BYTES_IMAGE = 5 * 1024 * 1024


def client_config(retry_mode: str = "standard", max_attempts: int = 5) -> Config:
    """The botocore config for a Rekognition client: standard/adaptive retries."""
    return Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts})


def is_throttling(exc: BaseException) -> bool:
    """True for a Rekognition throttling error."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in THROTTLING_ERRORS


class RekognitionDetector:
    """Calls DetectLabels / DetectModerationLabels / DetectText as ``needs`` asks."""

    def __init__(
        self,
        client: RekognitionClient,
        *,
        client_for_region: Callable[[str], RekognitionClient] | None = None,
        labels_min_confidence: float | None = None,
        moderation_min_confidence: float | None = None,
        max_labels: int | None = None,
    ) -> None:
        self._client = client
        self._client_for_region = client_for_region
        self._labels_min_confidence = labels_min_confidence
        self._moderation_min_confidence = moderation_min_confidence
        self._max_labels = max_labels

    def detect(self, image: ImageSource, needs: Needs) -> Detection:
        client = self._client_for(image)
        param = image_param(image)
        detection = Detection()
        if needs.labels:
            kwargs: dict[str, Any] = {"Image": param, "Features": needs.label_features}
            if self._labels_min_confidence is not None:
                kwargs["MinConfidence"] = self._labels_min_confidence
            if self._max_labels is not None:
                kwargs["MaxLabels"] = self._max_labels
            resp = self._call(detection, "DetectLabels", client.detect_labels, kwargs)
            detection.responses["labels"] = resp
            _version(detection, "DetectLabels", resp, "LabelModelVersion")
        if needs.moderation:
            kwargs = {"Image": param}
            if self._moderation_min_confidence is not None:
                kwargs["MinConfidence"] = self._moderation_min_confidence
            resp = self._call(
                detection, "DetectModerationLabels", client.detect_moderation_labels, kwargs
            )
            detection.responses["moderation"] = resp
            _version(detection, "DetectModerationLabels", resp, "ModerationModelVersion")
        if needs.text:
            resp = self._call(detection, "DetectText", client.detect_text, {"Image": param})
            detection.responses["text"] = resp
            _version(detection, "DetectText", resp, "TextModelVersion")
        for name in sorted(needs.extra):  # registered analyses (faces, plugins'): rules.analyses
            extra = analysis_spec(name)
            kwargs = {"Image": param, **extra.params}
            method = getattr(client, extra.method)
            try:
                detection.responses[name] = self._call(detection, extra.api, method, kwargs)
            except ClientError as exc:
                unavailable = model_unavailable(extra, exc)
                if unavailable is None:
                    raise
                raise unavailable from exc
        return detection

    def _client_for(self, image: ImageSource) -> RekognitionClient:
        if (
            isinstance(image, S3Image)
            and image.region
            and self._client_for_region is not None
            and image.region != self._client.meta.region_name
        ):
            return self._client_for_region(image.region)
        return self._client

    @staticmethod
    def _call(
        detection: Detection,
        api: str,
        method: Callable[..., dict[str, Any]],
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:
        started = time.perf_counter()
        detection.calls[api] = detection.calls.get(api, 0) + 1
        try:
            response = method(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            reason = PERMANENT_ERRORS.get(code)
            if reason is None:
                raise  # throttling, access denied, service errors: retryable, unwrapped
            message = exc.response.get("Error", {}).get("Message", "")
            raise PermanentImageError(reason, f"{api}: {message}") from exc
        finally:
            # two models of one API (two Custom Labels models) add up
            spent = (time.perf_counter() - started) * 1000
            detection.timings_ms[api] = round(detection.timings_ms.get(api, 0.0) + spent, 3)
        response = dict(response)
        response.pop("ResponseMetadata", None)
        return response


def image_param(image: ImageSource) -> dict[str, Any]:
    """The ``Image`` parameter of a Rekognition call."""
    if isinstance(image, S3Image):
        s3obj: dict[str, str] = {"Bucket": image.bucket, "Name": image.key}
        if image.version_id:
            s3obj["Version"] = image.version_id
        return {"S3Object": s3obj}
    if isinstance(image, BytesImage):
        if len(image.data) > MAX_BYTES_IMAGE:
            raise PermanentImageError(
                "rekognition:image_too_large", f"{image.name}: more than 5 MB by value"
            )
        return {"Bytes": image.data}
    raise TypeError(f"not an image source: {image!r}")


def model_unavailable(spec: AnalysisSpec, exc: ClientError) -> ModelUnavailableError | None:
    """The error for a custom model that cannot answer (:data:`MODEL_ERRORS`), saying plainly
    what is wrong with which model and what to do; None for any other error."""
    code = exc.response.get("Error", {}).get("Code", "")
    model = spec.model
    if code not in MODEL_ERRORS or model is None:
        return None
    kind = spec.model_kind or f"{spec.kind} model"
    if code == "ResourceNotFoundException":
        problem = "was not found"
        fix = ("check the ARN in the rules file (account, region, project, version) and that the "
               "version was not deleted")
    elif spec.kind == CUSTOM_LABELS:
        problem = "is not running"
        fix = (f"start it (aws rekognition start-project-version --project-version-arn {model} "
               "--min-inference-units 1)")
    else:
        problem = "is not ready"
        fix = "wait until its training has finished, or train it again if it failed"
    return ModelUnavailableError(
        f"the {kind} {model} {problem} ({spec.api}: {code}); {fix}. The image waits under the "
        "input prefix: its message is retried, then kept in the DLQ; redrive it once the model "
        "answers",
        api=spec.api, code=code, model=model,
    )


def _version(detection: Detection, api: str, response: dict[str, Any], field: str) -> None:
    version = response.get(field)
    if isinstance(version, str):
        detection.model_versions[api] = version
