"""ATT&CK Navigator layers (layer format 4.5): techniques scored by how often they lie on successful attack paths,
or a group's techniques.

The layout follows MITRE's "ATT&CK Navigator Layer File Format Definition", version 4.5
(attack-navigator ``layers/spec/v4.5/layerformat.md``): ``name``, ``domain``, ``versions`` (``layer`` "4.5",
``navigator`` ≥ 4.9.0), ``techniques`` (``techniqueID``, optional ``tactic``, ``score``, ``comment``,
``metadata``), ``gradient`` and ``legendItems``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from breachpath.errors import InputError

LAYER_FORMAT = "4.5"
NAVIGATOR_VERSION = "5.2.0"
DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
# White (never on a path) through amber to red (on every successful path).
GRADIENT = {"colors": ["#ffffff", "#ffc966", "#d7301f"], "minValue": 0, "maxValue": 100}


def _attack_major(version: str | None) -> str | None:
    return version.split(".")[0] if version else None


def layer(
    name: str,
    techniques: list[dict],
    description: str = "",
    domain: str = "enterprise-attack",
    attack_version: str | None = None,
    gradient: dict | None = None,
    legend: list[dict] | None = None,
    metadata: list[dict] | None = None,
) -> dict:
    """A layer-format-4.5 document around ``techniques`` (already technique objects)."""
    if domain not in DOMAINS:
        raise InputError(f"{domain}: not an ATT&CK domain ({', '.join(DOMAINS)})")
    versions = {"navigator": NAVIGATOR_VERSION, "layer": LAYER_FORMAT}
    if attack_version:
        versions = {"attack": _attack_major(attack_version), **versions}
    return {
        "name": name,
        "versions": versions,
        "domain": domain,
        "description": description,
        "sorting": 3,  # highest score first within each tactic
        "layout": {"layout": "side", "showID": True, "showName": True, "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": gradient or GRADIENT,
        "legendItems": legend or [],
        **({"metadata": metadata} if metadata else {}),  # an empty list is dropped by other readers
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


def technique_tactics(kb, attack_id: str) -> list[str]:
    """The technique's tactics (short names) in the knowledge base; none without one, or when it is not there."""
    if kb is None:
        return []
    try:
        page = kb.page(attack_id, kind="technique")
    except InputError:
        return []
    return [t["shortname"] for t in page.get("tactics", []) if t.get("shortname")]


def technique_objects(scores: dict[str, dict], kb=None) -> list[dict]:
    """Technique objects from ``{attack_id: {"score", "comment", "metadata"}}``: one per tactic of the technique
    when the knowledge base knows them (the annotation then shows under each), else one without a tactic (the
    Navigator shows it under every tactic the technique belongs to)."""
    objects = []
    for attack_id in sorted(scores, key=lambda i: (-scores[i]["score"], i)):
        entry = {"techniqueID": attack_id, **scores[attack_id]}
        tactics = technique_tactics(kb, attack_id)
        if tactics:
            objects += [{"techniqueID": attack_id, "tactic": tactic, **scores[attack_id]} for tactic in tactics]
        else:
            objects.append(entry)
    return objects


def path_shares(graph, sim, targets: int | None = None) -> dict[str, dict]:
    """For each ATT&CK technique, the share of successful (sample, target) attack paths that use it, overall and
    per target, and the attack steps (node ids) through which they use it. Needs a simulation run with
    ``path_targets``."""
    from breachpath.analysis import _path, technique_of

    if not sim.path_targets:
        raise ValueError("run simulate(..., path_targets=k) to record paths")
    targets = sim.path_targets if targets is None else targets
    total = 0
    overall: Counter[str] = Counter()
    per_target: dict[str, Counter[str]] = {}
    successes: dict[str, int] = {}
    steps: dict[str, set[int]] = {}
    for j in range(targets):
        name = sim.names[j]
        counts: Counter[str] = Counter()
        successful = np.flatnonzero(np.isfinite(sim.times[:, j]))
        for s in successful:
            used = set()
            for node in _path(sim, int(s), j):
                if technique := technique_of(graph, node):
                    used.add(technique)
                    steps.setdefault(technique, set()).add(node)
            counts.update(used)
        per_target[name], successes[name] = counts, len(successful)
        overall.update(counts)
        total += len(successful)
    return {
        attack_id: {
            "share": overall[attack_id] / total,
            "per_target": {t: per_target[t][attack_id] / successes[t] for t in per_target if successes[t]},
            "steps": sorted(steps[attack_id]),
        }
        for attack_id in overall
    }


def simulation_layer(graph, sim, name: str, kb=None, targets: int | None = None, description: str = "") -> dict:
    """Techniques scored 0–100 by the share of successful attack paths they lie on."""
    shares = path_shares(graph, sim, targets)
    scores = {}
    for attack_id, share in shares.items():
        per = ", ".join(f"{t} {p:.0%}" for t, p in share["per_target"].items())
        scores[attack_id] = {
            "score": round(100 * share["share"], 1),
            "comment": f"On {share['share']:.1%} of successful attack paths ({per}).",
            "metadata": [{"name": f"paths to {t}", "value": f"{p:.1%}"} for t, p in share["per_target"].items()],
        }
    attack_version = kb.attack_version("enterprise-attack") if kb is not None else None
    return layer(
        name,
        technique_objects(scores, kb),
        description=description
        or f"breachpath: techniques scored by the share of successful attack paths they lie on ({sim.samples:,} "
        "samples).",
        attack_version=attack_version,
        legend=[
            {"label": "on no successful path", "color": GRADIENT["colors"][0]},
            {"label": "on half of them", "color": GRADIENT["colors"][1]},
            {"label": "on every successful path", "color": GRADIENT["colors"][2]},
        ],
        metadata=[
            {"name": "samples", "value": str(sim.samples)},
            {"name": "targets", "value": ", ".join(sim.names[: targets or sim.path_targets])},
        ],
    )


def coverage_layer(covered: dict, kb=None) -> dict:
    """The techniques a language models (:func:`breachpath.lang.coverage.coverage`), each annotated with the steps
    that model it; a technique named by a revoked or deprecated id is left out (the Navigator would not show it)."""
    not_live = {entry["id"] for entry in covered.get("not_live", [])}
    scores = {
        attack_id: {
            "score": 1,
            "comment": "Modelled by " + ", ".join(covered["steps"][attack_id]) + ".",
            "metadata": [{"name": "steps", "value": ", ".join(covered["steps"][attack_id])}],
        }
        for attack_id in covered["techniques"]
        if attack_id not in not_live
    }
    counts = covered["counts"]
    attack_version = kb.attack_version("enterprise-attack") if kb is not None else None
    return layer(
        f"breachpath: coverage of {covered['language']}",
        technique_objects(scores, kb),
        description=f"{counts['techniques']} ATT&CK techniques and sub-techniques modelled by {covered['language']}.",
        attack_version=attack_version,
        gradient={"colors": ["#ffffff", GRADIENT["colors"][2]], "minValue": 0, "maxValue": 1},
        legend=[{"label": "modelled", "color": GRADIENT["colors"][2]}],
        metadata=[
            {"name": "language", "value": covered["language"]},
            {"name": "tactics", "value": str(counts["tactics"])},
            {"name": "mitigations", "value": str(counts["mitigations"])},
            {"name": "D3FEND techniques", "value": str(counts["d3fend"])},
        ],
    )


def group_layer(kb, group_id: str) -> dict:
    """A group's techniques (direct, and through its campaigns), each with how the group uses it."""
    found = kb.group_techniques(group_id)
    group = found["group"]
    scores = {}
    for t in found["techniques"]:
        via = f" (through {', '.join(t['via'])})" if t.get("via") else ""
        scores[t["id"]] = {
            "score": 1,
            "comment": (t.get("how") or "") + via,
            "metadata": [{"name": "used", "value": "directly" if t.get("direct") else "through campaigns"}],
        }
    domain = "enterprise-attack"
    return layer(
        f"{group['name']} ({group['id']})",
        technique_objects(scores, kb),
        description=f"Techniques {group['name']} ({group['id']}) uses, from ATT&CK {found.get('attack_version')}.",
        domain=domain,
        attack_version=found.get("attack_version"),
        gradient={"colors": ["#ffffff", "#66b1ff"], "minValue": 0, "maxValue": 1},
        legend=[{"label": f"used by {group['name']}", "color": "#66b1ff"}],
        metadata=[
            {"name": "group", "value": group["id"]},
            {"name": "ATT&CK", "value": str(found.get("attack_version") or "unknown")},
            {"name": "used directly", "value": str(sum(bool(t.get("direct")) for t in found["techniques"]))},
            {"name": "used through campaigns", "value": str(sum(not t.get("direct") for t in found["techniques"]))},
        ],
    )
