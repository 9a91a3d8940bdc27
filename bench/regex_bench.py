"""ReDoS benchmark: ``text_detection`` patterns on hostile OCR text stay bounded per image.

Each pattern is the worst kind we know for a backtracking engine (nested or overlapping
quantifiers anchored at the end, so every way of splitting the text is tried). For each, the
real evaluation path (``Ruleset.evaluate``) runs on one image with **100 LINE detections of
1,000 characters** built to defeat the pattern; the engine is RE2 (``rules.patterns``). Side by
side, Python's backtracking ``re`` runs the same pattern on ONE line of 12, 16 and 20 characters,
to show what the Lambda would do without RE2 (time doubles per character: a 1,000-character line
would never finish).

    .venv/bin/python bench/regex_bench.py            # full run (~20 s)
    .venv/bin/python bench/regex_bench.py --quick    # smoke run

Target (issue 12): every pattern's evaluation time per image is bounded (linear in the text);
the figure recorded in docs/bad-input.md is the worst median here.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)

from rules import Analysis, parse_ruleset  # noqa: E402

BLOCK = _docs.Block("bad-input.md", "regex")

LINES = 100
LINE_CHARS = 1_000

# pattern -> (a line that defeats a backtracking engine, as a function of its length)
HOSTILE: dict[str, object] = {
    r"(a+)+$": lambda n: "a" * (n - 1) + "!",
    r"(\w+\s?)*$": lambda n: "a" * (n - 1) + "!",
    r"^(\w+\s?)*$": lambda n: "a" * (n - 1) + "!",
    r"^(\w+\s?)*$ (words)": lambda n: ("ab " * n)[: n - 1] + "!",
    r"(a|aa)+$": lambda n: "a" * (n - 1) + "!",
    r"(a|a?)+$": lambda n: "a" * (n - 1) + "!",
    r"(.*a){12}$": lambda n: "a" * (n - 1) + "!",
    r"([a-z0-9]+[-.]?)+@x\.com": lambda n: "a" * (n - 1) + "!",
    r"(?i)(?:[a-z]{1,10}\s?){1,20}\d$": lambda n: ("word " * n)[: n - 1] + "!",
    # large programs just under rules.patterns.MAX_PROGRAM_SIZE (the slowest found for RE2)
    r"^([^x]*?a){450}$": lambda n: "a" * (n - 1) + "!",
    r"(?i)^(?:[a-c]{1,10}\s?){1,100}$": lambda n: ("abc " * n)[: n - 1] + "!",
    r"(?s)(.*a.{40})!x": lambda n: ("ab" * n)[: n - 1] + "!",
}
BENIGN = r"SN-\d{6}"


def _ruleset(pattern: str):  # type: ignore[no-untyped-def]
    escaped = pattern.replace("'", "''")
    return parse_ruleset(
        "version: 1\nrules:\n"
        f"  - {{name: t, type: text_detection, pattern: '{escaped}', outcome: review, min_confidence: 0}}\n"
    )


def _analysis(line: str) -> Analysis:
    detections = [
        {"DetectedText": line, "Type": "LINE", "Confidence": 99.0, "Id": i} for i in range(LINES)
    ]
    return Analysis.from_responses(text={"TextDetections": detections})


def _per_image_ms(pattern: str, line: str, reps: int) -> float:
    ruleset = _ruleset(pattern)
    analysis = _analysis(line)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        ruleset.evaluate(analysis)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _backtracking_ms(pattern: str, line: str) -> float:
    compiled = re.compile(pattern)
    started = time.perf_counter()
    compiled.search(line)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter re lines")
    args = parser.parse_args()
    reps = 3 if args.quick else 7
    lengths = (10, 12, 14) if args.quick else (12, 16, 20)
    print(f"# {platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    print(f"# RE2: {LINES} LINE detections x {LINE_CHARS} chars per image, median of {reps}")
    print(f"# re : ONE line of {', '.join(map(str, lengths))} chars (backtracking, for comparison)")
    benign_ms = _per_image_ms(BENIGN, "x" * (LINE_CHARS - 9) + "SN-123456", reps)
    print(f"{'pattern':36} {'RE2 ms/image':>12} {'x benign':>9}   re ms on one short line")
    print(f"{BENIGN:36} {benign_ms:12.2f} {1.0:9.1f}")
    worst = 0.0
    for label, make in HOSTILE.items():
        pattern = label.split(" ")[0]
        ms = _per_image_ms(pattern, make(LINE_CHARS), reps)  # type: ignore[operator]
        worst = max(worst, ms)
        slow = "  ".join(f"{n}:{_backtracking_ms(pattern, make(n)):.1f}" for n in lengths)  # type: ignore[operator]
        print(f"{label:36} {ms:12.2f} {ms / benign_ms:9.1f}   {slow}")
    print(f"worst RE2 time per image: {worst:.1f} ms ({LINES} x {LINE_CHARS} chars of hostile text)")
    return 0


if __name__ == "__main__":
    _docs.main(main, BLOCK)
