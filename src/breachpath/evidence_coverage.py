"""How much of a language's numbers rest on evidence: per estimate, which steps use it, whether it is an evidence
estimate or a stated default, how many findings and sources stand behind it, and how often its steps lie on the
attack paths of the example systems.

A language says where each number comes from in its steps' ``modeler info`` (:mod:`breachpath.lang.provenance`):
a state's TTC is ``TTC: estimate estimates/T1190.yaml …`` or ``TTC: default for discovery, …``; a mitigation's gate
(``defeatM1032… [Bernoulli(1 − effectiveness)]``) names ``estimates/M1032.yaml`` or says it has no evidence. The
steps that share one source are one row: an estimate file (a technique, a mitigation, a D3FEND technique) or a
default. The estimate files are read from the ``estimates/`` directory beside the language (only the ``*.yaml``
files there, whatever a step's text names), so a source that is cited but missing shows as such.

This is an analysis, not part of the evidence stage: the share of attack paths simulates the examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from breachpath.dist import parse
from breachpath.errors import InputError
from breachpath.evidence.catalog import estimate_files
from breachpath.evidence.model import Estimate, read_estimate
from breachpath.graph import AttackGraph
from breachpath.lang.provenance import ttc_provenance
from breachpath.lang.spec import LanguageSpec

#: How many estimate files with findings issue 16 asks the built-in language for.
TARGET_ESTIMATES = 60

# A gate's defeat step is named after its defense step ("defeat" + the defense's name, capitalised); an ATT&CK
# mitigation's defense step carries its id, a D3FEND one spells it: d3CFPChangeDefaultPassword is D3-CFP.
_D3FEND = re.compile(r"^d3([A-Z0-9]+?)(?=[A-Z][a-z])")
_SOURCE = re.compile(r"^estimates/(?P<stem>[A-Za-z0-9][A-Za-z0-9._-]*)\.ya?ml$")


def defense_of(defeat: str) -> str:
    """The defense step a gate's defeat step belongs to: ``defeatM1032…`` → ``m1032…`` (the naming of
    :func:`breachpath.langs.generate.gate_steps`)."""
    name = defeat.removeprefix("defeat")
    return name[:1].lower() + name[1:]


def gate_id(defense: str, attack_ids: list[str]) -> str:
    """The mitigation id a defense step stands for: its ATT&CK id (``M1032``), or the D3FEND id its name spells
    (``d3CFContentFiltering`` → ``D3-CF``), else the step's own name."""
    for attack_id in attack_ids:
        if attack_id.startswith("M"):
            return attack_id
    if found := _D3FEND.match(defense):
        return f"D3-{found.group(1)}"
    return defense


def language_catalog(spec: LanguageSpec) -> dict[str, Estimate]:
    """The estimates of the ``estimates/`` directory beside the language's main file (the last of ``spec.files``:
    includes come first), by file stem; empty when there is none."""
    if not spec.files:
        return {}
    directory = Path(spec.files[-1]).parent / "estimates"
    if not directory.is_dir():
        return {}
    return {path.stem: read_estimate(path) for path in estimate_files(directory)}


def coverage_rows(spec: LanguageSpec, catalog: dict[str, Estimate] | None = None) -> list[dict]:
    """One row per source of the language's numbers: ``{"id", "what", "source", "name", "reason", "value",
    "findings", "sources", "publishers", "steps", "missing"}``.

    ``what`` is "step TTC" or "defense effectiveness"; ``source`` "estimate", "default" or "unstated"; ``id`` the
    estimate's key (``T1190``, ``M1032``, ``D3-CF``) or, for a state's default, ``default:<tactic>``; ``name``
    the estimate's name, the gated mitigation's or the default's tactic; ``reason`` why a default holds; ``value``
    the TTC (MAL text) or the effectiveness; ``findings`` and ``sources`` (distinct URLs or titles) count the
    estimate's evidence, 0 for a default; ``steps`` lists ``Asset.step`` for every step that takes the number
    (each asset type once, inherited steps with the type that declares them); ``missing`` is set when a step
    cites an estimate file the catalog lacks (or a path outside ``estimates/``, which is never read).
    """
    catalog = language_catalog(spec) if catalog is None else catalog
    rows: dict[tuple[str, str], dict] = {}
    for asset_type in spec.assets:
        steps = spec.steps(asset_type)
        for name, step in steps.items():
            if step.asset != asset_type:
                continue  # inherited: listed with the type that declares it
            found = ttc_provenance(step)
            if found is None:
                continue
            gate = name.startswith("defeat") and step.ttc.startswith("Bernoulli")
            label = found["tactic"]
            if gate:
                defense = defense_of(name)
                attack_ids = steps[defense].attack_ids if defense in steps else []
                key = gate_id(defense, attack_ids)
                # "Multi-factor Authentication, https://attack.mitre.org/mitigations/M1032/"
                label = (steps[defense].meta.get("user") or "").split(", http")[0] if defense in steps else None
            elif found["kind"] == "estimate":
                key = _stem(found["source"]) or found["source"]
            elif found["kind"] == "default":
                key = f"default:{(found['tactic'] or 'unnamed').replace(' ', '-')}"
            else:
                key = f"unstated:{asset_type}.{name}"
            what = "defense effectiveness" if gate else "step TTC"
            row = rows.get((what, key))
            if row is None:
                row = rows[(what, key)] = _row(key, what, found, step.ttc, gate, catalog, label or None)
            row["steps"].append(f"{asset_type}.{name}")
    return sorted(rows.values(), key=lambda r: (r["what"], r["source"] != "estimate", r["id"]))


def _row(
    key: str, what: str, found: dict, ttc: str, gate: bool, catalog: dict[str, Estimate], label: str | None
) -> dict:
    stem = _stem(found["source"]) if found["kind"] == "estimate" else None
    estimate = catalog.get(stem) if stem else None
    findings = estimate.findings if estimate else ()
    # A gate is defeated with probability 1 − effectiveness.
    value: str | float = round(1 - parse(ttc).success_probability(), 4) if gate else ttc
    return {
        "id": key,
        "what": what,
        "source": found["kind"],
        "name": estimate.name if estimate else label,
        "reason": found["reason"] if found["kind"] == "default" else None,
        "value": value,
        "findings": len(findings),
        "sources": len({f.url or f.source for f in findings}),
        "publishers": sorted({f.source for f in findings}),
        "steps": [],
        "missing": found["kind"] == "estimate" and estimate is None,
    }


def _stem(source: str | None) -> str | None:
    """``T1190`` for ``estimates/T1190.yaml``; None for anything else (no other directory, no ``..``)."""
    found = _SOURCE.match(source or "")
    return found["stem"] if found else None


def row_of_nodes(spec: LanguageSpec, graph: AttackGraph, owner: dict[str, int]) -> np.ndarray:
    """For each node of ``graph``, ``owner``'s value for the step (``"DeclaringAsset.step"``, the asset type that
    declares it, as :func:`coverage_rows` lists steps), or -1. Looked up once per (asset type, step) pair, then
    spread over the nodes."""
    type_names, type_of_asset = np.unique(graph.asset_types, return_inverse=True)
    pairs, pair_of = np.unique(np.stack([type_of_asset.ravel()[graph.asset], graph.step]), axis=1, return_inverse=True)
    row_of_pair = np.full(pairs.shape[1], -1, dtype=np.int64)
    for k, (type_code, step) in enumerate(pairs.T.tolist()):
        asset_type, name = str(type_names[type_code]), str(graph.step_names[step])
        declared = spec.steps(asset_type).get(name)
        found = owner.get(f"{declared.asset}.{name}") if declared is not None else None
        row_of_pair[k] = -1 if found is None else found
    return row_of_pair[pair_of.ravel()]


def path_shares(
    rows: list[dict],
    examples: list[str],
    samples: int = 1000,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """For each row's ``(what, id)``, the share of the examples' successful attack paths (every target of every
    example, ``samples`` each) that hold one of its steps: a step whose TTC it gives, or the defense whose gate it
    rates (a path holds a defense that is off when it goes through the door that defense gates). Keys are
    ``"<what>|<id>"``."""
    from breachpath.analysis import path_steps
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.lang.compiler import compile_file
    from breachpath.scenario import read_scenario
    from breachpath.sim import simulate

    owner: dict[str, str] = {}  # "Asset.step" of the rows' steps (a gate: its defense) -> row key
    for row in rows:
        for step in row["steps"]:
            if row["what"] == "defense effectiveness":
                asset, name = step.split(".", 1)
                step = f"{asset}.{defense_of(name)}"
            owner[step] = f"{row['what']}|{row['id']}"
    keys = sorted(set(owner.values()))
    index = {key: i for i, key in enumerate(keys)}
    hits = np.zeros(len(keys), dtype=np.int64)
    paths = 0
    for done, example in enumerate(examples):
        scenario = read_scenario(example_path(example))
        spec = compile_file(scenario.lang)
        graph, entries, targets, _ = scenario_graph(spec, scenario)
        if not entries or not targets:
            continue
        sim = simulate(graph, entries, targets, samples=samples, seed=seed, path_targets=len(targets))
        row_of = row_of_nodes(spec, graph, {step: index[key] for step, key in owner.items()})
        for j in range(len(targets)):
            successful = np.flatnonzero(np.isfinite(sim.times[:, j]))
            nodes, path = path_steps(sim, successful, j)
            kept = row_of[nodes] >= 0
            held = np.unique(path[kept] * len(keys) + row_of[nodes][kept])  # each (path, row) once
            hits += np.bincount(held % len(keys), minlength=len(keys)) if len(keys) else 0
            paths += len(successful)
        if progress:
            progress(done + 1, len(examples))
    if paths == 0:
        raise InputError("no example reached a target: there are no attack paths to count")
    return {key: float(hits[i] / paths) for key, i in index.items()}


def coverage(
    spec: LanguageSpec,
    examples: list[str] | None = None,
    samples: int = 1000,
    seed: int = 2026,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """The coverage of ``spec``'s numbers by evidence (:func:`coverage_rows`), with each row's share of the
    ``examples``' attack paths (:func:`path_shares`; none without examples) and a summary: the catalog's files
    (and those with findings), the estimates the language uses that have findings (against
    :data:`TARGET_ESTIMATES`), per kind of number how many rows and steps are estimates or defaults, and the
    estimate files cited but missing. Rows are ranked by their share of paths, then as :func:`coverage_rows` orders them."""
    catalog = language_catalog(spec)
    rows = coverage_rows(spec, catalog)
    if examples:
        shares = path_shares(rows, examples, samples, seed, progress)
        for row in rows:
            row["on_paths"] = shares.get(f"{row['what']}|{row['id']}", 0.0)
        rows.sort(key=lambda r: -r["on_paths"])  # stable: ties keep coverage_rows' order
    with_findings = sorted({r["id"] for r in rows if r["source"] == "estimate" and r["findings"]})
    summary = {
        "catalog_files": len(catalog),
        "catalog_files_with_findings": sum(1 for e in catalog.values() if e.findings),
        "estimates_with_findings": len(with_findings),
        "target": TARGET_ESTIMATES,
        "by_kind": {
            what: {
                source: {
                    "rows": sum(1 for r in rows if r["what"] == what and r["source"] == source),
                    "steps": sum(len(r["steps"]) for r in rows if r["what"] == what and r["source"] == source),
                }
                for source in ("estimate", "default", "unstated")
            }
            for what in ("step TTC", "defense effectiveness")
        },
        "missing": sorted(r["id"] for r in rows if r["missing"]),
    }
    return {
        "language": {"file": spec.files[-1] if spec.files else None, **spec.defines},
        "examples": examples or [],
        "samples": samples if examples else None,
        "seed": seed if examples else None,
        "summary": summary,
        "rows": rows,
    }
