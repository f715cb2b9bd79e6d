"""Threat-actor profiles (issue 17): a weight per ATT&CK technique, and which of them a language models.

A profile comes from (:func:`read_profile`):

- an ATT&CK group, campaign or software, by id, name or alias (``G0016``, ``Cozy Bear``), through the knowledge
  base (:meth:`breachpath.kb.actors.ActorQueries.actor_techniques`): every technique it uses weighs 1, and says
  where it comes from (direct use, a campaign, a piece of software);
- an ATT&CK Navigator layer file (``layer.json``): each technique with a score weighs score / the highest score;
- a list of technique ids (``T1566,T1059.001``): each weighs 1;
- a union of those, joined by ``+`` (``G0016+G0032``, ``G0016+extra.json``): a technique's weight is its largest.

A sub-technique implies its parent technique and a parent implies its sub-techniques when a language's door is
matched (:func:`modelled_by`): knowledge of a group is at the level ATT&CK reports it, which is often the parent
alone ("T1566") or a sub-technique alone ("T1566.001"), while the door may be the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.errors import InputError

TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
#: The largest Navigator layer file read, and the most techniques a profile may name.
MAX_LAYER_BYTES = 16 * 2**20
MAX_TECHNIQUES = 10_000


@dataclass
class Profile:
    """A weight in (0, 1] per ATT&CK technique id, where each came from, and the profile's name."""

    name: str
    weights: dict[str, float] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, technique: str, weight: float, source: str) -> None:
        self.weights[technique] = max(weight, self.weights.get(technique, 0.0))
        listed = self.sources.setdefault(technique, [])
        if source not in listed:
            listed.append(source)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "techniques": [
                {"id": t, "weight": self.weights[t], "sources": self.sources.get(t, [])} for t in sorted(self.weights)
            ],
            "notes": self.notes,
        }


def profile_from_kb(kb, text: str, via: tuple[str, ...] | None = None) -> Profile:
    """The profile of an ATT&CK group, campaign or software (id, name or alias)."""
    from breachpath.kb.actors import SOURCES

    found = kb.actor_techniques(text, via or SOURCES)
    actor = found["actor"]
    profile = Profile(f"{actor['id']} {actor['name']}")
    if found.get("redirected_from"):
        old = found["redirected_from"]
        profile.notes.append(f"{old['id']} ({old['name']}) is revoked in ATT&CK: its replacement {actor['id']} is used")
    for technique in found["techniques"]:
        for source in technique["sources"]:
            profile.add(technique["id"], 1.0, source)
    return profile


def profile_from_layer(path: Path) -> Profile:
    """The techniques of an ATT&CK Navigator layer with a score, weighted by score / the highest (a technique
    listed without a score weighs 1; one with a score of 0 or less is left out)."""
    from breachpath.fileio import load_json, read_text

    data = load_json(read_text(path, MAX_LAYER_BYTES), str(path))
    rows = data.get("techniques") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise InputError(f"{path}: not an ATT&CK Navigator layer (no list of techniques)")
    if len(rows) > MAX_TECHNIQUES:
        raise InputError(f"{path}: more than {MAX_TECHNIQUES:,} techniques")
    scored: list[tuple[str, float]] = []
    for i, row in enumerate(rows):
        technique = row.get("techniqueID") if isinstance(row, dict) else None
        if not isinstance(technique, str) or not TECHNIQUE.match(technique.strip().upper()):
            raise InputError(f"{path}: techniques[{i}]: techniqueID must be an ATT&CK technique id such as T1566.001")
        score = row.get("score", 1.0)
        if score is None:
            score = 1.0
        if isinstance(score, bool) or not isinstance(score, int | float) or score != score:
            raise InputError(f"{path}: techniques[{i}]: score must be a number, not {score!r}")
        if row.get("enabled", True) is not False and score > 0:
            scored.append((technique.strip().upper(), float(score)))
    profile = Profile(Path(path).name)
    top = max((s for _, s in scored), default=1.0)
    for technique, score in scored:
        profile.add(technique, min(score / top, 1.0), f"layer {Path(path).name}")
    return profile


def profile_from_ids(text: str) -> Profile:
    """``T1566,T1059.001``: each technique weighs 1."""
    ids = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [i for i in ids if not TECHNIQUE.match(i)]
    if bad or not ids:
        raise InputError(
            f"--actor {text!r}: {', '.join(bad) or 'no id'} is not an ATT&CK technique id such as T1566.001"
        )
    profile = Profile("techniques " + ",".join(ids))
    for i in ids:
        profile.add(i, 1.0, "listed")
    return profile


def names_an_actor(part: str) -> bool:
    """Whether one ``+`` part of ``--actor`` names an ATT&CK actor (not technique ids, not a layer file)."""
    part = part.strip()
    ids = [p.strip().upper() for p in part.split(",") if p.strip()]
    return bool(part) and not part.lower().endswith(".json") and not (ids and all(TECHNIQUE.match(i) for i in ids))


def read_profile(text: str, kb=None, via: tuple[str, ...] | None = None) -> Profile:
    """A profile from ``--actor`` text: actor names or ids, layer files, technique lists, joined by ``+``."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or not all(parts):
        raise InputError(f"--actor {text!r}: name an actor, a layer file or technique ids (joined by +)")
    union = Profile(" + ".join(parts))
    for part in parts:
        if part.lower().endswith(".json"):
            profile = profile_from_layer(Path(part))
        elif not names_an_actor(part):
            profile = profile_from_ids(part)
        else:
            if kb is None:
                raise InputError(f"--actor {part}: an ATT&CK actor needs a knowledge base (breachpath kb load)")
            profile = profile_from_kb(kb, part, via)
        for technique, weight in profile.weights.items():
            for source in profile.sources[technique]:
                union.add(technique, weight, source)
        union.notes += profile.notes
    if len(parts) == 1:
        union.name = profile.name
    return union


def modelled_by(profile: Profile, language_techniques: set[str]) -> dict[str, dict]:
    """For each technique of ``profile``, how ``language_techniques`` (the ids a language's doors name) model it:
    ``{"how": "door" | "parent door" | "sub-technique doors" | "not modelled", "doors": [ids]}``. A sub-technique
    implies its parent's door, and a parent technique its sub-techniques' doors (see the module's docstring)."""
    out = {}
    for technique in sorted(profile.weights):
        parent = technique.split(".")[0]
        subs = sorted(t for t in language_techniques if t.startswith(technique + "."))
        if technique in language_techniques:
            out[technique] = {"how": "door", "doors": [technique]}
        elif "." in technique and parent in language_techniques:
            out[technique] = {"how": "parent door", "doors": [parent]}
        elif subs:
            out[technique] = {"how": "sub-technique doors", "doors": subs}
        else:
            out[technique] = {"how": "not modelled", "doors": []}
    return out


#: How a run treats the techniques outside a profile.
MODES = ("soft", "strict")


def in_profile(ids: list[str], profile: Profile) -> bool:
    """Whether a step tagged with ``ids`` is one of the profile's techniques: the id itself, its parent technique,
    or a sub-technique of it (the rule of :func:`modelled_by`)."""
    weights = profile.weights
    for attack_id in ids:
        if attack_id in weights or attack_id.split(".")[0] in weights:
            return True
        if any(t.startswith(attack_id + ".") for t in weights):
            return True
    return False


def apply_actor(graph, profile: Profile, mode: str = "soft", outside: float = 10.0) -> dict:
    """Condition ``graph`` on an actor (in place): every attack step tagged with ATT&CK techniques none of which
    is in ``profile`` is a door the actor does not use. ``strict`` closes it (Infinity); ``soft`` keeps it open
    but slower: a door that takes no time gets a fixed delay of (``outside`` − 1) × the mean time of the timed
    steps it leads to (the state's), so the state through it takes ``outside`` times as long on average, and a
    timed step takes ``outside`` times its own time.

    Untimed doors (all of attacklang's) get constant TTCs, which draw no random numbers, and texts are appended:
    every other step draws exactly what it drew before (common random numbers across actors), so a profile holding
    every technique, or ``soft`` with ``outside`` = 1, leaves every result unchanged. A timed technique step that
    changes (other languages) moves later steps' draws. Returns what changed."""
    import numpy as np

    from breachpath.dist import parse

    if mode not in MODES:
        raise InputError(f"--actor-mode {mode!r}: one of {', '.join(MODES)}")
    if isinstance(outside, bool) or not isinstance(outside, int | float) or not 1 <= outside <= 1e6:
        raise InputError(f"--outside {outside!r}: a factor from 1 to 1,000,000 (1: no slower)")
    texts = [str(t) for t in graph.ttc_texts]
    means = {i: parse(t).mean() for i, t in enumerate(texts)}
    type_of = graph.asset_types[graph.asset]
    step_of = graph.step_names[graph.step]
    outside_ids: set[str] = set()
    changed = 0
    for key, ids in graph.info.get("attack_ids", {}).items():
        techniques = [i for i in ids if i.startswith("T")]
        if not techniques or in_profile(techniques, profile):
            continue
        asset_type, step = key.split(".", 1)
        nodes = np.flatnonzero((type_of == asset_type) & (step_of == step) & (graph.kind <= 1))
        if not len(nodes):
            continue
        outside_ids.update(techniques)
        for node in nodes.tolist():
            if mode == "strict":
                text = "Infinity"
            elif outside == 1:
                continue
            elif graph.ttc[node] >= 0:
                text = f"{outside:g} * ({texts[graph.ttc[node]]})"
            else:
                timed = [int(c) for c in graph.children(node) if graph.ttc[c] >= 0]
                finite = [
                    means[int(graph.ttc[c])] for c in timed if means[int(graph.ttc[c])] == means[int(graph.ttc[c])]
                ]
                delay = (outside - 1) * (sum(finite) / len(finite)) if finite else 0.0
                if delay <= 0 or delay == float("inf"):
                    continue
                text = f"{delay:.6g}"
            if text not in texts:
                texts.append(text)
                means[len(texts) - 1] = parse(text).mean()
            graph.ttc[node] = texts.index(text)
            changed += 1
    graph.ttc_texts = np.array(texts, dtype=np.str_)
    return {
        "actor": profile.name, "mode": mode, "outside": outside, "steps_changed": changed,
        "techniques_outside": sorted(outside_ids), "profile_techniques": len(profile.weights),
    }  # fmt: skip
