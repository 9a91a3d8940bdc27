"""Infrastructure figures: program evaluation under Pulumi mocks, Lambda artifact builds (cold and
cached), a rules-only rebuild, and the artifact sizes.

    .venv/bin/python bench/infra_bench.py [--runs 5]

The cold layer build downloads the pinned wheels from PyPI (network-dependent); everything else
is local. Targets (issue 4): code zip <= 1 MB, cached build <= 2 s, a rules-only change rebuilds
only the code zip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore", DeprecationWarning)

import _docs  # noqa: E402  (bench/ is on sys.path when a script runs)

from infra.artifacts import build_artifacts, build_code_zip, build_layer_zip  # noqa: E402
from infra.mockrun import run_program, stack_config  # noqa: E402

BLOCK = _docs.Block("performance.md", "infra")

REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        rules = ROOT / "rules" / "dev.yaml"
        cold_layer_s, layer = timed(build_layer_zip, REQUIREMENTS, cache)
        cold_code_s, code = timed(build_code_zip, ROOT, rules, cache)
        rows.append(("layer build, cold (pip download + zip)", f"{cold_layer_s:.2f} s"))
        rows.append(("code zip build, cold", f"{cold_code_s * 1000:.0f} ms"))
        cached = [timed(build_artifacts, ROOT, rules, REQUIREMENTS, cache)[0]
                  for _ in range(args.runs)]
        rows.append((f"both artifacts, cached (median of {args.runs})",
                     f"{statistics.median(cached) * 1000:.0f} ms"))
        edited = cache / "dev-edited.yaml"
        edited.write_text(rules.read_text() + "\n# edit\n")
        edit_s, after = timed(build_artifacts, ROOT, edited, REQUIREMENTS, cache)
        rebuilt = [name for name, a in (("layer", after.layer), ("code", after.code))
                   if not a.cached]
        rows.append(("rules-only change: rebuilt", f"{', '.join(rebuilt)} in {edit_s * 1000:.0f} ms"))
        rows.append(("code zip size", f"{code.size / 1024:.1f} KiB zipped, "
                                      f"{code.unzipped_size / 1024:.1f} KiB unzipped, "
                                      f"{code.entries} files"))
        rows.append(("layer size", f"{layer.size / 1024 / 1024:.2f} MiB zipped, "
                                   f"{layer.unzipped_size / 1024 / 1024:.2f} MiB unzipped, "
                                   f"{layer.entries} files"))

    for stack in ("dev", "prod"):
        config = stack_config(ROOT / f"Pulumi.{stack}.yaml")
        run_program(stack, config, ROOT / "__main__.py")  # warm: artifacts in the project cache
        times = [timed(run_program, stack, config, ROOT / "__main__.py")[0]
                 for _ in range(args.runs)]
        count = len(run_program(stack, config, ROOT / "__main__.py").resources)
        rows.append((f"program evaluation under mocks, {stack} ({count} resources, median of "
                     f"{args.runs})", f"{statistics.median(times) * 1000:.0f} ms"))

    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    _docs.main(main, BLOCK)
