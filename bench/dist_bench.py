"""Samples per second of breachpath.dist, set beside numpy's own generator on the same draws.

For each MAL distribution (and a composite expression) this times ``parse(text).sample(n, rng)`` and the
bare numpy call that draws the same numbers (``rng.standard_exponential(n) / rate`` ...), best of
``--repeat`` runs of ``--n`` samples, one process and one core (numpy's Generator is single-threaded). The
ratio shows what the expression layer costs over the generator itself. Target (issue 4): Exponential at
≥ 20 million samples/s, within 2× of numpy.

    .venv/bin/python bench/dist_bench.py [--n 10000000] [--repeat 5] [--format table|json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np

from breachpath.dist import parse

CASES: list[tuple[str, Callable[[np.random.Generator, int], np.ndarray]]] = [
    ("Exponential(0.1)", lambda g, n: g.standard_exponential(n) / 0.1),
    ("Bernoulli(0.5)", lambda g, n: np.where(g.random(n) >= 0.5, np.inf, 0.0)),
    ("Gamma(2, 3)", lambda g, n: g.gamma(2, 3, n)),
    ("LogNormal(0.5, 1.25)", lambda g, n: g.lognormal(0.5, 1.25, n)),
    ("Pareto(1, 3)", lambda g, n: 1 * (1 + g.pareto(3, n))),
    ("TruncatedNormal(1, 2)", None),
    ("Uniform(1, 3)", lambda g, n: g.uniform(1, 3, n)),
    ("Binomial(10, 0.3)", lambda g, n: g.binomial(10, 0.3, n).astype(np.float64)),
    ("HardAndUncertain", lambda g, n: np.where(g.random(n) >= 0.5, np.inf, g.standard_exponential(n) / 0.1)),
    (
        "Exponential(1) * Bernoulli(0.5) * Bernoulli(0.2) + Gamma(2, 3)",
        lambda g, n: np.where(
            (g.random(n) >= 0.5) | (g.random(n) >= 0.2), np.inf, g.standard_exponential(n) + g.gamma(2, 3, n)
        ),
    ),
]


def best_rate(draw: Callable[[], np.ndarray], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        draw()
        best = min(best, time.perf_counter() - started)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="samples per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (the best is kept)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    rows = []
    for text, bare in CASES:
        dist = parse(text)
        rng = np.random.default_rng(1)
        ours = best_rate(lambda d=dist, r=rng: d.sample(args.n, r), args.n, args.repeat)
        peer = best_rate(lambda b=bare, r=rng: b(r, args.n), args.n, args.repeat) if bare else None
        rows.append({"expression": text, "breachpath_per_s": ours, "numpy_per_s": peer})
    if args.format == "json":
        print(json.dumps({"n": args.n, "repeat": args.repeat, "rows": rows}, indent=2))
        return
    print(f"samples per second, best of {args.repeat} runs of {args.n:,} (one core)")
    print(f"{'expression':<66} {'breachpath':>12} {'numpy':>12} {'ratio':>7}  target")
    for row in rows:
        ours, peer = row["breachpath_per_s"], row["numpy_per_s"]
        ratio = f"{peer / ours:6.2f}×" if peer else "     —"
        target = ""
        if row["expression"] == "Exponential(0.1)":
            ok = ours >= 20e6 and (peer is None or peer / ours <= 2)
            target = f"≥ 20 M/s and within 2× of numpy: {'ok' if ok else 'MISS'}"
        peer_text = f"{peer / 1e6:9.1f} M/s" if peer else "          —"
        print(f"{row['expression']:<66} {ours / 1e6:8.1f} M/s {peer_text} {ratio}  {target}")
    print("ratio = numpy / breachpath: 1.00× means no cost over the bare generator; TruncatedNormal has no bare numpy")


if __name__ == "__main__":
    main()
