"""``breachpath demo``: the whole pipeline on the built-in language and one of the example systems.

Compile ``attacklang.mal``, read an example scenario, build its attack graph, simulate (fixed seed), and explain:
each target's compromise probability and TTC quantiles, the most frequent attack paths told as ATT&CK techniques,
and the defenses that cut risk most (what-if, common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from breachpath.analysis import causal_orders, defense_led, equal_sequences, path_steps, technique_of, whatif
from breachpath.errors import InputError
from breachpath.graph import AttackGraph, scenario_graph, unreachable_warnings
from breachpath.lang.compiler import compile_file
from breachpath.lang.spec import LanguageSpec
from breachpath.model import check_model
from breachpath.scenario import check_samples, check_seed, check_workers, read_scenario
from breachpath.sim import Simulation, simulate, summarise

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
DEFAULT_EXAMPLE = "small-office"


def list_examples() -> list[str]:
    """The example systems that ship with breachpath, by name."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yml"))


def example_path(name: str) -> Path:
    """The scenario file of an example (``small-office``), or a path given as is."""
    candidate = EXAMPLES_DIR / f"{name}.yml"
    if candidate.is_file():
        return candidate
    if Path(name).is_file():
        return Path(name)
    raise InputError(f"{name}: no such example; one of: {', '.join(list_examples())}")


def step_label(spec: LanguageSpec, asset_type: str, step: str) -> str:
    """What the language's ``user info`` calls a step (the technique or mitigation name), else the step's name."""
    found = spec.steps(asset_type).get(step)
    text = (found.meta.get("user", "") if found else "").strip()
    if text and ", http" in text:
        return text.split(", http")[0].strip()
    return step


def technique_names(spec: LanguageSpec, kb=None) -> dict[str, str]:
    """ATT&CK id → name: from the knowledge base when there is one (the authoritative name), else the language's."""
    names: dict[str, str] = {}
    for asset in spec.assets.values():
        for step in asset.steps.values():
            for attack_id in step.attack_ids:
                names.setdefault(attack_id, step_label(spec, asset.name, step.name))
    if kb is not None:
        for attack_id in list(names):
            kind = "mitigation" if attack_id.startswith("M") else "technique"
            try:
                row, _ = kb.resolve(attack_id, kind=kind)
            except InputError:
                continue  # not in this knowledge base (an older ATT&CK version): keep the language's name
            names[attack_id] = str(row[4])
    return names


def technique_paths(graph: AttackGraph, sim: Simulation, target: int, names: dict[str, str], top: int = 3) -> dict:
    """Each successful sample's attack path told as its ATT&CK-tagged steps, in causal order, as (technique,
    asset) pairs; identical tellings grouped and ranked by frequency (ties: the one met first).

    Steps without a technique (the language's glue: "logged in", "defense bypassed") are left out, so paths that
    differ only in glue count as one. All paths are ordered in one compiled call and told with array operations.
    """
    times = sim.times[:, target]
    successful = np.flatnonzero(np.isfinite(times))
    # Steps a defense leads to (a gate's "bypassed" step) tell nothing and model no technique: left out before
    # ordering, so that paths differing only in them are told alike.
    nodes, row = path_steps(sim, successful, target, entry_first=True, leave_out=defense_led(graph))
    offsets = np.zeros(len(successful) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(successful)), out=offsets[1:])
    ordered = causal_orders(graph, nodes, offsets)  # each path reordered in place: ``row`` still holds
    # Each step's (technique, asset) as a small number (-1: the step models no technique).
    steps, step_index = np.unique(ordered, return_inverse=True)
    items: dict[tuple[str, str, str], int] = {}
    item_of_step = np.full(len(steps), -1, dtype=np.int64)
    for k, node in enumerate(steps.tolist()):
        attack_id = technique_of(graph, node)
        if attack_id:
            item = (attack_id, names.get(attack_id, attack_id), str(graph.asset_names[graph.asset[node]]))
            item_of_step[k] = items.setdefault(item, len(items))
    item = item_of_step[step_index]
    tagged = item >= 0
    row, item = row[tagged], item[tagged]
    # A telling lists each item once, where its path first meets it.
    _, first = np.unique(row * max(1, len(items)) + item, return_index=True)
    first.sort()
    tellings, met, counts = equal_sequences(row[first], item[first], len(successful))
    listed = list(items)
    counts_told = [
        (tuple(listed[i] for i in tellings[g] if i >= 0), int(counts[g])) for g in np.lexsort((met, -counts))[:top]
    ]
    n = max(1, len(successful))
    return {
        "target": sim.names[target],
        "successful_samples": int(len(successful)),
        "distinct": len(tellings),
        "top": [
            {
                "frequency": k / n,
                "samples": k,
                "techniques": [{"id": i, "name": name, "asset": asset} for i, name, asset in told],
            }
            for told, k in counts_told
        ],
    }


def run_demo(
    example: str = DEFAULT_EXAMPLE,
    samples: int = 2000,
    seed: int = 2026,
    workers: int | None = None,
    kb=None,
    progress: Callable[[int, int], None] | None = None,
    top_paths: int = 3,
    top_defenses: int = 5,
) -> dict:
    """Run the pipeline on an example and return everything the demo prints (JSON-ready)."""
    import time

    started = time.perf_counter()
    check_samples(samples)
    check_seed(seed)
    check_workers(workers)
    path = example_path(example)
    scenario = read_scenario(path)
    spec = compile_file(scenario.lang)
    check_model(scenario.model, spec, str(path))
    graph, entries, targets, warnings = scenario_graph(spec, scenario)
    if not entries or not targets:
        raise InputError(f"{path}: the demo needs entry_points and targets")
    warnings += unreachable_warnings(graph, entries, targets)
    # One bar over the simulation and the what-if; the what-if's size is known only once it has its baseline,
    # so until then the total counts one run of it.
    sim = simulate(
        graph, entries, targets, samples=samples, seed=seed, workers=workers, path_targets=len(targets),
        progress=None if progress is None else lambda done, total: progress(done, 2 * samples),
    )  # fmt: skip
    names = technique_names(spec, kb)
    results = {name: summarise(sim.times[:, j]) for j, name in enumerate(sim.names)}
    paths = {sim.names[j]: technique_paths(graph, sim, j, names, top_paths) for j in range(len(targets))}
    tried = whatif(
        graph, entries, targets, samples=samples, seed=seed, workers=workers, limit=20, baseline=sim, bootstrap=0,
        progress=None if progress is None else lambda done, total: progress(samples + done, samples + total),
    )  # fmt: skip
    defenses = []
    for row in tried["defenses"]:
        per_target = row["targets"]
        asset_type, step = row["asset_type"], row["step"]
        defenses.append(
            {
                "defense": row["name"],
                "asset": row["asset"],
                "name": step_label(spec, asset_type, step),
                "attack_ids": row["attack_ids"],
                "mean_p_reduction": row["mean_p_reduction"],
                "mean_median_increase": row["mean_median_increase"],
                "targets": {
                    name: {k: t[k] for k in ("p_before", "p_after", "p_reduction", "p_reduction_ci")}
                    for name, t in per_target.items()
                },
            }
        )
    # Already in whatif's order (WHATIF_RANKING), as in the HTML report. The demo shows no interval for the
    # median's change, so whatif takes none (bootstrap=0).
    warnings += tried["warnings"]
    return {
        "example": path.stem,
        "scenario": str(path),
        "language": {"file": str(scenario.lang), **spec.defines},
        "assets": len(scenario.model.assets),
        "attack_steps": int(graph.n_nodes),
        "samples": samples,
        "seed": seed,
        "knowledge_base": None if kb is None else {"path": str(kb.path), "attack_version": _attack_version(kb)},
        "targets": results,
        "paths": paths,
        "defenses": defenses[:top_defenses],
        "defenses_tried": len(defenses),
        "ranking": tried["ranking"],
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _attack_version(kb) -> str | None:
    domains = (kb.meta.get("attack") or {}).get("domains") or {}
    versions = sorted({d.get("version") for d in domains.values() if d.get("version")})
    return ", ".join(versions) or None
