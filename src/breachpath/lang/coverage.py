"""What of ATT&CK and D3FEND a MAL language models: techniques, sub-techniques, tactics, mitigations, D3FEND.

Any language whose steps name ATT&CK techniques (URLs or ids in their meta, as in attacklang and enterpriseLang)
can be measured. Ids come from the language; what they are (technique or sub-technique, live, revoked or
deprecated, which tactics) comes from the knowledge base when one is given, else only the ids are listed.
"""

from __future__ import annotations

import re

from breachpath.lang.spec import LanguageSpec

# D3FEND techniques are named by id (D3-NTA) or by their ontology URL (…/technique/d3f:NetworkTrafficAnalysis/).
_D3FEND_ID = re.compile(r"(?<![A-Za-z0-9-])(D3-[A-Z0-9]+)(?![A-Za-z0-9-])")
_D3FEND_URL = re.compile(r"d3fend\.mitre\.org/(?:technique|dao/artifact)/d3f:([A-Za-z0-9_.-]+?)/?(?=[\s,\"']|$)")


def language_ids(spec: LanguageSpec) -> dict[str, dict[str, list[str]]]:
    """Every ATT&CK and D3FEND id the language's steps name, with the ``Asset.step`` names that name it:
    ``{"attack": {id: [steps]}, "d3fend": {id or class name: [steps]}}`` (each step once, declaring asset)."""
    attack: dict[str, list[str]] = {}
    d3fend: dict[str, list[str]] = {}
    for asset in spec.assets.values():
        for step in asset.steps.values():
            where = f"{asset.name}.{step.name}"
            for attack_id in step.attack_ids:
                attack.setdefault(attack_id, []).append(where)
            text = " ".join(step.meta.values())
            for key in dict.fromkeys(_D3FEND_ID.findall(text) + _D3FEND_URL.findall(text)):
                d3fend.setdefault(key, []).append(where)
    return {"attack": attack, "d3fend": d3fend}


def coverage(spec: LanguageSpec, kb=None, domain: str = "enterprise-attack") -> dict:
    """The language's coverage of ATT&CK (``domain``) and D3FEND, as a JSON-ready dict with the lists
    ``techniques`` (techniques and sub-techniques), ``tactics``, ``mitigations`` and ``d3fend`` (ids), counts,
    each id's steps, and the ids that are not live in the knowledge base (revoked, deprecated or unknown)."""
    named = language_ids(spec)
    steps = named["attack"]
    techniques = sorted(i for i in steps if i.startswith("T"))
    mitigations = sorted(i for i in steps if i.startswith("M"))
    d3fend_steps = named["d3fend"]
    out: dict = {
        "language": f"{spec.defines.get('id', '?')} {spec.defines.get('version', '')}".strip(),
        "knowledge_base": None,
        "techniques": techniques,
        "sub_techniques": [i for i in techniques if "." in i],
        "tactics": [],
        "mitigations": mitigations,
        "d3fend": [],
        "steps": {i: steps[i] for i in techniques + mitigations},
        "not_live": [],
    }
    if kb is None:
        out["d3fend"] = sorted(k for k in d3fend_steps if k.startswith("D3-"))
        out["d3fend_steps"] = {k: d3fend_steps[k] for k in out["d3fend"]}
        out["note"] = "no knowledge base: tactics, liveness and totals need `breachpath kb load`"
        out["counts"] = _counts(out)
        return out
    out["knowledge_base"] = {"path": str(kb.path), "attack_version": kb.attack_version(domain)}
    status = kb.attack_status(techniques + mitigations)
    out["not_live"] = [
        {"id": i, "status": status[i]["status"], "steps": steps[i]} for i in techniques + mitigations
        if status[i]["status"] != "live"
    ]  # fmt: skip
    tactics: dict[str, dict] = {}
    for i in techniques:
        for tactic in status[i].get("tactics", []):
            entry = tactics.setdefault(tactic["id"], {**tactic, "techniques": []})
            entry["techniques"].append(i)
    order = kb.tactic_order(domain)
    out["tactics"] = sorted(tactics, key=lambda t: (order.get(t, 99), t))
    out["by_tactic"] = [tactics[t] for t in out["tactics"]]
    out["names"] = {i: status[i].get("name") for i in techniques + mitigations}
    if kb.has_d3fend():
        d3fend_ids = kb.d3fend_ids(list(d3fend_steps))
    else:  # ids are taken as written; class names cannot be resolved
        d3fend_ids = {k: k for k in d3fend_steps if k.startswith("D3-")}
        out["d3fend_note"] = "no D3FEND in the knowledge base: D3FEND ids are not checked"
    resolved: dict[str, list[str]] = {}
    for key, where in d3fend_steps.items():
        d3_id = d3fend_ids.get(key)
        if d3_id is None:
            status = (
                "not a D3FEND technique in the knowledge base"
                if kb.has_d3fend()
                else "a D3FEND class name: load D3FEND (`kb load --d3fend`) to resolve it"
            )
            out["not_live"].append({"id": key, "status": status, "steps": where})
            continue
        resolved.setdefault(d3_id, []).extend(w for w in where if w not in resolved.get(d3_id, []))
    out["d3fend"] = sorted(resolved)
    out["d3fend_steps"] = resolved
    out["totals"] = kb.technique_totals(domain)
    out["counts"] = _counts(out)
    return out


def _counts(out: dict) -> dict:
    counts = {
        "techniques": len(out["techniques"]),
        "parent_techniques": len(out["techniques"]) - len(out["sub_techniques"]),
        "sub_techniques": len(out["sub_techniques"]),
        "tactics": len(out["tactics"]),
        "mitigations": len(out["mitigations"]),
        "d3fend": len(out["d3fend"]),
        "not_live": len(out["not_live"]),
    }
    totals = out.get("totals")
    if totals:
        counts["share_of_techniques"] = counts["techniques"] / totals["techniques"] if totals["techniques"] else 0.0
    return counts
