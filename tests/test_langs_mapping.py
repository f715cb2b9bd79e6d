"""attacklang's technique mapping table, checked rule by rule against the raw ATT&CK v18.1 bundle.

The expectations are computed here from the STIX objects themselves (tactics from kill-chain phases, platforms from
``x_mitre_platforms``, gates from live ``mitigates`` relationships), independently of the knowledge base code.
"""

from __future__ import annotations

import pytest

from breachpath.errors import InputError
from breachpath.langs.techniques import SUBTYPES, door_summary, read_mapping, select_doors
from conftest import attack_id_of


def _live(obj: dict) -> bool:
    return not obj.get("revoked") and not obj.get("x_mitre_deprecated")


@pytest.fixture(scope="module")
def bundle(raw18) -> dict:
    """Live enterprise techniques: tactics, platforms and the live mitigations that mitigate each."""
    by_stix = {o["id"]: o for o in raw18}
    techniques = {}
    for obj in raw18:
        if obj.get("type") == "attack-pattern" and _live(obj) and "enterprise-attack" in obj.get("x_mitre_domains", []):
            techniques[attack_id_of(obj)] = {
                "tactics": {
                    p["phase_name"] for p in obj.get("kill_chain_phases", []) if p["kill_chain_name"] == "mitre-attack"
                },
                "platforms": set(obj.get("x_mitre_platforms", [])),
                "mitigations": set(),
                "stix": obj["id"],
            }
    by_technique = {t["stix"]: t for t in techniques.values()}
    for rel in raw18:
        if rel.get("type") == "relationship" and rel["relationship_type"] == "mitigates" and _live(rel):
            source, target = by_stix.get(rel["source_ref"]), by_technique.get(rel["target_ref"])
            if target and source and source["type"] == "course-of-action" and _live(source):
                target["mitigations"].add(attack_id_of(source))
    return techniques


@pytest.fixture(scope="module")
def doors(kb18) -> dict:
    return select_doors(read_mapping(), kb18.technique_table())


def _excluded(mapping, technique: str, key: str) -> bool:
    return any(e.technique == technique and (e.states is None or key in e.states) for e in mapping.exclusions)


def test_a_technique_is_a_door_on_every_platform_matching_state_and_nowhere_else(bundle, doors):
    mapping = read_mapping()
    checked = 0
    for state in (s for s in mapping.states if s.only is None):
        for asset in SUBTYPES.get(state.asset, (state.asset,)):
            platforms = set(mapping.platforms[asset])
            expected = {
                i
                for i, t in bundle.items()
                if state.tactic in t["tactics"] and t["platforms"] & platforms and not _excluded(mapping, i, state.key)
            }
            assert {d.id for d in doors[(asset, state.state)]} == expected, (asset, state.state)
            checked += 1
    assert checked >= 40


def test_states_that_name_their_techniques_get_exactly_those(bundle, doors):
    mapping = read_mapping()
    for state in (s for s in mapping.states if s.only is not None):
        for technique in state.only:
            assert technique in bundle, f"{state.key}: {technique} is not a live enterprise technique"
            assert state.tactic in bundle[technique]["tactics"], f"{state.key}: {technique} is not {state.tactic}"
        expected = {i for i in state.only if not _excluded(mapping, i, state.key)}
        if state.asset in SUBTYPES:  # on each concrete subtype, the named techniques of its platforms
            for asset in SUBTYPES[state.asset]:
                platforms = set(mapping.platforms[asset])
                mine = {i for i in expected if bundle[i]["platforms"] & platforms}
                assert {d.id for d in doors[(asset, state.state)]} == mine, (asset, state.state)
        else:
            assert {d.id for d in doors[(state.asset, state.state)]} == expected


def test_a_preferred_technique_is_a_door_of_its_state(doors):
    """`prefer` names the door an attack path shows when several are open: it must be one of them."""
    for state in (s for s in read_mapping().states if s.prefer):
        for asset in SUBTYPES.get(state.asset, (state.asset,)):
            assert state.prefer in {d.id for d in doors[(asset, state.state)]}, (asset, state.state)


def test_a_mitigation_gates_exactly_the_techniques_it_mitigates(bundle, doors):
    for found in doors.values():
        for door in found:
            assert set(door.mitigations) == bundle[door.id]["mitigations"], door.id
    # and the other way round: every mitigation gates every door of every technique it mitigates
    gated = {
        m: {d.id for ds in doors.values() for d in ds if m in d.mitigations} for m in door_summary(doors)["mitigations"]
    }
    chosen = {d.id for ds in doors.values() for d in ds}
    for mitigation, techniques in gated.items():
        assert techniques == {i for i in chosen if mitigation in bundle[i]["mitigations"]}, mitigation


def test_every_exclusion_has_a_reason_and_removes_something(bundle):
    mapping = read_mapping()
    for exclusion in mapping.exclusions:
        assert exclusion.reason.strip()
        assert exclusion.technique in bundle, f"{exclusion.technique}: not a live enterprise technique"
        scope = [s for s in mapping.states if exclusion.states is None or s.key in exclusion.states]
        assert any(
            bundle[exclusion.technique]["tactics"] & {s.tactic}
            and (s.only is not None and exclusion.technique in s.only or s.only is None)
            for s in scope
        ), f"{exclusion.technique}: the exclusion removes nothing"


def test_the_table_reaches_across_the_matrix(doors):
    """Issue 14's floor: 200 techniques and sub-techniques over all 14 tactics, 40 mitigations."""
    summary = door_summary(doors)
    tactics = {d.tactic for ds in doors.values() for d in ds}
    assert len(summary["techniques"]) >= 200 and len(summary["mitigations"]) >= 40
    assert len(tactics) == 14


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("format: 2\n", "not a technique mapping table"),
        ("format: 1\nplatforms: {Windows: Windows}\n", "platforms must map"),
        ("format: 1\nplatforms: {}\nstates: [{asset: Host, state: x}]\n", r"states\[0\] needs asset, state and tactic"),
        ("format: 1\nplatforms: {}\nstates: [{asset: Person, state: x, tactic: y}]\n", "has no platforms"),
        ("format: 1\nplatforms: {}\nexclusions: [{technique: T1}]\n", "needs a technique and a reason"),
        (
            "format: 1\nplatforms: {}\nstates: [{asset: P, state: x, tactic: y, only: [T1], prefer: [T1]}]\n",
            r"states\[0\].prefer must be a technique id",
        ),
        ("format: 1\nplatforms: {}\ndefaults: {discovery: {ttc: EasyAndCertain}}\n", "defaults.discovery needs"),
        ("format: 1\nplatforms: {}\ndefaults: {discovery: {ttc: Exponential(, reason: r}}\n", "defaults.discovery: "),
    ],
)
def test_a_bad_table_is_one_line(tmp_path, text, message):
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_mapping(path)
