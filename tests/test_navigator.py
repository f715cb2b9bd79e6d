"""ATT&CK Navigator layers, checked field by field against the layer format 4.5 definition
(attack-navigator, layers/spec/v4.5/layerformat.md)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from breachpath.demo import example_path
from breachpath.graph import scenario_graph
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG
from breachpath.navigator import group_layer, path_shares, simulation_layer
from breachpath.scenario import read_scenario
from breachpath.sim import simulate
from conftest import run_cli

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
TACTICS = {
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence", "privilege-escalation",
    "defense-evasion", "credential-access", "discovery", "lateral-movement", "collection", "command-and-control",
    "exfiltration", "impact",
}  # fmt: skip
LAYER_FIELDS = {
    "versions": dict, "name": str, "description": str, "domain": str, "customDataURL": str, "filters": dict,
    "sorting": int, "layout": dict, "hideDisabled": bool, "techniques": list, "gradient": dict, "legendItems": list,
    "showTacticRowBackground": bool, "tacticRowBackground": str, "selectTechniquesAcrossTactics": bool,
    "selectSubtechniquesWithParent": bool, "selectVisibleTechniques": bool, "metadata": list, "links": list,
}  # fmt: skip
TECHNIQUE_FIELDS = {
    "techniqueID": str, "tactic": str, "comment": str, "enabled": bool, "score": (int, float), "color": str,
    "metadata": list, "links": list, "showSubtechniques": bool,
}  # fmt: skip
LAYOUT_FIELDS = {
    "layout": ("side", "flat", "mini"), "showID": bool, "showName": bool, "showAggregateScores": bool,
    "countUnscored": bool, "aggregateFunction": ("average", "min", "max", "sum"),
    "expandedSubtechniques": ("none", "all", "annotated"),
}  # fmt: skip


def check_metadata(items: list, where: str) -> None:
    for item in items:
        if "divider" in item:
            assert set(item) == {"divider"} and isinstance(item["divider"], bool), where
        else:
            assert set(item) == {"name", "value"}, where
            assert isinstance(item["name"], str) and isinstance(item["value"], str), where


def check_layer(layer: dict) -> None:
    """Every rule of the 4.5 property tables: required fields, types, allowed values."""
    for key, value in layer.items():
        assert key in LAYER_FIELDS, f"unknown layer field {key}"
        assert isinstance(value, LAYER_FIELDS[key]), key
    assert layer["name"] and layer["domain"] in ("enterprise-attack", "mobile-attack", "ics-attack")
    versions = layer["versions"]
    assert set(versions) <= {"attack", "navigator", "layer"}
    assert versions["layer"] == "4.5"
    assert tuple(int(x) for x in versions["navigator"].split(".")) >= (4, 9, 0)
    assert layer.get("sorting", 0) in (0, 1, 2, 3)
    for key, allowed in LAYOUT_FIELDS.items():
        if key in layer.get("layout", {}):
            value = layer["layout"][key]
            assert value in allowed if isinstance(allowed, tuple) else isinstance(value, allowed), key
    assert set(layer.get("layout", {})) <= set(LAYOUT_FIELDS)
    gradient = layer["gradient"]
    assert set(gradient) == {"colors", "minValue", "maxValue"}
    assert len(gradient["colors"]) >= 2 and all(HEX.match(c) for c in gradient["colors"])
    assert gradient["maxValue"] > gradient["minValue"]
    for item in layer.get("legendItems", []):
        assert set(item) == {"label", "color"} and isinstance(item["label"], str) and HEX.match(item["color"])
    check_metadata(layer.get("metadata", []), "layer metadata")
    for t in layer["techniques"]:
        for key, value in t.items():
            assert key in TECHNIQUE_FIELDS, f"unknown technique field {key}"
            if key in ("enabled", "showSubtechniques"):
                assert isinstance(value, bool), key
            else:
                assert isinstance(value, TECHNIQUE_FIELDS[key]) and not isinstance(value, bool), key
        assert TECHNIQUE_ID.match(t["techniqueID"])
        if "tactic" in t:
            assert t["tactic"] in TACTICS
        if "score" in t:
            assert gradient["minValue"] <= t["score"] <= gradient["maxValue"]
        check_metadata(t.get("metadata", []), t["techniqueID"])
    json.dumps(layer)  # plain JSON


def simulated(name: str, samples: int = 500):
    graph, entries, targets, _ = scenario_graph(compile_file(ATTACKLANG), read_scenario(example_path(name)))
    sim = simulate(graph, entries, targets, samples=samples, seed=3, path_targets=len(targets))
    return graph, sim


def family(attack_id: str) -> str:
    """The technique of a sub-technique (T1566.001 -> T1566). attacklang gives each (sub-)technique its own
    zero-time door to a state; when several are open, which one a path credits is arbitrary."""
    return attack_id.split(".")[0]


@pytest.mark.parametrize(
    "name, first", [("small-office", "T1566"), ("dmz-company", "T1190"), ("web-service-c2", "T1566")]
)
def test_a_layer_for_each_example_follows_the_format(name, first, kb18):
    graph, sim = simulated(name)
    layer = simulation_layer(graph, sim, f"breachpath: {name}", kb18)
    check_layer(layer)
    assert layer["versions"]["attack"] == "18"
    ids = {t["techniqueID"] for t in layer["techniques"]}
    # Every example starts with phishing (T1566 or a sub-technique) or an exposed service (T1190).
    assert first in {family(i) for i in ids}


def test_scores_are_the_share_of_successful_paths_that_use_the_technique():
    graph, sim = simulated("web-service-c2", samples=1000)
    shares = path_shares(graph, sim)
    successes = [np.flatnonzero(np.isfinite(sim.times[:, j])) for j in range(sim.path_targets)]
    total = sum(len(s) for s in successes)
    exfiltrated = len(successes[sim.names.index("source-code:exfiltrate")])
    # Every successful path starts with phishing (a person's "phished" state, through one door of T1566 or of a
    # sub-technique): the phishing shares add up to at least 1.
    for j, samples in enumerate(successes):
        for s in samples:
            assert any(str(graph.step_names[graph.step[v]]) == "phished" for v in sim.path(int(s), j))
    assert sum(v["share"] for t, v in shares.items() if family(t) == "T1566") >= 1
    # Web-service C2 (T1102) is how the source code leaves (the developers have no other way out), and the build
    # secrets are read without it: its share is the exfiltration's share of all successes.
    assert shares["T1102"]["per_target"] == {"source-code:exfiltrate": 1.0, "build-secrets:read": 0.0}
    assert shares["T1102"]["share"] == pytest.approx(exfiltrated / total)
    assert 0 < shares["T1102"]["share"] < 1
    # Web-service C2 and its infrastructure (an acquired or compromised web-service account) go together.
    infrastructure = sum(shares[t]["share"] for t in ("T1583.006", "T1584.006") if t in shares)
    assert infrastructure == pytest.approx(shares["T1102"]["share"])
    layer = simulation_layer(graph, sim, "c2")
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert by_id["T1102"]["score"] == round(100 * shares["T1102"]["share"], 1)
    assert "tactic" not in by_id["T1102"]  # without a knowledge base: shown under each of its tactics


def test_with_a_knowledge_base_a_technique_appears_under_each_of_its_tactics(kb18):
    graph, sim = simulated("small-office")
    layer = simulation_layer(graph, sim, "office", kb18)
    # A phished password opens the cloud mailbox: Valid Accounts (T1078, or its Cloud Accounts sub-technique).
    valid_accounts = {t["techniqueID"] for t in layer["techniques"] if family(t["techniqueID"]) == "T1078"}
    assert valid_accounts
    for attack_id in valid_accounts:
        tactics = {t["tactic"] for t in layer["techniques"] if t["techniqueID"] == attack_id}
        assert tactics == {"initial-access", "persistence", "privilege-escalation", "defense-evasion"}


def test_group_layer_has_the_groups_techniques(kb18):
    layer = group_layer(kb18, "G0010")
    check_layer(layer)
    ids = {t["techniqueID"] for t in layer["techniques"]}
    assert ids == {t["id"] for t in kb18.group_techniques("G0010")["techniques"]}
    assert len(ids) == 68 and layer["name"] == "Turla (G0010)"
    about = {m["name"]: m["value"] for m in layer["metadata"]}
    assert about == {"group": "G0010", "ATT&CK": "18.1", "used directly": "68", "used through campaigns": "0"}


def test_kb_layer_cli_writes_a_layer_and_rejects_an_unknown_group(kb18, tmp_path):
    out = tmp_path / "turla.json"
    result = run_cli("kb", "layer", "--group", "G0010", "-o", str(out), "--db", str(kb18.path))
    assert result.returncode == 0, result.stderr
    check_layer(json.loads(out.read_text()))
    result = run_cli("kb", "layer", "--group", "G9999", "--db", str(kb18.path))
    assert result.returncode == 2 and "G9999" in result.stderr and "Traceback" not in result.stderr


def test_simulate_cli_writes_a_navigator_layer(tmp_path):
    out = tmp_path / "layer.json"
    result = run_cli(
        "simulate", str(example_path("web-service-c2")), "--samples", "300", "--navigator", str(out),
        env={"BREACHPATH_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    layer = json.loads(out.read_text())
    check_layer(layer)
    assert "attack" not in layer["versions"]  # no knowledge base here: the version is not guessed


@pytest.mark.parametrize(
    "break_it",
    [
        lambda layer: layer["versions"].update(layer="4.4"),
        lambda layer: layer["techniques"][0].update(tactic="nope"),
        lambda layer: layer["techniques"][0].update(score=101),
        lambda layer: layer.update(colour="#ffffff"),
        lambda layer: layer["gradient"].update(maxValue=-1),
    ],
)
def test_the_format_check_catches_a_broken_layer(break_it):
    graph, sim = simulated("small-office", samples=100)
    layer = simulation_layer(graph, sim, "office")
    check_layer(layer)
    break_it(layer)
    with pytest.raises(AssertionError):
        check_layer(layer)
