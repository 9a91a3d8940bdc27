"""SNS as a :class:`~analyzer.ports.Notifier`, over an injected boto3 client (docs/contracts.md §5)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from analyzer.errors import DeliveryUnknownError
from analyzer.messages import stack_label, verdict_messages
from analyzer.ports import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
else:
    SNSClient = Any

_SUBJECT_MAX = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class SnsNotifier:
    """Publishes one message per protocol (:mod:`analyzer.messages`: short SMS, readable email,
    the versioned JSON body for everyone else) with ``verdict`` (String) and ``categories``
    (String.Array) attributes."""

    def __init__(self, client: SNSClient, topic_arn: str, stack: str | None = None) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.stack = stack or stack_label()

    def notify(self, notification: Notification) -> None:
        try:
            self._publish(notification)
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            # the request was sent; SNS may have accepted it before the answer was lost
            raise DeliveryUnknownError(f"publish to {self.topic_arn}: {exc}") from exc

    def _publish(self, notification: Notification) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=sns_subject(notification.subject),
            Message=verdict_messages(notification.body, self.stack),
            MessageStructure="json",
            MessageAttributes={
                "verdict": {"DataType": "String", "StringValue": notification.verdict},
                "categories": {
                    "DataType": "String.Array",
                    "StringValue": json.dumps(list(notification.categories)),
                },
            },
        )


def sns_subject(text: str) -> str:
    """A subject SNS accepts: printable ASCII, one line, fewer than 100 characters."""
    clean = _NOT_PRINTABLE.sub("?", " ".join(text.split())).strip() or "imgpipe"
    if len(clean) > _SUBJECT_MAX:
        clean = clean[: _SUBJECT_MAX - 3].rstrip() + "..."
    return clean
