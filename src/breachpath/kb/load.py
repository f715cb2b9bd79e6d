"""Build the knowledge base (``breachpath kb load``): ATT&CK bundles and the D3FEND ontology."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson

from breachpath.errors import InputError
from breachpath.kb.sources import NotifyFn, ProgressFn, _quiet, fetch_attack, fetch_d3fend
from breachpath.kb.stix import merge_bundles, read_bundle
from breachpath.kb.store import PartWriter, default_db_path, rebuild, writable_target, write_attack


def load_knowledge_base(
    db_path: Path | str | None = None,
    attack: list[str] | None = None,
    d3fend: str | None = None,
    evidence: str | Path | None = None,
    progress: ProgressFn = _quiet,
    notify: NotifyFn = _quiet,
    stage: NotifyFn = _quiet,
) -> dict:
    """Load the parts named (``attack``: a list of ``--attack`` specs, ``[]`` for the default sources;
    ``d3fend``: a file or URL; ``evidence``: a catalog directory of estimate files) into a new knowledge base,
    keep the other parts of the old one, and swap it in atomically. Returns a report per part. On any error
    the previous file is untouched.
    """
    if attack is None and d3fend is None and evidence is None:
        raise InputError("nothing to load: name --attack, --d3fend and/or --evidence")
    started = time.perf_counter()
    db_path = Path(db_path) if db_path else default_db_path()
    writable_target(db_path)  # a --db that can never be written is refused before any input is read
    writers: dict[str, PartWriter] = {}
    report: dict = {"path": str(db_path)}
    if attack is not None:
        stage("fetching ATT&CK")
        fetched = fetch_attack(attack, progress, notify)
        stage("parsing ATT&CK")
        bundles = [read_bundle(f.data, f.origin, f.version_hint) for f in fetched]
        by_domain: dict[str, str] = {}
        for bundle in bundles:
            if bundle.domain in by_domain:
                first = by_domain[bundle.domain]
                raise InputError(
                    f"{bundle.origin}: a second {bundle.domain} bundle (the first is {first}); load one per domain"
                )
            by_domain[bundle.domain] = bundle.origin
        catalog = merge_bundles(bundles)
        del bundles, fetched
        writers["attack"] = write_attack(catalog, attack or ["default"])
        report["attack"] = {
            "domains": catalog.domains,
            "objects": len(catalog.objects),
            "links": len(catalog.links),
            "dropped_links": catalog.dropped_links,
        }
    if d3fend is not None:
        from breachpath.kb.d3fend import infer, read_ontology

        stage("fetching D3FEND")
        fetched_d3fend = fetch_d3fend(d3fend, progress, notify)
        stage("parsing D3FEND")
        onto = read_ontology(fetched_d3fend.data, fetched_d3fend.origin)
        stage("inferring countermeasures")
        inference = infer(onto)
        summary = d3fend_summary(onto, inference, fetched_d3fend.origin, fetched_d3fend.version_hint)
        writers["d3fend"] = write_d3fend(onto, inference, summary)
        report["d3fend"] = summary
    if evidence is not None:
        from breachpath.evidence.catalog import load_catalog

        stage("reading estimates")
        estimates = load_catalog(Path(evidence))
        writers["evidence"] = write_evidence(estimates, str(evidence))
        report["evidence"] = {"source": str(evidence), "estimates": len(estimates)}
    stage("writing")
    rebuild(db_path, writers, notify)
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report


def load_attack(
    specs: list[str] | None = None,
    db_path: Path | str | None = None,
    progress: ProgressFn = _quiet,
    notify: NotifyFn = _quiet,
    stage: NotifyFn = _quiet,
) -> dict:
    """Load ATT&CK only (``specs`` None or empty: the default sources), keeping any D3FEND part."""
    report = load_knowledge_base(db_path, attack=list(specs or []), progress=progress, notify=notify, stage=stage)
    return {"path": report["path"], "seconds": report["seconds"], **report["attack"]}


def load_d3fend(spec: str, db_path: Path | str | None = None, notify: NotifyFn = _quiet) -> dict:
    """Load the D3FEND ontology only, keeping the ATT&CK part."""
    report = load_knowledge_base(db_path, d3fend=spec, notify=notify)
    return {"path": report["path"], "seconds": report["seconds"], **report["d3fend"]}


def d3fend_summary(onto, inference, origin: str, source_note: str | None = None) -> dict:
    return {
        "source": origin,
        "source_note": source_note,
        "version": onto.version,
        "classes": len(onto.classes),
        "defensive_techniques": len(inference.defensive),
        "attack_techniques": len(inference.offensive),
        "digital_artifacts": len(inference.artifacts),
        "countermeasure_rows": sum(len(rows) for rows in inference.countermeasures.values()),
        "techniques_with_countermeasures": sum(1 for rows in inference.countermeasures.values() if rows),
    }


def _class_kind(name: str, onto, inference, offensive_classes: set[str]) -> str:
    types = onto.nodes.get(name, {}).get("types", ())
    if name in inference.defensive:
        return "defensive-technique"
    if name in offensive_classes:
        return "offensive-technique"
    if "DefensiveTactic" in types:
        return "defensive-tactic"
    if "OffensiveTactic" in types:
        return "offensive-tactic"
    if name in inference.artifacts:
        return "digital-artifact"
    return "class"


def _references(onto, name: str) -> list[dict]:
    refs = []
    for ref in onto.nodes.get(name, {}).get("references", ()):
        key = ref.rsplit("#", 1)[-1]
        node = onto.nodes.get(key, {})
        entry = {"id": key}
        for field in ("title", "url", "authors", "organization", "abstract", "mitre_analysis"):
            values = node.get(field)
            if values:
                entry[field] = values[0] if field != "authors" else sorted(values)
        types = [t for t in node.get("types", ()) if t.endswith("Reference")]
        if types:
            entry["kind"] = types[0]
        refs.append(entry)
    return sorted(refs, key=lambda r: r.get("title", r["id"]))


def write_d3fend(onto, inference, summary: dict) -> PartWriter:
    """A part writer for D3FEND classes, relations, properties and the inferred countermeasures."""

    def write(con: sqlite3.Connection) -> dict:
        dumps = orjson.dumps
        offensive_classes = set(inference.offensive.values())
        class_rows = []
        for n, name in enumerate(sorted(onto.classes), start=1):
            node = onto.nodes.get(name, {})
            data = {
                "synonyms": sorted(set(node.get("synonyms", ()))),
                "examples": node.get("examples", []),
                "kb_article": (node.get("kb_article") or [None])[0],
                "references": _references(onto, name),
                "comments": node.get("comments", []),
                "see_also": node.get("see_also", []),
                "defined_by": node.get("defined_by", []),
                "cwe_id": node.get("cwe_id", []),
            }
            tactics = inference.tactics.get(name)
            class_rows.append(
                (
                    n,
                    name,
                    (node.get("uri") or [name])[0],
                    onto.label(name),
                    onto.first(name, "d3fend_id"),
                    onto.first(name, "attack_id"),
                    _class_kind(name, onto, inference, offensive_classes),
                    ", ".join(tactics) if tactics else None,
                    onto.first(name, "definition") or "",
                    int(any(v.lower() == "true" for v in node.get("deprecated", ()))),
                    dumps(onto.parents.get(name, [])).decode(),
                    dumps(data).decode(),
                )
            )
        con.executemany("INSERT INTO d3f_classes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", class_rows)
        con.executemany(
            "INSERT INTO d3f_relations VALUES (?,?,?,?)",
            (
                (cls, prop, target, int((prop, target) in inference.relations.get(cls, ())))
                for cls, rels in onto.restrictions.items()
                if cls in onto.classes
                for prop, target in rels
            ),
        )
        con.executemany(
            "INSERT INTO d3f_properties VALUES (?,?,?,?)",
            ((p, i["label"], i["definition"], dumps(i["parents"]).decode()) for p, i in onto.properties.items()),
        )
        con.executemany(
            "INSERT INTO d3f_countermeasures VALUES (?,?,?,?,?,?,?,?,?)",
            ((attack_id, *row.values()) for attack_id, rows in inference.countermeasures.items() for row in rows),
        )
        con.executemany(
            "INSERT INTO d3f_offensive VALUES (?,?,?)",
            (
                (
                    attack_id,
                    cls,
                    dumps(
                        [
                            {
                                "class": s,
                                "role": role,
                                "attack_id": onto.first(s, "attack_id"),
                                "relations": inference.relations.get(s, []),
                            }
                            for s, role in inference.offensive_sources[attack_id]
                        ]
                    ).decode(),
                )
                for attack_id, cls in inference.offensive.items()
            ),
        )
        return summary

    return write


def write_evidence(estimates, source: str) -> PartWriter:
    """A part writer for the estimates of an evidence catalog."""

    def write(con: sqlite3.Connection) -> dict:
        con.executemany(
            "INSERT INTO estimates VALUES (?,?,?,?,?,?)",
            ((e.key, e.attack_id, e.step, e.name, e.result, orjson.dumps(e.to_dict()).decode()) for e in estimates),
        )
        return {"source": source, "estimates": len(estimates)}

    return write
