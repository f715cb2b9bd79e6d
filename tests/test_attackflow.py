"""Attack Flow 2.0 bundles, checked against the rules of attack-flow-schema-2.0.0.json (Center for
Threat-Informed Defense) and of STIX 2.1's common properties, identifiers and extensions, and run through OASIS's
STIX 2.1 validator (stix2-validator: the specification's JSON schemas plus its "MUST" and "SHOULD" checks)."""

from __future__ import annotations

import json
import re

import pytest

from breachpath.attackflow import ATTACK_FLOW_EXTENSION, BREACHPATH_EXTENSION, flow_bundle
from breachpath.demo import example_path, technique_names
from breachpath.graph import scenario_graph
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG
from breachpath.scenario import read_scenario
from breachpath.sim import simulate, summarise
from conftest import run_cli

IDENTIFIER = re.compile(
    r"^([a-z][a-z0-9-]+[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
COMMON = {
    "type", "spec_version", "id", "created_by_ref", "created", "modified", "revoked", "labels", "confidence", "lang",
    "external_references", "object_marking_refs", "granular_markings", "extensions",
}  # fmt: skip
EFFECT = r"^(attack-action|attack-operator|attack-condition)--"
# Per Attack Flow type: required properties, allowed properties, and the pattern of each reference list.
FLOW_TYPES = {
    "attack-flow": ({"name", "start_refs", "scope"}, {"name", "description", "scope", "start_refs"},
                    {"start_refs": r"^(attack-action|attack-condition)--"}),
    "attack-action": ({"name"}, {"name", "tactic_id", "tactic_ref", "technique_id", "technique_ref", "description",
                                 "execution_start", "execution_end", "command_ref", "asset_refs", "effect_refs"},
                      {"asset_refs": r"^(attack-asset)--", "effect_refs": EFFECT}),
    "attack-asset": ({"name"}, {"name", "description", "object_ref"}, {}),
    "attack-condition": ({"description"}, {"description", "pattern", "pattern_type", "pattern_version",
                                           "on_true_refs", "on_false_refs"},
                         {"on_true_refs": EFFECT, "on_false_refs": EFFECT}),
    "attack-operator": ({"operator"}, {"operator", "effect_refs"}, {"effect_refs": EFFECT}),
}  # fmt: skip


def check_bundle(bundle: dict) -> None:
    assert bundle["type"] == "bundle" and IDENTIFIER.match(bundle["id"]).group(1) == "bundle"
    objects = {o["id"]: o for o in bundle["objects"]}
    assert len(objects) == len(bundle["objects"]), "ids are unique"
    assert sum(o["type"] == "attack-flow" for o in objects.values()) == 1, "exactly one attack-flow object"
    for o in objects.values():
        assert o["spec_version"] == "2.1"
        assert IDENTIFIER.match(o["id"]).group(1) == o["type"]
        assert TIMESTAMP.match(o["created"]) and TIMESTAMP.match(o["modified"])
        if "created_by_ref" in o:
            assert o["created_by_ref"] in objects
        for ext_id, ext in o.get("extensions", {}).items():
            assert ext_id in objects and objects[ext_id]["type"] == "extension-definition"
            assert ext["extension_type"] in objects[ext_id]["extension_types"]
        if o["type"] == "extension-definition":
            assert {"name", "schema", "version", "extension_types", "created_by_ref"} <= set(o)
        if o["type"] not in FLOW_TYPES:
            continue
        required, allowed, refs = FLOW_TYPES[o["type"]]
        assert o["extensions"][ATTACK_FLOW_EXTENSION] == {"extension_type": "new-sdo"}
        assert required <= set(o), (o["type"], required - set(o))
        assert set(o) <= allowed | COMMON, (o["type"], set(o) - allowed - COMMON)
        for key, pattern in refs.items():
            if key in o:
                assert len(o[key]) >= 1
                for ref in o[key]:
                    assert re.match(pattern, ref) and ref in objects, (key, ref)
        if o["type"] == "attack-flow":
            assert o["scope"] in ("incident", "campaign", "threat-actor", "malware", "attack-tree", "other")
        if o["type"] == "attack-operator":
            assert o["operator"] in ("AND", "OR")
    # The flow is acyclic and everything in it is reachable from its start.
    edges = {i: o.get("effect_refs", []) + o.get("on_true_refs", []) for i, o in objects.items()}
    flow = next(o for o in objects.values() if o["type"] == "attack-flow")
    seen, on_stack = set(), set()

    def visit(node: str) -> None:
        assert node not in on_stack, "the flow has a cycle"
        if node in seen:
            return
        seen.add(node)
        on_stack.add(node)
        for child in edges[node]:
            visit(child)
        on_stack.discard(node)

    for start in flow["start_refs"]:
        visit(start)
    flow_nodes = {
        i for i, o in objects.items() if o["type"] in ("attack-action", "attack-operator", "attack-condition")
    }
    assert flow_nodes <= seen
    json.dumps(bundle)


def simulated(name: str, samples: int = 600):
    spec = compile_file(ATTACKLANG)
    graph, entries, targets, _ = scenario_graph(spec, read_scenario(example_path(name)))
    sim = simulate(graph, entries, targets, samples=samples, seed=4, path_targets=len(targets))
    return spec, graph, sim


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_a_flow_for_each_example_follows_the_attack_flow_schema(name):
    spec, graph, sim = simulated(name)
    bundle = flow_bundle(graph, sim, name, technique_names(spec))
    check_bundle(bundle)
    conditions = [o for o in bundle["objects"] if o["type"] == "attack-condition"]
    assert {c["description"] for c in conditions} == {f"{t} is compromised" for t in sim.names}


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_oasis_stix_validator_accepts_the_flow(name):
    validator = pytest.importorskip("stix2validator", reason="needs stix2-validator (breachpath[test])")
    spec, graph, sim = simulated(name, samples=300)
    result = validator.validate_instance(flow_bundle(graph, sim, name, technique_names(spec)), _options())
    assert result.is_valid, [e.message for e in result.errors]
    # The one warning is the Attack Flow extension's own published definition (a documentation URL, no hash).
    assert {w.split(":")[0] for w in result.warnings} <= {ATTACK_FLOW_EXTENSION}


def test_oasis_stix_validator_rejects_a_broken_flow():
    validator = pytest.importorskip("stix2validator", reason="needs stix2-validator (breachpath[test])")
    spec, graph, sim = simulated("small-office", samples=200)
    bundle = flow_bundle(graph, sim, "office")
    next(o for o in bundle["objects"] if o["type"] == "attack-action")["created"] = "yesterday"
    assert not validator.validate_instance(bundle, _options()).is_valid


def _options():
    from stix2validator import ValidationOptions

    return ValidationOptions(version="2.1", strict_types=False, strict_properties=False)


def test_the_flow_carries_our_numbers_in_a_property_extension():
    spec, graph, sim = simulated("web-service-c2")
    bundle = flow_bundle(graph, sim, "c2", technique_names(spec))
    flow = next(o for o in bundle["objects"] if o["type"] == "attack-flow")
    numbers = flow["extensions"][BREACHPATH_EXTENSION]
    assert numbers["extension_type"] == "property-extension"
    first = summarise(sim.times[:, 0])
    assert numbers["breachpath"]["targets"][sim.names[0]]["probability"] == first["p"]
    assert numbers["breachpath"]["targets"][sim.names[0]]["ttc_days"]["p50"] == first["ttc"]["p50"]
    actions = [o for o in bundle["objects"] if o["type"] == "attack-action"]
    assert all(BREACHPATH_EXTENSION in a["extensions"] for a in actions)
    # The path starts with phishing: a door of T1566 or of one of its sub-techniques (all open at once).
    phishing = [a for a in actions if a["technique_id"].split(".")[0] == "T1566"]
    assert phishing and phishing[0]["id"] in flow["start_refs"]
    assert phishing[0]["name"] == technique_names(spec)[phishing[0]["technique_id"]]
    assert phishing[0]["name"].startswith("Phishing")


def test_an_and_join_becomes_an_and_operator():
    spec, graph, sim = simulated("small-office")
    bundle = flow_bundle(graph, sim, "office", technique_names(spec))
    operators = [o for o in bundle["objects"] if o["type"] == "attack-operator"]
    assert any(o["operator"] == "AND" for o in operators)  # exfiltration needs the data read AND a channel out


def test_the_same_results_give_the_same_bundle():
    spec, graph, sim = simulated("dmz-company", samples=200)
    assert flow_bundle(graph, sim, "dmz") == flow_bundle(graph, sim, "dmz")


@pytest.mark.parametrize(
    "break_it",
    [
        lambda b: b["objects"].append(dict(next(o for o in b["objects"] if o["type"] == "attack-flow"), id="attack-flow--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12)),
        lambda b: next(o for o in b["objects"] if o["type"] == "attack-action").update(probability=0.5),
        lambda b: next(o for o in b["objects"] if o["type"] == "attack-operator").update(operator="XOR"),
        lambda b: next(o for o in b["objects"] if o["type"] == "attack-flow").update(start_refs=["attack-asset--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12]),
    ],
)  # fmt: skip
def test_the_schema_check_catches_a_broken_bundle(break_it):
    spec, graph, sim = simulated("small-office", samples=200)
    bundle = flow_bundle(graph, sim, "office")
    check_bundle(bundle)
    break_it(bundle)
    with pytest.raises(AssertionError):
        check_bundle(bundle)


def test_simulate_cli_writes_an_attack_flow(tmp_path):
    out = tmp_path / "flow.json"
    result = run_cli(
        "simulate", str(example_path("web-service-c2")), "--samples", "300", "--attack-flow", str(out),
        env={"BREACHPATH_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    check_bundle(json.loads(out.read_text()))


def test_no_successful_path_is_a_clear_error():
    import numpy as np

    from breachpath.errors import InputError

    spec, graph, sim = simulated("small-office", samples=100)
    sim.times[:] = np.inf
    with pytest.raises(InputError, match="no target was compromised"):
        flow_bundle(graph, sim, "office")
