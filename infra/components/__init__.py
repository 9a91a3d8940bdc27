"""Component resources (``imgpipe:index:<Name>``): each builds its children with
``parent=self`` and registers its outputs last. Only this package and the programs import pulumi."""

from __future__ import annotations

from infra.components.encryption import Encryption, EncryptionArgs
from infra.components.function import AnalyzerFunction, AnalyzerFunctionArgs
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.notification import Notification, NotificationArgs
from infra.components.queueing import Queueing, QueueingArgs
from infra.components.storage import Storage, StorageArgs

__all__ = [
    "AnalyzerFunction",
    "AnalyzerFunctionArgs",
    "Encryption",
    "EncryptionArgs",
    "Monitoring",
    "MonitoringArgs",
    "Notification",
    "NotificationArgs",
    "Queueing",
    "QueueingArgs",
    "Storage",
    "StorageArgs",
]
