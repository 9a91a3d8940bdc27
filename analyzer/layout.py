"""Where things live in the bucket: the one key vocabulary of the function, the laptop run and ops.

An image ``images/a/b c.jpg`` judged ``success`` ends at ``analyzed/success/a/b c.jpg`` and its
result record at ``results/success/a/b c.jpg.json`` (docs/contracts.md §5). The prefixes are the
function's ``INPUT_PREFIX``, ``OUTPUT_PREFIX`` and ``RESULTS_PREFIX``; the verdict folders are the
engine's :class:`rules.Verdict` values, in that enum's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from analyzer.errors import AnalyzerError
from rules import Verdict

#: Every verdict, in :class:`rules.Verdict` order (success, failure, review).
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)

DEFAULT_INPUT_PREFIX = "images/"
DEFAULT_OUTPUT_PREFIX = "analyzed/"
DEFAULT_RESULTS_PREFIX = "results/"


class OutsideInputPrefixError(AnalyzerError):
    """The key is not under the pipeline's input prefix."""


def folder(prefix: str) -> str:
    """``images`` / ``/images`` / ``images/`` -> ``images/`` (the empty prefix stays empty)."""
    prefix = prefix.lstrip("/")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def parse_verdict(value: str) -> Verdict:
    """A verdict from its name (case-insensitive); ValueError naming the choices otherwise."""
    try:
        return Verdict(value.strip().lower())
    except ValueError:
        choices = ", ".join(VERDICTS)
        raise ValueError(f"unknown verdict {value!r}; use {choices}") from None


@dataclass(frozen=True, slots=True)
class AnalysedKey:
    """An object under the output prefix: its verdict folder and its path relative to it."""

    verdict: Verdict
    relative: str


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The input, output and result-record prefixes of one pipeline, and the keys they imply."""

    input_prefix: str = DEFAULT_INPUT_PREFIX
    output_prefix: str = DEFAULT_OUTPUT_PREFIX
    results_prefix: str = DEFAULT_RESULTS_PREFIX

    # -- input ------------------------------------------------------------------------------

    def is_input(self, key: str) -> bool:
        """Whether ``key`` is an object (not the folder itself) under the input prefix."""
        return key.startswith(self.input_prefix) and len(key) > len(self.input_prefix)

    def relative_key(self, key: str) -> str:
        """``images/a/b c.jpg`` -> ``a/b c.jpg``; raise OutsideInputPrefixError otherwise."""
        if not self.is_input(key):
            raise OutsideInputPrefixError(f"{key!r} is not an object under {self.input_prefix!r}")
        return key[len(self.input_prefix) :]

    def source_key(self, relative: str) -> str:
        """``a/b c.jpg`` -> ``images/a/b c.jpg``."""
        return self.input_prefix + relative

    # -- output -----------------------------------------------------------------------------

    def verdict_folder(self, verdict: str) -> str:
        """``analyzed/<verdict>/``."""
        return f"{self.output_prefix}{Verdict(verdict)}/"

    def results_folder(self, verdict: str) -> str:
        """``results/<verdict>/``."""
        return f"{self.results_prefix}{Verdict(verdict)}/"

    def destination_key(self, key: str, verdict: str) -> str:
        """Where the image ``key`` goes for ``verdict``: ``analyzed/<verdict>/<relative>``."""
        return self.verdict_folder(verdict) + self.relative_key(key)

    def record_key(self, key: str, verdict: str) -> str:
        """Its result record: ``results/<verdict>/<relative>.json``."""
        return f"{self.results_folder(verdict)}{self.relative_key(key)}.json"

    def destinations(
        self, key: str, verdicts: Iterable[Verdict] = VERDICTS
    ) -> Iterator[tuple[Verdict, str, str]]:
        """``(verdict, destination key, record key)`` of ``key`` for each verdict."""
        for verdict in verdicts:
            yield verdict, self.destination_key(key, verdict), self.record_key(key, verdict)

    def analysed(self, key: str) -> AnalysedKey | None:
        """``analyzed/review/a/b.jpg`` -> (review, ``a/b.jpg``); None for any other key."""
        if not key.startswith(self.output_prefix):
            return None
        name, sep, relative = key[len(self.output_prefix) :].partition("/")
        if not sep or not relative or name not in VERDICTS:
            return None
        return AnalysedKey(Verdict(name), relative)

    def source_of_analysed(self, key: str) -> str | None:
        """``analyzed/<verdict>/<rel>`` -> ``images/<rel>`` (None if ``key`` is not analysed)."""
        found = self.analysed(key)
        return None if found is None else self.source_key(found.relative)


#: The layout of docs/contracts.md §5's defaults (``images/``, ``analyzed/``, ``results/``).
DEFAULT_LAYOUT = KeyLayout()
