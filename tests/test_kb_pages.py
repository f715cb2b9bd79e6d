"""Technique pages reproduce the seed page, across ATT&CK v15, v17.1 and v18.1."""

from __future__ import annotations

import re

import pytest

from breachpath.errors import AmbiguousIdError, NotFoundError
from breachpath.kb import KnowledgeBase, load_attack, render_page
from conftest import attack_id_of, attack_object, live_uses, write_bundle

SEED_GROUPS = [
    {"id": "G0010", "name": "Turla"},
    {"id": "G1006", "name": "Earth Lusca"},
    {"id": "G1012", "name": "CURIUM"},
    {"id": "G1035", "name": "Winter Vivern"},
]

TECHNIQUE_FIELDS = {
    "id", "name", "description", "parent", "subtechniques", "tactics", "platforms", "groups", "software",
    "campaigns", "mitigations", "detection", "url", "revoked", "deprecated", "attack_version", "domain",
}  # fmt: skip


def seed_text(seeds) -> str:
    # The seed was saved with a double-encoded no-break space ("Â\xa0"); ATT&CK has "\xa0".
    return (seeds / "000_2c7e3f0b2b12e3e8.txt").read_text(encoding="utf-8").replace("\u00c2\u00a0", "\u00a0")


def seed_section(text: str, heading: str) -> str:
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, heading
    return match.group(1).strip()


def test_v17_page_has_every_fact_of_the_seed(kb17, seeds):
    page = kb17.page("T1584.006")
    assert page["name"] == "Web Services"
    assert page["parent"] == {"id": "T1584", "name": "Compromise Infrastructure"}
    assert [(t["id"], t["name"]) for t in page["tactics"]] == [("TA0042", "Resource Development")]
    assert [{"id": g["id"], "name": g["name"]} for g in page["groups"]] == SEED_GROUPS
    assert [(m["id"], m["name"]) for m in page["mitigations"]] == [("M1056", "Pre-compromise")]
    components = page["detection"]["data_components"]
    assert [(c["data_source"]["id"], c["data_source"]["name"], c["data_component"]["name"]) for c in components] == [
        ("DS0035", "Internet Scan", "Response Content")
    ]
    assert page["attack_version"] == "17.1"
    assert page["url"] == "https://attack.mitre.org/techniques/T1584/006"


def test_v17_markdown_reproduces_the_seed_page(kb17, seeds):
    """Every line of the seed page appears in our markdown, in the same sections."""
    seed = seed_text(seeds)
    ours = render_page(kb17.page("T1584.006"))
    assert ours.startswith("# Web Services (T1584.006)\n")
    for heading in ("Description", "Parent Technique", "Tactics", "Related Groups", "Mitigations", "Detection"):
        section = seed_section(ours, heading)
        for line in seed_section(seed, heading).splitlines():
            assert line.strip() in section, f"{heading}: {line!r} missing"
    assert "#### Internet Scan: Response Content (DS0035): " in ours
    # The seed's detection text, with ATT&CK links read as "Name (ID)" and citations dropped.
    assert "Command and Control (Web Service (T1102)) or Exfiltration Over Web Service (T1567)." in ours
    assert "(Citation:" not in ours


def test_v18_page_has_detection_strategy_analytic_and_component(kb18):
    page = kb18.page("T1584.006")
    assert [{"id": g["id"], "name": g["name"]} for g in page["groups"]] == SEED_GROUPS
    assert [(m["id"], m["name"]) for m in page["mitigations"]] == [("M1056", "Pre-compromise")]
    strategies = page["detection"]["strategies"]
    assert [s["id"] for s in strategies] == ["DET0882"]
    analytics = strategies[0]["analytics"]
    assert [a["id"] for a in analytics] == ["AN2014"]
    sources = analytics[0]["log_sources"]
    assert [(s["data_component"]["name"], s["name"]) for s in sources] == [("Response Content", "Internet Scan")]
    assert page["attack_version"] == "18.1"
    markdown = render_page(page)
    assert "#### Detection of Web Services (DET0882)" in markdown
    assert "Response Content (DC0104)" in markdown and "AN2014" in markdown


def test_v15_offline_page_builds(kb15):
    page = kb15.page("T1584.006")
    assert page["name"] == "Web Services"
    assert page["attack_version"] == "15.1"
    assert page["parent"]["id"] == "T1584"
    assert {"G0010", "G1006"} <= {g["id"] for g in page["groups"]}
    assert render_page(page).startswith("# Web Services (T1584.006)")


def test_technique_json_has_the_documented_fields(kb18):
    page = kb18.page("T1584.006")
    assert set(page) >= TECHNIQUE_FIELDS
    assert page["domain"] == "enterprise-attack" and page["revoked"] is False and page["deprecated"] is False
    assert set(page["detection"]) == {"text", "data_components", "strategies"}


def test_groups_of_a_technique_match_the_raw_bundle(kb18, raw18):
    """Computed independently from the STIX relationships: live groups that `use` T1059.001."""
    technique = next(o for o in raw18 if o["type"] == "attack-pattern" and attack_id_of(o) == "T1059.001")
    groups = {o["id"] for o in raw18 if o["type"] == "intrusion-set"}
    expected = {
        attack_id_of(next(o for o in raw18 if o["id"] == r["source_ref"]))
        for r in raw18
        if r["type"] == "relationship"
        and r["relationship_type"] == "uses"
        and r["target_ref"] == technique["id"]
        and r["source_ref"] in groups
        and not r.get("revoked")
        and not r.get("x_mitre_deprecated")
    }
    assert {g["id"] for g in kb18.technique_groups("T1059.001") if not g.get("via")} == expected
    assert len(expected) > 50


def test_subtechniques_and_parent_are_linked(kb18):
    page = kb18.page("T1584")
    assert "T1584.006" in {s["id"] for s in page["subtechniques"]}
    assert page["parent"] is None


def test_id_shared_by_a_technique_and_a_deprecated_mitigation(kb17):
    """T1113 names both Screen Capture and an old mitigation: the kind asked for decides."""
    technique = kb17.page("T1113")
    assert technique["type"] == "technique" and technique["name"] == "Screen Capture"
    assert technique["same_id_elsewhere"][0]["kind"] == "mitigation"
    mitigation = kb17.page("T1113", kind="mitigation")
    assert mitigation["type"] == "mitigation" and mitigation["deprecated"] is True


def test_revoked_technique_is_followed_to_its_replacement(kb18):
    page = kb18.page("T1086")
    assert page["id"] == "T1059.001"
    assert page["redirected_from"]["id"] == "T1086"
    itself = kb18.page("T1086", follow_revoked=False)
    assert itself["revoked"] is True
    assert itself["revoked_by"] == [{"id": "T1059.001", "name": "PowerShell"}]


def test_unknown_id_and_wrong_kind(kb18):
    with pytest.raises(NotFoundError, match="T9999"):
        kb18.page("T9999")
    with pytest.raises(NotFoundError, match="no group has this id"):
        kb18.page("T1059", kind="group")


def test_ambiguous_ids_are_shown_not_guessed(tmp_path):
    objects = [
        attack_object("attack-pattern", "T1000", "First"),
        attack_object("attack-pattern", "T1000", "Second"),
    ]
    load_attack([str(write_bundle(tmp_path / "b.json", objects))], tmp_path / "kb.sqlite")
    with KnowledgeBase.open(tmp_path / "kb.sqlite") as kb, pytest.raises(AmbiguousIdError) as caught:
        kb.page("T1000")
    assert {c["name"] for c in caught.value.candidates} == {"First", "Second"}
    assert "First" in str(caught.value) and "Second" in str(caught.value)


@pytest.mark.parametrize(
    ("attack_id", "kind", "key"),
    [
        ("TA0042", "tactic", "techniques"),
        ("G0010", "group", "techniques"),
        ("S0154", "software", "techniques"),
        ("C0048", "campaign", "techniques"),
        ("M1056", "mitigation", "techniques"),
        ("DC0104", "data-component", "analytics"),
        ("DET0882", "detection-strategy", "analytics"),
        ("AN2014", "analytic", "log_sources"),
    ],
)
def test_every_kind_of_id_has_a_page(kb18, attack_id, kind, key):
    page = kb18.page(attack_id)
    assert page["type"] == kind and page["id"] == attack_id
    assert page[key], f"{attack_id} page has no {key}"
    assert render_page(page).startswith(f"# {page['name']} ({attack_id})")


def test_data_source_page_lists_its_components_in_v17(kb17):
    """v18 deprecated data sources and unlinked their components; v17.1 still has the pairs."""
    page = kb17.page("DS0035")
    assert page["type"] == "data-source" and page["name"] == "Internet Scan"
    assert "Response Content" in {c["name"] for c in page["data_components"]}


def test_analytic_page_leads_back_to_strategy_and_technique(kb18):
    page = kb18.page("AN2014")
    assert page["detection_strategy"]["id"] == "DET0882"
    assert [t["id"] for t in page["techniques"]] == ["T1584.006"]


def test_group_techniques_direct_and_through_campaigns(kb18, raw18):
    """Computed independently from the raw bundle for HEXANE (G1001), which has campaigns."""
    group = next(o for o in raw18 if o["type"] == "intrusion-set" and attack_id_of(o) == "G1001")
    direct = live_uses(raw18, {group["id"]}, "attack-pattern--")
    campaigns = {
        r["source_ref"]
        for r in raw18
        if r["type"] == "relationship" and r["relationship_type"] == "attributed-to" and r["target_ref"] == group["id"]
    }
    through = live_uses(raw18, campaigns, "attack-pattern--")
    result = kb18.group_techniques("G1001")
    got_direct = {t["id"] for t in result["techniques"] if t["direct"]}
    got_via_only = {t["id"] for t in result["techniques"] if not t["direct"]}
    assert got_direct == direct
    assert got_via_only == through - direct
    assert got_via_only, "HEXANE reaches some techniques only through its campaigns"
    assert all(t["via"] for t in result["techniques"] if not t["direct"])
