"""Keep plugin code's output away from a program's stdout.

The engine runs plugin code (import, validation, ``evaluate``) inside :func:`plugin_code`; a
program whose stdout is machine-readable (the CLI's ``--json``) installs :class:`StdoutRouter`
as ``sys.stdout``, which sends whatever is written from inside plugin code to stderr instead.
Thread-safe: the flag is per thread, so one thread's plugin call never redirects another's output.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import IO, Any

_state = threading.local()


class _PluginCode:
    """Context manager marking the current thread as running plugin code (re-entrant)."""

    __slots__ = ()

    def __enter__(self) -> None:
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _state.depth -= 1


_PLUGIN_CODE = _PluginCode()


def plugin_code() -> _PluginCode:
    """``with plugin_code(): ...`` — output written meanwhile goes to the router's plugin sink."""
    return _PLUGIN_CODE


def in_plugin_code() -> bool:
    return bool(getattr(_state, "depth", 0))


class StdoutRouter:
    """A ``sys.stdout`` replacement: writes from plugin code go to ``sink`` (stderr)."""

    def __init__(self, real: IO[str], sink: IO[str]) -> None:
        self.real = real
        self.sink = sink

    def write(self, text: str) -> int:
        return (self.sink if in_plugin_code() else self.real).write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.real.flush()
        self.sink.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)
