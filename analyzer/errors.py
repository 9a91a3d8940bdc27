"""Errors of the analyzer package; all derive from :class:`AnalyzerError`."""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base class of every analyzer error."""


class PermanentImageError(AnalyzerError):
    """The image can never be analysed; it goes to the failure folder with ``reason``."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


class ModelUnavailableError(AnalyzerError):
    """A custom model (a Custom Labels model, a moderation adapter) cannot answer: it is not
    running, or its ARN names none. An operator's problem, never the image's: the message is
    retried like throttling and kept in the DLQ after maxReceiveCount; the image waits under the
    input prefix until the model runs and the DLQ is redriven."""

    def __init__(self, message: str, *, api: str, code: str, model: str) -> None:
        super().__init__(message)
        self.api = api
        self.code = code
        self.model = model  # the project version ARN


class DeliveryUnknownError(AnalyzerError):
    """A notification may or may not have been delivered: the request went out, the answer was lost."""


class MalformedRecordError(AnalyzerError):
    """An SQS record whose body is not an S3 event notification."""


class ConfigError(AnalyzerError):
    """The analyzer's environment is invalid."""
