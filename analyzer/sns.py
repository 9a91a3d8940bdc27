"""SNS as a :class:`~analyzer.ports.Notifier`, over an injected boto3 client (CONTRACTS §5)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from analyzer.errors import NotificationNotSentError
from analyzer.ports import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
else:
    SNSClient = Any

_SUBJECT_MAX = 99  # SNS: fewer than 100 printable ASCII characters, no line breaks
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class SnsNotifier:
    """Publishes the JSON body with ``verdict`` (String) and ``categories`` (String.Array).

    A refusal SNS answered with a 4xx (throttling, authorisation, KMS, a missing topic) or a
    connection that was never made is certain not to have delivered anything: it is raised as
    :class:`NotificationNotSentError` so the pipeline keeps the announcement owed. Anything else
    (a 5xx, a read timeout) may have been delivered and propagates unchanged.
    """

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def notify(self, notification: Notification) -> None:
        try:
            self._publish(notification)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(status, int) and 400 <= status < 500:
                code = exc.response.get("Error", {}).get("Code", "")
                raise NotificationNotSentError(f"SNS refused the publish: {code}") from exc
            raise
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise NotificationNotSentError(f"SNS not reached: {exc}") from exc

    def _publish(self, notification: Notification) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=sns_subject(notification.subject),
            Message=json.dumps(dict(notification.body), ensure_ascii=False, default=str),
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
