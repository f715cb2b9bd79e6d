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
