"""Attack Flow 2.0: the most frequent attack path of each target as a STIX 2.1 bundle.

The objects follow the Attack Flow STIX 2.1 extension (``extension-definition--fb9c968a-…``, schema
``attack-flow-schema-2.0.0.json`` of the Center for Threat-Informed Defense): one ``attack-flow`` object (a
document holds exactly one), ``attack-action`` objects for the steps that carry an ATT&CK technique, with
``technique_id`` and ``asset_refs``; ``attack-operator`` objects (AND, OR) where paths join; ``attack-asset``
objects for the model's assets; and an ``attack-condition`` per target ("… is compromised").

The paths of all targets go into the one flow, sharing the actions they share. Our numbers travel in a STIX 2.1
property extension of our own (``extension_type: property-extension``, defined in the bundle), never as bare
custom properties: the flow's ``breachpath`` properties give each target's probability with its interval and TTC
quantiles; an action's give its asset, step, TTC distribution and how often the path it lies on occurs.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np

from breachpath.analysis import _path, in_causal_order, technique_joins, technique_of
from breachpath.errors import InputError
from breachpath.graph import AttackGraph
from breachpath.sim import Simulation, summarise

ATTACK_FLOW_EXTENSION = "extension-definition--fb9c968a-745b-4ade-9b25-c324172197f4"
ATTACK_FLOW_CREATOR = "identity--fb9c968a-745b-4ade-9b25-c324172197f4"
BREACHPATH_EXTENSION = "extension-definition--6f0d2e52-1c0a-4b7e-9d9e-6b7265616368"
BREACHPATH_CREATOR = "identity--6f0d2e52-1c0a-4b7e-9d9e-627265616368"
_EPOCH = "2026-01-01T00:00:00.000Z"


def _id(kind: str, *parts: object) -> str:
    """A deterministic STIX id: the same scenario and results give the same bundle.

    STIX 2.1 asks for UUIDv4 in the ids of domain objects (section 2.9), so the UUID is a v4 one whose random
    bits come from a SHA-256 of the parts instead of from a random source.
    """
    digest = hashlib.sha256("/".join(str(p) for p in ("breachpath", kind, *parts)).encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


def _sdo(kind: str, object_id: str, created: str, **fields) -> dict:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": object_id,
        "created": created,
        "modified": created,
        **fields,
        "extensions": {ATTACK_FLOW_EXTENSION: {"extension_type": "new-sdo"}},
    }


def _with_numbers(obj: dict, numbers: dict) -> dict:
    obj["extensions"][BREACHPATH_EXTENSION] = {"extension_type": "property-extension", "breachpath": numbers}
    return obj


def _definitions(created: str) -> list[dict]:
    return [
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": ATTACK_FLOW_EXTENSION,
            "created_by_ref": ATTACK_FLOW_CREATOR,
            "created": "2022-08-02T19:34:35.143Z",
            "modified": "2022-08-02T19:34:35.143Z",
            "name": "Attack Flow",
            "description": "Extends STIX 2.1 with features to create Attack Flows.",
            "schema": "https://center-for-threat-informed-defense.github.io/attack-flow/stix/attack-flow-schema-2.0.0.json",
            "version": "2.0.0",
            "extension_types": ["new-sdo"],
            "external_references": [
                {
                    "source_name": "Documentation",
                    "description": "Documentation for Attack Flow",
                    "url": "https://center-for-threat-informed-defense.github.io/attack-flow",
                },
            ],
        },
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": ATTACK_FLOW_CREATOR,
            "created": "2022-08-02T19:34:35.143Z",
            "modified": "2022-08-02T19:34:35.143Z",
            "name": "MITRE Center for Threat-Informed Defense",
            "identity_class": "organization",
        },
        {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": BREACHPATH_EXTENSION,
            "created_by_ref": BREACHPATH_CREATOR,
            "created": _EPOCH,
            "modified": _EPOCH,
            "name": "breachpath simulation results",
            "description": "Monte Carlo results from breachpath: `breachpath` holds probabilities (0–1, with 95% Wilson "
            "intervals), times to compromise in days (quantiles of the compromised samples), path frequencies, and the "
            "MAL asset, step and TTC distribution behind each action.",
            # STIX 2.1 allows the normative definition as plain text where there is no URL to give.
            "schema": "breachpath README, 'Attack Flow': extensions.<this id>.breachpath holds, on the attack-flow, "
            "samples and targets.<asset:step>.{probability, probability_ci95, ttc_days.{p5, p50, p95, mean}, "
            "path_frequency}; on an attack-condition, the same for its target; on an attack-action, asset, step, ttc "
            "(MAL text or null) and path_frequency per target.",
            "version": "1.0.0",
            "extension_types": ["property-extension"],
        },
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": BREACHPATH_CREATOR,
            "created": _EPOCH,
            "modified": _EPOCH,
            "name": "breachpath",
            "identity_class": "system",
        },
    ]


def _most_frequent_path(sim: Simulation, target: int) -> tuple[tuple[int, ...], float] | None:
    successful = np.flatnonzero(np.isfinite(sim.times[:, target]))
    if not len(successful):
        return None
    counts: dict[frozenset[int], list] = {}
    for s in successful:
        path = _path(sim, int(s), target)
        entry = counts.setdefault(frozenset(path), [0, path])
        entry[0] += 1
    count, path = max(counts.values(), key=lambda e: e[0])
    return path, count / len(successful)


def _add_effect(objects: dict[str, dict], source: str, effect: str) -> None:
    refs = objects[source].setdefault("effect_refs", [])
    if effect not in refs:
        refs.append(effect)


class _Joins:
    """Links a flow node to the nearest technique steps before it on the path: directly when there is one, through
    an AND/OR operator when paths join (AND where the graph's join is an AND step)."""

    def __init__(self, nearest, position, action_ref, joins_and, objects, start_refs, name, created):
        self.nearest, self.position, self.action_ref, self.joins_and = nearest, position, action_ref, joins_and
        self.objects, self.start_refs, self.name, self.created = objects, start_refs, name, created

    def link(self, into: str, v: int) -> None:
        sources = sorted(self.nearest[v], key=self.position.get)
        if not sources:
            if into not in self.start_refs and into.startswith("attack-action"):
                self.start_refs.append(into)
            return
        if len(sources) == 1:
            _add_effect(self.objects, self.action_ref[sources[0]], into)
            return
        operator = "AND" if self.joins_and[v] else "OR"
        refs = sorted(self.action_ref[s] for s in sources)
        op_ref = _id("attack-operator", self.name, operator, *refs, into)
        if op_ref not in self.objects:
            self.objects[op_ref] = _sdo("attack-operator", op_ref, self.created, operator=operator, effect_refs=[into])
        for s in sources:
            _add_effect(self.objects, self.action_ref[s], op_ref)


def flow_bundle(
    graph: AttackGraph,
    sim: Simulation,
    name: str,
    technique_names: dict[str, str] | None = None,
    targets: int | None = None,
    created: str = _EPOCH,
) -> dict:
    """An Attack Flow 2.0 bundle of each target's most frequent attack path (needs ``path_targets``)."""
    if not sim.path_targets:
        raise ValueError("run simulate(..., path_targets=k) to record paths")
    names = technique_names or {}
    targets = sim.path_targets if targets is None else targets
    objects: dict[str, dict] = {}
    start_refs: list[str] = []
    target_numbers = {}
    flow_id = _id("attack-flow", name)

    def technique(node: int) -> str | None:
        return technique_of(graph, node)

    def asset_ref(node: int) -> str:
        asset = int(graph.asset[node])
        ref = _id("attack-asset", name, asset)
        if ref not in objects:
            objects[ref] = _sdo(
                "attack-asset", ref, created, name=str(graph.asset_names[asset]),
                description=f"{graph.asset_types[asset]} in the model",
            )  # fmt: skip
        return ref

    for j in range(targets):
        target_name = sim.names[j]
        summary = summarise(sim.times[:, j])
        found = _most_frequent_path(sim, j)
        target_numbers[target_name] = {
            "probability": summary["p"],
            "probability_ci95": summary["p_ci"],
            "ttc_days": {k: summary["ttc"][k] for k in ("p5", "p50", "p95", "mean")},
            "path_frequency": None if found is None else found[1],
        }
        if found is None:
            continue
        path, frequency = found
        order = in_causal_order(graph, path)
        position = {v: i for i, v in enumerate(order)}
        visible = {v for v in order if technique(v)}
        nearest, joins_and = technique_joins(graph, order)
        action_ref: dict[int, str] = {}
        for v in order:
            if v not in visible:
                continue
            attack_id = technique(v)
            ref = _id("attack-action", name, v)
            action_ref[v] = ref
            if ref not in objects:
                ttc_slot = graph.ttc[v]
                objects[ref] = _with_numbers(
                    _sdo(
                        "attack-action", ref, created, name=names.get(attack_id, attack_id), technique_id=attack_id,
                        description=f"{graph.name(v)}", asset_refs=[asset_ref(v)],
                    ),
                    {
                        "asset": str(graph.asset_names[graph.asset[v]]),
                        "step": str(graph.step_names[graph.step[v]]),
                        "ttc": None if ttc_slot < 0 else str(graph.ttc_texts[ttc_slot]),
                        "path_frequency": {target_name: frequency},
                    },
                )  # fmt: skip
            else:
                objects[ref]["extensions"][BREACHPATH_EXTENSION]["breachpath"]["path_frequency"][target_name] = (
                    frequency
                )

        joins = _Joins(nearest, position, action_ref, joins_and, objects, start_refs, name, created)
        for v in order:
            if v in visible:
                joins.link(action_ref[v], v)
        target_node = order[-1] if order else None
        condition = _id("attack-condition", name, target_name)
        objects[condition] = _with_numbers(
            _sdo("attack-condition", condition, created, description=f"{target_name} is compromised"),
            target_numbers[target_name],
        )
        if target_node is not None:
            if target_node in visible:
                _add_effect(objects, action_ref[target_node], condition)
            else:
                joins.link(condition, target_node)
    if not start_refs:
        raise InputError("no target was compromised in any sample: there is no attack path to draw as a flow")
    flow = _with_numbers(
        _sdo(
            "attack-flow", flow_id, created, name=name, scope="other", start_refs=start_refs,
            description="The most frequent attack path to each target, from a breachpath Monte Carlo simulation "
            f"({sim.samples:,} samples). Paths of several targets share the actions they have in common.",
            created_by_ref=BREACHPATH_CREATOR,
        ),
        {"samples": sim.samples, "targets": target_numbers},
    )  # fmt: skip
    bundle_objects = [*_definitions(created), flow, *objects.values()]
    return {"type": "bundle", "id": _id("bundle", name, sim.samples), "objects": bundle_objects}
