"""Read ATT&CK STIX bundles (2.0 and 2.1) into plain records.

This module does no file or network I/O: it takes the bytes of a bundle (gzip or not) and returns a
:class:`Bundle`, and :func:`merge_bundles` turns several bundles into the object and link records the
store writes. Every problem with the input is an :class:`~breachpath.errors.InputError` naming the origin
and, where there is one, the line and column or the object.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

import orjson

from breachpath.errors import InputError

#: Largest bundle (or ontology) accepted, as read and once decompressed: bytes actually read, never ``stat``.
#: Measured: ATT&CK v18.1 enterprise 34.4 MB decompressed (v17.1: 31.1 MB), mobile 3.2 MB, ics 2.3 MB; the D3FEND
#: ontology 2.6 MB. Seven times the largest leaves room for years of growth, and a gzip bomb stops here.
MAX_BUNDLE_BYTES = 256 * 1024 * 1024

#: ATT&CK external-reference source names, one per domain.
ATTACK_SOURCE_NAMES = {
    "mitre-attack": "enterprise-attack",
    "mitre-mobile-attack": "mobile-attack",
    "mitre-ics-attack": "ics-attack",
}
#: Kill-chain names used in technique ``kill_chain_phases``, per domain.
KILL_CHAIN_DOMAIN = {
    "mitre-attack": "enterprise-attack",
    "mitre-mobile-attack": "mobile-attack",
    "mitre-ics-attack": "ics-attack",
}
DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")

#: Our name for each STIX type we keep. Others (identity, marking-definition, collection) are skipped.
KIND_BY_STIX_TYPE = {
    "attack-pattern": "technique",
    "x-mitre-tactic": "tactic",
    "intrusion-set": "group",
    "malware": "software",
    "tool": "software",
    "campaign": "campaign",
    "course-of-action": "mitigation",
    "x-mitre-data-source": "data-source",
    "x-mitre-data-component": "data-component",
    "x-mitre-detection-strategy": "detection-strategy",
    "x-mitre-analytic": "analytic",
    "x-mitre-asset": "asset",
    "x-mitre-matrix": "matrix",
}
KINDS = tuple(dict.fromkeys(KIND_BY_STIX_TYPE.values()))

# Fields that become columns (or are dropped); everything else of an object is kept in `extra`.
_COLUMN_FIELDS = frozenset(
    {
        "type",
        "id",
        "name",
        "description",
        "external_references",
        "object_marking_refs",
        "created_by_ref",
        "x_mitre_modified_by_ref",
        "x_mitre_domains",
        "x_mitre_platforms",
        "aliases",
        "x_mitre_aliases",
        "revoked",
        "x_mitre_deprecated",
        "spec_version",
        "x_mitre_attack_spec_version",
    }
)

_VERSION_IN_TEXT = re.compile(r"(?:ATT&CK\s*v?|attack-)(\d+\.\d+)", re.IGNORECASE)


@dataclass
class Bundle:
    """One parsed ATT&CK bundle."""

    origin: str
    domain: str
    spec_version: str
    attack_version: str | None
    objects: list[dict] = field(repr=False)


@dataclass
class Catalog:
    """Objects and links merged from one or more bundles, keyed by STIX id."""

    objects: dict[str, dict]
    #: (relationship type, source STIX id, target STIX id, description, extra dict or None, live)
    links: list[tuple[str, str, str, str | None, dict | None, bool]]
    dropped_links: int
    domains: dict[str, dict]


def gunzip(data: bytes, origin: str, limit: int = MAX_BUNDLE_BYTES) -> bytes:
    """Decompress gzip ``data`` with a size limit, so a small file cannot expand without bound.

    Inflated in chunks counted as they come, so a gzip bomb costs at most ``limit`` bytes of memory before it
    is refused (one call with ``max_length`` grows its buffer by doubling, to twice the limit).
    """
    inflater = zlib.decompressobj(wbits=31)
    chunks: list[bytes] = []
    size = 0
    pending = data
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break  # all input used and the stream not ended: truncated
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise InputError(f"{origin}: bundle is larger than {limit // 2**20} MiB once decompressed")
    except zlib.error as exc:
        raise InputError(f"{origin}: corrupt gzip data ({exc})") from None
    if not inflater.eof:
        raise InputError(f"{origin}: truncated gzip data (the file ends before the end of the stream)")
    return b"".join(chunks)


_INFLATE_CHUNK = 16 * 1024 * 1024


def unwrap(data: bytes, origin: str, expected: str) -> bytes:
    """The bytes of an input file, gunzipped if gzip, within the size limit, and not empty."""
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, origin)
    elif len(data) > MAX_BUNDLE_BYTES:
        raise InputError(f"{origin}: file is larger than {MAX_BUNDLE_BYTES // 2**20} MiB")
    if not data.strip():
        raise InputError(f"{origin}: empty file, expected {expected}")
    return data


def read_bundle(data: bytes, origin: str, version_hint: str | None = None) -> Bundle:
    """Parse and check the bytes of one ATT&CK bundle (``.json`` or ``.json.gz``).

    ``version_hint`` is used when the bundle itself does not state its ATT&CK version (STIX 2.0 bundles
    from mitre/cti carry no collection object).
    """
    data = unwrap(data, origin, "a STIX bundle")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{origin}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("type") != "bundle" or not isinstance(doc.get("objects"), list):
        raise InputError(f"{origin}: not a STIX bundle (expected an object with type 'bundle' and 'objects')")
    objects = doc["objects"]
    domains: Counter[str] = Counter()
    collection_version = None
    spec_version = doc.get("spec_version")
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or not isinstance(obj.get("id"), str):
            raise InputError(f"{origin}: objects[{index}]: not a STIX object (needs string 'type' and 'id')")
        stix_type = obj["type"]
        if stix_type == "x-mitre-collection":
            collection_version = obj.get("x_mitre_version")
        elif stix_type == "relationship":
            if not isinstance(obj.get("source_ref"), str) or not isinstance(obj.get("target_ref"), str):
                raise InputError(
                    f"{origin}: objects[{index}] ({obj['id']}): relationship without source_ref/target_ref"
                )
        elif stix_type in KIND_BY_STIX_TYPE:
            refs = obj.get("external_references")
            if isinstance(refs, list):
                for ref in refs:
                    if isinstance(ref, dict) and ref.get("source_name") in ATTACK_SOURCE_NAMES:
                        # ICS objects carry `mitre-attack` refs too: x_mitre_domains tells the domain.
                        named = [d for d in _str_list(obj.get("x_mitre_domains")) if d in DOMAINS]
                        domains.update(named or [ATTACK_SOURCE_NAMES[ref["source_name"]]])
                        break
        if spec_version is None and isinstance(obj.get("spec_version"), str):
            spec_version = obj["spec_version"]
    if not domains:
        raise InputError(f"{origin}: a STIX bundle, but not ATT&CK (no object has a MITRE ATT&CK external id)")
    domain = domains.most_common(1)[0][0]
    return Bundle(
        origin=origin,
        domain=domain,
        spec_version=str(spec_version or "2.0"),
        attack_version=str(collection_version) if collection_version else version_hint,
        objects=objects,
    )


def version_from_text(text: str) -> str | None:
    """Find an ATT&CK version such as ``v18.1`` or ``enterprise-attack-17.1.json`` in a name or note."""
    match = _VERSION_IN_TEXT.search(text)
    return match.group(1) if match else None


def _attack_ref(obj: dict) -> dict | None:
    for ref in _dict_list(obj.get("external_references")):
        if ref.get("source_name") in ATTACK_SOURCE_NAMES:
            return ref
    return None


def _dict_list(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _object_record(obj: dict, bundle_domain: str) -> dict:
    stix_type = obj["type"]
    ref = _attack_ref(obj)
    aliases = _str_list(obj.get("aliases")) or _str_list(obj.get("x_mitre_aliases"))
    name = _text(obj.get("name"))
    # ATT&CK lists the object's own name first among its aliases; keep only the other names.
    aliases = [a for a in aliases if a != name]
    extra = {k: v for k, v in obj.items() if k not in _COLUMN_FIELDS}
    references = [r for r in _dict_list(obj.get("external_references")) if r is not ref]
    if references:
        extra["references"] = references
    if stix_type in ("malware", "tool"):
        extra["software_type"] = stix_type
    return {
        "stix_id": obj["id"],
        "attack_id": _text(ref.get("external_id")) or None if ref else None,
        "kind": KIND_BY_STIX_TYPE[stix_type],
        "stix_type": stix_type,
        "name": name,
        "aliases": aliases,
        "description": _text(obj.get("description")),
        "domains": _str_list(obj.get("x_mitre_domains")) or [bundle_domain],
        "platforms": _str_list(obj.get("x_mitre_platforms")),
        "url": _text(ref.get("url")) or None if ref else None,
        "revoked": bool(obj.get("revoked", False)),
        "deprecated": bool(obj.get("x_mitre_deprecated", False)),
        "extra": extra,
    }


def merge_bundles(bundles: list[Bundle]) -> Catalog:
    """Merge bundles into one catalog of object records and links.

    An object present in several domains (software used on enterprise and mobile) is kept once, with
    the union of its domains. Besides the STIX relationships, links are derived from embedded references:
    technique → tactic (``in-tactic``, from kill-chain phases), detection strategy → analytic
    (``has-analytic``), analytic → data component (``log-source``, with the log source name and channel),
    data component → data source (``component-of``) and matrix → tactic (``has-tactic``, in matrix order).
    """
    objects: dict[str, dict] = {}
    relationships: dict[str, dict] = {}
    domain_info: dict[str, dict] = {}
    for bundle in bundles:
        counts: Counter[str] = Counter()
        for obj in bundle.objects:
            stix_type = obj["type"]
            if stix_type == "relationship":
                relationships[obj["id"]] = obj
                continue
            if stix_type not in KIND_BY_STIX_TYPE:
                continue
            record = _object_record(obj, bundle.domain)
            counts[record["kind"]] += 1
            previous = objects.get(obj["id"])
            if previous is not None:
                record["domains"] = sorted(set(previous["domains"]) | set(record["domains"]))
            objects[obj["id"]] = record
        info = domain_info.setdefault(
            bundle.domain,
            {"version": bundle.attack_version, "spec_version": bundle.spec_version, "sources": [], "objects": {}},
        )
        info["sources"].append(bundle.origin)
        info["version"] = info["version"] or bundle.attack_version
        for kind, n in counts.items():
            info["objects"][kind] = info["objects"].get(kind, 0) + n

    links: list[tuple[str, str, str, str | None, dict | None, bool]] = []
    dropped = 0
    for rel in relationships.values():
        src, dst = rel["source_ref"], rel["target_ref"]
        if src not in objects or dst not in objects:
            dropped += 1
            continue
        live = not rel.get("revoked", False) and not rel.get("x_mitre_deprecated", False)
        desc = rel.get("description") if isinstance(rel.get("description"), str) else None
        links.append((_text(rel.get("relationship_type")) or "related-to", src, dst, desc, None, live))

    tactic_by_phase: dict[tuple[str, str], str] = {}
    for stix_id, record in objects.items():
        if record["kind"] == "tactic":
            shortname = _text(record["extra"].get("x_mitre_shortname"))
            for domain in record["domains"]:
                tactic_by_phase[(domain, shortname)] = stix_id

    def embedded(rel: str, src: str, dst: object, extra: dict | None = None) -> None:
        nonlocal dropped
        if isinstance(dst, str) and dst in objects:
            links.append((rel, src, dst, None, extra, True))
        else:
            dropped += 1

    for stix_id, record in objects.items():
        kind, extra = record["kind"], record["extra"]
        if kind == "technique":
            phases = extra.get("kill_chain_phases")
            for phase in phases if isinstance(phases, list) else ():
                if not isinstance(phase, dict):
                    continue
                domain = KILL_CHAIN_DOMAIN.get(phase.get("kill_chain_name"))
                tactic = tactic_by_phase.get((domain, phase.get("phase_name")))
                if tactic:
                    links.append(("in-tactic", stix_id, tactic, None, None, True))
        elif kind == "detection-strategy":
            for ref in _str_list(extra.get("x_mitre_analytic_refs")):
                embedded("has-analytic", stix_id, ref)
        elif kind == "analytic":
            sources = extra.get("x_mitre_log_source_references")
            for source in sources if isinstance(sources, list) else ():
                if isinstance(source, dict):
                    embedded(
                        "log-source",
                        stix_id,
                        source.get("x_mitre_data_component_ref"),
                        {"name": source.get("name"), "channel": source.get("channel")},
                    )
        elif kind == "data-component":
            if isinstance(extra.get("x_mitre_data_source_ref"), str):
                embedded("component-of", stix_id, extra["x_mitre_data_source_ref"])
        elif kind == "matrix":
            for position, ref in enumerate(_str_list(extra.get("tactic_refs"))):
                embedded("has-tactic", stix_id, ref, {"order": position})
    return Catalog(objects=objects, links=links, dropped_links=dropped, domains=domain_info)
