"""`breachpath lang coverage`: what of ATT&CK and D3FEND a language models, measured against the real bundles.

Expectations are computed from the raw v18.1 enterprise bundle (tactics from kill-chain phases, liveness from
`revoked` and `x_mitre_deprecated`), not from a copy of the expected output.
"""

from __future__ import annotations

import json
import re

import pytest

from breachpath.lang import compile_file, compile_text
from breachpath.lang.coverage import coverage, language_ids
from breachpath.langs import ATTACKLANG, ATTACKLANG_0_1
from breachpath.navigator import coverage_layer
from conftest import attack_id_of, require_shared, run_cli

SMALL = """#id: "org.example.small"
#version: "1.0.0"
category C {
  asset Host {
    | phish
      user info: "https://attack.mitre.org/techniques/T1566/002/ and T1566"
      -> exec
    | exec
      user info: "T1059.001, and T1064 (Scripting: deprecated in ATT&CK)"
    | pack
      user info: "https://attack.mitre.org/techniques/T1045/"
    # mfa
      user info: "https://attack.mitre.org/mitigations/M1032/"
    # nta
      user info: "https://d3fend.mitre.org/technique/d3f:NetworkTrafficAnalysis/"
    # isolation
      developer info: "D3-EI, D3-NOPE"
  }
}
"""


def _live(obj: dict) -> bool:
    return not obj.get("revoked") and not obj.get("x_mitre_deprecated")


@pytest.fixture(scope="module")
def bundle_techniques(raw18) -> dict[str, dict]:
    """Every technique of the raw bundle by ATT&CK id: live or not, and its tactics' short names."""
    out = {}
    for obj in raw18:
        if obj.get("type") == "attack-pattern" and attack_id_of(obj):
            phases = {p["phase_name"] for p in obj.get("kill_chain_phases", [])}
            out.setdefault(attack_id_of(obj), []).append((_live(obj), phases))
    return {k: {"live": any(live for live, _ in v), "tactics": set().union(*(p for _, p in v))} for k, v in out.items()}


@pytest.fixture(scope="module")
def tactic_ids(raw18) -> dict[str, str]:
    """Tactic short name → TA id, from the bundle's x-mitre-tactic objects."""
    return {o["x_mitre_shortname"]: attack_id_of(o) for o in raw18 if o.get("type") == "x-mitre-tactic"}


def test_ids_are_read_from_step_meta_urls_and_text():
    ids = language_ids(compile_text(SMALL, "small.mal"))
    assert set(ids["attack"]) == {"T1566.002", "T1566", "T1059.001", "T1064", "T1045", "M1032"}
    assert ids["attack"]["T1566.002"] == ["Host.phish"]
    assert set(ids["d3fend"]) == {"NetworkTrafficAnalysis", "D3-EI", "D3-NOPE"}


def test_without_a_knowledge_base_only_the_ids_are_listed():
    result = coverage(compile_text(SMALL, "small.mal"))
    assert result["techniques"] == ["T1045", "T1059.001", "T1064", "T1566", "T1566.002"]
    assert result["sub_techniques"] == ["T1059.001", "T1566.002"]
    assert result["mitigations"] == ["M1032"]
    assert result["tactics"] == [] and "knowledge base" in result["note"]


def test_liveness_tactics_and_d3fend_come_from_the_knowledge_base(kb_full, bundle_techniques, tactic_ids):
    result = coverage(compile_text(SMALL, "small.mal"), kb_full)
    not_live = {n["id"]: n["status"] for n in result["not_live"]}
    for attack_id in result["techniques"]:
        assert (attack_id not in not_live) == bundle_techniques[attack_id]["live"], attack_id
    assert not_live["T1045"] == "revoked" and not_live["T1064"] == "deprecated"
    expected_tactics = {
        tactic_ids[t]
        for i in result["techniques"]
        if bundle_techniques[i]["live"]
        for t in bundle_techniques[i]["tactics"]
    }
    assert set(result["tactics"]) == expected_tactics
    # D3FEND: the class name and the id both resolve to ids; an id D3FEND does not have is reported, not counted.
    assert result["d3fend"] == ["D3-EI", "D3-NTA"]
    assert {"id": "D3-NOPE", "status": "not a D3FEND technique in the knowledge base", "steps": ["Host.isolation"]} in (
        result["not_live"]
    )


def test_totals_are_the_live_techniques_of_the_bundle(kb_full, raw18, bundle_techniques):
    enterprise = [
        o
        for o in raw18
        if o.get("type") == "attack-pattern" and _live(o) and "enterprise-attack" in o.get("x_mitre_domains", [])
    ]
    totals = coverage(compile_file(ATTACKLANG), kb_full)["totals"]
    assert totals["techniques"] == len(enterprise)
    assert totals["sub_techniques"] == sum(1 for o in enterprise if o.get("x_mitre_is_subtechnique"))
    assert totals["tactics"] == len({o["x_mitre_shortname"] for o in raw18 if o.get("type") == "x-mitre-tactic"})


def test_attacklang_0_1_and_1_0(kb_full):
    """The figures issue 14 starts from (attacklang 0.1: 21 of 691 techniques) and where 1.0 is; every id either
    language uses is live."""
    before = coverage(compile_file(ATTACKLANG_0_1), kb_full)
    assert before["counts"]["techniques"] == 21 and before["totals"]["techniques"] == 691
    assert before["not_live"] == []
    assert "D3-NTA" in before["d3fend"] and "M1032" in before["mitigations"]
    after = coverage(compile_file(ATTACKLANG), kb_full)
    assert after["counts"]["techniques"] >= 200 and after["not_live"] == []
    # 1.0 keeps every technique 0.1 had, but those its mapping table excludes, each with a reason
    from breachpath.langs.techniques import read_mapping

    excluded = {e.technique for e in read_mapping().exclusions if e.states is None}
    assert set(before["techniques"]) - set(after["techniques"]) <= excluded


def test_cli_json_and_navigator_layer(kb_full, tmp_path):
    enterprise = require_shared("data", "enterpriselang", "enterpriselang.mal")
    layer_path = tmp_path / "coverage.json"
    done = run_cli(
        "lang", "coverage", "--lang", str(enterprise), "--db", str(kb_full.path), "--format", "json",
        "--navigator", str(layer_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("techniques", "tactics", "mitigations", "d3fend"):
        assert isinstance(result[key], list), key
    layer = json.loads(layer_path.read_text())
    live = set(result["techniques"]) - {n["id"] for n in result["not_live"]}
    assert {t["techniqueID"] for t in layer["techniques"]} == live
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    assert all(t["comment"].startswith("Modelled by ") for t in layer["techniques"])


def test_cli_table_without_a_knowledge_base(tmp_path):
    done = run_cli("lang", "coverage", "--lang", "attacklang-0.1", env={"BREACHPATH_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "techniques and sub-techniques: 21" in done.stdout and "kb load" in done.stdout
    done = run_cli("lang", "coverage", env={"BREACHPATH_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert int(re.search(r"techniques and sub-techniques: (\d+)", done.stdout).group(1)) >= 200


def test_the_layer_leaves_out_ids_that_are_not_live(kb_full):
    result = coverage(compile_text(SMALL, "small.mal"), kb_full)
    ids = {t["techniqueID"] for t in coverage_layer(result, kb_full)["techniques"]}
    assert ids == {"T1059.001", "T1566", "T1566.002"}


def test_without_d3fend_loaded_d3fend_ids_are_taken_as_written(kb18):
    result = coverage(compile_text(SMALL, "small.mal"), kb18)
    assert result["d3fend"] == ["D3-EI", "D3-NOPE"] and "not checked" in result["d3fend_note"]
    unresolved = {n["id"]: n["status"] for n in result["not_live"]}
    assert "load D3FEND" in unresolved["NetworkTrafficAnalysis"]
