"""D3FEND: class pages like the seed page, and the countermeasure inference, on the real ontology and on a
small hand-written one that exercises each rule."""

from __future__ import annotations

import re

import pyoxigraph as ox
import pytest

from breachpath.errors import InputError, NotFoundError
from breachpath.kb import KnowledgeBase, load_attack, load_d3fend, render_page
from breachpath.kb.d3fend import ROW_KEYS, infer, read_ontology
from conftest import attack_object, require_shared, run_cli, write_bundle

SEED_CHAIN = [
    "T1584.006",
    "T1584",
    "ResourceDevelopmentTechnique",
    "ATTACKEnterpriseTechnique",
    "ATTACKEnterpriseThing",
    "ATTACKThing",
    "ExternalThreatModelThing",
    "ExternalThing",
]


def seed_page(seeds) -> str:
    return (seeds / "001_e7277dce1db72ea3.txt").read_text(encoding="utf-8")


def test_t1584_006_class_page_reproduces_the_seed(kb_full, seeds):
    seed = seed_page(seeds)
    page = kb_full.page("T1584.006", d3fend=True)
    assert [h["name"] for h in page["hierarchy"]] == list(reversed(SEED_CHAIN))
    assert [h["label"] for h in page["hierarchy"]][-3:] == [
        "Resource Development Technique",
        "Compromise Infrastructure",
        "Web Services",
    ]
    definition = re.search(r"### Definition\n(.*?)\n\n", seed, re.S).group(1)
    # The site prints a no-break space as a plain one.
    assert " ".join(page["definition"].split()) == " ".join(definition.split())
    assert page["uri"] == "http://d3fend.mitre.org/ontologies/d3fend.owl#T1584.006"
    assert page["examples"] == [] and page["aliases"] == []
    # Every edge of the seed's Mermaid diagram is in ours, with the same node ids.
    seed_edges = re.findall(r"(d3fend\.owl#[\w.]+)\([^)]*\):::d3fend-->(d3fend\.owl#[\w.]+)", seed)
    our_edges = re.findall(r"(d3fend\.owl#[\w.]+)\([^)]*\):::d3fend-->(d3fend\.owl#[\w.]+)", page["mermaid"])
    assert seed_edges and seed_edges == our_edges
    markdown = render_page(page)
    for block in (
        "### Examples\nNot defined.",
        "### Aliases\nNot defined.",
        "### URI\nhttp://d3fend.mitre.org/ontologies/d3fend.owl#T1584.006",
        "```mermaid\ngraph BT\n",
        "### Ontology Reference\n- [d3fend](http://d3fend.mitre.org/ontologies/d3fend.owl#)",
        "## Properties",
    ):
        assert block in markdown


def test_t1102_is_countered_by_ten_techniques_through_outbound_web_traffic(kb_full):
    rows = kb_full.countermeasures(["T1102"])["T1102"]
    assert all(list(row) == list(ROW_KEYS) for row in rows)
    techniques = {r["defensive_technique"]: r["tactic"] for r in rows}
    assert len(techniques) == 10
    assert sorted(techniques.values()).count("Detect") == 8
    assert sorted(techniques.values()).count("Isolate") == 2
    assert {r["offensive_artifact"] for r in rows} == {"OutboundInternetWebTraffic"}
    assert {"NetworkTrafficCommunityDeviation", "OutboundTrafficFiltering"} <= set(techniques)
    detect = kb_full.countermeasures(["T1102"], tactic="detect")["T1102"]
    assert {r["tactic"] for r in detect} == {"Detect"} and len({r["defensive_technique"] for r in detect}) == 8


def test_t1584_006_has_none_and_the_page_says_why(kb_full):
    assert kb_full.countermeasures(["T1584.006"]) == {"T1584.006": []}
    section = kb_full.page("T1584.006")["d3fend"]
    assert section["countermeasures"] == []
    assert "no digital-artifact relations" in section["note"]
    assert "T1584.006" in section["note"] and "parent T1584" in section["note"] and "sub-techniques" in section["note"]
    assert "## D3FEND Countermeasures\nNo countermeasures:" in render_page(kb_full.page("T1584.006"))


def test_technique_page_lists_countermeasures(kb_full):
    page = kb_full.page("T1102")
    assert len({r["defensive_technique"] for r in page["d3fend"]["countermeasures"]}) == 10
    assert "Network Traffic Community Deviation (D3-NTCD) — Detect" in render_page(page)


def test_d3fend_ids_and_class_names_resolve(kb_full):
    by_id = kb_full.page("D3-NTA")
    by_name = kb_full.page("NetworkTrafficAnalysis")
    assert by_id["name"] == by_name["name"] == "NetworkTrafficAnalysis"
    assert by_id["tactic"] == "Detect" and by_id["kind"] == "defensive-technique"
    with pytest.raises(NotFoundError):
        kb_full.page("D3-NOPE")
    with pytest.raises(NotFoundError):
        kb_full.page("NoSuchClassAnywhere")


def test_countered_by_is_the_reverse_of_countermeasures(kb_full):
    every = kb_full.all_countermeasures()
    expected = sorted(a for a, rows in every.items() if any(r["d3fend_id"] == "D3-NTCD" for r in rows))
    result = kb_full.countered_by("D3-NTCD")
    assert [t["id"] for t in result["techniques"]] == expected
    assert "T1102" in expected
    assert next(t for t in result["techniques"] if t["id"] == "T1102")["name"] == "Web Service"


def test_all_covers_every_attack_technique_in_the_ontology(kb_full, d3fend_ttl):
    every = kb_full.all_countermeasures()
    onto = read_ontology(d3fend_ttl.read_bytes(), str(d3fend_ttl))
    assert set(every) == set(infer(onto).offensive)
    assert len(every) > 800 and sum(1 for rows in every.values() if rows) > 400


def test_loads_keep_the_other_part(tmp_path, d3fend_ttl):
    bundle = write_bundle(tmp_path / "b.json", [attack_object("attack-pattern", "T1102", "Web Service")])
    db = tmp_path / "kb.sqlite"
    load_attack([str(bundle)], db)
    load_d3fend(str(d3fend_ttl), db)
    with KnowledgeBase.open(db) as kb:
        assert kb.page("T1102")["name"] == "Web Service" and kb.page("T1102")["d3fend"]["countermeasures"]
    load_attack([str(bundle)], db)
    with KnowledgeBase.open(db) as kb:
        assert kb.has_d3fend() and kb.countermeasures(["T1102"])["T1102"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("@prefix : <http://x#> .\n:a :b ", r"line 2, column \d+: invalid Turtle"),
        ("@prefix : <http://x#> .\n:a :b :c .\n", "not the D3FEND ontology"),
        ("", "empty file"),
    ],
)
def test_bad_ontologies_fail_with_one_line_and_keep_the_store(tmp_path, d3fend_ttl, content, message):
    db = tmp_path / "kb.sqlite"
    load_d3fend(str(d3fend_ttl), db)
    before = db.read_bytes()
    bad = tmp_path / "bad.ttl"
    bad.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        load_d3fend(str(bad), db)
    assert "\n" not in str(caught.value)
    assert db.read_bytes() == before


def test_cli_errors_are_one_line_exit_2(tmp_path, d3fend_ttl):
    env = {"BREACHPATH_HOME": str(tmp_path)}
    assert run_cli("kb", "load", "--d3fend", str(d3fend_ttl), env=env).returncode == 0
    for args in (["kb", "show", "D3-NOPE"], ["kb", "countermeasures", "T9999"], ["kb", "countered-by", "T1102"]):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix : <http://x#> .\n:a :b ")
    result = run_cli("kb", "load", "--d3fend", str(bad), env=env)
    assert result.returncode == 2 and "line 2" in result.stderr


def test_cli_countermeasures_json_and_markdown(tmp_path, d3fend_ttl):
    import json

    env = {"BREACHPATH_HOME": str(tmp_path)}
    run_cli("kb", "load", "--d3fend", str(d3fend_ttl), env=env)
    data = json.loads(run_cli("kb", "countermeasures", "T1102", "T1584.006", "--format", "json", env=env).stdout)
    assert list(data) == ["T1102", "T1584.006"] and data["T1584.006"] == []
    assert all(set(row) == set(ROW_KEYS) for row in data["T1102"])
    markdown = run_cli("kb", "countermeasures", "T1584.006", env=env).stdout
    assert "no digital-artifact relations" in markdown
    every = json.loads(run_cli("kb", "countermeasures", "--all", "--format", "json", env=env).stdout)
    assert every["T1102"] == data["T1102"]
    page = run_cli("kb", "show", "T1584.006", "--d3fend", env=env).stdout
    assert page.startswith("# Web Services (T1584.006)") and "graph BT" in page


# -- the rules, one by one, on a hand-written ontology ------------------------------------------------

RULES_TTL = """
@prefix : <http://d3fend.mitre.org/ontologies/d3fend.owl#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

:may-be-associated-with a owl:ObjectProperty .
:associated-with a owl:ObjectProperty ; rdfs:subPropertyOf :may-be-associated-with .
:produces a owl:ObjectProperty ; rdfs:subPropertyOf :associated-with .
:analyzes a owl:ObjectProperty ; rdfs:subPropertyOf :associated-with .
:filters a owl:ObjectProperty ; rdfs:subPropertyOf :associated-with .
:unrelated-property a owl:ObjectProperty .
:enables a owl:ObjectProperty .

:DefensiveTactic a owl:Class .
:Detect a owl:Class, :DefensiveTactic ; rdfs:label "Detect" ; rdfs:subClassOf :DefensiveTactic .
:Isolate a owl:Class, :DefensiveTactic ; rdfs:label "Isolate" ; rdfs:subClassOf :DefensiveTactic .

:DigitalArtifact a owl:Class .
:NetworkTraffic a owl:Class ; rdfs:label "Network Traffic" ; rdfs:subClassOf :DigitalArtifact .
:WebTraffic a owl:Class ; rdfs:label "Web Traffic" ; rdfs:subClassOf :NetworkTraffic .
:File a owl:Class ; rdfs:subClassOf :DigitalArtifact .
:NotAnArtifact a owl:Class .

:DefensiveTechnique a owl:Class .
:TrafficAnalysis a owl:Class ; rdfs:subClassOf :DefensiveTechnique,
    [ a owl:Restriction ; owl:onProperty :enables ; owl:someValuesFrom :Detect ],
    [ a owl:Restriction ; owl:onProperty :analyzes ; owl:someValuesFrom :File ] ;
    :d3fend-id "D3-TA" .
:TrafficDeviation a owl:Class ; rdfs:subClassOf :TrafficAnalysis,
    [ a owl:Restriction ; owl:onProperty :analyzes ; owl:someValuesFrom :NetworkTraffic ] ;
    :d3fend-id "D3-TD" .
:WebFiltering a owl:Class ; rdfs:subClassOf :DefensiveTechnique,
    [ a owl:Restriction ; owl:onProperty :filters ; owl:someValuesFrom :WebTraffic ] ;
    :enables :Isolate ; :d3fend-id "D3-WF" .
:OddOne a owl:Class ; rdfs:subClassOf :DefensiveTechnique,
    [ a owl:Restriction ; owl:onProperty :unrelated-property ; owl:someValuesFrom :NetworkTraffic ],
    [ a owl:Restriction ; owl:onProperty :analyzes ; owl:someValuesFrom :NotAnArtifact ] ;
    :enables :Detect ; :d3fend-id "D3-ODD" .

:T1000 a owl:Class ; rdfs:label "Parent" ; :attack-id "T1000" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :produces ; owl:someValuesFrom :WebTraffic ] .
:T1000.001 a owl:Class ; rdfs:label "Child" ; :attack-id "T1000.001" ; rdfs:subClassOf :T1000 .
:T2000 a owl:Class ; rdfs:label "Alone" ; :attack-id "T2000" ;
    rdfs:subClassOf [ a owl:Restriction ; owl:onProperty :produces ; owl:someValuesFrom :File ] .
:T3000 a owl:Class ; rdfs:label "Nothing" ; :attack-id "T3000" .
"""


@pytest.fixture(scope="module")
def rules():
    return infer(read_ontology(RULES_TTL.encode(), "rules.ttl"))


def test_relation_matches_the_same_artifact_or_a_superclass(rules):
    pairs = {(r["defensive_technique"], r["defensive_artifact"]) for r in rules.countermeasures["T1000"]}
    # TrafficDeviation analyzes NetworkTraffic, a superclass of WebTraffic; WebFiltering filters WebTraffic itself.
    assert pairs == {("TrafficDeviation", "NetworkTraffic"), ("WebFiltering", "WebTraffic")}


def test_sub_technique_brings_its_parents_relations_and_parent_its_childrens(rules):
    child_rows = rules.countermeasures["T1000.001"]
    assert {r["offensive_technique"] for r in child_rows} == {"T1000"}
    assert {r["defensive_technique"] for r in child_rows} == {"TrafficDeviation", "WebFiltering"}


def test_defensive_relations_are_not_inherited(rules):
    # TrafficAnalysis analyzes File; its subclass TrafficDeviation must not inherit that relation.
    assert {r["defensive_technique"] for r in rules.countermeasures["T2000"]} == {"TrafficAnalysis"}


def test_restrictions_outside_the_rules_are_ignored(rules):
    everything = [r for rows in rules.countermeasures.values() for r in rows]
    assert "OddOne" not in {r["defensive_technique"] for r in everything}
    assert rules.countermeasures["T3000"] == []


def test_tactic_comes_from_the_nearest_enabling_ancestor(rules):
    assert rules.tactics["TrafficDeviation"] == ["Detect"]  # inherited from TrafficAnalysis (restriction)
    assert rules.tactics["WebFiltering"] == ["Isolate"]  # its own annotation


@pytest.mark.parametrize(("fmt", "suffix"), [(ox.RdfFormat.RDF_XML, ".owl"), (ox.RdfFormat.JSON_LD, ".json")])
def test_other_published_forms_give_the_same_answers(rules, fmt, suffix):
    quads = ox.parse(RULES_TTL.encode(), format=ox.RdfFormat.TURTLE)
    data = ox.serialize(quads, format=fmt)
    other = infer(read_ontology(data, f"d3fend{suffix}"))
    assert other.countermeasures == rules.countermeasures
    assert other.tactics == rules.tactics


def test_shared_ontology_parses_in_any_form(d3fend_ttl):
    """The real ontology round-trips through RDF/XML with the same inference (no hard-coded class lists)."""
    require_shared("data", "d3fend")
    data = d3fend_ttl.read_bytes()
    direct = infer(read_ontology(data, "d3fend.ttl"))
    xml = ox.serialize(ox.parse(data, format=ox.RdfFormat.TURTLE), format=ox.RdfFormat.RDF_XML)
    assert infer(read_ontology(xml, "d3fend.owl")).countermeasures == direct.countermeasures


def test_search_finds_d3fend_classes(kb_full):
    hits = kb_full.search("network traffic analysis", kind="d3fend", limit=5)
    assert hits[0]["id"] == "D3-NTA" and hits[0]["d3fend_kind"] == "defensive-technique"
    mixed = kb_full.search("network traffic filtering", limit=30)
    assert {"technique", "d3fend"} <= {h["type"] for h in mixed}
    # ATT&CK answers for ATT&CK techniques: D3FEND's copies of them are not repeated.
    assert not [h for h in mixed if h["type"] == "d3fend" and h["d3fend_kind"] == "offensive-technique"]
