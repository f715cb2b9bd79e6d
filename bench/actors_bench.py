"""Issue 17's speed target: every enterprise ATT&CK group against ``examples/small-office.yml`` in ≤ 60 s.

What is measured (each a whole ``breachpath`` process, the way a user runs it, ``--runs`` times, default 1, the
median wall time and the range):

1. ``breachpath actors small-office.yml --format json``: every live enterprise group of the knowledge base (ATT&CK
   v18.1: 187 groups, 15 of them revoked or deprecated and left out) plus the two reference presets, each on the
   scenario's 2,000 samples with the same seed, soft (techniques outside a profile 10× slower).
2. The same, ``--actor-mode strict``.
3. The same with ``--campaigns`` (every live enterprise campaign too).

Also, from the JSON: the actors run and left out, and the top three of small-office's first target. No peer:
securiCAD's attacker is generic, mal-simulator's agents are search strategies, and CTID's Top ATT&CK Techniques
ranks techniques without a system model; none runs ATT&CK's groups against a model.

Run: ``python bench/actors_bench.py [--runs N] [--db KB] [--format json]``. The children run with this
interpreter's ``breachpath`` (``python -m breachpath.cli``), ``--workers`` unset (every core), and the knowledge
base at ``--db`` (default: the user's, ``breachpath kb load``).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from _common import print_target_rows, timed_cli

EXAMPLE = Path(__file__).resolve().parent.parent / "src" / "breachpath" / "examples" / "small-office.yml"
TARGET_SECONDS = 60.0


def summary(out: dict) -> str:
    rows = out["actors"]
    target = out["targets"][0]
    best = [i for i in out["order"][target] if not rows[i]["reference"]][:3]
    shown = "; ".join(f"{rows[i]['name']} {rows[i]['targets'][target]['p_within']:.3f}" for i in best)
    actors = sum(1 for r in rows if not r["reference"])
    return (
        f"{actors} actors + {len(rows) - actors} references, {len(out['skipped'])} left out; {target} ≤ 30 d: {shown}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    db = ["--db", str(args.db)] if args.db else []
    rows = []
    for label, extra in (
        ("actors, every enterprise group, soft", []),
        ("actors, every enterprise group, strict", ["--actor-mode", "strict"]),
        ("actors, every group and campaign, soft", ["--campaigns"]),
    ):
        times, out = timed_cli(["actors", str(EXAMPLE), "--format", "json", *db, *extra], args.runs)
        rows.append({
            "row": label, "seconds": statistics.median(times), "range": [min(times), max(times)],
            "target": TARGET_SECONDS, "note": f"{out['samples']:,} samples per actor; {summary(out)}",
        })  # fmt: skip
    print_target_rows(rows, args.format)


if __name__ == "__main__":
    main()
