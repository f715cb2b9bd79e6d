"""The technique layer's MAL: doors to a state take no time, so more doors never make the attacker faster, and
mitigations that hold close them (DESIGN.md, modelling conventions). Checked through the engine on real doors
selected from ATT&CK v18.1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from breachpath.graph import apply_overrides, build_graph
from breachpath.lang import compile_text
from breachpath.langs.generate import Effectiveness, camel, full_names, render_mitigations, render_states
from breachpath.langs.techniques import read_mapping, select_doors
from breachpath.model import Model, ModelAsset
from breachpath.sim import simulate


@pytest.fixture(scope="module")
def table(kb18) -> list[dict]:
    return kb18.technique_table()


@pytest.fixture(scope="module")
def windows(table) -> dict:
    doors = select_doors(read_mapping(), table)
    return {state: found for (asset, state), found in doors.items() if asset == "Windows"}


@pytest.fixture(scope="module")
def mitigation_names(kb18) -> dict[str, str]:
    return {row["id"]: row["name"] for row in kb18.export("mitigation")}


def language(states: dict, names: dict, mitigation_names: dict, effectiveness: dict | None = None) -> str:
    """One asset type, Box, with the given states (each with a hand-written TTC) behind their doors."""
    attempts = ", ".join(f"{s}Attempt" for s in states)
    own = "\n".join(f"    | {s} [Exponential(0.5)]" for s in states)
    return (
        '#id: "org.test.doors"\n#version: "1.0.0"\ncategory C {\n  asset Box {\n'
        f"    | access\n      ->  {attempts}\n\n"
        + render_states(states, names, mitigation_names)
        + "\n"
        + own
        + "\n\n"
        + render_mitigations(states, names, mitigation_names, effectiveness or {})
        + "\n  }\n}\n"
    )


def run(text: str, state: str, defenses: dict | None = None) -> np.ndarray:
    spec = compile_text(text, "doors.mal")
    graph = build_graph(spec, Model({0: ModelAsset(0, "box", "Box")}))
    apply_overrides(graph, defenses or {}, {})
    return simulate(graph, [graph.find("box:access")], [graph.find(f"box:{state}")], samples=2000, seed=7).times[:, 0]


def test_duplicating_doors_leaves_the_time_to_the_state_unchanged(windows, table, mitigation_names):
    names = full_names(table)
    doors = windows["credentialAccess"][:5]
    copies = [dataclasses.replace(d, id=f"{d.id}.9{i}") for i, d in enumerate(doors)]
    names = {**names, **{c.id: names[d.id] + " again" for c, d in zip(copies, doors, strict=True)}}
    few = run(language({"credentialAccess": doors}, names, mitigation_names), "credentialAccess")
    many = run(language({"credentialAccess": doors + copies}, names, mitigation_names), "credentialAccess")
    np.testing.assert_array_equal(few, many)
    assert np.isfinite(few).all()  # every mitigation is off by default: every door is open


def test_mitigations_that_hold_close_every_door(windows, table, mitigation_names):
    names = full_names(table)
    # Doors from any Windows state serve as doors to this one: a few with a single gate, a few with several.
    every = {d.id: d for found in windows.values() for d in found}.values()
    doors = [d for d in every if len(d.mitigations) == 1][:3] + [d for d in every if len(d.mitigations) > 1][:5]
    certain = {m: Effectiveness(1.0, "test: always holds") for d in doors for m in d.mitigations}
    text = language({"credentialAccess": doors}, names, mitigation_names, certain)
    spec = compile_text(text, "doors.mal")
    defenses = {
        f"box:{step}": 1.0 for step, s in spec.steps("Box").items() if s.kind == "defense"
    }  # every gating mitigation on
    closed = run(text, "credentialAccess", defenses)
    assert not np.isfinite(closed).any()
    # One mitigation off again: a door it alone gates opens; one whose doors all have other gates stays shut.
    defense_of = {step[4:9].upper(): step for step in defenses}  # "box:m1026…" → M1026
    sole = sorted({d.mitigations[0] for d in doors if len(d.mitigations) == 1})
    assert sole, "the test needs a door with a single gate"
    assert np.isfinite(run(text, "credentialAccess", {**defenses, defense_of[sole[0]]: 0.0})).all()
    shared = [m for m in defense_of if all(len(d.mitigations) > 1 for d in doors if m in d.mitigations)]
    if shared:
        assert not np.isfinite(run(text, "credentialAccess", {**defenses, defense_of[shared[0]]: 0.0})).any()


def test_every_windows_state_compiles_with_unique_step_names(windows, table, mitigation_names):
    text = language(windows, full_names(table), mitigation_names)
    spec = compile_text(text, "windows.mal")
    steps = spec.steps("Box")
    doors = sum(len(found) for found in windows.values())
    assert doors > 500
    assert sum(1 for s in steps.values() if "Via" in s.name) == doors
    # each door carries its technique's id for coverage, through its ATT&CK URL
    ids = {i for s in steps.values() for i in s.attack_ids if i.startswith("T")}
    assert ids == {d.id for found in windows.values() for d in found}


def test_names_are_mal_identifiers():
    assert camel("OS Credential Dumping") == "osCredentialDumping"
    assert camel("Command and Scripting Interpreter: PowerShell") == "commandAndScriptingInterpreterPowerShell"
    assert camel("Pre-OS Boot: System Firmware") == "preOSBootSystemFirmware"


def host_template(states: list[str]) -> str:
    """Host with its states (hand-written: a TTC each) and attempt steps; the subtypes get their doors."""
    attempts = ",\n          ".join(f"{s}Attempt" for s in states)
    own = "\n\n".join(f"    | {s} [Exponential(1)]" for s in states)
    subtypes = "\n".join(
        f"  asset {name} extends Host {{\n    //@doors\n  }}\n" for name in ("Windows", "Linux", "MacOS")
    )
    return (
        '#id: "org.test.generated"\n#version: "1.0.0"\n\ncategory Hosts {\n  abstract asset Host {\n'
        f"    | access\n      ->  {attempts}\n\n    //@attempts\n\n{own}\n  }}\n\n{subtypes}}}\n"
    )


def test_a_language_generated_from_a_template_compiles_and_is_reproducible(kb18, table, mitigation_names):
    from breachpath.langs.generate import abstract_states_of, generate_language

    mapping = read_mapping()
    doors = select_doors(mapping, table)
    states = abstract_states_of(mapping)
    template = host_template(states["Host"])
    args = (doors, full_names(table), mitigation_names, {}, states)
    text = generate_language(template, *args)
    assert text == generate_language(template, *args)
    spec = compile_text(text, "generated.mal")
    for asset in ("Windows", "Linux", "MacOS"):
        modelled = {i for s in spec.steps(asset).values() for i in s.attack_ids if i.startswith("T")}
        assert modelled == {d.id for (owner, _), found in doors.items() if owner == asset for d in found}, asset
    # A Windows host is reached in every state through its doors, each in the state's own time.
    graph = build_graph(spec, Model({0: ModelAsset(0, "ws", "Windows")}))
    result = simulate(
        graph, [graph.find("ws:access")], [graph.find(f"ws:{s}") for s in states["Host"]], samples=500, seed=1
    )
    assert np.isfinite(result.times).all()


def test_a_marker_outside_an_asset_is_refused():
    from breachpath.langs.generate import generate_language

    with pytest.raises(ValueError, match="not inside an asset"):
        generate_language("//@doors\n", {}, {}, {})


def test_d3fend_gates_are_the_inferred_hardening_and_isolation_and_coverage_counts_them(kb_full, mitigation_names):
    """Doors gated by ATT&CK mitigations and by the D3FEND techniques the ontology's inference links to them
    (Harden, Isolate); the generated language's coverage is exactly what was selected."""
    from breachpath.lang.coverage import coverage
    from breachpath.langs.generate import abstract_states_of, generate_language
    from breachpath.langs.techniques import D3FEND_GATE_TACTICS, add_d3fend, countermeasures_for, door_summary

    table = kb_full.technique_table()
    mapping = read_mapping()
    host = {
        key: found for key, found in select_doors(mapping, table).items() if key[0] in ("Windows", "Linux", "MacOS")
    }
    rows = countermeasures_for(kb_full, door_summary(host)["techniques"])
    doors = add_d3fend(host, rows)
    for found in doors.values():
        for door in found:
            inferred = {r["d3fend_id"] for r in rows[door.id] if r["tactic"] in D3FEND_GATE_TACTICS}
            assert set(door.d3fend) == inferred, door.id
    summary = door_summary(doors)
    assert len(summary["d3fend"]) >= 15
    classes = {r["d3fend_id"]: r["defensive_technique"] for found in rows.values() for r in found}
    labels = kb_full.d3fend_labels([r for found in rows.values() for r in found])
    gate_names = {**mitigation_names, **{i: labels.get(c, c) for i, c in classes.items()}}
    states = abstract_states_of(mapping)
    text = generate_language(
        host_template(states["Host"]), doors, full_names(table), gate_names, {}, states, d3fend_classes=classes
    )
    measured = coverage(compile_text(text, "generated.mal"), kb_full)
    assert measured["techniques"] == summary["techniques"]
    assert measured["mitigations"] == summary["mitigations"]
    assert measured["d3fend"] == summary["d3fend"]
    assert measured["not_live"] == [] and len(measured["tactics"]) >= 11  # a technique may serve other tactics too
