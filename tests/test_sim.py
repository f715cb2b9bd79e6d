"""The Monte Carlo engine: exact agreement with an independent fixed-point computation on small graphs (cycles,
AND/OR mixes, defenses, existence steps, impossible steps), invariance to node order and worker count, and
plain reachability when every TTC is zero."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breachpath.graph import AttackGraph
from breachpath.sim import run_block, simulate, summarise, wilson

OR, AND, DEFENSE, EXISTS = 0, 1, 2, 3


def make_graph(kinds, edges, ttcs, defense_p=None, exists=None) -> AttackGraph:
    """A hand-made AttackGraph; ``ttcs`` are MAL texts or None per node."""
    n = len(kinds)
    edges = sorted(set(edges))
    parents = np.array([p for p, _ in edges], dtype=np.int32)
    children = np.array([c for _, c in edges], dtype=np.int32)
    child_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=n), out=child_ptr[1:])
    order = np.lexsort((parents, children))
    parent_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(children, minlength=n), out=parent_ptr[1:])
    texts = sorted({t for t in ttcs if t})
    return AttackGraph(
        kind=np.array(kinds, dtype=np.int8),
        asset=np.arange(n, dtype=np.int32),
        step=np.zeros(n, dtype=np.int32),
        ttc=np.array([texts.index(t) if t else -1 for t in ttcs], dtype=np.int32),
        defense_p=np.array(defense_p if defense_p is not None else [0.0 if k == DEFENSE else np.nan for k in kinds]),
        exists=np.array(exists if exists is not None else [-1] * n, dtype=np.int8),
        child_ptr=child_ptr,
        child_idx=children[np.argsort(parents * n + children, kind="stable")] if len(edges) else children,
        parent_ptr=parent_ptr,
        parent_idx=parents[order],
        asset_ids=np.arange(n, dtype=np.int64),
        asset_names=np.array([f"a{i}" for i in range(n)]),
        asset_types=np.array(["T"] * n),
        step_names=np.array(["s"]),
        ttc_texts=np.array(texts, dtype=np.str_),
    )


def reference(kinds, edges, local, enabled, exists, entries):
    """Earliest times by label correcting from ∞ down to the least fixed point (Bellman-Ford style)."""
    n = len(kinds)
    parents = [[] for _ in range(n)]
    for p, c in set(edges):
        parents[c].append(p)
    t = [math.inf] * n
    for v in range(n):
        if kinds[v] == DEFENSE:
            t[v] = math.inf if enabled[v] else 0.0
        elif kinds[v] == EXISTS:
            t[v] = 0.0 if exists[v] == 1 else math.inf
    for e in entries:
        t[e] = local[e]
    changed = True
    while changed:
        changed = False
        for v in range(n):
            if kinds[v] >= DEFENSE or v in entries:
                continue
            ps = [t[p] for p in parents[v]]
            if kinds[v] == OR:
                cand = min(ps, default=math.inf) + local[v]
            else:
                cand = max(ps) + local[v] if ps and all(x < math.inf for x in ps) else math.inf
            if cand < t[v]:
                t[v] = cand
                changed = True
    return t


def kernel(graph: AttackGraph, local: np.ndarray, enabled: np.ndarray, entries: list[int], threads: int = 1):
    """Run the compiled kernel on given draws (one sample per row), the rows split among ``threads`` threads that
    run at the same time (the kernel releases the GIL), as simulate does."""
    n = graph.n_nodes
    defense_nodes = np.flatnonzero(graph.kind == DEFENSE)
    exist_nodes = np.flatnonzero((graph.kind >= 3) & (graph.exists == 1))
    entry_arr = np.array(entries, dtype=np.int64)
    out = np.empty((local.shape[0], n))
    bounds = np.linspace(0, local.shape[0], threads + 1).astype(np.int64)

    def args(a: int, b: int) -> tuple:
        return (
            graph.child_ptr, graph.child_idx, np.diff(graph.parent_ptr).astype(np.int32), graph.kind == AND,
            graph.kind >= 2, np.arange(n, dtype=np.int64), local[a:b], entry_arr, local[a:b, entry_arr], defense_nodes,
            enabled[a:b, defense_nodes], exist_nodes, np.arange(n, dtype=np.int64), out[a:b], graph.parent_ptr,
            graph.parent_idx, 0, np.zeros((b - a, 0), dtype=np.int64),
        )  # fmt: skip

    with ThreadPoolExecutor(threads) as pool:
        runs = [pool.submit(run_block, *args(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        for run in runs:
            run.result()
    return out


@st.composite
def random_graphs(draw):
    n = draw(st.integers(2, 12))
    kinds = draw(st.lists(st.sampled_from([OR, OR, AND, DEFENSE, EXISTS]), min_size=n, max_size=n))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    edges = [(p, c) for p, c in edges if p != c]
    attack = [v for v in range(n) if kinds[v] < DEFENSE] or [0]
    if kinds[attack[0]] >= DEFENSE:
        kinds[attack[0]] = OR
    entries = sorted(set(draw(st.lists(st.sampled_from(attack), min_size=1, max_size=2))))
    samples = 4
    local = np.array(
        draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, 7.0, math.inf]), min_size=n, max_size=n),
                min_size=samples,
                max_size=samples,
            )
        )
    )
    enabled = np.array(
        draw(st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=samples, max_size=samples))
    )
    exists = [draw(st.sampled_from([0, 1])) if k == EXISTS else -1 for k in kinds]
    return kinds, edges, local, enabled, exists, entries


@settings(max_examples=300, deadline=None)
@given(random_graphs())
def test_kernel_equals_the_fixed_point_exactly(case):
    kinds, edges, local, enabled, exists, entries = case
    graph = make_graph(kinds, edges, [None] * len(kinds), exists=exists)
    out = kernel(graph, local, enabled, entries)
    for s in range(local.shape[0]):
        expected = reference(kinds, edges, list(local[s]), list(enabled[s]), exists, entries)
        assert list(out[s]) == expected


def test_a_step_that_two_parents_cannot_reach_does_not_hide_its_siblings():
    # Found by the property test above: an OR step with an infinite TTC, child of two reached steps, was listed
    # twice among the touched nodes, overflowing into the zero-time stack and losing a sibling (node 2).
    kinds, edges = [OR] * 9, [(0, c) for c in range(2, 9)] + [(1, 0), (1, 4)]
    graph = make_graph(kinds, edges, [None] * 9, exists=[-1] * 9)
    local = np.zeros((1, 9))
    local[0, 4] = math.inf
    out = kernel(graph, local, np.zeros((1, 9), dtype=bool), [1])
    assert list(out[0]) == [0.0, 0.0, 0.0, 0.0, math.inf, 0.0, 0.0, 0.0, 0.0]


@settings(max_examples=100, deadline=None)
@given(random_graphs(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_node_order(case, random):
    kinds, edges, local, enabled, exists, entries = case
    n = len(kinds)
    perm = list(range(n))
    random.shuffle(perm)  # node v becomes perm[v]
    inverse = np.argsort(perm)
    graph = make_graph(kinds, edges, [None] * n, exists=exists)
    shuffled = make_graph(
        [kinds[inverse[v]] for v in range(n)],
        [(perm[p], perm[c]) for p, c in edges],
        [None] * n,
        exists=[exists[inverse[v]] for v in range(n)],
    )
    out = kernel(graph, local, enabled, entries)
    out_shuffled = kernel(shuffled, local[:, inverse], enabled[:, inverse], [perm[e] for e in entries])
    np.testing.assert_array_equal(out_shuffled[:, perm], out)


def small_world():
    """Entry 0 → OR 1 → AND 3 ← OR 2 ← 0; a defense 4 gates AND 3 via OR 5; a cycle 3 → 6 → 1; E 7 → 6."""
    kinds = [OR, OR, OR, AND, DEFENSE, OR, OR, EXISTS]
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (4, 5), (5, 3), (3, 6), (6, 1), (7, 6)]
    ttcs = [
        "Exponential(1)",
        "Exponential(0.5)",
        "Exponential(0.1) * Bernoulli(0.7)",
        None,
        None,
        None,
        "Exponential(2)",
        None,
    ]
    return make_graph(kinds, edges, ttcs, defense_p=[np.nan] * 4 + [0.3] + [np.nan] * 3, exists=[-1] * 7 + [1])


@pytest.mark.parametrize("workers", [1, 2])
def test_same_seed_same_results_whatever_the_workers(workers):
    graph = small_world()
    base = simulate(graph, [0], list(range(graph.n_nodes)), samples=700, seed=11, workers=1)
    other = simulate(graph, [0], list(range(graph.n_nodes)), samples=700, seed=11, workers=workers)
    np.testing.assert_array_equal(base.times, other.times)
    # A longer run starts with the same samples.
    longer = simulate(graph, [0], list(range(graph.n_nodes)), samples=900, seed=11, workers=workers)
    np.testing.assert_array_equal(longer.times[:700], base.times)


def test_small_world_probabilities():
    graph = small_world()
    result = simulate(graph, [0], [3, 4, 7], samples=20_000, seed=5)
    p_and = np.isfinite(result.times[:, 0]).mean()
    # AND 3 needs OR 2 (Bernoulli 0.7) and the defense 4 disabled (probability 0.7).
    assert abs(p_and - 0.7 * 0.7) < 5 * math.sqrt(0.49 * 0.51 / 20_000)
    defense_times = result.times[:, 1]
    assert set(np.unique(defense_times)) <= {0.0, np.inf}
    assert abs(np.isfinite(defense_times).mean() - 0.7) < 0.02
    assert (result.times[:, 2] == 0).all()  # the E step's requirement holds: reached at 0


def test_all_zero_ttc_equals_plain_reachability():
    rng = np.random.default_rng(3)
    n = 300
    edges = {(int(a), int(b)) for a, b in rng.integers(0, n, size=(900, 2)) if a != b}
    graph = make_graph([OR] * n, list(edges), ["Zero"] * n)
    result = simulate(graph, [0, 1], list(range(n)), samples=3, seed=1)
    reach = {0, 1}
    frontier = [0, 1]
    children = {}
    for p, c in edges:
        children.setdefault(p, []).append(c)
    while frontier:
        frontier = [c for p in frontier for c in children.get(p, []) if c not in reach and not reach.add(c)]
    assert set(np.flatnonzero(np.isfinite(result.times[0]))) == reach
    assert (result.times[np.isfinite(result.times)] == 0).all()


def test_summary_fields():
    times = np.array([0.5, 1.0, 2.0, np.inf, 10.0, np.inf, 3.0, 4.0], dtype=np.float32)
    summary = summarise(times, [1, 7])
    assert summary["p"] == 6 / 8
    low, high = summary["p_ci"]
    assert low < 0.75 < high and (low, high) == pytest.approx(wilson(6, 8))
    assert summary["ttc"]["p50"] == pytest.approx(np.quantile([0.5, 1, 2, 10, 3, 4], 0.5))
    assert summary["within"] == {"1": 2 / 8, "7": 5 / 8}
    never = summarise(np.full(5, np.inf, dtype=np.float32), [1])
    assert never["p"] == 0 and all(v is None for v in never["ttc"].values())


def test_adaptive_sampling_stops_when_precise_and_matches_fixed_runs():
    from breachpath.sim import precise_enough, simulate_until

    graph = small_world()
    result = simulate_until(graph, [0], [3], precision=1.0, max_samples=200_000, seed=2)
    assert result.samples < 200_000 and precise_enough(result.times, 1.0)
    fixed = simulate(graph, [0], [3], samples=result.samples, seed=2)
    np.testing.assert_array_equal(result.times, fixed.times)
    capped = simulate_until(graph, [0], [3], precision=1e-9, max_samples=500, seed=2)
    assert capped.samples == 500


@pytest.mark.parametrize("precision", [0.2, 0.5])
def test_adaptive_sampling_stops_at_the_first_precise_block_and_matches_fixed_runs(precision):
    """Blocks run in growing batches, but the rule is checked after each block: the run stops where a block-by-block
    one would, with the same samples as a fixed run of that size."""
    from breachpath.sim import graph_block, precise_enough, simulate_until

    graph = small_world()
    result = simulate_until(graph, [0], [3, 6], precision=precision, max_samples=300_000, seed=5)
    block = graph_block(graph)
    assert result.samples % block == 0 and precise_enough(result.times, precision)
    assert not precise_enough(result.times[: result.samples - block], precision)
    fixed = simulate(graph, [0], [3, 6], samples=result.samples, seed=5)
    np.testing.assert_array_equal(result.times, fixed.times)


def test_adaptive_sampling_to_an_unreachable_precision_runs_the_cap_in_few_calls(monkeypatch):
    """--precision 1e-300 with the default cap of 10^6 samples took 82 s on a three-step model: one engine call and
    one concatenation and sort of everything so far per 256-sample block. It now takes a few batched calls."""
    from breachpath import sim

    calls = []
    real = sim.simulate

    def counted(*args, **kwargs):
        calls.append(kwargs["samples"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "simulate", counted)
    graph = small_world()
    result = sim.simulate_until(graph, [0], [3], precision=1e-300, max_samples=100_000, seed=1)
    assert result.samples == sum(calls) == 100_000
    assert len(calls) < 20  # block by block it was 391


def test_times_beyond_float32_are_never_without_a_numpy_warning():
    """Exponential(1)^1000 has a tame median but samples past float32's 3.4e38 days: stored as ∞, and no
    RuntimeWarning ("overflow encountered in cast") on the user's terminal."""
    import warnings

    graph = make_graph([OR, OR], [(0, 1)], [None, "Exponential(1)^1000"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = simulate(graph, [0], [1], samples=2000, seed=3)
    assert np.isinf(result.times).any() and np.isfinite(result.times).any()


def test_cli_simulate_json_layout_and_saved_results(tmp_path):
    import json

    from breachpath.model import write_model
    from breachpath.samples import corelang_enterprise
    from conftest import require_shared, run_cli

    lang = require_shared("data", "corelang", "main.mal")
    write_model(corelang_enterprise(2), tmp_path / "model.yml")
    (tmp_path / "s.yml").write_text(
        f"lang: {lang}\nmodel: model.yml\nentry_points: ['Internet:physicalAccess']\n"
        "targets: ['host1 OS:fullAccess', 'host0 data:read']\nsamples: 300\nseed: 4\n"
    )
    saved = tmp_path / "r.npz"
    result = run_cli("simulate", str(tmp_path / "s.yml"), "--horizon", "1,7", "--save", str(saved), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["samples"] == 300 and data["seed"] == 4
    target = data["targets"]["host1 OS:fullAccess"]
    assert set(target) == {"p", "p_ci", "ttc", "within"}
    assert set(target["ttc"]) == {"p5", "p25", "p50", "p75", "p95", "mean"} and set(target["within"]) == {"1", "7"}
    again = run_cli("simulate", str(tmp_path / "s.yml"), "--horizon", "1,7", "--workers", "1", "--format", "json")
    assert json.loads(again.stdout) == data  # same seed, same results, whatever the workers
    shown = json.loads(run_cli("results", "show", str(saved), "--horizon", "1,7", "--format", "json").stdout)
    assert shown["targets"] == data["targets"]
    missing = run_cli("simulate", str(tmp_path / "s.yml"), "--target", "nobody:nothing")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_attack_paths_follow_or_minimum_and_all_and_parents():
    from breachpath.analysis import attack_paths, chokepoints

    graph = small_world()
    result = simulate(graph, [0], [3, 6], samples=3000, seed=9, path_targets=2)
    explained = attack_paths(graph, result, 0)
    successful = np.isfinite(result.times[:, 0]).sum()
    assert explained["successful_samples"] == successful
    for path in explained["top"]:
        nodes = {step["node"] for step in path["steps"]}
        # AND 3 needs both its attack parents and the bypass branch from the disabled defense 4.
        assert {0, 1, 2, 3, 4, 5} <= nodes
    assert sum(p["samples"] for p in explained["top"]) <= successful
    assert explained["median_time_path"]["steps"][-1]["node"] == 3
    # Node 6 (OR) is reached from 3 or from the E step 7 at time 0 plus its TTC: its path is the one that won.
    paths6 = attack_paths(graph, result, 1)
    assert all(7 in {s["node"] for s in p["steps"]} or 3 in {s["node"] for s in p["steps"]} for p in paths6["top"])
    points = chokepoints(graph, result, 0, entries=[0])
    # OR 1 can be reached through 6 (fed by the E step 7): then 6 is on the path too.
    assert {p["node"] for p in points} <= {1, 2, 5, 6} and points[0]["share_of_paths"] == 1.0


def test_whatif_ranks_the_defense_that_blocks_the_target():
    from breachpath.analysis import whatif

    graph = small_world()
    reported = []
    result = whatif(graph, [0], [3], samples=4000, seed=3, progress=lambda done, total: reported.append((done, total)))
    assert [d["node"] for d in result["defenses"]] == [4]  # the only defense on the paths
    assert reported[-1] == (8000, 8000)  # baseline and one defense, 4000 samples each
    assert [d for d, _ in reported] == sorted(d for d, _ in reported)
    effect = result["defenses"][0]["targets"]["a3:s"]
    assert effect["p_after"] == 0.0
    assert effect["p_reduction"] == effect["p_before"]
    low, high = effect["p_reduction_ci"]
    assert low < 0.49 < high
    assert graph.defense_p[4] == 0.3  # restored after the run


@settings(max_examples=100, deadline=None)
@given(random_graphs())
def test_results_do_not_depend_on_the_number_of_threads(case):
    kinds, edges, local, enabled, exists, entries = case
    graph = make_graph(kinds, edges, [None] * len(kinds), exists=exists)
    np.testing.assert_array_equal(
        kernel(graph, local, enabled, entries, threads=1), kernel(graph, local, enabled, entries, threads=2)
    )


# -- a sample stops once its targets are settled ------------------------------------------------------------


def test_a_sample_stopped_at_its_targets_reports_what_a_full_run_does():
    """Steps settle in time order, so a sample that stops once every target is settled gives the targets the
    times, and the paths, of a sample that settles the whole graph (all steps out: nothing to stop for)."""
    from breachpath.graph import build_graph
    from breachpath.lang import compile_file
    from breachpath.samples import corelang_enterprise
    from conftest import require_shared

    spec = compile_file(require_shared("data", "corelang", "main.mal"))
    graph = build_graph(spec, corelang_enterprise(20))
    entry = [graph.find("Internet:physicalAccess")]
    targets = [graph.find(name) for name in ("host0 OS:fullAccess", "host19 OS:fullAccess", "host0 data:read")]
    stopped = simulate(graph, entry, targets, samples=300, seed=7, path_targets=len(targets))
    everything = np.concatenate([targets, [v for v in range(graph.n_nodes) if v not in targets]])
    full = simulate(graph, entry, everything, samples=300, seed=7, path_targets=len(targets))
    assert np.isfinite(stopped.times).mean() > 0.2
    assert np.array_equal(stopped.times, full.times[:, : len(targets)])
    for s in range(300):
        for j in range(len(targets)):
            assert np.array_equal(stopped.path(s, j), full.path(s, j))


def test_chokepoints_are_the_mean_earliness_of_each_step_over_successful_paths():
    """Computed without a per-sample loop; here against the definition, sample by sample, on an example."""
    from breachpath.analysis import _is_gate_plumbing, _path, chokepoints
    from breachpath.demo import example_path
    from breachpath.graph import build_graph
    from breachpath.lang import compile_file
    from breachpath.langs import ATTACKLANG
    from breachpath.scenario import read_scenario

    scenario = read_scenario(example_path("dmz-company"))
    graph = build_graph(compile_file(ATTACKLANG), scenario.model)
    entries = [graph.find(e) for e in scenario.entry_points]
    sim = simulate(graph, entries, [graph.find(t) for t in scenario.targets], samples=500, seed=3, path_targets=3)
    for j in range(3):
        successful = np.flatnonzero(np.isfinite(sim.times[:, j]))
        score: dict[int, float] = {}
        for s in successful:
            path = _path(sim, int(s), j)
            for position, node in enumerate(path):
                skip = node in entries or node == sim.nodes[j] or graph.kind[node] >= 2
                if not skip and not _is_gate_plumbing(graph, node):
                    score[node] = score.get(node, 0.0) + (1 - position / max(1, len(path) - 1))
        expected = sorted(score, key=lambda v: (-score[v], v))[:10]
        found = chokepoints(graph, sim, j, entries, top=10)
        assert [c["node"] for c in found] == expected
        assert [c["score"] for c in found] == [score[v] / len(successful) for v in expected]


# -- a run of some samples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_of_some_samples_gives_them_what_a_full_run_does(workers):
    """``rows=`` runs only the samples asked for (what-if re-runs those a defense can change), each with its own
    draws: the same times and paths as in a full run, whichever blocks they fall in."""
    from breachpath.graph import build_graph
    from breachpath.lang import compile_file
    from breachpath.samples import corelang_enterprise
    from conftest import require_shared

    spec = compile_file(require_shared("data", "corelang", "main.mal"))
    graph = build_graph(spec, corelang_enterprise(20))
    entry = [graph.find("Internet:physicalAccess")]
    targets = [graph.find("host19 OS:fullAccess"), graph.find("host0 data:read")]
    full = simulate(graph, entry, targets, samples=700, seed=11, path_targets=2)
    picked = np.random.default_rng(0).choice(700, 40, replace=False)
    rows = np.unique(np.concatenate([[0, 255, 256, 511, 699], picked]))
    part = simulate(graph, entry, targets, samples=700, seed=11, path_targets=2, workers=workers, rows=rows)
    assert part.samples == len(rows) and np.isfinite(part.times).any()
    assert np.array_equal(part.times, full.times[rows])
    for i, s in enumerate(rows):
        for j in range(2):
            assert np.array_equal(part.path(i, j), full.path(int(s), j))
    none = simulate(graph, entry, targets, samples=700, seed=11, rows=np.zeros(0, dtype=np.int64))
    assert none.times.shape == (0, 2)
    with pytest.raises(ValueError, match="increasing sample indices"):
        simulate(graph, entry, targets, samples=700, seed=11, rows=np.array([5, 3]))


def test_whatif_reruns_only_the_samples_a_defense_can_change_and_gets_what_a_full_rerun_does():
    """Enabling a defense can change a sample only if the defense lies on one of its recorded paths (every other
    path keeps its times): what-if re-runs just those samples, and each defense's numbers equal a full re-run's."""
    from breachpath.analysis import whatif
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.lang import compile_file
    from breachpath.scenario import read_scenario

    scenario = read_scenario(example_path("dmz-company"))
    graph, entries, targets, _ = scenario_graph(compile_file(scenario.lang), scenario)
    result = whatif(graph, entries, targets, samples=600, seed=5, limit=8)
    assert len(result["defenses"]) == 8
    for row in result["defenses"]:
        node = graph.find(row["name"])
        graph.defense_p[node] = 1.0
        try:
            full = simulate(graph, entries, targets, samples=600, seed=5)
        finally:
            graph.defense_p[node] = row["defense_p"]
        for j, name in enumerate(full.names):
            after = full.times[:, j]
            finite = after[np.isfinite(after)]
            assert row["targets"][name]["p_after"] == float(np.isfinite(after).mean())
            expected = float(np.median(finite)) if len(finite) else None
            assert row["targets"][name]["median_after"] == expected


def test_whatif_takes_a_baseline_the_caller_already_ran_and_refuses_one_of_another_run():
    """The demo and the report simulate first, then ask what-if: handing that run over as the baseline gives the
    very numbers whatif gets by running it again (its runs side by side in two threads or one after another); a run of another seed, size or targets, or without paths, is
    refused (it would pair samples that were not drawn alike)."""
    from breachpath.analysis import whatif
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.lang import compile_file
    from breachpath.scenario import read_scenario

    scenario = read_scenario(example_path("dmz-company"))
    graph, entries, targets, _ = scenario_graph(compile_file(scenario.lang), scenario)
    base = simulate(graph, entries, targets, samples=500, seed=6, path_targets=len(targets))
    assert whatif(graph, entries, targets, samples=500, seed=6, limit=6, baseline=base, workers=2) == whatif(
        graph, entries, targets, samples=500, seed=6, limit=6, workers=1
    )
    assert whatif(graph, entries, targets, samples=500, limit=2, baseline=base)["seed"] == 6
    # Without the bootstrap (the demo shows no interval for the median's change) only those intervals go.
    full = whatif(graph, entries, targets, samples=500, seed=6, limit=3, baseline=base)
    bare = whatif(graph, entries, targets, samples=500, seed=6, limit=3, baseline=base, bootstrap=0)
    intervals = [t.pop("median_increase_ci") for r in full["defenses"] for t in r["targets"].values()]
    assert any(intervals) and {
        t.pop("median_increase_ci") for r in bare["defenses"] for t in r["targets"].values()
    } == {None}
    assert bare == full
    unpathed = simulate(graph, entries, targets, samples=500, seed=6)
    for other, message in [
        (base, "seed 6, not 7"),
        (simulate(graph, entries, targets, samples=400, seed=6, path_targets=len(targets)), "same targets"),
        (unpathed, "paths of every target"),
    ]:
        with pytest.raises(ValueError, match=message):
            whatif(graph, entries, targets, samples=500, seed=7 if other is base else 6, limit=2, baseline=other)


def test_kept_draws_give_what_drawing_again_gives_with_any_defense_probabilities():
    """whatif's runs keep their baseline's draws (Draws): a run that takes them equals one that draws anew, also
    after a defense's probability changed, and another seed draws anew."""
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.lang import compile_file
    from breachpath.scenario import read_scenario
    from breachpath.sim import Draws

    scenario = read_scenario(example_path("dmz-company"))
    graph, entries, targets, _ = scenario_graph(compile_file(scenario.lang), scenario)
    draws = Draws()
    first = simulate(graph, entries, targets, samples=600, seed=4, draws=draws)
    assert len(draws.blocks) == 3 and draws.seed == 4
    assert np.array_equal(simulate(graph, entries, targets, samples=600, seed=4, draws=draws).times, first.times)
    defense = int(np.flatnonzero(graph.kind == DEFENSE)[0])
    original = graph.defense_p[defense]
    graph.defense_p[defense] = 0.5
    try:
        kept = simulate(graph, entries, targets, samples=600, seed=4, draws=draws)
        fresh = simulate(graph, entries, targets, samples=600, seed=4)
    finally:
        graph.defense_p[defense] = original
    assert np.array_equal(kept.times, fresh.times)
    other = simulate(graph, entries, targets, samples=600, seed=5, draws=draws)
    assert draws.seed == 5 and np.array_equal(other.times, simulate(graph, entries, targets, samples=600, seed=5).times)
    # A run's own probabilities (what-if runs share the graph) are those the graph would hold.
    own = graph.defense_p.copy()
    own[defense] = 0.5
    assert np.array_equal(simulate(graph, entries, targets, samples=600, seed=4, defense_p=own).times, kept.times)
    with pytest.raises(ValueError, match="one probability per node"):
        simulate(graph, entries, targets, samples=600, seed=4, defense_p=own[:3])
