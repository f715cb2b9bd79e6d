"""Explaining simulation results: attack paths and chokepoints.

A sample's *attack path* to a target is the set of steps that actually achieved it: for an OR step the parent that
gave it its time, for an AND step all its parents, back to the entry points, disabled defenses and existence steps
(recorded by :func:`breachpath.sim.simulate` with ``path_targets``). Over all samples, the distinct paths and their
frequencies say how the attacker gets there; the step that most paths share, early, is a *chokepoint*.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from breachpath.graph import KINDS, AttackGraph
from breachpath.sim import Simulation


def _step_view(graph: AttackGraph, node: int) -> dict:
    asset = int(graph.asset[node])
    asset_type = str(graph.asset_types[asset])
    step = str(graph.step_names[graph.step[node]])
    return {
        "node": int(node),
        "name": graph.name(node),
        "asset": str(graph.asset_names[asset]),
        "asset_type": asset_type,
        "step": step,
        "kind": KINDS[graph.kind[node]],
        "attack_ids": graph.info.get("attack_ids", {}).get(f"{asset_type}.{step}", []),
        "ttc": None if graph.ttc[node] < 0 else str(graph.ttc_texts[graph.ttc[node]]),
    }


def _path(sim: Simulation, sample: int, target: int) -> tuple[int, ...]:
    length = int(min(sim.path_len[sample, target], sim.paths.shape[2]))
    # Backtracking lists the target first: reversed, the path reads from the entry to the target.
    return tuple(int(v) for v in sim.paths[sample, target, :length][::-1])


def attack_paths(graph: AttackGraph, sim: Simulation, target: int = 0, top: int = 5) -> dict:
    """Distinct attack paths to ``target`` (an index into the simulated targets) with their frequencies, the most
    frequent ones, and the path of the sample with the median compromise time."""
    if sim.paths is None or target >= sim.paths.shape[1]:
        raise ValueError("run simulate(..., path_targets=k) to record paths")
    times = sim.times[:, target]
    successful = np.flatnonzero(np.isfinite(times))
    counts: Counter[frozenset[int]] = Counter()
    example: dict[frozenset[int], tuple[int, ...]] = {}
    for s in successful:
        path = _path(sim, int(s), target)
        key = frozenset(path)
        counts[key] += 1
        example.setdefault(key, path)
    result = {"target": sim.names[target], "successful_samples": int(len(successful)), "distinct_paths": len(counts)}
    result["top"] = [
        {"frequency": n / max(1, len(successful)), "samples": n, "steps": [_step_view(graph, v) for v in example[key]]}
        for key, n in counts.most_common(top)
    ]
    if len(successful):
        order = successful[np.argsort(times[successful], kind="stable")]
        median_sample = int(order[len(order) // 2])
        result["median_time_path"] = {
            "sample": median_sample,
            "time": float(times[median_sample]),
            "steps": [_step_view(graph, v) for v in _path(sim, median_sample, target)],
        }
    else:
        result["median_time_path"] = None
    truncated = int(np.count_nonzero(sim.path_len[:, target] > sim.paths.shape[2]))
    if truncated:
        result["truncated_paths"] = truncated
    return result


def chokepoints(
    graph: AttackGraph, sim: Simulation, target: int = 0, entries: list[int] | None = None, top: int = 10
) -> list[dict]:
    """Attack steps on the largest share of successful paths, weighted by how early they come.

    A step's score is the mean, over successful samples, of its earliness on that sample's path (1 at the
    entry end, 0 at the target; 0 when the step is not on the path). Entry points, the target itself, defenses
    and existence steps are left out: they are not where an attacker can be stopped along the way.
    """
    times = sim.times[:, target]
    successful = np.flatnonzero(np.isfinite(times))
    excluded = set(entries or []) | {int(sim.nodes[target])}
    score: Counter[int] = Counter()
    share: Counter[int] = Counter()
    for s in successful:
        path = _path(sim, int(s), target)
        length = len(path)
        for position, node in enumerate(path):
            if node in excluded or graph.kind[node] >= 2:
                continue
            share[node] += 1
            score[node] += 1 - position / max(1, length - 1)
    n = max(1, len(successful))
    ranked = sorted(score, key=lambda v: (-score[v], v))[:top]
    return [{**_step_view(graph, v), "score": score[v] / n, "share_of_paths": share[v] / n} for v in ranked]
