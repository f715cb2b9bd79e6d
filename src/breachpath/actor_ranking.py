"""Who can reach what, and how fast: threat actors ranked against a scenario (issue 17).

Every profile (:mod:`breachpath.actor`) conditions the same attack graph and runs on the same samples: the same
seed draws the same numbers for every actor (closed and slowed doors draw none), so two actors differ only where
their techniques differ (common random numbers). Per target, actors are ranked by P(compromise within the horizon),
then by the median time to compromise among the samples that reach it; each figure has its 95% interval (Wilson
for probabilities, the order-statistic interval for the median, as in :func:`breachpath.sim.summarise`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from breachpath.actor import (
    Profile,
    actor_doors,
    closed_by_actor,
    modelled_by,
    preset_profile,
    profile_from_kb,
    run_as,
)
from breachpath.errors import InputError
from breachpath.graph import AttackGraph, possibly_reached
from breachpath.sim import median_ci, simulate, summarise, wilson

#: Rows run besides the chosen actors, for comparison: the unconditioned attacker and CTID's ransomware list.
REFERENCE_PRESETS = ("any", "ransomware-top10")
#: Ranking order, as the table and JSON say it.
RANKING = "P(compromise within the horizon), then the median TTC (shorter first)"


def select_profiles(kb, groups: str = "all", campaigns: bool = False,
                    via: tuple[str, ...] | None = None) -> tuple[list[Profile], list[dict]]:  # fmt: skip
    """The profiles of ``groups`` ("all": every live enterprise group; else ids, names or aliases joined by commas)
    and, with ``campaigns``, of every live enterprise campaign; and the revoked or deprecated ones left out, each
    with why: ``(profiles, skipped)``."""
    profiles: list[Profile] = []
    skipped: list[dict] = []
    kinds = ["group"] + (["campaign"] if campaigns else [])
    if groups.strip().lower() != "all":
        kinds = ["campaign"] if campaigns else []
        wanted = [g.strip() for g in groups.split(",") if g.strip()]
        if not wanted:
            raise InputError(f"--groups {groups!r}: 'all' or group ids, names or aliases joined by commas")
        seen = set()
        for text in wanted:
            profile = profile_from_kb(kb, text, via)
            if profile.name not in seen:
                seen.add(profile.name)
                profiles.append(profile)
    for kind in kinds:
        for actor in kb.actors(kind, domain="enterprise-attack"):
            if actor["skipped"]:
                skipped.append({**actor, "kind": kind})
            else:
                profiles.append(profile_from_kb(kb, actor["id"], via))
    return profiles, skipped


def reference_profiles() -> list[Profile]:
    """The presets run besides the chosen actors (:data:`REFERENCE_PRESETS`)."""
    return [preset_profile(name) for name in REFERENCE_PRESETS]


def _target_figures(times: np.ndarray, horizon: float) -> dict:
    """P(compromise), P(within the horizon) and the median TTC of the compromised samples, with 95% intervals: the
    figures of :func:`breachpath.sim.summarise` (those ``simulate`` reports)."""
    stats = summarise(times, [horizon])
    n, within = len(times), stats["within"][f"{horizon:g}"]
    median = stats["ttc"]["p50"]
    finite = times[np.isfinite(times)].astype(np.float64)
    return {
        "p": stats["p"], "p_ci": stats["p_ci"], "p_within": within, "p_within_ci": list(wilson(round(within * n), n)),
        "median": median, "median_ci": None if median is None else list(median_ci(finite)),
    }  # fmt: skip


def _key(row: dict, target: str) -> tuple:
    t = row["targets"][target]
    return (-t["p_within"], np.inf if t["median"] is None else t["median"])


def _order(rows: list[dict], target: str) -> tuple[list[int], list[int | None]]:
    """Rows best first, and each actor's rank among the actors (references have none): equal figures share the
    best rank of their group (1, 1, 3)."""
    order = sorted(range(len(rows)), key=lambda i: (*_key(rows[i], target), rows[i]["name"]))
    ranks: list[int | None] = [None] * len(rows)
    actors = [i for i in order if not rows[i]["reference"]]
    for position, i in enumerate(actors):
        before = actors[position - 1] if position else None
        same = before is not None and _key(rows[before], target) == _key(rows[i], target)
        ranks[i] = ranks[before] if same else position + 1
    return order, ranks


def rank_actors(
    graph: AttackGraph,
    entries: list[int],
    targets: list[int],
    profiles: list[Profile],
    mode: str = "soft",
    outside: float = 10.0,
    samples: int = 1000,
    seed: int | None = None,
    horizon: float = 30.0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    kb=None,
    references: int = 0,
) -> dict:
    """Run the scenario as each actor of ``profiles``, all on the same samples, and rank them per target
    (:data:`RANKING`). The first ``references`` profiles are there for comparison (:func:`reference_profiles`).

    Returns ``{"mode", "outside", "horizon", "samples", "seed", "ranking", "targets": [names], "actors": [{"name",
    "reference", "techniques", "modelled", "steps_changed", "closed", "targets": {name: {p, p_ci, p_within,
    p_within_ci, median, median_ci}}}], "order": {target: [indices into actors, best first]}, "ranks": {target:
    [each actor's rank, None for references]}, "top": index}``.
    ``top`` is the actor (not a reference) with the highest mean P within the horizon over the targets, then the
    shortest mean median. ``kb`` names the tactic a strict actor lacks (:func:`breachpath.actor.closed_by_actor`)."""
    from breachpath.scenario import check_horizons

    check_horizons([horizon], "--horizon")
    doors = actor_doors(graph)
    language = {i for ids in graph.info.get("attack_ids", {}).values() for i in ids if i.startswith("T")}
    names = [graph.name(t) for t in targets]
    rows: list[dict] = []
    reached, tactics_of = None, {}
    for k, profile in enumerate(profiles):
        actor_graph, done = run_as(graph, profile, mode, outside, entries, targets, doors=doors, explain=False)
        sim = simulate(actor_graph, entries, targets, samples=samples, seed=seed, workers=workers)
        seed = sim.seed  # the first run's seed, when none was given: every actor on the same samples
        never = [t for j, t in enumerate(targets) if not np.isfinite(sim.times[:, j]).any()]
        if mode == "strict" and never:  # only a target no sample reached can have been closed off
            reached = possibly_reached(graph, entries) if reached is None else reached
            why = closed_by_actor(graph, actor_graph, entries, never, kb, reached, tactics_of)
            done["closed"] = {graph.name(t): reason for t, reason in why.items()}
        modelled = modelled_by(profile, language)
        rows.append({
            "name": profile.name, "reference": k < references, "every_technique": profile.every,
            "techniques": len(profile.weights),
            "modelled": sum(1 for m in modelled.values() if m["how"] != "not modelled"),
            "steps_changed": done["steps_changed"], "closed": done["closed"], "notes": profile.notes,
            "citations": profile.citations,
            "targets": {name: _target_figures(sim.times[:, j], horizon) for j, name in enumerate(names)},
        })  # fmt: skip
        if progress is not None:
            progress(k + 1, len(profiles))
    ordered = {name: _order(rows, name) for name in names}
    candidates = [i for i, r in enumerate(rows) if not r["reference"]]
    top = None
    if candidates:
        top = min(
            candidates,
            key=lambda i: (
                -np.mean([t["p_within"] for t in rows[i]["targets"].values()]),
                np.mean([np.inf if t["median"] is None else t["median"] for t in rows[i]["targets"].values()]),
                rows[i]["name"],
            ),
        )
    return {
        "mode": mode, "outside": outside, "horizon": horizon, "samples": samples, "seed": seed, "ranking": RANKING,
        "targets": names, "actors": rows, "order": {name: o for name, (o, _) in ordered.items()},
        "ranks": {name: r for name, (_, r) in ordered.items()}, "top": top,
    }  # fmt: skip


def rank_groups(kb, graph: AttackGraph, entries: list[int], targets: list[int], groups: str = "all",
                campaigns: bool = False, via: tuple[str, ...] | None = None, **run) -> tuple[dict, list[Profile]]:  # fmt: skip
    """:func:`select_profiles` from the knowledge base, with the references first, ranked by :func:`rank_actors`
    (``run``: its mode, outside, samples, seed, horizon, workers and progress): ``(result, profiles run)``; the
    result also lists the actors left out (``skipped``)."""
    chosen, skipped = select_profiles(kb, groups, campaigns, via)
    runs = reference_profiles() + chosen
    result = rank_actors(graph, entries, targets, runs, kb=kb, references=len(runs) - len(chosen), **run)
    result["skipped"] = skipped
    return result, runs


def top_actor_run(graph: AttackGraph, entries: list[int], targets: list[int], result: dict, runs: list[Profile],
                  workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> tuple:  # fmt: skip
    """The top actor of a ranking (``result`` of :func:`rank_actors` over ``runs``) run again with its attack paths
    on the same samples: ``(the graph conditioned on it, the simulation)``, for its layer and report."""
    best = runs[result["top"]]
    actor_graph, _ = run_as(graph, best, result["mode"], result["outside"], entries, targets, explain=False)
    sim = simulate(
        actor_graph, entries, targets, samples=result["samples"], seed=result["seed"], workers=workers,
        progress=progress, path_targets=len(targets),
    )  # fmt: skip
    return actor_graph, sim
