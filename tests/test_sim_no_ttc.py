"""Models in which no step has a TTC run, and every reached step is reached at once.

enterpriseLang keeps all its TTCs in comments (they count only with --ttc-from-comments), and many coreLang models
reach no timed step: the engine then has no TTC to draw at all. Its answer must be plain reachability under the
MAL rules (an AND step needs all its parents, an enabled defense blocks, a disabled one is reached at 0), with
time 0 wherever a step is reached: checked here against an independent fixed point, through the library
(simulate, simulate_until, whatif) and through the CLI.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from breachpath.analysis import attack_paths, whatif
from breachpath.graph import AttackGraph, build_graph
from breachpath.lang.compiler import compile_file
from breachpath.model import model_from_dict
from breachpath.samples import corelang_enterprise
from breachpath.sim import simulate, simulate_until
from conftest import require_shared, run_cli

#: A tiny enterpriseLang company: Alice, her computer running Windows, her account on it.
ENTERPRISE_MODEL = {
    "metadata": {"name": "tiny-enterprise", "langID": "org.mal_lang.attacklang"},
    "assets": {
        0: {"name": "alice", "type": "User", "associated_assets": {"computer": ["pc1"], "userAccount": ["acct"]}},
        1: {"name": "pc1", "type": "Computer", "associated_assets": {"os": ["win1"]}},
        2: {"name": "win1", "type": "Windows"},
        3: {"name": "acct", "type": "UserAccount", "associated_assets": {"os": ["win1"]}},
    },
}
ENTERPRISE_ENTRY = ["alice:attemptMaliciousLink"]
ENTERPRISE_TARGETS = ["win1:executeCode", "acct:userRights"]

#: A coreLang model of IAM and data only: none of these asset types has a step with a TTC.
CORE_SCENARIO = """\
lang: {lang}
entry_points: ["ana:attemptAssume", "records:authorizedReadFromApplication"]
targets: ["records:read", "customer-info:read", "staff:assume"]
defenses: {{"records:notPresent": 0.4}}
samples: 2000
seed: 3
model:
  metadata: {{name: iam-only, langID: org.mal-lang.coreLang}}
  assets:
    0: {{name: ana, type: Identity, associated_assets: {{readPrivData: [records], memberOf: [staff]}}}}
    1: {{name: staff, type: Group}}
    2: {{name: records, type: Data, associated_assets: {{information: [customer-info]}}}}
    3: {{name: customer-info, type: Information}}
"""


@pytest.fixture(scope="module")
def enterpriselang():
    return compile_file(require_shared("data", "enterpriselang", "enterpriselang.mal"))


@pytest.fixture(scope="module")
def corelang():
    return compile_file(require_shared("data", "corelang", "main.mal"))


def reachable(graph: AttackGraph, entries: list[int]) -> np.ndarray:
    """Which steps an attacker reaches when every step takes no time and every defense is at its probability 0 or
    1: the least fixed point of the MAL rules, computed by repeated sweeps over the edges (no heap, no kernel)."""
    n = graph.n_nodes
    assert np.isin(graph.defense_p[graph.kind == 2], [0.0, 1.0]).all(), "defenses must be certain here"
    reached = np.zeros(n, dtype=bool)
    reached[(graph.kind == 2) & (graph.defense_p == 0)] = True
    reached[(graph.kind >= 3) & (graph.exists == 1)] = True
    reached[entries] = True
    edge_parent = np.repeat(np.arange(n), np.diff(graph.child_ptr))
    n_parents = np.diff(graph.parent_ptr)
    relaxed = graph.kind < 2  # defenses and existence steps are fixed, whatever their parents
    while True:
        reached_parents = np.bincount(graph.child_idx, weights=reached[edge_parent], minlength=n)
        by_or = (graph.kind == 0) & (reached_parents > 0)
        by_and = (graph.kind == 1) & (n_parents > 0) & (reached_parents == n_parents)
        now = reached | (relaxed & (by_or | by_and))
        if (now == reached).all():
            return reached
        reached = now


def expected_times(graph: AttackGraph, entries: list[int]) -> np.ndarray:
    return np.where(reachable(graph, entries), 0.0, np.inf)


def test_enterpriselang_without_ttc_comments_has_no_timed_step(enterpriselang):
    graph = build_graph(enterpriselang, model_from_dict(ENTERPRISE_MODEL, "<tiny-enterprise>"))
    assert (graph.ttc < 0).all() and len(graph.ttc_texts) == 0


def test_enterpriselang_simulates_every_step_as_plain_reachability(enterpriselang):
    graph = build_graph(enterpriselang, model_from_dict(ENTERPRISE_MODEL, "<tiny-enterprise>"))
    entries = [graph.find(e) for e in ENTERPRISE_ENTRY]
    targets = [graph.find(t) for t in ENTERPRISE_TARGETS]
    every_step = targets + [v for v in range(graph.n_nodes) if v not in targets]
    result = simulate(graph, entries, every_step, samples=300, seed=5, path_targets=len(targets))
    expected = expected_times(graph, entries)[every_step]
    assert np.isfinite(expected[: len(targets)]).all()  # the link Alice clicks runs code on her Windows
    np.testing.assert_array_equal(result.times, np.broadcast_to(expected, result.times.shape).astype(np.float32))
    # Each sample records its path to the target, from where it starts: an entry point or, as here, a disabled
    # defense (enterpriseLang's "no account management here" lets anyone at code execution).
    explained = attack_paths(graph, result, 0)
    assert explained["successful_samples"] == 300
    steps = [s["node"] for s in explained["median_time_path"]["steps"]]
    assert steps[0] in entries or graph.kind[steps[0]] == 2
    assert steps[-1] == targets[0] and explained["median_time_path"]["time"] == 0.0


def test_corelang_model_reaching_no_timed_step(corelang, tmp_path):
    from breachpath.scenario import read_scenario

    (tmp_path / "s.yml").write_text(CORE_SCENARIO.format(lang=require_shared("data", "corelang", "main.mal")))
    scenario = read_scenario(tmp_path / "s.yml")
    graph = build_graph(corelang, scenario.model)
    assert (graph.ttc < 0).all()
    entries = [graph.find(e) for e in scenario.entry_points]
    targets = [graph.find(t) for t in scenario.targets]
    notpresent = graph.find("records:notPresent")
    for p in (0.0, 1.0):  # the data exists, or it does not: then nothing can read it
        graph.defense_p[notpresent] = p
        result = simulate(graph, entries, targets, samples=50, seed=1)
        expected = expected_times(graph, entries)[targets]
        np.testing.assert_array_equal(result.times, np.broadcast_to(expected, (50, 3)).astype(np.float32))
    assert np.isinf(result.times[:, 0]).all() and (result.times[:, 2] == 0).all()
    graph.defense_p[notpresent] = 0.4  # the scenario's: present with probability 0.6
    result = simulate(graph, entries, targets, samples=4000, seed=2)
    read = np.isfinite(result.times[:, 0])
    assert abs(read.mean() - 0.6) < 5 * math.sqrt(0.24 / 4000)
    assert set(np.unique(result.times)) == {0.0, np.inf}
    np.testing.assert_array_equal(read, np.isfinite(result.times[:, 1]))  # the information is read with its data


def test_corelang_with_every_ttc_removed_is_plain_reachability(corelang):
    graph = build_graph(corelang, corelang_enterprise(3))
    graph.ttc[:] = -1
    graph.ttc_texts = np.array([], dtype=np.str_)
    entries = [graph.find("Internet:physicalAccess"), graph.find("host0 OS:networkConnectUninspected")]
    result = simulate(graph, entries, np.arange(graph.n_nodes), samples=20, seed=4, path_targets=3)
    expected = expected_times(graph, entries)
    assert 10 < np.isfinite(expected).sum() < graph.n_nodes  # some of the company falls, not all of it
    np.testing.assert_array_equal(result.times, np.broadcast_to(expected, result.times.shape).astype(np.float32))


def test_simulate_until_and_whatif_without_ttcs(corelang, tmp_path):
    from breachpath.scenario import read_scenario

    (tmp_path / "s.yml").write_text(CORE_SCENARIO.format(lang=require_shared("data", "corelang", "main.mal")))
    scenario = read_scenario(tmp_path / "s.yml")
    graph = build_graph(corelang, scenario.model)
    graph.defense_p[graph.find("records:notPresent")] = 0.4
    entries = [graph.find(e) for e in scenario.entry_points]
    targets = [graph.find(t) for t in scenario.targets]
    until = simulate_until(graph, entries, targets, precision=0.2, max_samples=5000, seed=7)
    fixed = simulate(graph, entries, targets, samples=until.samples, seed=7)
    np.testing.assert_array_equal(until.times, fixed.times)
    tried = whatif(graph, entries, targets[:1], samples=1000, seed=7)
    # The defenses on the paths: without the data, or without the identity that may read it, nothing reads it.
    effects = {d["name"]: d["targets"]["records:read"] for d in tried["defenses"]}
    assert set(effects) == {"records:notPresent", "ana:notPresent"}
    for effect in effects.values():
        assert effect["p_after"] == 0.0 and effect["p_reduction"] == effect["p_before"] > 0.5


def test_cli_simulates_an_enterpriselang_scenario(tmp_path):
    lang = require_shared("data", "enterpriselang", "enterpriselang.mal")
    scenario = {"lang": str(lang), "model": ENTERPRISE_MODEL, "entry_points": ENTERPRISE_ENTRY,
                "targets": ENTERPRISE_TARGETS, "samples": 200, "seed": 3}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(scenario))
    result = run_cli("simulate", str(tmp_path / "s.json"), "--paths", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    for name in ENTERPRISE_TARGETS:
        assert data["targets"][name]["p"] == 1.0
        assert data["targets"][name]["ttc"]["p50"] == 0.0 and data["targets"][name]["ttc"]["p95"] == 0.0
        assert data["paths"][name]["successful_samples"] == 200


def test_cli_simulates_and_ranks_defenses_of_a_corelang_scenario_without_ttcs(tmp_path):
    lang = require_shared("data", "corelang", "main.mal")
    (tmp_path / "s.yml").write_text(CORE_SCENARIO.format(lang=lang))
    result = run_cli("simulate", str(tmp_path / "s.yml"), "--format", "json")
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)["targets"]["records:read"]
    assert 0.5 < read["p"] < 0.7 and read["ttc"]["p95"] == 0.0
    until = run_cli("simulate", str(tmp_path / "s.yml"), "--precision", "0.2", "--format", "json")
    assert until.returncode == 0, until.stderr
    tried = run_cli("whatif", str(tmp_path / "s.yml"), "-n", "500", "--format", "json")
    assert tried.returncode == 0, tried.stderr
    effects = {d["name"]: d["targets"]["records:read"] for d in json.loads(tried.stdout)["defenses"]}
    assert effects["records:notPresent"]["p_after"] == 0.0 and effects["records:notPresent"]["p_before"] > 0.5
