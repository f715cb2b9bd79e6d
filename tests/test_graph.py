"""Instance models, scenarios and the attack graph: mal-toolbox's graph reproduced, each expression form checked."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from breachpath.errors import InputError
from breachpath.graph import KINDS, AttackGraph, build_graph, prune
from breachpath.lang import compile_file, compile_text
from breachpath.model import complete_links, model_from_dict, read_model, validate, write_model
from breachpath.samples import corelang_enterprise
from breachpath.scenario import read_scenario
from conftest import require_shared, run_cli

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def corelang():
    return compile_file(require_shared("data", "corelang", "main.mal"))


def edge_names(graph: AttackGraph) -> set[tuple[str, str]]:
    names = graph.names()
    return {(names[p], names[c]) for p, c in graph.edges().tolist()}


def test_corelang_graph_matches_mal_toolbox(corelang):
    """Same node set, node kinds and parent/child pairs as mal-toolbox 2.11 on the same generated model."""
    expected = json.loads(gzip.decompress((FIXTURES / "corelang5_maltoolbox.json.gz").read_bytes()))
    graph = build_graph(corelang, corelang_enterprise(5))
    kinds = {"or": "or", "and": "and", "defense": "defense", "exists": "exist", "notExists": "notExist"}
    ours = {name: kinds[KINDS[k]] for name, k in zip(graph.names(), graph.kind.tolist(), strict=True)}
    assert ours == expected["nodes"]
    assert edge_names(graph) == {tuple(e) for e in expected["edges"]}


EXAMPLE = """
metadata: {name: tiny}
assets:
  0: {name: net, type: Network, associated_assets: {hosts: {1: h1, 2: h2}}}
  1: {name: h1, type: Host, associated_assets: {passwords: {3: pw1}}}
  2: {name: h2, type: Host}
  3: {name: pw1, type: Password}
  4: {name: alice, type: User, associated_assets: {passwords: [pw1]}}
"""


def test_example_graph_edges(tmp_path):
    spec = compile_file(require_shared("data", "examplelang", "exampleLang.mal"))
    (tmp_path / "m.yml").write_text(EXAMPLE)
    model = read_model(tmp_path / "m.yml")
    graph = build_graph(spec, model)
    assert graph.n_nodes == 14
    assert edge_names(graph) == {
        ("net:access", "h1:connect"), ("net:access", "h2:connect"),
        ("h1:connect", "h1:access"), ("h1:authenticate", "h1:access"), ("h1:guessPassword", "h1:guessedPassword"),
        ("h1:guessedPassword", "h1:authenticate"),
        ("h2:connect", "h2:access"), ("h2:authenticate", "h2:access"), ("h2:guessPassword", "h2:guessedPassword"),
        ("h2:guessedPassword", "h2:authenticate"),
        ("pw1:obtain", "h1:authenticate"), ("alice:attemptPhishing", "alice:phish"), ("alice:phish", "pw1:obtain"),
    }  # fmt: skip
    # A link given from one side only ("alice" names pw1) is completed from the other (pw1.user).
    assert model.assets[3].links["user"] == [4]
    assert validate(model, spec) == []


SETS = """
category C {
  asset Node {
    | start
      -> next.hit, (a \\/ b).hit, (a /\\ b).both, (a - b).onlyA, next*.star, (a \\/ b)[Special].special, v().viaVar
    | hit
    | both
    | onlyA
    | star
    | viaVar
    # guard [Enabled] -> guardBypassed
    # open -> guardBypassed
    | guardBypassed
    E hasNext <- next -> hit
    !E noNext <- next -> hit
    let v = next
  }
  asset Special extends Node {
    | special
  }
}
associations {
  Node [prev] * <-- Chain --> * [next] Node
  Node [inA] * <-- A --> * [a] Node
  Node [inB] * <-- B --> * [b] Node
}
"""


def test_expression_forms_over_model_links():
    spec = compile_text(SETS)
    model = model_from_dict(
        {
            "assets": {
                0: {"name": "n0", "type": "Node", "associated_assets": {"next": [1], "a": [1, 2], "b": [2, 3]}},
                1: {"name": "n1", "type": "Node", "associated_assets": {"next": [2]}},
                2: {"name": "n2", "type": "Special", "defenses": {"open": 1.0}},
                3: {"name": "n3", "type": "Special"},
            }
        },
        "sets",
    )
    graph = build_graph(spec, model)
    children = {graph.name(c) for c in graph.children(graph.find("n0:start"))}
    assert {"n1:hit", "n2:hit", "n3:hit"} <= children  # next.hit and (a \/ b).hit
    assert "n2:both" in children and "n1:both" not in children and "n3:both" not in children  # a /\ b
    assert "n1:onlyA" in children and "n2:onlyA" not in children  # a - b
    assert {"n0:star", "n1:star", "n2:star"} <= children and "n3:star" not in children  # zero or more hops
    assert {"n2:special", "n3:special"} <= children and not any(
        c.startswith(("n0:special", "n1:special")) for c in children
    )
    assert "n1:viaVar" in children
    # Existence against the model: n0 has a next, n3 has none.
    exists = dict(zip(graph.names(), graph.exists.tolist(), strict=True))
    assert exists["n0:hasNext"] == 1 and exists["n3:hasNext"] == 0
    assert exists["n0:noNext"] == 0 and exists["n3:noNext"] == 1
    # Defenses: [Enabled] is on, no value is off, the model's value wins.
    p = dict(zip(graph.names(), graph.defense_p.tolist(), strict=True))
    assert p["n0:guard"] == 1.0 and p["n0:open"] == 0.0 and p["n2:open"] == 1.0


def test_override_and_append_in_the_graph():
    spec = compile_text(
        """
        category C {
          asset Base { | a -> b, c  | b  | c  | d -> b }
          asset Sub extends Base { | a -> c  | d +> c }
        }
        """
    )
    model = model_from_dict({"assets": {0: {"name": "s", "type": "Sub"}, 1: {"name": "b", "type": "Base"}}}, "m")
    graph = build_graph(spec, model)
    assert {graph.name(c) for c in graph.children(graph.find("s:a"))} == {"s:c"}
    assert {graph.name(c) for c in graph.children(graph.find("s:d"))} == {"s:b", "s:c"}
    assert {graph.name(c) for c in graph.children(graph.find("b:a"))} == {"b:b", "b:c"}


def test_csr_parents_mirror_children(corelang):
    graph = build_graph(corelang, corelang_enterprise(20))
    forward = {(p, c) for p, c in graph.edges().tolist()}
    backward = {(int(p), c) for c in range(graph.n_nodes) for p in graph.parents(c)}
    assert forward == backward
    assert graph.child_idx.dtype == np.int32 and graph.kind.dtype == np.int8


def test_npz_round_trip_without_pickle(tmp_path, corelang):
    graph = build_graph(corelang, corelang_enterprise(3))
    graph.save(tmp_path / "g.npz")
    loaded = AttackGraph.load(tmp_path / "g.npz")
    for key, value in graph._arrays().items():
        np.testing.assert_array_equal(getattr(loaded, key), value)
    assert loaded.info["attack_ids"] == graph.info["attack_ids"]
    with np.load(tmp_path / "g.npz", allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(InputError, match="not a breachpath attack graph"):
        AttackGraph.load(tmp_path / "other.npz")


def test_prune_keeps_what_entries_reach_and_its_gates(corelang):
    graph = build_graph(corelang, corelang_enterprise(20))
    entry = graph.find("Internet:physicalAccess")
    pruned = prune(graph, [entry])
    assert 0 < pruned.n_nodes < graph.n_nodes
    names = set(pruned.names())
    assert "Internet:physicalAccess" in names
    # Every kept AND node keeps all its parents that can ever be reached; defenses gating kept nodes stay.
    kept_edges = edge_names(pruned)
    original = edge_names(graph)
    assert kept_edges <= original
    for parent, child in original:
        if child in names and parent not in names:
            node = graph.find(parent)
            assert graph.kind[node] < 2  # only unreachable attack steps are dropped, never a gate


def test_model_validation_names_each_problem(tmp_path):
    spec = compile_file(require_shared("data", "examplelang", "exampleLang.mal"))
    model = model_from_dict(
        {
            "assets": {
                0: {"name": "h", "type": "Host", "defenses": {"firewall": 1.0}, "associated_assets": {"nope": [1]}},
                1: {"name": "h", "type": "Host"},
                2: {"name": "ghost", "type": "Spaceship"},
                3: {"name": "pw", "type": "Password", "associated_assets": {"host": [0, 1]}},
                4: {"name": "u", "type": "User", "associated_assets": {"passwords": ["h"]}},
            }
        },
        "m",
    )
    complete_links(model, spec)
    problems = validate(model, spec)
    text = "\n".join(problems)
    assert "asset 1 (h): the name 'h' is also used by asset 0" in text
    assert "asset 2 (ghost): unknown asset type Spaceship" in text
    assert "asset 0 (h): Host has no defense firewall" in text
    assert "asset 0 (h): Host has no field nope" in text
    assert "asset 3 (pw): host has 2 link(s), but Credentials allows 1..1" in text
    assert (
        "asset 4 (u): passwords links to asset 0 (h), a Host, where the association Credentials wants a Password"
        in text
    )


def test_duplicate_ids_and_unknown_links_are_refused(tmp_path):
    path = tmp_path / "dup.yml"
    path.write_text("assets:\n  0: {name: a, type: Host}\n  0: {name: b, type: Host}\n")
    with pytest.raises(InputError, match=r"line 3, column 3: duplicate key 0"):
        read_model(path)
    with pytest.raises(InputError, match=r"asset 0 \(a\): hosts names unknown asset 'zz'"):
        model_from_dict({"assets": {0: {"name": "a", "type": "Network", "associated_assets": {"hosts": ["zz"]}}}}, "m")


def test_model_export_round_trip(tmp_path, corelang):
    model = corelang_enterprise(4)
    for suffix in (".yml", ".json"):
        write_model(model, tmp_path / f"m{suffix}")
        again = read_model(tmp_path / f"m{suffix}")
        assert {a.id: (a.name, a.type, a.defenses, a.links) for a in again.assets.values()} == {
            a.id: (a.name, a.type, a.defenses, a.links) for a in model.assets.values()
        }


def test_scenarios_in_both_layouts(tmp_path):
    write_model(corelang_enterprise(2), tmp_path / "model.yml")
    lang = require_shared("data", "corelang", "main.mal")
    (tmp_path / "ours.yml").write_text(
        f"lang: {lang}\nmodel: model.yml\nentry_points: ['Internet:physicalAccess']\n"
        "targets: ['host1 data:read']\ndefenses: {'host0 OS:notPresent': 0.25}\nsamples: 500\nseed: 3\n"
    )
    (tmp_path / "malsim.yml").write_text(
        f"lang_file: {lang}\nmodel_file: model.yml\n"
        "agents: {eve: {type: attacker, entry_points: ['Internet:physicalAccess'], goals: ['host1 data:read']}}\n"
    )
    ours, theirs = read_scenario(tmp_path / "ours.yml"), read_scenario(tmp_path / "malsim.yml")
    assert ours.entry_points == theirs.entry_points == ["Internet:physicalAccess"]
    assert ours.targets == theirs.targets == ["host1 data:read"]
    assert ours.samples == 500 and ours.seed == 3 and ours.defenses == {"host0 OS:notPresent": 0.25}
    (tmp_path / "bad.yml").write_text(f"lang: {lang}\nmodel: model.yml\nsamples: -1\n")
    with pytest.raises(InputError, match="samples must be"):
        read_scenario(tmp_path / "bad.yml")


def test_cli_graph_and_model_commands(tmp_path):
    lang = require_shared("data", "corelang", "main.mal")
    write_model(corelang_enterprise(2), tmp_path / "model.yml")
    (tmp_path / "s.yml").write_text(
        f"lang: {lang}\nmodel: model.yml\nentry_points: ['Internet:physicalAccess']\ndefenses: {{'host0 OS:notPresent': 0.5}}\n"
    )
    out = tmp_path / "g.npz"
    result = run_cli("graph", "build", str(tmp_path / "s.yml"), "--prune", "--out", str(out), "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["nodes"] > 0 and "build_seconds" in summary and set(summary["nodes_by_kind"]) == set(KINDS)
    exported = json.loads(run_cli("graph", "export", str(out), "--format", "json").stdout)
    assert set(exported) == {"nodes", "edges"} and set(exported["nodes"][0]) == {"id", "name", "kind"}
    node = json.loads(run_cli("graph", "show", str(out), "host0 OS:notPresent").stdout)
    assert node["kind"] == "defense" and node["defense_p"] == 0.5

    bad = tmp_path / "bad.yml"
    bad.write_text("assets:\n  0: {name: x, type: Spaceship}\n")
    result = run_cli("model", "validate", str(bad), "--lang", str(lang))
    assert result.returncode == 2 and "asset 0 (x): unknown asset type Spaceship" in result.stdout
    result = run_cli("graph", "build", str(bad), "--lang", str(lang))
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_ttc_overrides_by_node_type_and_attack_id(tmp_path):
    from breachpath.evidence import Estimate, write_estimate
    from breachpath.evidence.catalog import load_catalog
    from breachpath.graph import set_ttcs

    spec = compile_text(
        """
        category C {
          asset Svc {
            | c2 [Exponential(1)] user info: "https://attack.mitre.org/techniques/T1102/"
            | other
          }
        }
        """
    )
    model = model_from_dict({"assets": {0: {"name": "a", "type": "Svc"}, 1: {"name": "b", "type": "Svc"}}}, "m")
    graph = build_graph(spec, model)

    def ttc(name: str) -> str | None:
        node = graph.find(name)
        return None if graph.ttc[node] < 0 else str(graph.ttc_texts[graph.ttc[node]])

    assert set_ttcs(graph, {"a:other": "Exponential(2)"}) == {"a:other": 1}
    assert ttc("a:other") == "Exponential(2)" and ttc("b:other") is None
    assert set_ttcs(graph, {"Svc.other": "Zero"}) == {"Svc.other": 2}
    write_estimate(Estimate(name="Web Service", result="Bernoulli(0.0445)", attack_id="T1102"), tmp_path / "T1102.yaml")
    assert set_ttcs(graph, {"T1102": "evidence"}, load_catalog(tmp_path)) == {"T1102": 2}
    assert ttc("a:c2") == ttc("b:c2") == "Bernoulli(0.0445)"
    with pytest.raises(InputError, match="matches no attack step"):
        set_ttcs(graph, {"T1566": "Exponential(1)"})


def test_untrusted_files_over_their_size_limit_or_not_utf8_are_refused(tmp_path, monkeypatch):
    import breachpath.evidence.model as evidence_model
    import breachpath.model as model_module
    from breachpath.evidence.model import read_estimate

    big = tmp_path / "model.yml"
    big.write_text("assets: {}\n" + "#" * 2048)
    monkeypatch.setattr(model_module, "MAX_MODEL_BYTES", 2**20)
    read_model(big)  # under the limit: read
    monkeypatch.setattr(model_module, "MAX_MODEL_BYTES", 1024)
    with pytest.raises(InputError, match=r"model\.yml: larger than 1 KiB"):
        read_model(big)
    estimate = tmp_path / "T1000.yaml"
    estimate.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(InputError, match=r"T1000\.yaml: cannot read"):
        read_estimate(estimate)
    monkeypatch.setattr(evidence_model, "MAX_YAML_BYTES", 4)
    with pytest.raises(InputError, match=r"T1000\.yaml: larger than 4 bytes"):
        read_estimate(estimate)
