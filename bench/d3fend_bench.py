"""Benchmark the D3FEND part of the knowledge base against rdflib on the same ontology, in the same run.

What is measured
----------------
Input: the D3FEND ontology (by default ``<shared>/data/d3fend/d3fend-protege.ttl``, where ``<shared>`` is
``$BREACHPATH_SHARED`` or the ``shared`` directory beside the repository; ``--ontology`` overrides it).

breachpath ("ours"), in fresh child processes of this interpreter (``--runs`` of each; times are medians,
peak RSS the largest ``ru_maxrss`` a child reports about itself):

* parse: ``read_ontology(data, origin)`` (the file is read into memory beforehand, untimed); seconds and
  the child's peak RSS right after it;
* inference for every ATT&CK technique: ``infer(onto)``; seconds, peak RSS, the number of ATT&CK
  techniques, how many have at least one countermeasure, the total number of countermeasure rows, and the
  T1102 answer (distinct defensive techniques and their tactics);
* in another child: the whole load, ``load_knowledge_base(db, d3fend=path)`` into a temporary SQLite file
  (parse, full inference and the write: the brief's "load plus full inference", target 2 s), then
  ``KnowledgeBase.open(db)`` and the queries ``countermeasures(["T1102"])``, ``countered_by("D3-NTA")``
  (which counters nothing by itself), ``countered_by("D3-NTCD")``, ``page("D3-NTCD")``,
  ``page("T1584.006", d3fend=True)`` and ``all_countermeasures()``, each timed on its first call and as the
  median of up to ``--repeat`` further calls (stopped early after ``--budget`` seconds per query).

Then, from this process, the end-to-end wall time of ``breachpath kb countermeasures T1102 --db DB`` with
``--format md`` and ``--format json`` (the console script beside ``sys.executable``), the median of
``--cli-runs`` runs, and the largest peak RSS among them (``os.wait4``); target 0.3 s.

rdflib ("peer"), installed into a throwaway venv (``--peer-venv``, by default
``<user cache>/breachpath-bench/rdflib-venv``; created on first use with ``python -m venv`` and pip, never a
project dependency). In ``--runs`` child processes of that venv's interpreter:

* parse: ``rdflib.Graph().parse(path, format="turtle")``; seconds and peak RSS;
* the same countermeasure inference, written here against rdflib's graph API (``transitive_subjects``,
  ``objects``, ``value``...), from the rules rather than from our code:

  - an artifact relation of a class is an OWL restriction ``[property some Artifact]`` (a blank node typed
    ``owl:Restriction``) among the class's own ``rdfs:subClassOf``, whose property is
    ``d3f:may-be-associated-with`` or a sub-property of it (transitively) and whose class is
    ``d3f:DigitalArtifact`` or a subclass of it (transitively);
  - an offensive technique (an ``owl:Class`` with a ``d3f:attack-id`` matching ``T\\d{4}(\\.\\d{3})?``, not a
    defensive technique) brings its own relations, its parent technique's and its sub-techniques'; a
    defensive technique (a subclass of ``d3f:DefensiveTechnique``, transitively) brings its own only;
  - they match when the defensive artifact is the offensive artifact or one of its named superclasses
    (transitively);
  - a defensive technique's tactic is that of its nearest ancestor-or-self (breadth first) that
    ``d3f:enables`` a defensive tactic, as a direct triple or as an ``[owl:onProperty d3f:enables;
    owl:someValuesFrom T]`` restriction; ties at the same distance are all kept;

  seconds and peak RSS for every ATT&CK technique;
* a one-shot process (``--peer-oneshot-runs``): parse, infer for T1102 only and print the rows as JSON,
  what a command-line lookup built on rdflib costs, set beside ``kb countermeasures T1102 --format json``.

The answers are compared so that a speed-up cannot hide a different answer: the sets of ``(attack_id,
defensive technique, defensive artifact, offensive artifact, offensive relation)`` tuples over all ATT&CK
techniques (the count of differences and a few examples), the full rows (with the defensive relation, the
tactic and the technique the relation came from), the tactics, the technique lists, and the T1102 answer.
The SQLite answers are checked against the in-memory inference too.

A single SPARQL query doing the whole join (property paths ``rdfs:subClassOf*`` on both ends) is the
textbook way to ask rdflib this, but rdflib's engine did not finish even the artifact-relation part of it in
ten minutes on this ontology, hence the graph API. The PyPI package ``countermap`` (a peer named in the
brief) is not used as a second peer: it does not infer countermeasures from the ontology at all (its
D3FEND ingest says so and reads MITRE's published ``d3fend-full-mappings.json`` instead, which is not
available offline here), and it pulls in ``mcp``, ``pydantic`` and ``jsonschema`` besides rdflib.

The output is a table (metric, breachpath, the brief's target, rdflib, peer/ours) and an "answers
compared" table, or JSON with ``--format json``. Nothing is asserted: this prints figures, it is not a
test. Run it with the project's venv:

    .venv/bin/python bench/d3fend_bench.py [--ontology PATH] [--format table|json] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    CHILD_RSS,
    Row,
    Timed,
    breachpath_script,
    default_venv,
    ensure_venv,
    log,
    metrics_table,
    print_json,
    run_child,
    shared_dir,
    time_process,
)

PEER_REQUIREMENT = "rdflib==7.6.0"
PEER_DISTRIBUTION = "rdflib"
PEER_VENV = "rdflib-venv"
TECHNIQUE = "T1102"
SUB_TECHNIQUE = "T1584.006"
DEFENSIVE_NONE = "D3-NTA"  # NetworkTrafficAnalysis: a parent technique with no artifact relation of its own
DEFENSIVE = "D3-NTCD"  # NetworkTrafficCommunityDeviation, one of T1102's countermeasures

TARGET_LOAD_S = 2.0
TARGET_CLI_S = 0.3

#: The order of a full countermeasure row as both children print it.
ROW_FIELDS = (
    "attack_id",
    "defensive_technique",
    "tactic",
    "defensive_relation",
    "defensive_artifact",
    "offensive_relation",
    "offensive_artifact",
    "offensive_technique",
)
#: The tuple the brief compares: (attack_id, defensive technique, defensive artifact, offensive artifact,
#: offensive relation), as indexes into a full row.
KEY_FIELDS = (0, 1, 4, 6, 5)

# Code shared by all children: peak RSS in MB and a first-call / repeated-median timer.
_CHILD_PRELUDE = (
    CHILD_RSS
    + r"""
import json, resource, statistics, sys, time

def measure(fn, repeat, budget):
    t = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}, None
    first = (time.perf_counter() - t) * 1000
    times = []
    stop = time.perf_counter() + budget
    while len(times) < repeat and (len(times) < 5 or time.perf_counter() < stop):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"first_ms": first, "median_ms": statistics.median(times), "runs": len(times)}, result
"""
)

# Ours, parse and inference only, in memory.
_OURS_INFER_CHILD = (
    _CHILD_PRELUDE
    + r"""
from pathlib import Path
path = sys.argv[1]
out = {"rss_start_mb": rss_mb()}
t = time.perf_counter()
from breachpath.kb.d3fend import infer, read_ontology
out["import_s"] = time.perf_counter() - t
data = Path(path).read_bytes()

t = time.perf_counter()
onto = read_ontology(data, path)
out["parse_s"] = time.perf_counter() - t
out["parse_rss_mb"] = rss_mb()

t = time.perf_counter()
inf = infer(onto)
out["infer_s"] = time.perf_counter() - t
out["infer_rss_mb"] = rss_mb()

out["techniques"] = sorted(inf.offensive)
out["defensive"] = len(inf.defensive)
out["rows"] = [
    [attack_id, r["defensive_technique"], r["tactic"], r["defensive_relation"], r["defensive_artifact"],
     r["offensive_relation"], r["offensive_artifact"], r["offensive_technique"]]
    for attack_id, rows in sorted(inf.countermeasures.items())
    for r in rows
]
out["tactics"] = {d: ", ".join(t) or None for d, t in inf.tactics.items()}
print(json.dumps(out))
"""
)

# Ours, the whole load into SQLite, then the queries on the knowledge base.
_OURS_LOAD_CHILD = (
    _CHILD_PRELUDE
    + r"""
path, db, repeat, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
technique, sub_technique, defensive_none, defensive = sys.argv[5:9]
out = {"rss_start_mb": rss_mb()}
t = time.perf_counter()
from breachpath.kb import KnowledgeBase, load_knowledge_base
out["import_s"] = time.perf_counter() - t

t = time.perf_counter()
report = load_knowledge_base(db, d3fend=path)
out["load_s"] = time.perf_counter() - t
out["load_rss_mb"] = rss_mb()
out["report"] = report.get("d3fend")

t = time.perf_counter()
kb = KnowledgeBase.open(db)
out["open_ms"] = (time.perf_counter() - t) * 1000

q = out["queries"] = {}
q["countermeasures"], res = measure(lambda: kb.countermeasures([technique]), repeat, budget)
if res is not None:
    rows = res[technique]
    q["countermeasures"]["answer"] = {
        "rows": len(rows),
        "techniques": sorted({(r["defensive_technique"], r["tactic"]) for r in rows}),
    }
for name, key in (("countered_by_none", defensive_none), ("countered_by", defensive)):
    q[name], res = measure(lambda key=key: kb.countered_by(key), repeat, budget)
    if res is not None:
        q[name]["answer"] = {
            "name": res["defensive_technique"]["name"],
            "techniques": len(res["techniques"]),
            "rows": sum(len(e["rows"]) for e in res["techniques"]),
        }
q["page_defensive"], res = measure(lambda: kb.page(defensive), repeat, budget)
if res is not None:
    q["page_defensive"]["answer"] = {"name": res.get("name"), "fields": len(res), "counters": len(res.get("counters", []))}
q["page_offensive"], res = measure(lambda: kb.page(sub_technique, d3fend=True), repeat, budget)
if res is not None:
    q["page_offensive"]["answer"] = {
        "name": res.get("name"), "fields": len(res), "countermeasures": len(res.get("countermeasures", []))
    }
q["all_countermeasures"], res = measure(lambda: kb.all_countermeasures(), repeat, budget)
if res is not None:
    q["all_countermeasures"]["answer"] = {
        "techniques": len(res),
        "with_countermeasures": sum(1 for rows in res.values() if rows),
        "rows": sum(len(rows) for rows in res.values()),
    }
out["end_rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

# The rules, on rdflib's graph API. ``countermeasures(g, only)`` returns everything the comparison needs.
_RDFLIB_INFERENCE = r"""
import re
from collections import defaultdict
from rdflib import BNode, Graph, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS

D3F = Namespace("http://d3fend.mitre.org/ontologies/d3fend.owl#")
TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")

def ln(term):
    text = str(term)
    return text.rsplit("#", 1)[-1] if "#" in text else text

def countermeasures(g, only=None):
    # rdfs:subClassOf*, downwards from a root, named classes only (the root included).
    def below(root, prop=RDFS.subClassOf):
        return {s for s in g.transitive_subjects(prop, root) if isinstance(s, URIRef)}

    artifacts = below(D3F.DigitalArtifact)
    associated = below(D3F["may-be-associated-with"], RDFS.subPropertyOf)
    defensive = below(D3F.DefensiveTechnique) - {D3F.DefensiveTechnique}
    tactic_nodes = below(D3F.DefensiveTactic) | set(g.subjects(RDF.type, D3F.DefensiveTactic))
    classes = {s for s in g.subjects(RDF.type, OWL.Class) if isinstance(s, URIRef)}

    def restrictions(cls):
        for node in g.objects(cls, RDFS.subClassOf):
            if isinstance(node, BNode) and (node, RDF.type, OWL.Restriction) in g:
                prop, target = g.value(node, OWL.onProperty), g.value(node, OWL.someValuesFrom)
                if prop is not None and isinstance(target, URIRef):
                    yield prop, target

    relations = {}
    for cls in {s for s, o in g.subject_objects(RDFS.subClassOf) if isinstance(s, URIRef) and isinstance(o, BNode)}:
        rels = [(p, a) for p, a in restrictions(cls) if p in associated and a in artifacts]
        if rels:
            relations[cls] = rels

    def named_parents(cls):
        return [p for p in g.objects(cls, RDFS.subClassOf) if isinstance(p, URIRef)]

    tactic_cache = {}
    def tactic_of(cls):
        if cls in tactic_cache:
            return tactic_cache[cls]
        frontier, seen, found = [cls], {cls}, set()
        while frontier and not found:
            for node in frontier:
                found.update(ln(t) for t in g.objects(node, D3F.enables) if t in tactic_nodes)
                found.update(ln(t) for p, t in restrictions(node) if p == D3F.enables and t in tactic_nodes)
            frontier = [p for n in frontier for p in named_parents(n) if p not in seen]
            seen.update(frontier)
        tactic_cache[cls] = ", ".join(sorted(found)) or None
        return tactic_cache[cls]

    offensive = defaultdict(set)
    for cls, value in g.subject_objects(D3F["attack-id"]):
        if cls in classes and cls not in defensive and TECHNIQUE_ID.match(str(value)):
            offensive[str(value)].add(cls)
    technique_classes = set().union(*offensive.values()) if offensive else set()

    def attack_id_of(cls):
        ids = sorted(str(v) for v in g.objects(cls, D3F["attack-id"]))
        return ids[0] if ids else None

    by_artifact = defaultdict(list)
    for d in defensive:
        for prop, artifact in relations.get(d, ()):
            by_artifact[artifact].append((d, prop))

    rows = set()
    wanted = [only] if only else sorted(offensive)
    for attack_id in wanted:
        for cls in offensive.get(attack_id, ()):
            sources = {cls}
            sources.update(p for p in named_parents(cls) if p in technique_classes)
            sources.update(c for c in g.subjects(RDFS.subClassOf, cls) if c in technique_classes)
            for source in sources:
                source_id = attack_id_of(source)
                for prop, artifact in relations.get(source, ()):
                    for match in g.transitive_objects(artifact, RDFS.subClassOf):
                        if not isinstance(match, URIRef):
                            continue
                        for d, dprop in by_artifact.get(match, ()):
                            rows.add((attack_id, ln(d), tactic_of(d), ln(dprop), ln(match), ln(prop), ln(artifact), source_id))
    return {
        "techniques": sorted(offensive),
        "shared_ids": {k: sorted(ln(c) for c in v) for k, v in offensive.items() if len(v) > 1},
        "defensive": len(defensive),
        "rows": sorted(rows, key=lambda r: tuple(x or "" for x in r)),
        "tactics": {ln(d): tactic_of(d) for d in defensive} if only is None else {},
    }
"""

_PEER_CHILD = (
    _CHILD_PRELUDE
    + r"""
path = sys.argv[1]
out = {"rss_start_mb": rss_mb()}
t = time.perf_counter()
import rdflib
out["import_s"] = time.perf_counter() - t
out["version"] = rdflib.__version__
"""
    + _RDFLIB_INFERENCE
    + r"""

t = time.perf_counter()
g = rdflib.Graph().parse(path, format="turtle")
out["parse_s"] = time.perf_counter() - t
out["parse_rss_mb"] = rss_mb()
out["triples"] = len(g)

t = time.perf_counter()
result = countermeasures(g)
out["infer_s"] = time.perf_counter() - t
out["infer_rss_mb"] = rss_mb()
out.update(result)
print(json.dumps(out))
"""
)

# One command-line lookup on the peer: parse, infer for one technique, print its rows as JSON.
_PEER_ONESHOT = (
    _RDFLIB_INFERENCE
    + r"""
import json, sys
g = Graph().parse(sys.argv[1], format="turtle")
rows = countermeasures(g, sys.argv[2])["rows"]
fields = ("defensive_technique", "tactic", "defensive_relation", "defensive_artifact",
          "offensive_relation", "offensive_artifact", "offensive_technique")
print(json.dumps({sys.argv[2]: [dict(zip(fields, r[1:])) for r in rows]}, indent=2))
"""
)


@dataclass
class Results:
    """Everything the run measured, ready to print as a table or JSON."""

    ontology: str
    peer_version: str | None = None
    rows: list[Row] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ours_raw: dict[str, Any] = field(default_factory=dict)
    peer_raw: dict[str, Any] | None = None


# -- locating inputs ---------------------------------------------------------------------------------


def default_ontology() -> Path:
    return shared_dir() / "data" / "d3fend" / "d3fend-protege.ttl"


# -- running the children ------------------------------------------------------------------------------


def combine(runs: list[dict[str, Any]], nested: frozenset[str] = frozenset({"queries"})) -> dict[str, Any]:
    """Several runs of one child as one: medians of times (``*_s``, ``*_ms``), the largest ``*_mb``, the
    first run's answers. Dicts named in ``nested`` (and the dicts inside them) are combined likewise."""
    first = runs[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        values = [r[key] for r in runs if key in r]
        if key in nested and all(isinstance(v, dict) for v in values):
            inner = frozenset(k for k, v in value.items() if isinstance(v, dict) and k != "answer")
            out[key] = combine(values, inner)
        elif isinstance(value, int | float) and not isinstance(value, bool) and key.endswith(("_s", "_ms")):
            out[key] = statistics.median(values)
        elif isinstance(value, int | float) and not isinstance(value, bool) and key.endswith("_mb"):
            out[key] = max(values)
        else:
            out[key] = value
    return out


def run_child_times(argv_for: list[list[str]], what: str) -> dict[str, Any]:
    """Run the child once per argv (fresh processes) and combine the figures."""
    return {**combine([run_child(argv, what) for argv in argv_for]), "child_runs": len(argv_for)}


# -- comparing the answers -----------------------------------------------------------------------------

Tuple = tuple[str | None, ...]


def _keys(rows: list[list[str | None]], fields: tuple[int, ...] | None = None) -> set[Tuple]:
    if fields is None:
        return {tuple(r) for r in rows}
    return {tuple(r[i] for i in fields) for r in rows}


def _diff(mine: set[Tuple], theirs: set[Tuple], examples: int = 5) -> dict[str, Any]:
    def show(items: set[Tuple]) -> list[list[str | None]]:
        return [list(t) for t in sorted(items, key=lambda t: tuple(x or "" for x in t))[:examples]]

    only_ours, only_peer = mine - theirs, theirs - mine
    return {
        "ours": len(mine),
        "peer": len(theirs),
        "only_ours": len(only_ours),
        "only_peer": len(only_peer),
        "examples_only_ours": show(only_ours),
        "examples_only_peer": show(only_peer),
    }


def _t1102(rows: list[list[str | None]]) -> tuple[set[tuple[str | None, str | None]], str]:
    """T1102's distinct (defensive technique, tactic) pairs, and a one-line summary of them."""
    pairs = {(r[1], r[2]) for r in rows if r[0] == TECHNIQUE}
    tactics = Counter(t or "no tactic" for _, t in pairs)
    summary = f"{len({d for d, _ in pairs})} ({', '.join(f'{n} {t}' for t, n in tactics.most_common())})"
    return pairs, summary


def compare(ours: dict[str, Any], peer: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The "answers compared" rows and the differences (with examples) behind them."""
    answers: list[dict[str, Any]] = []
    diffs: dict[str, Any] = {}
    my_rows, their_rows = ours["rows"], peer["rows"] if peer else None

    def add(label: str, mine: Any, theirs: Any, same: bool | None, key: str | None = None) -> None:
        answers.append({"answer": label, "breachpath": mine, "rdflib": theirs, "same": same, "diff": key})

    def add_set(label: str, key: str, mine: set[Tuple], theirs: set[Tuple] | None) -> None:
        if theirs is None:
            add(label, len(mine), None, None)
            return
        d = diffs[key] = _diff(mine, theirs)
        add(label, len(mine), len(theirs), not d["only_ours"] and not d["only_peer"], key)

    techniques = {(t,) for t in ours["techniques"]}
    add_set(
        "ATT&CK techniques in the ontology",
        "techniques",
        techniques,
        {(t,) for t in peer["techniques"]} if peer else None,
    )
    with_cm = {(r[0],) for r in my_rows}
    add_set(
        "techniques with ≥ 1 countermeasure",
        "with_countermeasures",
        with_cm,
        {(r[0],) for r in their_rows} if their_rows is not None else None,
    )
    add_set(
        "countermeasure rows (all 8 fields)",
        "rows",
        _keys(my_rows),
        _keys(their_rows) if their_rows is not None else None,
    )
    add_set(
        "(attack_id, defensive technique, def. artifact, off. artifact, off. relation)",
        "tuples",
        _keys(my_rows, KEY_FIELDS),
        _keys(their_rows, KEY_FIELDS) if their_rows is not None else None,
    )
    mine_t = {(d, t) for d, t in ours["tactics"].items()}
    add_set(
        "defensive techniques with their tactic",
        "tactics",
        mine_t,
        {(d, t) for d, t in peer["tactics"].items()} if peer else None,
    )
    pairs, summary = _t1102(my_rows)
    if their_rows is not None:
        their_pairs, their_summary = _t1102(their_rows)
        diffs["t1102"] = _diff(pairs, their_pairs)
        add(
            f"{TECHNIQUE}: defensive techniques (brief: 10; 8 Detect, 2 Isolate)",
            summary,
            their_summary,
            pairs == their_pairs,
            "t1102",
        )
    else:
        add(f"{TECHNIQUE}: defensive techniques (brief: 10; 8 Detect, 2 Isolate)", summary, None, None)
    if peer is not None:
        shared = peer.get("shared_ids") or {}
        add("ATT&CK ids on more than one class", None, json.dumps(shared)[:200] if shared else "none", None)
    return answers, diffs


def sqlite_checks(infer: dict[str, Any], load: dict[str, Any]) -> list[dict[str, Any]]:
    """The knowledge base's answers against the in-memory inference of the other child."""
    checks: list[dict[str, Any]] = []
    rows = infer["rows"]
    queries = load.get("queries", {})
    cm = queries.get("countermeasures", {}).get("answer")
    if cm is not None:
        in_memory = sorted([list(p) for p in {(r[1], r[2]) for r in rows if r[0] == TECHNIQUE}])
        mine = f"{cm['rows']} rows, {len({d for d, _ in cm['techniques']})} techniques"
        theirs = f"{sum(1 for r in rows if r[0] == TECHNIQUE)} rows, {len(in_memory)} techniques"
        checks.append(
            {
                "answer": f"kb.countermeasures([{TECHNIQUE!r}]) vs infer()",
                "breachpath": mine,
                "rdflib": f"in memory: {theirs}",
                "same": mine == theirs and sorted(map(list, cm["techniques"])) == in_memory,
                "diff": None,
            }
        )
    every = queries.get("all_countermeasures", {}).get("answer")
    if every is not None:
        with_cm = len({r[0] for r in rows})
        mine = f"{every['techniques']} techniques, {every['with_countermeasures']} with, {every['rows']} rows"
        theirs = f"{len(infer['techniques'])} techniques, {with_cm} with, {len(rows)} rows"
        checks.append(
            {
                "answer": "kb.all_countermeasures() vs infer()",
                "breachpath": mine,
                "rdflib": f"in memory: {theirs}",
                "same": mine == theirs,
                "diff": None,
            }
        )
    return checks


# -- assembling the figures ----------------------------------------------------------------------------

_QUERIES: list[tuple[str, str]] = [
    ("countermeasures", f"countermeasures([{TECHNIQUE!r}])"),
    ("countered_by_none", f"countered_by({DEFENSIVE_NONE!r})"),
    ("countered_by", f"countered_by({DEFENSIVE!r})"),
    ("page_defensive", f"page({DEFENSIVE!r})"),
    ("page_offensive", f"page({SUB_TECHNIQUE!r}, d3fend=True)"),
    ("all_countermeasures", "all_countermeasures()"),
]


def _answer_note(key: str, answer: dict[str, Any] | None) -> str:
    if not answer:
        return ""
    if key == "countermeasures":
        return f"{answer['rows']} rows, {len(answer['techniques'])} (technique, tactic)"
    if key.startswith("countered_by"):
        return f"{answer['name']}: {answer['techniques']} ATT&CK techniques, {answer['rows']} rows"
    if key == "page_defensive":
        return f"{answer['name']}: {answer['fields']} fields, counters {answer['counters']}"
    if key == "page_offensive":
        return f"{answer['name']}: {answer['fields']} fields, {answer['countermeasures']} countermeasure rows"
    return f"{answer['techniques']} techniques, {answer['with_countermeasures']} with, {answer['rows']} rows"


def build_results(
    ontology: Path,
    infer: dict[str, Any],
    load: dict[str, Any],
    peer: dict[str, Any] | None,
    cli: dict[str, Timed],
    peer_oneshot: Timed | None,
    notes: list[str],
) -> Results:
    def strip(raw: dict[str, Any] | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        return {k: v for k, v in raw.items() if k not in ("rows", "tactics", "techniques")}

    res = Results(
        ontology=str(ontology),
        peer_version=peer.get("version") if peer else None,
        ours_raw={"infer": strip(infer), "load": load},
        peer_raw=strip(peer),
        notes=notes,
    )
    rows = res.rows
    runs = f"median of {infer.get('child_runs', 1)} / {peer.get('child_runs', 1)} processes" if peer else ""
    rows.append(
        Row("import", "s", infer["import_s"], peer["import_s"] if peer else None, note="breachpath.kb.d3fend / rdflib")
    )
    rows.append(
        Row(
            "parse ontology",
            "s",
            infer["parse_s"],
            peer["parse_s"] if peer else None,
            note="read_ontology(bytes) / Graph().parse(turtle); " + runs,
        )
    )
    rows.append(Row("peak RSS after parse", "MB", infer["parse_rss_mb"], peer["parse_rss_mb"] if peer else None))
    rows.append(
        Row(
            "infer, every ATT&CK technique",
            "s",
            infer["infer_s"],
            peer["infer_s"] if peer else None,
            note="infer(onto) / the same rules on rdflib's graph API",
        )
    )
    rows.append(
        Row(
            "parse + infer",
            "s",
            infer["parse_s"] + infer["infer_s"],
            peer["parse_s"] + peer["infer_s"] if peer else None,
        )
    )
    rows.append(Row("peak RSS after inference", "MB", infer["infer_rss_mb"], peer["infer_rss_mb"] if peer else None))
    rows.append(
        Row(
            "load into SQLite (parse + infer + write)",
            "s",
            load["load_s"],
            None,
            TARGET_LOAD_S,
            f"load_knowledge_base(db, d3fend=...); median of {load.get('child_runs', 1)}",
        )
    )
    rows.append(Row("peak RSS, load", "MB", load["load_rss_mb"], note="child's ru_maxrss right after the load"))
    rows.append(Row("KnowledgeBase.open", "ms", load["open_ms"]))
    for key, label in _QUERIES:
        q = load["queries"].get(key, {})
        if "error" in q:
            rows.append(Row(label, "ms", None, note=f"failed: {q['error']}"))
            continue
        rows.append(Row(f"{label}, first", "ms", q["first_ms"], note=_answer_note(key, q.get("answer"))))
        rows.append(Row(f"{label}, median", "ms", q["median_ms"], note=f"runs: {q['runs']}"))
    rows.append(Row("peak RSS, after queries", "MB", load["end_rss_mb"]))
    for fmt, timed in cli.items():
        if not timed.times:
            continue
        peer_value = None
        note = f"median of {len(timed.times)}, min {min(timed.times):.3f} s"
        if fmt == "json" and peer_oneshot:
            peer_value = peer_oneshot.median
            note += f"; peer: parse + infer {TECHNIQUE} + print ({len(peer_oneshot.times)} run)"
        rows.append(
            Row(f"kb countermeasures {TECHNIQUE} --format {fmt}", "s", timed.median, peer_value, TARGET_CLI_S, note)
        )
        if fmt == "json":
            rows.append(
                Row(
                    "peak RSS, kb countermeasures process",
                    "MB",
                    timed.rss_mb,
                    peer_oneshot.rss_mb if peer_oneshot else None,
                    note="os.wait4 of the process",
                )
            )
    res.answers, res.differences = compare(infer, peer)
    res.answers += sqlite_checks(infer, load)
    return res


# -- printing ------------------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    peer_label = f"rdflib {res.peer_version}" if res.peer_version else "rdflib (skipped)"
    console.print(metrics_table(res.rows, f"breachpath D3FEND vs rdflib on {res.ontology}", peer_label))

    answers = Table(title="answers compared", title_justify="left")
    for name in ("answer", "breachpath", "rdflib", "same"):
        answers.add_column(name)
    for a in res.answers:
        same = {True: "yes", False: "NO", None: "—"}[a["same"]]
        d = res.differences.get(a.get("diff") or "")
        if d and a["same"] is False:
            same += f" ({d['only_ours']} only ours, {d['only_peer']} only rdflib)"
        mine, theirs = a["breachpath"], a["rdflib"]
        answers.add_row(a["answer"], "—" if mine is None else str(mine), "—" if theirs is None else str(theirs), same)
    console.print(answers)
    for key, d in res.differences.items():
        for side, label in (("examples_only_ours", "only breachpath"), ("examples_only_peer", "only rdflib")):
            for example in d[side]:
                console.print(f"{key}, {label}: {tuple(example)}", highlight=False)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--ontology", type=Path, default=None, help="D3FEND ontology (.ttl)")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per child, medians taken (default 3)")
    parser.add_argument("--repeat", type=int, default=200, help="repeated calls per query (default 200)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of repeats per query at most (default 3)")
    parser.add_argument("--cli-runs", type=int, default=10, help="runs of each `kb countermeasures` (default 10)")
    parser.add_argument("--peer-oneshot-runs", type=int, default=1, help="runs of the rdflib one-shot (default 1)")
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for rdflib")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ontology = (args.ontology or default_ontology()).resolve()
    if not ontology.is_file():
        log(f"no ontology at {ontology}; pass --ontology PATH or set BREACHPATH_SHARED")
        return 2
    runs = max(1, args.runs)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="d3fend-bench-") as tmp:
        workdir = Path(tmp)
        dbs = [workdir / f"kb-{i}.sqlite" for i in range(runs)]
        try:
            log(f"breachpath: parse + infer in {runs} child process(es) ...")
            infer = run_child_times(
                [[sys.executable, "-c", _OURS_INFER_CHILD, str(ontology)]] * runs, "breachpath infer"
            )
            log(f"breachpath: load into SQLite and query in {runs} child process(es) ...")
            load = run_child_times(
                [
                    [
                        sys.executable,
                        "-c",
                        _OURS_LOAD_CHILD,
                        str(ontology),
                        str(db),
                        str(args.repeat),
                        str(args.budget),
                        TECHNIQUE,
                        SUB_TECHNIQUE,
                        DEFENSIVE_NONE,
                        DEFENSIVE,
                    ]
                    for db in dbs
                ],
                "breachpath load",
            )
        except RuntimeError as exc:
            log(str(exc))
            return 1

        cli: dict[str, Timed] = {}
        script = breachpath_script()
        if script is None:
            notes.append("no `breachpath` console script beside this interpreter: `kb countermeasures` not timed")
        else:
            for fmt in ("md", "json"):
                log(f"breachpath: `kb countermeasures {TECHNIQUE} --format {fmt}` x {args.cli_runs} ...")
                argv_cli = [str(script), "kb", "countermeasures", TECHNIQUE, "--db", str(dbs[0]), "--format", fmt]
                times, rss, error = time_process(argv_cli, args.cli_runs, workdir)
                if error:
                    notes.append(f"`kb countermeasures --format {fmt}` failed: {error}")
                    times = []
                cli[fmt] = Timed(times, rss)

        peer: dict[str, Any] | None = None
        peer_oneshot: Timed | None = None
        if args.no_peer:
            notes.append("peer skipped (--no-peer)")
        else:
            python, why = ensure_venv(
                args.peer_venv or default_venv(PEER_VENV), PEER_REQUIREMENT, PEER_DISTRIBUTION, takes="a few seconds"
            )
            if python is None:
                log(f"skipping the peer: {why}")
                notes.append(f"peer skipped: {why}")
            else:
                log(f"rdflib: parse + infer in {runs} child process(es) (slow) ...")
                try:
                    peer = run_child_times([[str(python), "-c", _PEER_CHILD, str(ontology)]] * runs, "rdflib")
                except RuntimeError as exc:
                    log(str(exc))
                    notes.append("peer skipped: its child failed (see stderr)")
                if args.peer_oneshot_runs > 0:
                    log(f"rdflib: one-shot {TECHNIQUE} lookup process x {args.peer_oneshot_runs} ...")
                    argv_oneshot = [str(python), "-c", _PEER_ONESHOT, str(ontology), TECHNIQUE]
                    times, rss, error = time_process(argv_oneshot, args.peer_oneshot_runs, workdir)
                    if error:
                        notes.append(f"rdflib one-shot failed: {error}")
                    peer_oneshot = Timed(times, rss) if times else None

    notes.append(
        f"{DEFENSIVE_NONE} (NetworkTrafficAnalysis) has no artifact relation of its own, so it counters nothing; "
        f"its sub-technique {DEFENSIVE} is queried as well"
    )
    notes.append("query medians stop early after --budget seconds per query (at least 5 runs)")
    notes.append(
        "countermap (PyPI) is no second peer: it runs no countermeasure inference of its own but reads MITRE's "
        "published d3fend-full-mappings.json, which is not available offline"
    )
    res = build_results(ontology, infer, load, peer, cli, peer_oneshot, notes)
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
