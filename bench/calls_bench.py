"""Call-planning benchmark: Rekognition calls per image under ``calls: complete`` and
``calls: economical``, for every preset and stack rules file, on a mixed feed (5 % unsafe).

The feed is imgpipe.ops.callmix's synthetic upload stream (one cycle of 20: unsafe, swimwear,
people incl. a child, animals, products, documents, landscapes); each image's plan is run by
rules.planning.run_plan, the very function the analyzer runs. Counts are exact (no timing), so
machine load does not matter. Nothing is asserted.

    .venv/bin/python bench/calls_bench.py                 # 2,000 images per file
    .venv/bin/python bench/calls_bench.py --images 200    # quicker
    .venv/bin/python bench/calls_bench.py --unsafe 0.2    # a rougher feed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)

from imgpipe.ops.callmix import measure  # noqa: E402
from imgpipe.ops.cost import PRICES, billed_units  # noqa: E402
from rules import load_ruleset  # noqa: E402
from rules.planning import CallPlan, order  # noqa: E402

BLOCK = _docs.Block("analyses.md", "calls")

FILES = [*sorted((ROOT / "rules" / "presets").glob("*.yaml")), ROOT / "rules/dev.yaml",
         ROOT / "rules/prod.yaml"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=2_000, help="images per rules file")
    parser.add_argument("--unsafe", type=float, default=0.05, help="share of unsafe images")
    args = parser.parse_args(argv)

    print(f"mixed feed: {args.images} images per rules file, {args.unsafe:.0%} unsafe")
    print(f"{'rules file':<24}{'economical order':<32}{'complete':>9}{'economical':>11}"
          f"{'saved':>8}{'USD/1000 saved':>16}")
    for path in FILES:
        ruleset = load_ruleset(path)
        complete = measure(ruleset, CallPlan.COMPLETE, args.images, args.unsafe)
        economical = measure(ruleset, CallPlan.ECONOMICAL, args.images, args.unsafe)
        saved = 1 - economical.per_image / complete.per_image if complete.calls else 0.0
        # every API of these files costs the same per image at the first tier
        unit = max(PRICES[u] for u in billed_units(ruleset.needs))
        usd = float(unit) * (complete.per_image - economical.per_image)
        print(f"{path.name:<24}{' > '.join(order(ruleset)):<32}{complete.per_image:>9.2f}"
              f"{economical.per_image:>11.2f}{saved:>8.1%}{usd:>16.2f}")
    print("\ncalls per image; 'saved' is the share of calls the economical plan skips; USD at "
          "first-tier list prices (imgpipe.ops.cost.PRICES)")
    return 0


if __name__ == "__main__":
    _docs.main(main, BLOCK)
