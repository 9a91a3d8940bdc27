"""Text patterns matched in linear time: ``text_detection`` patterns run on RE2.

The text a pattern is searched in comes from the uploaded image, so an attacker controls it. A
backtracking engine (Python's ``re``) takes exponential time on patterns such as ``(a+)+$`` or
``(\\w+\\s?)*$``; RE2 guarantees time linear in the text for every pattern it accepts, so one
image can never stall a batch. RE2 syntax is Python's minus backreferences (``\\1``), look-around
(``(?=``, ``(?!``, ``(?<=``, ``(?<!``), possessive/atomic groups and ``\\Z``; ``\\d``, ``\\w``, ``\\s``
and ``\\b`` are ASCII-only (use ``\\p{N}``, ``\\p{L}`` for other scripts). Patterns RE2 cannot
run are rejected by ``rules validate`` with that explanation.

The Lambda and the local run use this same module, so a pattern behaves the same everywhere.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import re2  # google-re2

#: Longest pattern accepted (characters); RE2's program-size limit applies as well.
MAX_PATTERN_CHARS = 2_000
#: Memory RE2 may use to compile and run one pattern (its default, stated explicitly).
MAX_PATTERN_MEMORY = 8 << 20
#: Largest compiled program accepted: RE2's time is linear in the text with a factor that grows
#: with the program; ``bench/regex_bench.py`` measures the worst patterns under this limit.
MAX_PROGRAM_SIZE = 5_000

SYNTAX_NOTE = (
    "patterns run on RE2 (linear time, safe on text from images): no backreferences (\\1), "
    "look-around ((?=, (?!, (?<=, (?<!), atomic groups or \\Z; \\d \\w \\s \\b are ASCII-only"
)


class PatternMatch(Protocol):
    """What a successful search returns (the subset of ``re.Match`` the rules use)."""

    def group(self, index: int = 0, /) -> str: ...

    def start(self, index: int = 0, /) -> int: ...


class CompiledPattern(Protocol):
    """A compiled pattern: ``search(text)`` in time linear in ``len(text)``."""

    def search(self, text: str) -> PatternMatch | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile (the message says why, and what RE2 does not support)."""


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    options.log_errors = False  # errors are reported to the rule author, not logged to stderr
    # only the whole match is used: without capture groups every search runs on the DFA (measured
    # up to 130x faster on hostile patterns than the NFA that submatch extraction needs)
    options.never_capture = True
    return options


class _Re2Pattern:
    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def search(self, text: str) -> PatternMatch | None:
        return cast("PatternMatch | None", self._compiled.search(safe_text(text)))


def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile ``pattern`` for RE2 or raise :class:`PatternError` with a helpful message."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(safe_text(pattern), _options())
    except re2.error as exc:
        raise PatternError(_explain(pattern, exc)) from None
    size = int(compiled.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise PatternError(
            f"regular expression too complex: its RE2 program has {size} instructions, the limit "
            f"is {MAX_PROGRAM_SIZE} (keeps matching time per image bounded); use smaller "
            "repetition counts such as {n} or {m,n}"
        )
    return _Re2Pattern(compiled)


def _explain(pattern: str, exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    try:
        re.compile(pattern)
    except re.error:
        return f"invalid regular expression: {detail}"
    return f"regular expression not supported: {detail}; {SYNTAX_NOTE}"


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (possible in JSON, impossible in UTF-8) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
