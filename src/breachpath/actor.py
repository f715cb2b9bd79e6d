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

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from breachpath.errors import InputError

TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
#: The largest Navigator layer file read, and the most techniques a profile may name.
MAX_LAYER_BYTES = 16 * 2**20
MAX_TECHNIQUES = 10_000

#: Where the ransomware preset's list is published: the website shows it, the repository holds it (the
#: ``topTenListInfo`` "ransomware" entry of src/stores/calculator.store.ts, set by pull request #27, July 2024).
CTID_RANSOMWARE = (
    "MITRE Center for Threat-Informed Defense, Top ATT&CK Techniques v2.0.0 (2024-07-17), Ransomware Top 10: "
    "https://top-attack-techniques.mitre-engenuity.org/ and "
    "https://github.com/center-for-threat-informed-defense/top-attack-techniques/pull/27"
)

#: Named profiles (``--actor any``): ``techniques`` None is every technique.
PRESETS: dict[str, dict] = {
    "any": {"title": "any (unconditioned)", "techniques": None, "source": "every technique"},
    # CTID ranks techniques by prevalence, chokepoint position and actionability (detections and mitigations), and
    # for this list by how many of the ransomware families it studied were reported to use each; in its order.
    "ransomware-top10": {
        "title": "ransomware-top10 (CTID)",
        "techniques": ("T1059", "T1078", "T1021.001", "T1047", "T1490", "T1105", "T1083", "T1486", "T1190", "T1489"),
        "source": "CTID Ransomware Top 10 (2024)",
        "citation": CTID_RANSOMWARE,
    },
}


@dataclass
class Profile:
    """A weight in (0, 1] per ATT&CK technique id, where each came from, and the profile's name."""

    name: str
    weights: dict[str, float] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    every: bool = False  # the ``any`` preset: every technique, the unconditioned attacker
    citations: list[str] = field(default_factory=list)  # where a preset's list is published
    _parents: tuple[int, frozenset[str]] = field(default=(-1, frozenset()), repr=False, compare=False)

    def parents(self) -> frozenset[str]:
        """The parent techniques of the profile's sub-techniques (a parent's door serves them); kept until the
        profile changes."""
        if self._parents[0] != len(self.weights):
            self._parents = (len(self.weights), frozenset(t.split(".")[0] for t in self.weights if "." in t))
        return self._parents[1]

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
            "every_technique": self.every,
            "citations": self.citations,
        }


def profile_from_kb(kb, text: str, via: tuple[str, ...] | None = None) -> Profile:
    """The profile of an ATT&CK group, campaign or software (id, name or alias)."""
    from breachpath.kb.actors import SOURCES

    found = kb.actor_techniques(text, SOURCES if via is None else via)
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
    """Whether one ``+`` part of ``--actor`` names an ATT&CK actor (not technique ids, a layer file or a preset)."""
    part = part.strip()
    ids = [p.strip().upper() for p in part.split(",") if p.strip()]
    return (
        bool(part) and not part.lower().endswith(".json") and part.lower() not in PRESETS
        and not any(TECHNIQUE.match(i) for i in ids)  # "T1566,T1059" (and a mistyped list) is technique ids
    )  # fmt: skip


def preset_profile(name: str) -> Profile:
    """A named profile (:data:`PRESETS`): ``any`` holds every technique; the others list theirs with a source."""
    preset = PRESETS[name.lower()]
    if preset["techniques"] is None:
        return Profile(preset["title"], every=True)
    profile = Profile(preset["title"], citations=[preset["citation"]])
    for technique in preset["techniques"]:
        profile.add(technique, 1.0, preset["source"])
    return profile


def read_profile(text: str, kb=None, via: tuple[str, ...] | None = None) -> Profile:
    """A profile from ``--actor`` text: actor names or ids, layer files, technique lists or presets, joined by
    ``+``."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or not all(parts):
        raise InputError(f"--actor {text!r}: name an actor, a layer file, technique ids or a preset (joined by +)")
    union = Profile(" + ".join(parts))
    for part in parts:
        if part.lower() in PRESETS:
            profile = preset_profile(part)
        elif part.lower().endswith(".json"):
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
        union.citations += profile.citations
        union.every |= profile.every
    if len(parts) == 1:
        union.name = profile.name
    return union


def open_profile(text: str, db: Path | None = None, via: tuple[str, ...] | None = None) -> Profile:
    """:func:`read_profile`, opening the knowledge base at ``db`` (default: the user's) only when a part names an
    ATT&CK actor."""
    from breachpath.kb.pages import KnowledgeBase
    from breachpath.kb.store import default_db_path

    if not any(names_an_actor(part) for part in text.split("+")):
        return read_profile(text, None, via)
    db_path = db or default_db_path()
    if not db_path.is_file():
        raise InputError(f"{db_path}: no knowledge base; build one with `breachpath kb load` (an actor needs ATT&CK)")
    with KnowledgeBase.open(db_path) as kb:
        return read_profile(text, kb, via)


def modelled_by(profile: Profile, language_techniques: set[str]) -> dict[str, dict]:
    """For each technique of ``profile``, how ``language_techniques`` (the ids a language's doors name) model it:
    ``{"how": "door" | "parent door" | "sub-technique doors" | "not modelled", "doors": [ids]}``. A sub-technique
    implies its parent's door, and a parent technique its sub-techniques' doors (see the module's docstring)."""
    by_parent: dict[str, list[str]] = {}
    for t in sorted(language_techniques):
        if "." in t:
            by_parent.setdefault(t.split(".")[0], []).append(t)
    out = {}
    for technique in sorted(profile.weights):
        parent = technique.split(".")[0]
        subs = by_parent.get(technique, [])
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
    or a sub-technique of it (the rule of :func:`modelled_by`). Every step is in the ``any`` profile."""
    if profile.every:
        return True
    weights, parents = profile.weights, profile.parents()
    return any(i in weights or i.split(".")[0] in weights or i in parents for i in ids)


@dataclass
class ActorDoors:
    """The attack steps of a graph tagged with ATT&CK techniques, grouped by step (``Type.step``), with what a soft
    actor slows each by: computed once (:func:`actor_doors`) for conditioning the graph on many actors."""

    techniques: list[list[str]]  # per step: its technique ids
    nodes: list[np.ndarray]  # per step: its attack-step nodes
    mean_after: list[np.ndarray]  # per node: mean time of the timed steps it leads to (NaN: none), for untimed doors


def actor_doors(graph) -> ActorDoors:
    """The technique-tagged attack steps of ``graph`` (see :class:`ActorDoors`)."""
    from breachpath.dist import parse

    means = np.array([parse(str(t)).mean() for t in graph.ttc_texts], dtype=float)
    type_of = graph.asset_types[graph.asset]
    step_of = graph.step_names[graph.step]
    doors = ActorDoors([], [], [])
    for key, ids in graph.info.get("attack_ids", {}).items():
        techniques = [i for i in ids if TECHNIQUE.match(i)]
        asset_type, _, step = key.partition(".")
        nodes = np.flatnonzero((type_of == asset_type) & (step_of == step) & (graph.kind <= 1)) if techniques else []
        if not len(nodes):
            continue
        after = np.full(len(nodes), np.nan)
        for k, node in enumerate(nodes.tolist()):
            if graph.ttc[node] < 0:
                finite = [
                    m for c in graph.children(node) if graph.ttc[c] >= 0 and np.isfinite(m := means[graph.ttc[c]])
                ]
                after[k] = sum(finite) / len(finite) if finite else np.nan
        doors.techniques.append(techniques)
        doors.nodes.append(nodes)
        doors.mean_after.append(after)
    return doors


def check_conditioning(mode: str, outside: float) -> None:
    """``--actor-mode`` and ``--outside``, checked."""
    if mode not in MODES:
        raise InputError(f"--actor-mode {mode!r}: one of {', '.join(MODES)}")
    if isinstance(outside, bool) or not isinstance(outside, int | float) or not 1 <= outside <= 1e6:
        raise InputError(f"--outside {outside!r}: a factor from 1 to 1,000,000 (1: no slower)")


def apply_actor(
    graph, profile: Profile, mode: str = "soft", outside: float = 10.0, doors: ActorDoors | None = None
) -> dict:
    """Condition ``graph`` on an actor (in place): every attack step tagged with ATT&CK techniques none of which
    is in ``profile`` is a door the actor does not use. ``strict`` closes it (Infinity); ``soft`` keeps it open
    but slower: a door that takes no time gets a fixed delay of (``outside`` − 1) × the mean time of the timed
    steps it leads to (the state's), so the state through it takes ``outside`` times as long on average, and a
    timed step takes ``outside`` times its own time.

    Untimed doors (all of attacklang's) get constant TTCs, which draw no random numbers, and texts are appended:
    every other step draws exactly what it drew before (common random numbers across actors), so a profile holding
    every technique, or ``soft`` with ``outside`` = 1, leaves every result unchanged. A timed technique step that
    changes (other languages) moves later steps' draws. ``doors`` (:func:`actor_doors` of this graph) saves
    finding the steps again. Returns what changed."""
    check_conditioning(mode, outside)
    doors = doors or actor_doors(graph)
    texts = [str(t) for t in graph.ttc_texts]
    index = {t: i for i, t in enumerate(texts)}
    ttc = graph.ttc
    outside_ids: set[str] = set()
    changed = 0
    for techniques, nodes, after in zip(doors.techniques, doors.nodes, doors.mean_after, strict=True):
        if in_profile(techniques, profile):
            continue
        outside_ids.update(techniques)
        for node, mean_after in zip(nodes.tolist(), after.tolist(), strict=True):
            if mode == "strict":
                text = "Infinity"
            elif outside == 1:
                continue
            elif ttc[node] >= 0:
                text = f"{outside:g} * ({texts[ttc[node]]})"
            else:
                delay = (outside - 1) * mean_after
                if not 0 < delay < float("inf"):  # NaN: the door leads to no timed step
                    continue
                text = f"{delay:.6g}"
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            ttc[node] = index[text]
            changed += 1
    graph.ttc_texts = np.array(texts, dtype=np.str_)
    # The graph says whom it was conditioned on: paths mark the actor's techniques, saved results keep it.
    graph.info["actor"] = {
        "name": profile.name, "mode": mode, "outside": outside, "every": profile.every,
        "techniques": sorted(profile.weights),
    }  # fmt: skip
    return {
        "actor": profile.name, "mode": mode, "outside": outside, "steps_changed": changed,
        "techniques_outside": sorted(outside_ids), "profile_techniques": len(profile.weights),
        "every_technique": profile.every,
    }  # fmt: skip


def conditioned(graph, profile: Profile, mode: str = "soft", outside: float = 10.0,
                doors: ActorDoors | None = None) -> tuple:  # fmt: skip
    """``(copy of graph conditioned on the actor, what changed)``: :func:`apply_actor` on a copy (the TTC arrays
    are copied, the rest shared), so one graph serves many actors."""
    copy = dataclasses.replace(graph, ttc=graph.ttc.copy(), ttc_texts=graph.ttc_texts.copy(), info=dict(graph.info))
    return copy, apply_actor(copy, profile, mode, outside, doors)


def graph_actor(graph) -> tuple[Profile, str, float] | None:
    """The actor ``graph`` was conditioned on (:func:`apply_actor`), as ``(profile, mode, outside)``; None if none."""
    return saved_actor(graph.info.get("actor"), "graph info")


def saved_actor(data, where: str) -> tuple[Profile, str, float] | None:
    """The actor a graph or a results file recorded (``{"name", "mode", "outside", "every", "techniques"}``), checked
    (it is read from a file: ``where`` names it in errors); None for none."""
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or len(data["name"]) > 10_000:
        raise InputError(f"{where}: actor: not an actor record")
    techniques = data.get("techniques")
    if (
        not isinstance(techniques, list)
        or len(techniques) > MAX_TECHNIQUES
        or not all(isinstance(t, str) and TECHNIQUE.match(t) for t in techniques)
    ):
        raise InputError(f"{where}: actor: techniques must be a list of ATT&CK technique ids")
    if not isinstance(data.get("every", False), bool):
        raise InputError(f"{where}: actor: every must be true or false")
    mode, outside = data.get("mode"), data.get("outside")
    try:
        check_conditioning(mode, outside)
    except InputError as exc:
        raise InputError(f"{where}: actor: {exc}") from None
    return Profile(data["name"], dict.fromkeys(techniques, 1.0), every=data.get("every", False)), mode, outside


def closed_by_actor(original, actor_graph, entries: list[int], targets: list[int], kb=None,
                    before: np.ndarray | None = None, tactics_of: dict | None = None) -> dict[int, str]:  # fmt: skip
    """Why each target that ``entries`` reach in ``original`` is out of reach once a strict actor closed its doors:
    ``{target: "… has no initial-access technique for the doors open from the entry points (T1190, …)"}``.

    The doors named are the frontier: closed steps whose parents the actor does reach (all of them for an AND
    step). The tactic named is the one their techniques share in the knowledge base (``kb``); when they share
    none (the actor lacks more than one stage), the most frequent tactics are listed. ``before``: the steps
    :func:`breachpath.graph.possibly_reached` finds in ``original``, when known; ``tactics_of``: a technique's
    tactics, filled as they are looked up (one dict serves many actors)."""
    from collections import Counter

    from breachpath.graph import possibly_reached
    from breachpath.navigator import technique_tactics

    before = possibly_reached(original, entries) if before is None else before
    after = possibly_reached(actor_graph, entries)
    lost = [int(t) for t in targets if before[t] and not after[t]]
    if not lost:
        return {}
    ptr = actor_graph.parent_ptr
    n_parents = np.diff(ptr)
    reached_before = np.concatenate([[0], np.cumsum(after[actor_graph.parent_idx])])
    reached_parents = reached_before[ptr[1:]] - reached_before[ptr[:-1]]  # per step, its parents the actor reaches
    stands_before = np.where(actor_graph.kind == 1, reached_parents == n_parents, reached_parents > 0) & (n_parents > 0)
    frontier = np.flatnonzero((actor_graph.ttc != original.ttc) & before & stands_before).tolist()
    ids = sorted({i for v in frontier for i in actor_graph.info.get("attack_ids", {}).get(_key(actor_graph, v), [])
                  if TECHNIQUE.match(i)})  # fmt: skip
    tactics: Counter[str] = Counter()
    shared: set[str] | None = None
    tactics_of = {} if tactics_of is None else tactics_of
    for i in ids:
        if i not in tactics_of:
            tactics_of[i] = technique_tactics(kb, i)
        found = set(tactics_of[i])
        tactics.update(found)
        shared = found if shared is None else shared & found
    shown = ", ".join(ids[:8]) + (f", … ({len(ids)} in all)" if len(ids) > 8 else "")
    named = sorted(shared) if shared else [t for t, _ in tactics.most_common()]
    if 0 < len(named) <= 2:
        what = f"no {' or '.join(named)} technique for the doors open from the entry points ({shown})"
    else:
        listed = f"; tactics {', '.join(named[:4])}{', …' if len(named) > 4 else ''}" if named else ""
        what = f"none of the techniques of the doors open from the entry points ({shown}{listed})"
    return dict.fromkeys(lost, what)


def _key(graph, node: int) -> str:
    return f"{graph.asset_types[graph.asset[node]]}.{graph.step_names[graph.step[node]]}"


def run_as(graph, profile: Profile, mode: str, outside: float, entries: list[int], targets: list[int], kb=None,
           doors: ActorDoors | None = None, explain: bool = True) -> tuple:  # fmt: skip
    """``graph`` conditioned on the actor (:func:`conditioned`) and what changed, with ``closed``: for each target a
    strict actor can no longer reach, why (:func:`closed_by_actor`; its P is 0), unless not ``explain``."""
    actor_graph, done = conditioned(graph, profile, mode, outside, doors)
    done["closed"] = {}
    if mode == "strict" and explain:
        why = closed_by_actor(graph, actor_graph, entries, targets, kb)
        done["closed"] = {graph.name(t): reason for t, reason in why.items()}
    return actor_graph, done


def actor_line(done: dict) -> str:
    """One line on what conditioning on an actor did (:func:`apply_actor`'s result)."""
    if done.get("every_technique"):
        return f"actor {done['actor']}: every technique is the actor's, nothing changed"
    how = "closed" if done["mode"] == "strict" else f"{done['outside']:g}× slower"
    return (
        f"actor {done['actor']} ({done['mode']}): {done['steps_changed']} steps of "
        f"{len(done['techniques_outside'])} techniques outside its {done['profile_techniques']} are {how}"
    )
