"""Read the MITRE D3FEND ontology and infer which defensive techniques counter which ATT&CK techniques.

The ontology is parsed with pyoxigraph (Turtle, RDF/XML or JSON-LD) into plain dicts; nothing here does file
or network I/O. Nothing is hard-coded about its content beyond the names of the few anchor classes and
properties the D3FEND model itself defines (``DefensiveTechnique``, ``DigitalArtifact``,
``may-be-associated-with``, ``enables``, ``d3fend-id``, ``attack-id``...), so any release loads.

Countermeasure inference (D3FEND's "digital artifact" join):

* an *artifact relation* of a class is an OWL restriction ``[property some Artifact]`` among the class's own
  ``rdfs:subClassOf`` (not inherited), whose property is ``may-be-associated-with`` or a sub-property of it
  and whose class is ``DigitalArtifact`` or a subclass of it;
* an offensive technique (a class with an ATT&CK technique id) brings its own relations, its parent
  technique's and its sub-techniques'; a defensive technique brings its own only;
* they match when the defensive artifact is the offensive artifact or one of its superclasses;
* a defensive technique's tactic is that of its nearest ancestor-or-self that ``enables`` a tactic.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import pyoxigraph as ox

from breachpath.errors import InputError
from breachpath.kb.stix import unwrap

D3F = "http://d3fend.mitre.org/ontologies/d3fend.owl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"

_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")

#: Literal (and IRI) annotations kept per class or individual: predicate → our key.
_ANNOTATIONS = {
    RDFS + "label": "label",
    D3F + "d3fend-id": "d3fend_id",
    D3F + "attack-id": "attack_id",
    D3F + "definition": "definition",
    D3F + "kb-article": "kb_article",
    D3F + "synonym": "synonyms",
    SKOS + "altLabel": "synonyms",
    SKOS + "example": "examples",
    D3F + "kb-reference": "references",
    D3F + "enables": "enables",
    RDFS + "comment": "comments",
    D3F + "comment": "comments",
    RDFS + "seeAlso": "see_also",
    RDFS + "isDefinedBy": "defined_by",
    OWL + "deprecated": "deprecated",
    D3F + "display-order": "display_order",
    D3F + "cwe-id": "cwe_id",
    D3F + "capec-id": "capec_id",
    # reference individuals
    D3F + "kb-reference-title": "title",
    D3F + "has-link": "url",
    D3F + "kb-author": "authors",
    D3F + "kb-organization": "organization",
    D3F + "kb-abstract": "abstract",
    D3F + "kb-mitre-analysis": "mitre_analysis",
    D3F + "definition-source": "definition_source",
    OWL + "versionInfo": "version",
    OWL + "versionIRI": "version_iri",
    D3F + "release-date": "release_date",
}

_FORMATS = {
    ".ttl": ox.RdfFormat.TURTLE,
    ".owl": ox.RdfFormat.RDF_XML,
    ".rdf": ox.RdfFormat.RDF_XML,
    ".xml": ox.RdfFormat.RDF_XML,
    ".json": ox.RdfFormat.JSON_LD,
    ".jsonld": ox.RdfFormat.JSON_LD,
}


def local_name(uri: str) -> str:
    """``http://d3fend.mitre.org/ontologies/d3fend.owl#NetworkTrafficAnalysis`` → ``NetworkTrafficAnalysis``."""
    return uri.rsplit("#", 1)[-1] if "#" in uri else uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Ontology:
    """The parts of D3FEND that breachpath uses, keyed by class local name."""

    origin: str
    version: str | None
    #: name → {"uri", annotation lists (label, definition, ...), "types"}
    nodes: dict[str, dict]
    #: name → named superclasses
    parents: dict[str, list[str]]
    #: name → [(property name, target class name)] from its own subClassOf restrictions
    restrictions: dict[str, list[tuple[str, str]]]
    #: property name → {"label", "definition", "parents"}
    properties: dict[str, dict]
    classes: set[str] = field(default_factory=set)
    _ancestors: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def ancestors(self, name: str) -> set[str]:
        """``name`` and all its named superclasses (rdfs:subClassOf, transitively; cycles tolerated)."""
        cached = self._ancestors.get(name)
        if cached is not None:
            return cached
        seen = {name}
        stack = [name]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        self._ancestors[name] = seen
        return seen

    def first(self, name: str, key: str) -> str | None:
        values = self.nodes.get(name, {}).get(key)
        return sorted(values)[0] if values else None

    def label(self, name: str) -> str:
        return self.first(name, "label") or name

    def descendants(self, root: str) -> set[str]:
        return {c for c in self.classes if root in self.ancestors(c)}

    def sub_properties(self, root: str) -> set[str]:
        """``root`` and every property below it (rdfs:subPropertyOf, transitively)."""
        children: dict[str, set[str]] = defaultdict(set)
        for prop, info in self.properties.items():
            for parent in info["parents"]:
                children[parent].add(prop)
        found, stack = set(), [root]
        while stack:
            prop = stack.pop()
            if prop not in found:
                found.add(prop)
                stack.extend(children[prop])
        return found

    def tactic_of(self, name: str) -> list[str]:
        """Tactics enabled by the nearest ancestor-or-self that enables any (breadth-first, by distance)."""
        frontier, seen = [name], {name}
        while frontier:
            found = set()
            for node in frontier:
                found.update(local_name(t) for t in self.nodes.get(node, {}).get("enables", ()))
                found.update(target for prop, target in self.restrictions.get(node, ()) if prop == "enables")
            if found:
                return sorted(found)
            frontier = [p for n in frontier for p in self.parents.get(n, ()) if p not in seen]
            seen.update(frontier)
        return []


def _format_for(origin: str, data: bytes) -> ox.RdfFormat:
    lowered = origin.lower().removesuffix(".gz")
    for suffix, fmt in _FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    head = data[:256].lstrip()
    if head[:1] in (b"{", b"["):
        return ox.RdfFormat.JSON_LD
    if head[:1] == b"<" and not head.startswith(b"<http"):
        return ox.RdfFormat.RDF_XML
    return ox.RdfFormat.TURTLE


def read_ontology(data: bytes, origin: str) -> Ontology:
    """Parse the D3FEND ontology (Turtle, RDF/XML or JSON-LD; gzip allowed) and check it is D3FEND."""
    data = unwrap(data, origin, "the D3FEND ontology")
    fmt = _format_for(origin, data)
    try:
        quads = ox.parse(data, format=fmt)
        return _build(quads, origin)
    except SyntaxError as exc:
        where = f"line {exc.lineno}, column {exc.offset}: " if exc.lineno else ""
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        message = re.sub(r"^Parser error at line \d+ column \d+: ", "", message)
        raise InputError(f"{origin}: {where}invalid {fmt.name} ({message})") from None
    except (ValueError, OSError) as exc:
        raise InputError(f"{origin}: cannot read as {fmt.name} ({exc})") from None


def _build(quads, origin: str) -> Ontology:
    nodes: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    parents: dict[str, list[str]] = defaultdict(list)
    blank_parents: dict[str, list[str]] = defaultdict(list)
    on_property: dict[str, str] = {}
    some_values: dict[str, str] = {}
    property_parents: dict[str, list[str]] = defaultdict(list)
    types: dict[str, set[str]] = defaultdict(set)
    uris: dict[str, str] = {}

    def key(term) -> str | None:
        if isinstance(term, ox.NamedNode):
            name = local_name(term.value)
            known = uris.setdefault(name, term.value)
            return name if known == term.value else term.value
        if isinstance(term, ox.BlankNode):
            return "_:" + term.value
        return None

    for quad in quads:
        subject, predicate, obj = quad.subject, quad.predicate.value, quad.object
        s = key(subject)
        if s is None:
            continue
        if predicate == RDF + "type":
            o = key(obj)
            if o:
                types[s].add(o)
        elif predicate == RDFS + "subClassOf":
            o = key(obj)
            if o is None:
                continue
            (blank_parents if o.startswith("_:") else parents)[s].append(o)
        elif predicate == OWL + "onProperty":
            on_property[s] = key(obj) or ""
        elif predicate == OWL + "someValuesFrom":
            some_values[s] = key(obj) or ""
        elif predicate == RDFS + "subPropertyOf":
            o = key(obj)
            if o and not o.startswith("_:"):
                property_parents[s].append(o)
        elif predicate in _ANNOTATIONS and not s.startswith("_:"):
            value = obj.value if isinstance(obj, ox.Literal | ox.NamedNode) else None
            if value is not None:
                nodes[s][_ANNOTATIONS[predicate]].append(value)

    classes = {s for s, t in types.items() if "Class" in t and not s.startswith("_:")}
    if "DefensiveTechnique" not in classes or "DigitalArtifact" not in classes:
        raise InputError(
            f"{origin}: an RDF file, but not the D3FEND ontology (no DefensiveTechnique and DigitalArtifact classes)"
        )
    restrictions = {
        s: [(on_property[b], some_values[b]) for b in blanks if b in on_property and some_values.get(b)]
        for s, blanks in blank_parents.items()
    }
    properties = {
        p: {
            "label": (nodes.get(p, {}).get("label") or [p])[0],
            "definition": (nodes.get(p, {}).get("definition") or [""])[0],
            "parents": property_parents.get(p, []),
        }
        for p, t in types.items()
        if "ObjectProperty" in t
    }
    # The release is stated on the owl:Ontology node itself (versionInfo, versionIRI or release-date).
    version = None
    for name, t in types.items():
        if "Ontology" in t:
            node = nodes.get(name, {})
            stated = node.get("version") or node.get("release_date") or node.get("version_iri")
            version = stated[0] if stated else version
    for name, uri in uris.items():
        if name in nodes or name in classes:
            nodes[name]["uri"] = [uri]
            nodes[name]["types"] = sorted(types.get(name, ()))
    return Ontology(
        origin=origin,
        version=version,
        nodes={k: dict(v) for k, v in nodes.items()},
        parents=dict(parents),
        restrictions=restrictions,
        properties=properties,
        classes=classes,
    )


@dataclass
class Inference:
    """Everything derived from the ontology: class kinds, tactics, artifact relations, countermeasures."""

    defensive: set[str]
    offensive: dict[str, str]  # ATT&CK technique id → class name
    artifacts: set[str]
    tactics: dict[str, list[str]]  # defensive technique → tactic names
    relations: dict[str, list[tuple[str, str]]]  # class → artifact relations (property, artifact)
    countermeasures: dict[str, list[dict]]  # ATT&CK id → rows
    # ATT&CK id → the classes consulted, as (class, role) with role "self", "parent" or "child"
    offensive_sources: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


ROW_KEYS = (
    "defensive_technique",
    "d3fend_id",
    "tactic",
    "defensive_relation",
    "defensive_artifact",
    "offensive_relation",
    "offensive_artifact",
    "offensive_technique",
)


def infer(onto: Ontology) -> Inference:
    """Artifact relations, tactics, and the countermeasure rows of every ATT&CK technique in the ontology."""
    artifacts = onto.descendants("DigitalArtifact")
    associated = onto.sub_properties("may-be-associated-with")
    relations = {
        c: rels
        for c, own in onto.restrictions.items()
        if (rels := [(p, a) for p, a in own if p in associated and a in artifacts])
    }
    defensive = onto.descendants("DefensiveTechnique") - {"DefensiveTechnique"}
    tactics = {d: onto.tactic_of(d) for d in defensive}
    offensive: dict[str, str] = {}
    for name in sorted(onto.classes):  # sorted: the same class wins on every run if an id is shared
        for attack_id in onto.nodes.get(name, {}).get("attack_id", ()):
            if _TECHNIQUE_ID.match(attack_id) and name not in defensive:
                offensive.setdefault(attack_id, name)
    children: dict[str, list[str]] = defaultdict(list)
    technique_classes = set(offensive.values())
    for name in technique_classes:
        for parent in onto.parents.get(name, ()):
            if parent in technique_classes:
                children[parent].append(name)

    by_artifact: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for d in defensive:
        for prop, artifact in relations.get(d, ()):
            by_artifact[artifact].append((d, prop))

    order = _tactic_order(onto)
    countermeasures: dict[str, list[dict]] = {}
    sources_of: dict[str, list[tuple[str, str]]] = {}
    for attack_id, name in offensive.items():
        sources = [(name, "self")]
        sources += [(p, "parent") for p in onto.parents.get(name, ()) if p in technique_classes]
        sources += [(c, "child") for c in sorted(children.get(name, ()))]
        sources_of[attack_id] = sources
        rows = {}
        for source, _role in sources:
            source_id = onto.first(source, "attack_id")
            for prop, artifact in relations.get(source, ()):
                for match in onto.ancestors(artifact):
                    for d, dprop in by_artifact.get(match, ()):
                        row = (
                            d,
                            onto.first(d, "d3fend_id"),
                            ", ".join(tactics[d]) or None,
                            dprop,
                            match,
                            prop,
                            artifact,
                            source_id,
                        )
                        rows[row] = None
        countermeasures[attack_id] = [
            dict(zip(ROW_KEYS, row, strict=True))
            for row in sorted(rows, key=lambda r: (order.get(r[2] or "", 99), onto.label(r[0]), r[3:]))
        ]
    return Inference(
        defensive=defensive,
        offensive=offensive,
        artifacts=artifacts,
        tactics=tactics,
        relations=relations,
        countermeasures=countermeasures,
        offensive_sources=sources_of,
    )


def _tactic_order(onto: Ontology) -> dict[str, int]:
    """Defensive tactics in D3FEND's display order (Model, Harden, Detect, Isolate, Deceive, Evict, Restore)."""
    tactics = [n for n, node in onto.nodes.items() if "DefensiveTactic" in node.get("types", ())]

    def position(name: str) -> float:
        try:
            return float(onto.first(name, "display_order") or 99)
        except ValueError:
            return 99.0

    return {name: i for i, name in enumerate(sorted(tactics, key=lambda n: (position(n), n)))}


def defensive_tactics(onto: Ontology) -> list[str]:
    """The defensive tactics, in display order."""
    return list(_tactic_order(onto))
