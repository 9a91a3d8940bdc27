"""Untrusted text (read from images, labels, file names, plugins) made safe for a terminal.

:func:`printable` removes terminal escape sequences (CSI ``ESC [ ... m``, OSC ``ESC ] ... BEL``
and the rest) and shows every other control character (newline, carriage return, tab, DEL, C1,
bidirectional overrides) as a visible escape such as ``\\n``, so a name cannot split a line or
repaint the screen. :func:`markup_safe` does that and escapes Rich console markup (``[/]``,
``[red]``), for text printed through a Rich console.
"""

from __future__ import annotations

import re

from rich.markup import escape

# ESC followed by a CSI/OSC/DCS sequence or a single final byte; C1 CSI (U+009B) likewise
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC/DCS/...
    r"|\x1b[ -/]*[0-~]?"  # other ESC sequences (and a lone ESC)
)
# C0, DEL, C1, and the invisible bidi/formatting characters that reorder or hide text
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object) -> str:
    """``text`` without escape sequences, its control characters shown as escapes."""
    cleaned = _ESCAPES.sub("", str(text))
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(0), f"\\u{ord(m.group(0)):04x}"), cleaned)


def markup_safe(text: object) -> str:
    """:func:`printable`, with Rich markup escaped."""
    return escape(printable(text))
