"""The console as the pipeline's :class:`~analyzer.ports.Notifier`: one line per announced verdict.

It receives exactly what SNS would (subject, JSON body, verdict and categories attributes) and
keeps every notification in :attr:`sent`, so a run can be checked like a topic subscription.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape

from analyzer.ports import Notification

VERDICT_STYLES = {"success": "green", "failure": "red", "review": "yellow"}


class ConsoleNotifier:
    """Prints ``verdict  path  (categories or reason)`` lines; thread-safe."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.sent: list[Notification] = []
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)
            if self.quiet:
                return
            body = notification.body
            style = VERDICT_STYLES.get(notification.verdict, "white")
            detail = body.get("reason") or ", ".join(notification.categories) or "no rule matched"
            self.console.print(
                f"[bold {style}]{notification.verdict:<7}[/] {escape(str(body.get('source_key', '')))}"
                f"  [dim]({escape(str(detail))})[/]",
                highlight=False,
            )
