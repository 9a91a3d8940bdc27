"""Rule-engine benchmark: rule evaluations per second, Analysis parse time, rules-file load time.

A 10-rule file (4 label_match, 3 moderation, 3 text_detection) judges one image whose responses
hold 50 labels, 20 moderation labels and 100 text detections (25 LINE + 75 WORD). Every figure is
the median of several timed repeats in one thread (one core). Times are the CPU time of this
process, so other load on a shared machine does not inflate them; the wall/CPU ratio of the run
is printed to show how busy the machine was. Nothing is asserted.

    .venv/bin/python bench/rules_bench.py            # full run (~30 s on an idle machine)
    .venv/bin/python bench/rules_bench.py --quick    # smoke run: same code paths, few iterations

Targets (issue 2): >= 50,000 rule evaluations/s on one core; a 10-rule file loads in <= 50 ms
after imports.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)

from rules import Analysis, Ruleset, load_ruleset, parse_ruleset, taxonomy  # noqa: E402

BLOCK = _docs.Block("performance.md", "rules")

RULES_YAML = """\
version: 1
name: bench
default_verdict: review
min_confidence: 80
rules:
  - name: dog
    type: label_match
    labels: [Dog, Puppy]
    outcome: success
  - name: herd
    type: label_match
    labels: [Deer]
    min_instances: 2
    min_confidence: 85
    outcome: success
  - name: street
    type: label_match
    labels: [automobile, Road, Person]
    match: all
    outcome: tag
    category: street-scene
  - name: zebra
    type: label_match
    labels: [Zebra, Giraffe]
    outcome: review
  - name: explicit
    type: moderation
    categories: [Explicit]
    min_confidence: 60
    outcome: failure
  - name: violence
    type: moderation
    categories: [Graphic Violence, Hate Symbols]
    outcome: review
  - name: alcohol
    type: moderation
    categories: [Alcohol]
    outcome: tag
  - name: serial-number
    type: text_detection
    pattern: 'SN-\\d{6}'
    min_confidence: 85
    outcome: tag
  - name: invoice
    type: text_detection
    words: [invoice, total, due]
    match: all
    detection_type: WORD
    outcome: tag
  - name: banned-words
    type: text_detection
    words: [confidential, secret, classified, internal]
    outcome: review
"""

WORDS = [
    "invoice",
    "total",
    "due",
    "date",
    "amount",
    "paid",
    "balance",
    "tax",
    "net",
    "gross",
    "customer",
    "account",
    "order",
    "item",
    "quantity",
    "price",
    "unit",
    "discount",
    "shipping",
    "address",
    "phone",
    "email",
    "reference",
    "number",
    "page",
    "summary",
    "thanks",
]


def _box(i: int) -> dict[str, float]:
    return {
        "Width": 0.1 + (i % 7) / 100,
        "Height": 0.05,
        "Left": (i % 9) / 10,
        "Top": (i % 11) / 12,
    }


def build_responses() -> dict[str, dict[str, Any]]:
    """Raw boto3-shaped responses: 50 labels, 20 moderation labels, 100 text detections."""
    names = ["Dog", "Puppy", "Deer", "Car", "Road", "Person", "Tree", "Grass", "Sky", "Building"]
    names += [f"Object {i}" for i in range(40)]
    labels = []
    for i, name in enumerate(names):
        labels.append(
            {
                "Name": name,
                "Confidence": 99.0 - i * 0.9,
                "Instances": [
                    {"BoundingBox": _box(i + k), "Confidence": 95.0 - k * 5} for k in range(i % 4)
                ],
                "Parents": [{"Name": "Animal"}, {"Name": "Mammal"}]
                if i < 3
                else [{"Name": "Thing"}],
                "Aliases": [{"Name": "Automobile"}] if name == "Car" else [],
                "Categories": [{"Name": "Animals and Pets" if i < 3 else "Everyday Objects"}],
            }
        )
    # 20 moderation labels across the three levels (some without their ancestors)
    picked = [n for n in taxonomy.PARENT if taxonomy.PARENT[n]][:20]
    moderation = [
        {
            "Confidence": 90.0 - i * 2,
            "Name": name,
            "ParentName": taxonomy.PARENT[name] if i % 3 else "",
            "TaxonomyLevel": len(taxonomy.ancestors(name)) + 1,
        }
        for i, name in enumerate(picked)
    ]
    # 25 LINEs of 3 words each -> 75 WORDs
    detections: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for line_id in range(25):
        line_words = [WORDS[(line_id * 3 + k) % len(WORDS)] for k in range(3)]
        if line_id == 7:
            line_words[2] = "SN-004217"
        text = " ".join(line_words)
        detections.append(
            {
                "DetectedText": text,
                "Type": "LINE",
                "Id": line_id,
                "Confidence": 99.0 - line_id,
                "Geometry": {"BoundingBox": _box(line_id), "Polygon": []},
            }
        )
        for word in line_words:
            words.append(
                {
                    "DetectedText": word,
                    "Type": "WORD",
                    "Id": 25 + len(words),
                    "ParentId": line_id,
                    "Confidence": 98.0 - line_id,
                    "Geometry": {"BoundingBox": _box(len(words)), "Polygon": []},
                }
            )
    return {
        "labels": {"Labels": labels, "LabelModelVersion": "3.0"},
        "moderation": {"ModerationLabels": moderation, "ModerationModelVersion": "7.0"},
        "text": {"TextDetections": detections + words, "TextModelVersion": "3.0"},
    }


def per_call(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Median seconds per call over ``repeat`` timed loops of ``number`` calls."""
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            fn()
        samples.append((time.process_time() - start) / number)
    return statistics.median(samples)


def per_call_fresh(
    make: Callable[[], Any], use: Callable[[Any], object], number: int, repeat: int
) -> float:
    """Like :func:`per_call`, but each call gets a fresh object built outside the timed loop."""
    samples = []
    for _ in range(repeat):
        objects = [make() for _ in range(number)]
        start = time.process_time()
        for obj in objects:
            use(obj)
        samples.append((time.process_time() - start) / number)
    return statistics.median(samples)


def import_time(runs: int) -> float:
    """Median seconds to ``import rules`` in a fresh interpreter."""
    code = "import time; t = time.process_time(); import rules; print(time.process_time() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="few iterations: checks the script runs"
    )
    args = parser.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    repeat = 3 if args.quick else 7

    def n(count: int) -> int:
        return max(2, int(count * scale))

    wall0, cpu0 = time.perf_counter(), time.process_time()
    raw = build_responses()
    n_labels = len(raw["labels"]["Labels"])
    n_mod = len(raw["moderation"]["ModerationLabels"])
    n_text = len(raw["text"]["TextDetections"])

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(RULES_YAML, encoding="utf-8")
        start = time.process_time()
        rs: Ruleset = load_ruleset(path)  # first load also scans the plugin entry points
        first_load = time.process_time() - start
        load = per_call(lambda: load_ruleset(path), n(100), repeat)
        parse_only = per_call(lambda: parse_ruleset(RULES_YAML, "bench.yaml"), n(100), repeat)
    n_rules = len(rs.rules)

    analysis = Analysis.from_responses(**raw)
    decision = rs.evaluate(analysis)
    parse = per_call(lambda: Analysis.from_responses(**raw), n(500), repeat)
    warm = per_call(lambda: rs.evaluate(analysis), n(2000), repeat)
    cold = per_call_fresh(lambda: Analysis.from_responses(**raw), rs.evaluate, n(500), repeat)
    end_to_end = per_call(lambda: rs.evaluate(Analysis.from_responses(**raw)), n(500), repeat)
    explain = per_call(lambda: rs.explain(analysis), n(500), repeat)
    imports = import_time(3 if args.quick else 7)
    busy = (time.perf_counter() - wall0) / max(time.process_time() - cpu0, 1e-9)

    def rate(seconds: float) -> str:
        return f"{1 / seconds:>12,.0f}"

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:>9.3f} ms"

    target = 50_000
    print(
        f"rules engine benchmark — Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"one thread, CPU time of this process"
    )
    print(
        f"workload: {n_rules} rules vs {n_labels} labels / {n_mod} moderation labels / "
        f"{n_text} text detections; verdict {decision.verdict.value}, "
        f"{len(decision.matches)} rules match ({', '.join(m.rule for m in decision.matches)})"
    )
    print()
    print(f"{'measure':<58}{'ruleset evals/s':>16}{'rule evals/s':>16}")
    for label, seconds, judged in (
        ("evaluate, parsed analysis reused (indexes warm)", warm, True),
        ("evaluate, fresh parsed analysis (indexes built per image)", cold, True),
        ("parse responses + evaluate (a whole image)", end_to_end, False),
    ):
        rule_rate = n_rules / seconds
        met = (
            ("meets" if rule_rate >= target else "below") + f" the {target:,}/s target"
            if judged
            else ""
        )
        print(f"{label:<58}{rate(seconds):>16}{rule_rate:>16,.0f}  {met}".rstrip())
    print(
        f"{'explain (all reasons), parsed analysis reused':<58}{rate(explain):>16}{n_rules / explain:>16,.0f}"
    )
    print()
    print(f"{'Analysis.from_responses (parse the three responses)':<58}{ms(parse)}")
    print(f"{'evaluate one image, fresh analysis (10 rules)':<58}{ms(cold)}")
    print(f"{'load_ruleset 10-rule file, after imports (median)':<58}{ms(load)}  (target <= 50 ms)")
    print(f"{'parse_ruleset from text, after imports (median)':<58}{ms(parse_only)}")
    print(f"{'first load_ruleset in the process (plugin scan included)':<58}{ms(first_load)}")
    print(f"{'import rules in a fresh interpreter (median)':<58}{ms(imports)}")
    print(
        f"\nwall/CPU ratio of the run: {busy:.2f} (about 1.0 on an idle machine; higher = shared CPU)"
    )
    if args.quick:
        print("\n(--quick: few iterations, figures are rough)")
    return 0


if __name__ == "__main__":
    _docs.main(main, BLOCK)
