"""The console as the pipeline's :class:`~analyzer.ports.Notifier`: one line per announced verdict.

It receives exactly what SNS would (subject, JSON body, verdict and categories attributes) and
keeps every notification in :attr:`sent`, so a run can be checked like a topic subscription.
"""

from __future__ import annotations

import threading

from rich.console import Console

from analyzer.ports import Notification
from imgpipe.textsafe import markup_safe as escape

VERDICT_STYLES = {"success": "green", "failure": "red", "review": "yellow"}


class ConsoleNotifier:
    """Prints ``verdict  path  (categories or reason)`` lines; thread-safe."""

    def __init__(
        self, console: Console | None = None, *, quiet: bool = False, strip_prefix: str = ""
    ) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.strip_prefix = strip_prefix
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
            key = str(body.get("source_key", ""))
            if self.strip_prefix and key.startswith(self.strip_prefix):
                key = key[len(self.strip_prefix) :]
            self.console.print(
                f"[bold {style}]{notification.verdict:<7}[/] {escape(key)}"
                f"  [dim]({escape(str(detail))})[/]",
                highlight=False,
            )
