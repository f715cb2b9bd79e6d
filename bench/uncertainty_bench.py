"""Issue 16's speed targets: parameter uncertainty and sensitivity on ``examples/small-office.yml``.

What is measured (each a whole ``breachpath`` process, the way a user runs it, ``--runs`` times, default 3, the
median wall time and the range):

1. ``breachpath simulate small-office.yml --uncertainty --outer 100 --samples 1000 --format json``: today's run
   plus 100 outer draws of every estimate's parameters, each on the same 1,000 samples. Target ≤ 30 s.
2. ``breachpath sensitivity small-office.yml --format json`` with the scenario's 2,000 samples, and with
   ``--samples 1000``: every estimate at its 5th and 95th percentile in turn. Target ≤ 30 s.

Also, from the JSON: the number of estimate parameters, the sensitivity runs made, and small-office's first target
with its sampling and parameter intervals. No peer: securiCAD, mal-toolbox and mal-simulator treat every
distribution as exact and have no second-order or sensitivity analysis.

Run: ``python bench/uncertainty_bench.py [--runs N] [--format json]``. The children run with this interpreter's
``breachpath`` (``python -m breachpath.cli``) and ``--workers`` unset (every core).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _common import print_target_rows, timed_cli

EXAMPLE = Path(__file__).resolve().parent.parent / "src" / "breachpath" / "examples" / "small-office.yml"
TARGET_SECONDS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    rows = []
    times, out = timed_cli(
        ["simulate", str(EXAMPLE), "--uncertainty", "--outer", "100", "--samples", "1000", "--format", "json"],
        args.runs,
    )
    spread = out["uncertainty"]
    name, first = next(iter(spread["targets"].items()))
    rows.append({
        "row": "simulate --uncertainty, 100 outer × 1,000 samples", "seconds": statistics.median(times),
        "range": [min(times), max(times)], "target": TARGET_SECONDS,
        "note": f"{len(spread['parameters'])} parameters; {name}: P {first['p']:.3f}, sampling 95% "
        f"[{first['p_sampling_ci95'][0]:.3f}, {first['p_sampling_ci95'][1]:.3f}], parameters 90% "
        f"[{first['p_parameter_interval'][0]:.3f}, {first['p_parameter_interval'][1]:.3f}]",
    })  # fmt: skip
    for samples in (None, 1000):
        extra = ["--samples", str(samples)] if samples else []
        times, out = timed_cli(["sensitivity", str(EXAMPLE), *extra, "--format", "json"], args.runs)
        lead = out["parameters"][0]
        rows.append({
            "row": f"sensitivity, {out['samples']:,} samples", "seconds": statistics.median(times),
            "range": [min(times), max(times)], "target": TARGET_SECONDS,
            "note": f"{len(out['parameters'])} parameters, {out['runs']} runs; first: {lead['label']}",
        })  # fmt: skip
    print_target_rows(rows, args.format)


if __name__ == "__main__":
    main()
