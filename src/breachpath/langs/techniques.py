"""attacklang's technique layer, selected from ATT&CK through the project's mapping table (``mapping.yaml``).

For every state in the table (an attacker state on an asset type, tied to an ATT&CK tactic), the doors are the live
techniques and sub-techniques of that tactic whose platforms meet the asset's (for an abstract asset, each concrete
subtype's), narrowed to the state's ``only`` list when it has one, less the exclusions; each door is gated by the
live mitigations that ATT&CK says mitigate it. The selection is a pure function of the table and the knowledge
base, so the language generated from it can be regenerated and compared (issue 14).

>>> from breachpath.kb.pages import KnowledgeBase  # doctest: +SKIP
>>> doors = select_doors(read_mapping(), KnowledgeBase.open("kb.sqlite").technique_table())  # doctest: +SKIP
>>> [d.id for d in doors[("Windows", "credentialAccess")]][:3]  # doctest: +SKIP
['T1003', 'T1003.001', 'T1003.002']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from breachpath.dist import DistributionError, parse
from breachpath.errors import InputError
from breachpath.fileio import load_document
from breachpath.langs import LANGS_DIR

MAPPING = LANGS_DIR / "mapping.yaml"
MAX_MAPPING_BYTES = 1 << 20

#: Abstract asset types of the table and their concrete subtypes (the ones that carry platforms).
SUBTYPES = {"Host": ("Windows", "Linux", "MacOS")}


@dataclass(frozen=True)
class State:
    asset: str
    state: str
    tactic: str
    only: tuple[str, ...] | None = None
    #: The technique an attack path names when several doors are open at once (they tie: doors take no time).
    prefer: str | None = None

    @property
    def key(self) -> str:
        return f"{self.asset}.{self.state}"


@dataclass(frozen=True)
class Exclusion:
    technique: str
    reason: str
    states: tuple[str, ...] | None = None  # Asset.state keys; None: everywhere


@dataclass(frozen=True)
class Default:
    """A documented default TTC (a MAL distribution) for states of a tactic and difficulty without an estimate."""

    name: str
    ttc: str
    reason: str


@dataclass
class Mapping:
    domain: str
    platforms: dict[str, tuple[str, ...]]
    states: list[State]
    exclusions: list[Exclusion] = field(default_factory=list)
    defaults: dict[str, Default] = field(default_factory=dict)

    def excluded(self, technique: str, state: State) -> Exclusion | None:
        for exclusion in self.exclusions:
            if exclusion.technique == technique and (exclusion.states is None or state.key in exclusion.states):
                return exclusion
        return None


@dataclass(frozen=True)
class Door:
    """One technique that opens a state on a concrete asset type, and the ATT&CK mitigations and D3FEND defensive
    techniques that gate it."""

    id: str
    name: str
    tactic: str
    mitigations: tuple[str, ...]
    d3fend: tuple[str, ...] = ()

    @property
    def gates(self) -> tuple[str, ...]:
        return self.mitigations + self.d3fend


#: D3FEND tactics whose techniques close a door: hardening and isolation prevent or contain the technique.
#: Detect, Evict, Restore, Model and Deceive act around it, not as a gate in MAL's semantics (kept for later).
D3FEND_GATE_TACTICS = ("Harden", "Isolate")


def read_mapping(path: Path | str = MAPPING) -> Mapping:
    """The mapping table, checked: every state names a tactic; every asset type with platform-selected doors has
    platforms (itself or its subtypes); exclusions give reasons."""
    data = load_document(path, MAX_MAPPING_BYTES)
    where = str(path)
    if not isinstance(data, dict) or data.get("format") != 1:
        raise InputError(f"{where}: not a technique mapping table (format: 1)")
    platforms = data.get("platforms")
    if not isinstance(platforms, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(p, str) for p in v) for k, v in platforms.items()
    ):
        raise InputError(f"{where}: platforms must map asset types to lists of ATT&CK platforms")
    states = []
    for i, raw in enumerate(data.get("states") or []):
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in ("asset", "state", "tactic")):
            raise InputError(f"{where}: states[{i}] needs asset, state and tactic")
        only = raw.get("only")
        if only is not None and not (isinstance(only, list) and all(isinstance(t, str) for t in only)):
            raise InputError(f"{where}: states[{i}].only must be a list of technique ids")
        prefer = raw.get("prefer")
        if prefer is not None and not isinstance(prefer, str):
            raise InputError(f"{where}: states[{i}].prefer must be a technique id")
        state = State(raw["asset"], raw["state"], raw["tactic"], tuple(only) if only is not None else None, prefer)
        if only is None and not _concrete(state.asset, platforms):
            raise InputError(f"{where}: states[{i}] ({state.key}): {state.asset} has no platforms and no `only` list")
        states.append(state)
    exclusions = []
    for i, raw in enumerate(data.get("exclusions") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("technique"), str) or not raw.get("reason"):
            raise InputError(f"{where}: exclusions[{i}] needs a technique and a reason")
        scope = raw.get("states")
        exclusions.append(Exclusion(raw["technique"], str(raw["reason"]), tuple(scope) if scope else None))
    defaults = {}
    for name, raw in (data.get("defaults") or {}).items():
        if not isinstance(raw, dict) or not isinstance(raw.get("ttc"), str) or not raw.get("reason"):
            raise InputError(f"{where}: defaults.{name} needs a ttc (a MAL distribution) and a reason")
        try:
            parse(raw["ttc"])
        except DistributionError as exc:
            raise InputError(f"{where}: defaults.{name}: {exc}") from None
        defaults[str(name)] = Default(str(name), raw["ttc"], str(raw["reason"]))
    return Mapping(str(data.get("domain", "enterprise-attack")), {k: tuple(v) for k, v in platforms.items()},
                   states, exclusions, defaults)  # fmt: skip


def _concrete(asset: str, platforms: dict) -> list[str]:
    """The concrete asset types a state on ``asset`` puts its doors on (those with platforms)."""
    return [a for a in SUBTYPES.get(asset, (asset,)) if a in platforms]


def select_doors(mapping: Mapping, techniques: list[dict]) -> dict[tuple[str, str], list[Door]]:
    """``{(concrete asset type, state): [doors in id order]}`` from the knowledge base's technique table
    (:meth:`breachpath.kb.pages.KnowledgeBase.technique_table`)."""
    doors: dict[tuple[str, str], list[Door]] = {}
    for state in mapping.states:
        # A state on an abstract type puts its doors on each concrete subtype, from that subtype's platforms (an
        # `only` list narrows them further); a state with an `only` list on a type without platforms takes the list.
        abstract = state.asset in SUBTYPES
        targets = _concrete(state.asset, mapping.platforms) if state.only is None or abstract else [state.asset]
        for asset in targets:
            wanted = set(mapping.platforms.get(asset, ()))
            chosen = []
            for technique in techniques:
                if state.tactic not in technique["tactics"]:
                    continue
                if state.only is not None and technique["id"] not in state.only:
                    continue
                if (state.only is None or abstract) and not wanted & set(technique["platforms"]):
                    continue
                if mapping.excluded(technique["id"], state):
                    continue
                chosen.append(Door(technique["id"], technique["name"], state.tactic, tuple(technique["mitigations"])))
            doors[(asset, state.state)] = chosen
    return doors


def door_summary(doors: dict[tuple[str, str], list[Door]]) -> dict:
    """Distinct techniques, mitigations and D3FEND techniques over all doors (what `lang coverage` counts)."""
    techniques = sorted({d.id for ds in doors.values() for d in ds})
    mitigations = sorted({m for ds in doors.values() for d in ds for m in d.mitigations})
    d3fend = sorted({g for ds in doors.values() for d in ds for g in d.d3fend})
    return {
        "techniques": techniques,
        "mitigations": mitigations,
        "d3fend": d3fend,
        "doors": sum(len(ds) for ds in doors.values()),
    }


def countermeasures_for(kb, attack_ids: list[str]) -> dict[str, list[dict]]:
    """D3FEND's countermeasure rows (the knowledge base's inference) for each technique the ontology knows;
    techniques newer than the ontology get none."""
    from breachpath.errors import NotFoundError

    out: dict[str, list[dict]] = {}
    for attack_id in attack_ids:
        try:
            out[attack_id] = kb.countermeasures([attack_id])[attack_id]
        except NotFoundError:
            out[attack_id] = []
    return out


def add_d3fend(
    doors: dict[tuple[str, str], list[Door]],
    countermeasures: dict[str, list[dict]],
    tactics: tuple[str, ...] = D3FEND_GATE_TACTICS,
) -> dict[tuple[str, str], list[Door]]:
    """The doors with their D3FEND gates: the defensive techniques of ``tactics`` that the inference links to each
    door's technique (rows of :func:`countermeasures_for`)."""
    from dataclasses import replace

    def gates(attack_id: str) -> tuple[str, ...]:
        rows = countermeasures.get(attack_id, [])
        return tuple(sorted({r["d3fend_id"] for r in rows if r["tactic"] in tactics and r.get("d3fend_id")}))

    return {key: [replace(d, d3fend=gates(d.id)) for d in found] for key, found in doors.items()}
