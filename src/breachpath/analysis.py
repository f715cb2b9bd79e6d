"""Explaining simulation results: attack paths and chokepoints.

A sample's *attack path* to a target is the set of steps that actually achieved it: for an OR step the parent that
gave it its time, for an AND step all its parents, back to the entry points, disabled defenses and existence steps
(recorded by :func:`breachpath.sim.simulate` with ``path_targets``). Over all samples, the distinct paths and their
frequencies say how the attacker gets there; the step that most paths share, early, is a *chokepoint*.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from breachpath import _kernel
from breachpath.actor import TECHNIQUE, Profile, graph_actor, in_profile
from breachpath.errors import InputError
from breachpath.graph import KINDS, AttackGraph
from breachpath.sim import Draws, Simulation, simulate, thread_count, wilson


def _step_view(graph: AttackGraph, node: int, actor: Profile | None = None) -> dict:
    """A step as data; with the ``actor`` the graph was conditioned on, whether its techniques are the actor's
    (``actor_technique``: None for a step with none)."""
    asset = int(graph.asset[node])
    asset_type = str(graph.asset_types[asset])
    step = str(graph.step_names[graph.step[node]])
    attack_ids = graph.info.get("attack_ids", {}).get(f"{asset_type}.{step}", [])
    view = {
        "node": int(node),
        "name": graph.name(node),
        "asset": str(graph.asset_names[asset]),
        "asset_type": asset_type,
        "step": step,
        "kind": KINDS[graph.kind[node]],
        "attack_ids": attack_ids,
        "ttc": None if graph.ttc[node] < 0 else str(graph.ttc_texts[graph.ttc[node]]),
        "gate": _is_gate_plumbing(graph, node),
    }
    if actor is not None:
        techniques = [i for i in attack_ids if TECHNIQUE.match(i)]
        view["actor_technique"] = in_profile(techniques, actor) if techniques else None
    return view


def defense_led(graph: AttackGraph) -> np.ndarray:
    """Per step, whether a defense leads to it (a gate's "bypassed" step): True where some parent is a defense."""
    sources = np.repeat(np.arange(graph.n_nodes), np.diff(graph.child_ptr))
    led = np.zeros(graph.n_nodes, dtype=bool)
    led[graph.child_idx[graph.kind[sources] == 2]] = True
    return led


def _is_gate_plumbing(graph: AttackGraph, node: int) -> bool:
    """A step a defense leads to ("…Bypassed"), or the defeat step of defenses that are off: on a path they say
    only that a door had no defense in its way, which text views leave out. The defeat step of a defense that is
    on (or may be) stays: the attacker got past it."""
    if (graph.kind[graph.parents(node)] == 2).any():
        return True
    children = graph.children(node)
    if not len(children):
        return False
    defenses = []
    for child in children:
        parents = graph.parents(child)
        found = parents[graph.kind[parents] == 2]
        if not len(found):
            return False
        defenses.extend(found.tolist())
    return bool((graph.defense_p[defenses] == 0).all())


def _path(sim: Simulation, sample: int, target: int) -> tuple[int, ...]:
    # Backtracking lists the target first: reversed, the path reads from the entry to the target.
    return tuple(sim.path(sample, target)[::-1].tolist())


def in_causal_order(graph: AttackGraph, path: tuple[int, ...]) -> list[int]:
    """The steps of a path so that each comes after the parents it used (Kahn's topological sort over the graph's
    edges within the path, an AND step after all its parents there, an OR step after one; ties keep the recorded
    order). An AND step's branches are recorded one after the other, so the reversed record alone can list a later
    branch's step before an earlier branch's entry; and a graph's cycles (a host's access leads back to its
    network's) would block an OR step that waited for all its parents on the path."""
    if not path:
        return []
    nodes = np.fromiter(path, dtype=np.int64, count=len(path))
    return causal_orders(graph, nodes, np.array([0, len(nodes)])).tolist()


def causal_orders(graph: AttackGraph, nodes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """:func:`in_causal_order` of many paths at once (compiled; no per-path Python): path ``i`` is
    ``nodes[offsets[i]:offsets[i + 1]]``, and is reordered in the same place of the array returned."""
    nodes = np.ascontiguousarray(nodes, dtype=np.int64)
    out = np.empty_like(nodes)
    _kernel.causal_order(
        nodes, np.ascontiguousarray(offsets, dtype=np.int64), graph.child_ptr, graph.child_idx, graph.kind == 1, out
    )
    return out


def technique_of(graph: AttackGraph, node: int) -> str | None:
    """The ATT&CK technique an attack step models (its first technique id), or None."""
    if graph.kind[node] >= 2:
        return None  # defenses name mitigations; existence steps name nothing
    asset_type = str(graph.asset_types[graph.asset[node]])
    step = str(graph.step_names[graph.step[node]])
    ids = [i for i in graph.info.get("attack_ids", {}).get(f"{asset_type}.{step}", []) if i.startswith("T")]
    return ids[0] if ids else None


def technique_joins(graph: AttackGraph, order: list[int]) -> tuple[dict[int, set[int]], dict[int, bool]]:
    """For a path in causal order: each step's nearest technique steps before it (through the path's own earlier
    steps that model no technique), and whether the join there is an AND (an AND step with several parents on the
    way). This contracts a path to the techniques an analyst reads."""
    members = set(order)
    position = {v: i for i, v in enumerate(order)}
    visible = {v for v in order if technique_of(graph, v)}
    nearest: dict[int, set[int]] = {}
    joins_and: dict[int, bool] = {}
    for v in order:
        parents = [int(p) for p in graph.parents(v) if int(p) in members and position[int(p)] < position[v]]
        ancestors: set[int] = set()
        is_and = bool(graph.kind[v] == 1 and len(parents) > 1)
        for p in parents:
            ancestors |= {p} if p in visible else nearest.get(p, set())
            is_and = is_and or (p not in visible and joins_and.get(p, False))
        nearest[v], joins_and[v] = ancestors, is_and
    return nearest, joins_and


def attack_paths(graph: AttackGraph, sim: Simulation, target: int = 0, top: int = 5) -> dict:
    """Distinct attack paths to ``target`` (an index into the simulated targets) with their frequencies, the most
    frequent ones, and the path of the sample with the median compromise time."""
    if target >= sim.path_targets:
        raise ValueError("run simulate(..., path_targets=k) to record paths")
    times = sim.times[:, target]
    successful = np.flatnonzero(np.isfinite(times))
    first, counts = same_step_paths(sim, successful, target)
    result = {"target": sim.names[target], "successful_samples": int(len(successful)), "distinct_paths": len(first)}
    actor = graph_actor(graph)
    actor = actor[0] if actor else None
    ranked = np.lexsort((first, -counts))[:top]  # most frequent first; ties: the one met first
    result["top"] = [
        {
            "frequency": int(counts[g]) / max(1, len(successful)),
            "samples": int(counts[g]),
            "steps": [_step_view(graph, v, actor) for v in in_causal_order(graph, _path(sim, int(first[g]), target))],
        }
        for g in ranked
    ]
    if len(successful):
        order = successful[np.argsort(times[successful], kind="stable")]
        median_sample = int(order[len(order) // 2])
        result["median_time_path"] = {
            "sample": median_sample,
            "time": float(times[median_sample]),
            "steps": [_step_view(graph, v, actor) for v in in_causal_order(graph, _path(sim, median_sample, target))],
        }
    else:
        result["median_time_path"] = None
    truncated = sim.truncated_paths(target)
    if truncated:
        result["truncated_paths"] = truncated
    return result


def chokepoints(
    graph: AttackGraph, sim: Simulation, target: int = 0, entries: list[int] | None = None, top: int = 10
) -> list[dict]:
    """Attack steps on the largest share of successful paths, weighted by how early they come.

    A step's score is the mean, over successful samples, of its earliness on that sample's path (1 at the
    entry end, 0 at the target; 0 when the step is not on the path). Entry points, the target itself, defenses,
    existence steps and gate plumbing (a defense's bypassed step, the defeat step of a defense that is off) are
    left out: they are not where an attacker can be stopped along the way (the defense is, in `whatif`).
    """
    if target >= sim.path_targets:
        raise ValueError("run simulate(..., path_targets=k) to record paths")
    times = sim.times[:, target]
    successful = np.flatnonzero(np.isfinite(times))
    nodes, earliness = _path_positions(sim, successful, target)
    keep = np.zeros(graph.n_nodes, dtype=bool)
    for v in np.unique(nodes).tolist():  # the distinct steps on any path: a few thousand at most
        keep[v] = graph.kind[v] < 2 and not _is_gate_plumbing(graph, v)
    keep[list(entries or [])] = False
    keep[int(sim.nodes[target])] = False
    on = keep[nodes]
    # bincount adds in array order (sample by sample), as a running sum over samples would: the same floats.
    score = np.bincount(nodes[on], weights=earliness[on], minlength=graph.n_nodes)
    share = np.bincount(nodes[on], minlength=graph.n_nodes)
    n = max(1, len(successful))
    seen = np.flatnonzero(share)
    ranked = seen[np.lexsort((seen, -score[seen]))][:top].tolist()
    return [{**_step_view(graph, v), "score": float(score[v]) / n, "share_of_paths": int(share[v]) / n} for v in ranked]


def _defenses_on_paths(graph: AttackGraph, sim: Simulation, targets: int) -> list[int]:
    """The defense steps on the successful paths to the first ``targets`` targets, most often first (ties: the one
    met first, reading every path from its entry, target by target): what counting them one path at a time with a
    ``Counter`` and taking ``most_common()`` gives."""
    scanned = [
        _path_positions(sim, np.flatnonzero(np.isfinite(sim.times[:, j])), j, entry_first=True)[0]
        for j in range(targets)
    ]
    order = np.concatenate(scanned) if scanned else np.empty(0, dtype=np.int64)
    order = order[graph.kind[order] == 2]
    if not len(order):
        return []
    found, first, counts = np.unique(order, return_index=True, return_counts=True)
    return found[np.lexsort((first, -counts))].tolist()


def path_steps(
    sim: Simulation, samples: np.ndarray, target: int, entry_first: bool = False, leave_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every step of the recorded paths of ``samples`` to ``target``, back to back (as recorded, target first, or
    with ``entry_first`` from the entry), with the index into ``samples`` of the path it lies on; the steps
    ``leave_out`` marks are dropped."""
    nodes, _ = _path_positions(sim, samples, target, entry_first)
    rows = np.repeat(np.arange(len(samples)), np.diff(sim.path_offsets)[samples * sim.path_targets + target])
    if leave_out is not None:
        kept = ~leave_out[nodes]
        nodes, rows = nodes[kept], rows[kept]
    return nodes, rows


def equal_sequences(rows: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group the ``n`` sequences given as ``values`` with their sequence index ``rows`` (non-decreasing, each
    sequence in order) into equal ones, without a per-sequence loop: each sequence becomes a row of a table padded
    with -1, and equal rows are found by :func:`numpy.unique`. Returns the distinct rows, each one's first sequence
    and its number of sequences, in the order of their first sequences."""
    if not n:
        return np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.bincount(rows, minlength=n)
    table = np.full((n, int(lengths.max(initial=0)) + 1), -1, dtype=np.int64)
    table[rows, np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = values
    distinct, first, counts = np.unique(table, axis=0, return_index=True, return_counts=True)
    by_first = np.argsort(first)
    return distinct[by_first], first[by_first], counts[by_first]


def same_step_paths(
    sim: Simulation, samples: np.ndarray, target: int, leave_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Group ``samples`` whose recorded paths to ``target`` hold the same set of steps (not counting the steps
    ``leave_out`` marks), without a per-sample loop: each group's first sample and its number of samples, groups
    in the order of their first samples (each path's steps sorted, then :func:`equal_sequences`)."""
    nodes, rows = path_steps(sim, samples, target, leave_out=leave_out)
    order = np.lexsort((nodes, rows))
    _, first, counts = equal_sequences(rows[order], nodes[order], len(samples))
    return samples[first], counts


def _samples_through(sim: Simulation, defenses: list[int]) -> dict[int, np.ndarray]:
    """For each defense, the samples whose recorded path to some target passes through it, or was cut short (so
    it might): the only samples whose results enabling that defense can change. Enabling a defense removes a way
    in and adds none, so every time can only grow; and a target's path, all of whose steps keep their times when
    the defense is not on it, still reaches the target when it did. Re-running just these samples (with their own
    draws) gives exactly what re-running all of them would."""
    k = sim.path_targets
    stored = np.diff(sim.path_offsets)
    sample_of = np.repeat(np.arange(len(stored)) // max(1, k), stored)
    cut = np.flatnonzero((sim.path_len > stored.reshape(sim.path_len.shape)).any(axis=1))
    wanted = np.asarray(defenses, dtype=np.int64)
    on = np.isin(sim.path_nodes, wanted)
    nodes, where = sim.path_nodes[on], sample_of[on]
    return {d: np.union1d(where[nodes == d], cut) for d in defenses}


def _path_positions(
    sim: Simulation, samples: np.ndarray, target: int, entry_first: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Every step of the recorded paths of ``samples`` to ``target``, back to back (each path as recorded, target
    first, or with ``entry_first`` from its entry), and its earliness on its path (1 at the entry end, 0 at the
    target), without a per-sample loop."""
    rows = samples.astype(np.int64) * sim.path_targets + target
    starts, lengths = sim.path_offsets[rows], sim.path_offsets[rows + 1] - sim.path_offsets[rows]
    each = np.repeat(lengths, lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    if entry_first:
        within = each - 1 - within
    nodes = sim.path_nodes[np.repeat(starts, lengths) + within].astype(np.int64)
    position = each - 1 - within  # recorded target first: reversed, the path reads from the entry
    return nodes, 1 - position / np.maximum(1, each - 1)


def _median(times: np.ndarray) -> float | None:
    finite = times[np.isfinite(times)]
    return float(np.median(finite)) if finite.size else None


#: The most resamples :func:`whatif`'s paired bootstrap takes (each is a pass over every sample of every target).
MAX_BOOTSTRAP = 100_000

#: How :func:`whatif` ranks defenses; shown as is by the CLI table, the demo and the HTML report.
WHATIF_RANKING = "mean ΔP over the targets, then mean increase of the median TTC"


class _BootstrapPicks:
    """The paired bootstrap's resamples (rows of sample indices), the same for every defense and target.

    Held as one matrix while it fits in :attr:`MAX_BYTES`; past that (10⁸ samples would need 160 GB), each pass
    draws the rows again, one at a time, from the same seed: numpy's generator gives the same numbers either way."""

    MAX_BYTES = 2**28

    def __init__(self, seed: int, rows: int, samples: int):
        self.seed, self.rows, self.samples = seed, rows, samples
        self.matrix = None
        if rows * samples * 8 <= self.MAX_BYTES:
            self.matrix = np.random.default_rng(seed).integers(0, samples, size=(rows, samples))

    def __iter__(self):
        if self.matrix is not None:
            yield from self.matrix
            return
        rng = np.random.default_rng(self.seed)
        for _ in range(self.rows):
            yield rng.integers(0, self.samples, size=self.samples)

    def medians(self, times: np.ndarray) -> np.ndarray:
        """Per resample, the median of its finite times (NaN where none is finite), as :func:`_median` gives
        for one, for the whole matrix at once. Each resample's times are sorted as the ranks of ``times`` they
        drew (∞ ranks last, so the finite ones are a prefix): below 2¹⁵ samples the ranks are 16-bit integers,
        which numpy sorts by radix in linear time, where floats take a comparison sort."""
        if self.matrix is None:
            found = (_median(times[rows]) for rows in self)
            return np.array([np.nan if m is None else m for m in found])
        n = self.samples
        order = np.argsort(times, kind="stable")
        rank = np.empty(n, dtype=np.int16 if n < 2**15 else np.int64)
        rank[order] = np.arange(n)
        drawn = np.sort(rank[self.matrix], axis=1, kind="stable" if n < 2**15 else None)
        count = (drawn < np.count_nonzero(np.isfinite(times))).sum(axis=1)
        index, ordered = np.arange(len(drawn)), times[order]
        low = ordered[drawn[index, np.maximum(count - 1, 0) // 2]]
        high = ordered[drawn[index, count // 2]]
        middle = np.mean(np.stack([low, high]), axis=0)  # as np.median takes the two middle values
        return np.where(count > 0, middle, np.nan)


def cannot_matter(graph: AttackGraph, defenses: list[int]) -> set[int]:
    """The defenses among ``defenses`` that, enabled alone, provably change no step's time in any sample.

    A defense gates steps through its bypassed step. Enabling it can only delay a step ``s`` that a gated step
    ``g`` leads to; if ``s`` has another parent ``h`` with no TTC whose parents are among ``g``'s other parents
    or steps every sample reaches at time 0 (the bypassed steps of defenses that are off), ``h`` reaches ``s`` no
    later than ``g`` would have, so ``s`` keeps its time. When that holds for every step the defense gates, it
    cannot change a result. attacklang's techniques are such doors (zero-time alternatives into a state, each
    gated by its own mitigations): one mitigation that leaves another door open changes nothing, and trying it
    would cost a whole simulation. The test is exact, not sampled: what it drops would have shown ΔP = 0."""
    kind, ttc, p = graph.kind, graph.ttc, graph.defense_p
    always: dict[int, bool] = {}
    parent_lists: dict[int, list[int]] = {}

    def parents(node: int) -> list[int]:
        if node not in parent_lists:  # asked again and again: the same few hundred steps
            parent_lists[node] = graph.parents(node).tolist()
        return parent_lists[node]

    def at_zero(node: int, but: int) -> bool:
        """A bypassed step of a defense that is off (p = 0) other than ``but``: reached at 0 in every sample."""
        if node not in always:
            off = [q for q in parents(node) if kind[q] == 2]
            always[node] = bool(kind[node] == 0 and ttc[node] < 0 and off and all(p[q] == 0 for q in off))
        return always[node] and but not in parents(node)

    def no_later(h: int, others: set[int], defense: int) -> bool:
        """``h`` (no TTC) is reached no later than a step whose parents are ``others``: an AND step whose parents
        are all among them (or at 0), an OR step with one parent among them (or at 0)."""
        if ttc[h] >= 0 or kind[h] not in (0, 1):
            return False
        ok = (q in others or at_zero(q, defense) for q in parents(h))
        return all(ok) if kind[h] == 1 else any(ok)

    idle = set()
    for defense in defenses:
        bypassed = set(graph.children(defense).tolist())
        gated = [int(g) for b in bypassed for g in graph.children(b)]
        # Only AND steps are gated in this sense (an OR step with a bypassed parent is reached at once).
        covered = bool(gated) and all(kind[g] == 1 for g in gated)
        for g in gated if covered else []:
            others = set(parents(g)) - bypassed
            alternatives = graph.children(g).tolist()
            if not all(any(h != g and no_later(h, others, defense) for h in parents(s)) for s in alternatives):
                covered = False
                break
        if covered:
            idle.add(defense)
    return idle


#: When more defenses could matter than what-if tries, each is screened on this many of the first samples.
SCREEN_SAMPLES = 128


def _screened(
    graph: AttackGraph, entries: list[int], targets: list[int], base: Simulation, candidates: list[int],
    samples: int, seed: int, draws: Draws, limit: int, workers: int | None = None,
) -> list[int]:  # fmt: skip
    """``candidates`` (in path order) with those that cut off the most (sample, target) compromises among the
    baseline's first :data:`SCREEN_SAMPLES` samples first; ties keep path order. Being on many paths is a poor
    guide where doors are many: a mitigation on every path that leaves another door open changes nothing, while
    one on fewer paths that shuts a sole door does. Only with more candidates than ``limit``."""
    if len(candidates) <= limit:
        return candidates
    window = min(samples, SCREEN_SAMPLES)
    through = _samples_through(base, candidates)

    def lost(node: int) -> int:
        rows = through[node][through[node] < window]
        if not len(rows):
            return 0
        defense_p = graph.defense_p.copy()
        defense_p[node] = 1.0
        run = simulate(
            graph, entries, targets, samples=samples, seed=seed, workers=1, rows=rows, draws=draws, defense_p=defense_p
        )
        return int(np.count_nonzero(np.isfinite(base.times[rows]) & ~np.isfinite(run.times)))

    with ThreadPoolExecutor(thread_count(workers)) as pool:  # the kernel releases the GIL
        cut = list(pool.map(lost, candidates))
    order = sorted(range(len(candidates)), key=lambda i: -cut[i])
    return [candidates[i] for i in order]


def _enabled_summary(
    graph: AttackGraph,
    node: int,
    base: Simulation,
    times: np.ndarray,
    picks: _BootstrapPicks,
    boot_before: dict[int, np.ndarray],
) -> dict:
    """One what-if row: defense ``node`` enabled gave ``times`` where the baseline gave ``base.times``; per target
    the saved share with its Wilson interval and the median's change with its paired-bootstrap interval
    (``boot_before`` keeps the baseline's resampled medians, the same for every defense)."""
    samples = len(times)
    per_target = {}
    for j, name in enumerate(base.names):
        before, after = base.times[:, j], times[:, j]
        saved = np.isfinite(before) & ~np.isfinite(after)
        low, high = wilson(int(saved.sum()), samples)
        median_before, median_after = _median(before), _median(after)
        delta = None if median_before is None or median_after is None else median_after - median_before
        interval = None
        if delta is not None and picks.rows:
            if j not in boot_before:  # the baseline's resampled medians: the same for every defense
                boot_before[j] = picks.medians(before)
            # When no sample moved, every resample's median is the baseline's: no need to take them again.
            same = np.array_equal(before, after)
            boot = (boot_before[j] if same else picks.medians(after)) - boot_before[j]
            boot = boot[np.isfinite(boot)]
            if boot.size:
                interval = [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]
        per_target[name] = {
            "p_before": float(np.isfinite(before).mean()),
            "p_after": float(np.isfinite(after).mean()),
            "p_reduction": float(saved.mean()),
            "p_reduction_ci": [low, high],
            "median_before": median_before,
            "median_after": median_after,
            "median_increase": delta,
            "median_increase_ci": interval,
        }
    return {**_step_view(graph, node), "defense_p": float(graph.defense_p[node]), "targets": per_target}


def _check_baseline(baseline: Simulation, targets: list[int], samples: int, seed: int | None) -> None:
    """A baseline handed to :func:`whatif` must be the run it would make itself."""
    if baseline.seed is None or (seed is not None and baseline.seed != seed):
        raise ValueError(f"the baseline ran with seed {baseline.seed}, not {seed}")
    if baseline.samples != samples or baseline.nodes.tolist() != [int(t) for t in targets]:
        raise ValueError("the baseline must be a simulation of the same targets and number of samples")
    if baseline.path_targets < len(targets):
        raise ValueError("the baseline must record the paths of every target (path_targets=len(targets))")


def whatif(
    graph: AttackGraph,
    entries: list[int],
    targets: list[int],
    defenses: list[int] | None = None,
    samples: int = 1000,
    seed: int | None = None,
    workers: int | None = None,
    limit: int = 20,
    bootstrap: int = 200,
    progress: Callable[[int, int], None] | None = None,
    baseline: Simulation | None = None,
) -> dict:
    """Baseline, then each single defense enabled, with common random numbers (the same seed: the same TTC and
    defense draws); defenses ranked by the reduction they give in compromise probability and median TTC.

    Without a list, the candidates are the defenses that lie on the baseline's attack paths: enabling any other
    cannot change a sample's result, since its path stays open. The interval for Δp is a Wilson interval on the
    share of samples that the defense saves (it can only save, never add); the one for Δmedian is a paired
    bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13) of ``bootstrap`` resamples;
    ``bootstrap=0`` leaves it out (``median_increase_ci`` is None) for a caller that does not show it.

    ``progress(done, total)`` counts samples over all runs (the total is settled once the baseline has named
    the candidates).

    ``baseline``, a simulation the caller already ran of these ``targets`` with the same ``samples`` and ``seed``
    and the paths of every target (``simulate(..., path_targets=len(targets))``), is taken as the baseline instead
    of running it again; it gives the same numbers (same seed, same draws).

    Ranking (:data:`WHATIF_RANKING`, the same in the CLI table and the HTML report): mean ΔP over the targets,
    then the mean increase of the median TTC over the targets where both medians exist, then the name. Named
    defenses must be defense steps; one already on (p = 1) is tried but reported under ``warnings``.
    """
    from breachpath.graph import not_a_defense
    from breachpath.scenario import check_samples, check_seed, check_workers

    check_samples(samples)
    check_seed(seed)
    check_workers(workers, "workers")
    if defenses is None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be at least 1 (defenses to try), not {limit!r}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise InputError(f"bootstrap must be 0 to {MAX_BOOTSTRAP:,} resamples, not {bootstrap!r}")
    warnings = []
    for node in defenses or []:
        if graph.kind[node] != 2:
            raise InputError(not_a_defense(graph, node, graph.name(node)))
        if graph.defense_p[node] >= 1:
            warnings.append(f"{graph.name(node)} is already on (p = 1 in the scenario): enabling it changes nothing")
    runs = [1 + (len(defenses) if defenses is not None else limit)]
    counted = [0] * runs[0]  # samples done per run; runs go side by side, so the bar shows their sum
    lock = threading.Lock()

    def run_progress(index: int, size: int = samples) -> Callable[[int, int], None] | None:
        if progress is None:
            return None

        def update(done: int, _total: int) -> None:
            # A run of only the samples that can change (``size`` of them) still counts as one run of ``samples``.
            with lock:
                counted[index] = done * samples // max(1, size)
                progress(sum(counted), runs[0] * samples)

        return update

    if baseline is not None:
        _check_baseline(baseline, targets, samples, seed)
        seed = baseline.seed
    if seed is None:  # common random numbers need one seed for every run: a fresh one, reported with the results
        seed = int(np.random.default_rng().integers(2**63))
    # Every run draws the baseline's numbers: drawn once, kept for the others.
    draws = Draws(seed=seed)
    if baseline is None:
        base = simulate(
            graph, entries, targets, samples=samples, seed=seed, workers=workers, path_targets=len(targets),
            progress=run_progress(0), draws=draws,
        )  # fmt: skip
    else:
        base = baseline
        if progress is not None:
            run_progress(0)(samples, samples)
    if defenses is None:
        ranked = _defenses_on_paths(graph, base, len(targets))
        idle = cannot_matter(graph, ranked)
        ranked = [node for node in ranked if node not in idle]
        defenses = _screened(graph, entries, targets, base, ranked, samples, seed, draws, limit, workers)[:limit]
    runs[0] = 1 + len(defenses)
    affected = _samples_through(base, defenses)

    # The runs are independent (each its own copy of the probabilities, the same kept draws), so they go side by
    # side, a thread each; with fewer runs than threads, each run splits its blocks among the spare ones.
    threads = thread_count(workers)
    side_by_side = max(1, min(threads, len(defenses)))

    def enabled_run(index: int, node: int) -> Simulation:
        """The baseline's samples that can change (those whose paths pass through the defense; see
        _samples_through) run again with the defense on for sure."""
        defense_p = graph.defense_p.copy()
        defense_p[node] = 1.0
        rows = affected[node]
        run = simulate(
            graph, entries, targets, samples=samples, seed=seed, workers=threads // side_by_side, rows=rows,
            progress=run_progress(index, len(rows)), draws=draws, defense_p=defense_p,
        )  # fmt: skip
        if progress is not None:  # the run is done, even one with no sample to re-run
            run_progress(index)(samples, samples)
        return run

    picks = _BootstrapPicks(seed, bootstrap, samples)
    boot_before: dict[int, np.ndarray] = {}
    results = []
    # This thread summarises the runs done, in order: the same numbers for any workers.
    pool = ThreadPoolExecutor(side_by_side)
    try:
        pending = [pool.submit(enabled_run, index, node) for index, node in enumerate(defenses, start=1)]
        for node, future in zip(defenses, pending, strict=True):
            times = base.times.copy()
            times[affected[node]] = future.result().times
            results.append(_enabled_summary(graph, node, base, times, picks, boot_before))
    finally:
        pool.shutdown(cancel_futures=True)
    for row in results:
        row["mean_p_reduction"] = float(np.mean([t["p_reduction"] for t in row["targets"].values()]))
        increases = [t["median_increase"] for t in row["targets"].values() if t["median_increase"] is not None]
        row["mean_median_increase"] = float(np.mean(increases)) if increases else None
    results.sort(key=lambda r: (-r["mean_p_reduction"], -(r["mean_median_increase"] or 0.0), r["name"]))
    return {
        "samples": samples,
        "seed": seed,
        "baseline": {n: float(np.isfinite(base.times[:, j]).mean()) for j, n in enumerate(base.names)},
        "ranking": WHATIF_RANKING,
        "defenses": results,
        "warnings": warnings,
    }


def nice_axis(top: float, intervals: int = 4) -> float:
    """The smallest "nice" axis end (a tick step of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k) at or above ``top``,
    after Heckbert's nice numbers (Graphics Gems, 1990) with finer steps so little of the axis is wasted: ticks
    read 0, 12, 24, … rather than 0, 15.71, …"""
    step = top / intervals
    magnitude = 10.0 ** np.floor(np.log10(step))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * magnitude >= step * (1 - 1e-9):
            return float(m * magnitude * intervals)
    return float(10 * magnitude * intervals)  # pragma: no cover - the loop ends at 10


def curve_end(times: np.ndarray) -> float:
    """Where a TTC curve's axis ends: a nice number above the 99th percentile of the finite times (1 day when
    none is finite); the report's curves and the uncertainty band share it."""
    finite = times[np.isfinite(times)]
    return nice_axis(max(float(np.quantile(finite, 0.99)), 0.1)) if len(finite) else 1.0
