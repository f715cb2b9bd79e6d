"""Benchmark the MAL compiler against mal-toolbox's on the same three languages, in the same run.

What is measured
----------------
Inputs, under ``<shared>/data`` (``<shared>`` is ``$BREACHPATH_SHARED`` or the ``shared`` directory beside
the repository): coreLang (``corelang/main.mal``, which includes the other coreLang files), enterpriseLang
(``enterpriselang/enterpriselang.mal``, about 5,800 lines) and exampleLang
(``examplelang/exampleLang.mal``), and the built-in attacklang (1.0, four generated files). ``--only`` picks some
of them.

Each side runs in one fresh child process per language (so the first compile is a cold one and the peak
RSS is that language's alone); each child prints its figures as one JSON line on stdout.

breachpath ("ours"), a child of this interpreter:

* import: ``from breachpath.lang import compile_file``;
* compile: ``compile_file(path)`` on its first call, then the median of ``--repeat`` further calls (each a
  fresh compile of the file);
* peak RSS (``ru_maxrss``) after the first compile and at the end;
* ``spec.counts()`` as the package reports it, and ``spec.to_langspec()`` (timed once), from which the
  structure below is read.

If ``breachpath.lang`` cannot be imported yet, or ``compile_file`` raises ``NotImplementedError`` or
``ImportError``, our side says "breachpath.lang not available yet" and the peer's figures are still printed.

mal-toolbox ("peer", ``mal-toolbox==2.11.0``), installed into a throwaway venv (``--peer-venv``, by
default ``<user cache>/breachpath-bench/maltoolbox-venv``; created on first use, never a project
dependency), a child of that venv's interpreter:

* import: ``from maltoolbox.language.compiler import MalCompiler`` (a tree-sitter grammar, ``tree_sitter_mal``,
  plus a visitor and a semantic analyser written in Python);
* compile: ``MalCompiler().compile(path)``, first call and the median of ``--repeat`` further calls, each
  in a fresh ``MalCompiler`` (one compiler object remembers the files it has visited and would return
  ``{}`` for a second compile of the same file); it returns the langspec dict of a ``.mar`` archive's
  ``langspec.json`` (formatVersion, defines, categories, assets with their attackSteps, associations);
* ``LanguageGraph.from_mal_spec(path)`` (compile plus building the language graph, which lists every step
  an asset has, inherited ones included), median of up to 3 calls; no counterpart on our side;
* peak RSS after the first compile and at the end.

How the counts are defined (both sides read from a langspec dict, by the same code here):

* assets: the entries of ``assets`` (abstract ones included);
* attack steps, declared: the sum over assets of ``len(attackSteps)``, the compiler's own output. A step
  is listed under the asset whose body declares it; a sub-asset lists a parent's step again only where it
  redeclares it (``| step +> ...`` to extend it, or a plain override), and inherited steps it does not
  mention are not listed;
* attack steps, incl. inherited: per asset, the union of the step names of the asset and all its
  ``superAsset`` ancestors (each name once; the nearest declaration gives the type), summed over assets.
  This is what mal-toolbox's ``LanguageGraph`` holds (``asset.attack_steps``), and the peer child checks
  that the two agree;
* associations: the entries of ``associations``, one per association line of the ``associations`` blocks;
* steps by type: ``type`` of each step (``or``, ``and``, ``defense``, ``exist``, ``notExist``), for both
  step counts.

When both sides ran, their structures are compared: the asset names, ``(asset, superAsset, abstract)``,
``(asset, step)`` and ``(asset, step, type)`` both declared and incl. inherited, the association pairs
``(leftAsset.leftField, rightAsset.rightField)`` and the same with the association's name, and the defines;
for each, the counts of differences and a few examples.

The output is a table (metric, breachpath, the target "no slower than mal-toolbox" for the compile-time
rows, mal-toolbox, peer/ours) and an "answers compared" table, or JSON with ``--format json``. Nothing is
asserted: this prints figures, it is not a test. Run it with the project's venv:

    .venv/bin/python bench/lang_bench.py [--repeat N] [--only coreLang ...] [--format table|json] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Every compile is timed as a compile: the compiled-language cache (breachpath.lang.cache) is off here and in the
# children, which inherit this environment.
os.environ["BREACHPATH_CACHE"] = "off"

from _common import (
    CHILD_RSS,
    Row,
    default_venv,
    ensure_venv,
    log,
    metrics_table,
    print_json,
    run_child,
    shared_dir,
)

PEER_REQUIREMENT = "mal-toolbox==2.11.0"
PEER_DISTRIBUTION = "mal-toolbox"
PEER_VENV = "maltoolbox-venv"

#: (label, path under ``<shared>/data``, the brief's expected counts: assets, steps, associations; None
#: where the brief gives none).
LANGUAGES: list[tuple[str, str, tuple[int | None, int | None, int | None]]] = [
    ("coreLang", "corelang/main.mal", (19, 530, 48)),
    ("enterpriseLang", "enterpriselang/enterpriselang.mal", (24, 2360, None)),
    ("exampleLang", "examplelang/exampleLang.mal", (4, 9, None)),
    # The built-in language (generated; its main file includes one file per host type): issue 14 asks ≤ 0.5 s.
    ("attacklang", "builtin:attacklang", (33, None, None)),
]


def language_path(data: Path, rel: str) -> Path:
    """A language's entry file: under ``<shared>/data``, or ``builtin:NAME`` for one that ships with breachpath."""
    if rel.startswith("builtin:"):
        from breachpath.langs import builtin_language

        return builtin_language(rel.removeprefix("builtin:"))
    return data / rel


STEP_TYPES = ("or", "and", "defense", "exist", "notExist")
NOT_AVAILABLE = "breachpath.lang not available yet"

# Code shared by both children: peak RSS in MB, a repeated-median timer, and the part of a langspec dict
# the comparison needs (kept small so the JSON line stays small).
_CHILD_PRELUDE = (
    CHILD_RSS
    + r"""
import json, resource, statistics, sys, time

def repeated(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    if not times:
        return {"runs": 0}
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}

def structure(spec):
    return {
        "formatVersion": spec.get("formatVersion"),
        "defines": spec.get("defines") or {},
        "categories": [c.get("name") for c in spec.get("categories") or []],
        "assets": [
            {
                "name": a.get("name"),
                "superAsset": a.get("superAsset"),
                "isAbstract": bool(a.get("isAbstract")),
                "category": a.get("category"),
                "variables": len(a.get("variables") or []),
                "steps": [[s.get("name"), s.get("type")] for s in a.get("attackSteps") or []],
            }
            for a in spec.get("assets") or []
        ],
        "associations": [
            [x.get("leftAsset"), x.get("leftField"), x.get("rightAsset"), x.get("rightField"), x.get("name")]
            for x in spec.get("associations") or []
        ],
    }
"""
)

_OURS_CHILD = (
    _CHILD_PRELUDE
    + r"""
path, repeat = sys.argv[1], int(sys.argv[2])
out = {"available": True, "rss_start_mb": rss_mb()}

def done(**fields):
    out.update(fields)
    print(json.dumps(out))
    sys.exit(0)

t = time.perf_counter()
try:
    from breachpath.lang import compile_file
except ImportError as exc:
    done(available=False, why=f"ImportError: {exc}")
except Exception as exc:  # a half-written package: say why, still not available
    done(available=False, why=f"{type(exc).__name__} on import: {exc}")
out["import_s"] = time.perf_counter() - t

try:
    t = time.perf_counter()
    spec = compile_file(path)
    out["first_s"] = time.perf_counter() - t
except (NotImplementedError, ImportError) as exc:
    done(available=False, why=f"compile_file: {type(exc).__name__}: {exc}")
except Exception as exc:
    done(error=f"compile_file: {type(exc).__name__}: {exc}")
out["first_rss_mb"] = rss_mb()
try:
    out.update(repeated(lambda: compile_file(path), repeat))
except Exception as exc:
    out["repeat_error"] = f"{type(exc).__name__}: {exc}"
try:
    out["counts"] = spec.counts()
except Exception as exc:
    out["counts_error"] = f"{type(exc).__name__}: {exc}"
try:
    t = time.perf_counter()
    langspec = spec.to_langspec()
    out["to_langspec_s"] = time.perf_counter() - t
    out["structure"] = structure(langspec)
except Exception as exc:
    out["langspec_error"] = f"{type(exc).__name__}: {exc}"
out["end_rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

_PEER_CHILD = (
    _CHILD_PRELUDE
    + r"""
import importlib.metadata
path, repeat = sys.argv[1], int(sys.argv[2])
out = {"available": True, "rss_start_mb": rss_mb()}
t = time.perf_counter()
from maltoolbox.language.compiler import MalCompiler
out["import_s"] = time.perf_counter() - t
out["version"] = importlib.metadata.version("mal-toolbox")

t = time.perf_counter()
spec = MalCompiler().compile(path)
out["first_s"] = time.perf_counter() - t
out["first_rss_mb"] = rss_mb()
out.update(repeated(lambda: MalCompiler().compile(path), repeat))
out["structure"] = structure(spec)

from maltoolbox.language import LanguageGraph
graph = LanguageGraph.from_mal_spec(path)
out["graph"] = repeated(lambda: LanguageGraph.from_mal_spec(path), max(1, min(repeat, 3)))
out["graph"]["steps"] = {
    name: sorted([s.name, s.type] for s in asset.attack_steps.values()) for name, asset in graph.assets.items()
}
out["graph"]["associations"] = len(graph.associations)
out["end_rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)


@dataclass
class Results:
    """Everything the run measured, ready to print as a table or JSON."""

    data: str
    peer_version: str | None = None
    rows: list[Row] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ours_raw: dict[str, Any] = field(default_factory=dict)
    peer_raw: dict[str, Any] | None = None


# -- reading a langspec structure ----------------------------------------------------------------------

Key = tuple[Any, ...]


def inherited_steps(structure: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """Per asset, every step it has: its own and its ancestors' (``superAsset`` chain), each name once, the
    type of the nearest declaration (the asset's own first). Unknown parents and cycles end the chain."""
    assets = {a["name"]: a for a in structure["assets"]}
    view: dict[str, dict[str, str | None]] = {}
    for name in assets:
        steps: dict[str, str | None] = {}
        seen: set[str] = set()
        current: str | None = name
        while current in assets and current not in seen:
            seen.add(current)
            for step, kind in assets[current]["steps"]:
                steps.setdefault(step, kind)
            current = assets[current]["superAsset"]
        view[name] = steps
    return view


def counts_of(structure: dict[str, Any]) -> dict[str, Any]:
    """The counts defined in the module docstring, from a langspec structure."""
    declared = [kind for a in structure["assets"] for _, kind in a["steps"]]
    view = inherited_steps(structure)
    inherited = [kind for steps in view.values() for kind in steps.values()]
    return {
        "assets": len(structure["assets"]),
        "steps": len(declared),
        "steps_inherited": len(inherited),
        "associations": len(structure["associations"]),
        "steps_by_type": dict(Counter(declared)),
        "steps_by_type_inherited": dict(Counter(inherited)),
        "abstract": sum(1 for a in structure["assets"] if a["isAbstract"]),
        "steps_inherited_concrete": sum(len(view[a["name"]]) for a in structure["assets"] if not a["isAbstract"]),
    }


def key_sets(structure: dict[str, Any]) -> dict[str, set[Key]]:
    """The sets compared between the two sides, by name."""
    assets = structure["assets"]
    view = inherited_steps(structure)
    return {
        "asset names": {(a["name"],) for a in assets},
        "(asset, superAsset, abstract)": {(a["name"], a["superAsset"], a["isAbstract"]) for a in assets},
        "(asset, step), declared": {(a["name"], s) for a in assets for s, _ in a["steps"]},
        "(asset, step, type), declared": {(a["name"], s, k) for a in assets for s, k in a["steps"]},
        "(asset, step), incl. inherited": {(a, s) for a, steps in view.items() for s in steps},
        "(asset, step, type), incl. inherited": {(a, s, k) for a, steps in view.items() for s, k in steps.items()},
        "associations (leftAsset.leftField, rightAsset.rightField)": {
            (f"{la}.{lf}", f"{ra}.{rf}") for la, lf, ra, rf, _ in structure["associations"]
        },
        "associations with their name": {
            (name, f"{la}.{lf}", f"{ra}.{rf}") for la, lf, ra, rf, name in structure["associations"]
        },
        "defines": {(k, v) for k, v in structure["defines"].items()},
    }


def _diff(mine: set[Key], theirs: set[Key], examples: int = 5) -> dict[str, Any]:
    def show(items: set[Key]) -> list[list[Any]]:
        return [list(t) for t in sorted(items, key=lambda t: tuple(str(x) for x in t))[:examples]]

    only_ours, only_peer = mine - theirs, theirs - mine
    return {
        "ours": len(mine),
        "peer": len(theirs),
        "only_ours": len(only_ours),
        "only_peer": len(only_peer),
        "examples_only_ours": show(only_ours),
        "examples_only_peer": show(only_peer),
    }


def _by_type(counter: dict[str, int]) -> str:
    order = [t for t in STEP_TYPES if t in counter] + sorted(t for t in counter if t not in STEP_TYPES)
    return ", ".join(f"{t} {counter[t]}" for t in order) or "none"


# -- comparing the answers -----------------------------------------------------------------------------


def compare_language(
    label: str,
    expected: tuple[int | None, int | None, int | None],
    ours: dict[str, Any] | None,
    peer: dict[str, Any] | None,
    notes: list[str],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The "answers compared" rows of one language, and the differences (with examples) behind them."""
    answers: list[dict[str, Any]] = []
    diffs: dict[str, dict[str, Any]] = {}

    def add(answer: str, mine: Any, theirs: Any, same: bool | None, key: str | None = None) -> None:
        answers.append({"answer": f"{label}: {answer}", "breachpath": mine, "mal-toolbox": theirs, "same": same})
        if key is not None:
            answers[-1]["diff"] = key

    our_structure = ours.get("structure") if ours and ours.get("available") else None
    peer_structure = peer.get("structure") if peer else None
    mine = counts_of(our_structure) if our_structure else None
    theirs = counts_of(peer_structure) if peer_structure else None

    def pick(counts: dict[str, Any] | None, key: str) -> Any:
        if counts is None:
            return None
        value = counts[key]
        return _by_type(value) if isinstance(value, dict) else value

    for key, answer in (
        ("assets", "assets"),
        ("steps", "attack steps, declared (compiler's attackSteps)"),
        ("steps_inherited", "attack steps incl. inherited (LanguageGraph)"),
        ("associations", "associations"),
        ("steps_by_type", "steps by type, declared"),
        ("steps_by_type_inherited", "steps by type, incl. inherited"),
    ):
        a, b = pick(mine, key), pick(theirs, key)
        add(answer, a, b, (a == b) if a is not None and b is not None else None)

    reported = ours.get("counts") if ours and ours.get("available") else None
    if isinstance(reported, dict):
        steps = reported.get("steps")
        summary = (
            f"assets {reported.get('assets')}, steps {steps}, associations {reported.get('associations')}; "
            f"{_by_type(reported.get('steps_by_type') or {})}"
        )
        matches: list[str] = []
        if theirs is not None:
            if steps == theirs["steps"]:
                matches.append("declared")
            if steps == theirs["steps_inherited"]:
                matches.append("incl. inherited")
        same = None
        if theirs is not None:
            same = (
                reported.get("assets") == theirs["assets"]
                and bool(matches)
                and reported.get("associations") == theirs["associations"]
            )
        peer_text = (
            f"steps: {theirs['steps']} declared / {theirs['steps_inherited']} incl. inherited"
            + (f"; ours' steps match {' and '.join(matches)}" if matches else "; ours' steps match neither")
            if theirs
            else None
        )
        add("spec.counts()", summary, peer_text, same)
        if mine is not None and (
            reported.get("assets") != mine["assets"] or reported.get("associations") != mine["associations"]
        ):
            notes.append(f"{label}: spec.counts() disagrees with spec.to_langspec() on assets or associations")

    if our_structure and peer_structure:
        our_keys, their_keys = key_sets(our_structure), key_sets(peer_structure)
        for name in our_keys:
            key = f"{label}: {name}"
            d = diffs[key] = _diff(our_keys[name], their_keys[name])
            add(name, d["ours"], d["peer"], not d["only_ours"] and not d["only_peer"], key)

    if peer is not None and peer_structure:
        graph = peer.get("graph", {})
        from_spec = {(a, s, k) for a, steps in inherited_steps(peer_structure).items() for s, k in steps.items()}
        from_graph = {(a, s, k) for a, steps in graph.get("steps", {}).items() for s, k in steps}
        add(
            "mal-toolbox self-check: langspec + inheritance = LanguageGraph",
            None,
            f"{len(from_spec)} vs {len(from_graph)} (asset, step, type); "
            f"{graph.get('associations')} graph associations",
            from_spec == from_graph and graph.get("associations") == len(peer_structure["associations"]),
        )
        n_assets, n_steps, n_assocs = expected
        found = []
        for want, got, what in (
            (n_assets, theirs["assets"] if theirs else None, "assets"),
            (n_steps, theirs["steps_inherited"] if theirs else None, "steps incl. inherited"),
            (n_assocs, theirs["associations"] if theirs else None, "associations"),
        ):
            if want is not None:
                found.append(f"{what} {got} (brief {want}{'' if got == want else ', DIFFERS'})")
        if theirs and n_steps is not None and theirs["steps"] != n_steps and theirs["steps_inherited"] == n_steps:
            found.append(
                f"the brief's {n_steps:,} steps count inherited steps: declared attackSteps sum to {theirs['steps']:,}"
            )
        if found:
            notes.append(f"{label}, mal-toolbox against the brief: " + "; ".join(found))
    return answers, diffs


# -- assembling the figures ----------------------------------------------------------------------------


def _ours_state(ours: dict[str, Any] | None) -> str:
    if ours is None:
        return "not run"
    if not ours.get("available"):
        return f"{NOT_AVAILABLE} ({ours.get('why')})"
    if "error" in ours:
        return f"failed: {ours['error']}"
    return "ok"


def build_results(
    data: Path,
    measured: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]],
    notes: list[str],
) -> Results:
    peers = [p for _, p in measured.values() if p]
    res = Results(
        data=str(data),
        peer_version=peers[0].get("version") if peers else None,
        notes=notes,
        ours_raw={label: _strip(o) for label, (o, _) in measured.items()},
        peer_raw={label: _strip(p) for label, (_, p) in measured.items()} if peers else None,
    )
    rows = res.rows

    def usable(side: dict[str, Any] | None) -> dict[str, Any] | None:
        return side if side and side.get("available") and "error" not in side else None

    imports_ours = [o["import_s"] for o, _ in measured.values() if usable(o) and "import_s" in o]
    imports_peer = [p["import_s"] for _, p in measured.values() if p and "import_s" in p]
    rows.append(
        Row(
            "import",
            "s",
            statistics.median(imports_ours) if imports_ours else None,
            statistics.median(imports_peer) if imports_peer else None,
            note="breachpath.lang / maltoolbox.language.compiler; median over the language children",
        )
    )
    states: dict[str, list[str]] = {}
    for label, (raw_ours, peer) in measured.items():
        ours = usable(raw_ours)
        state = _ours_state(raw_ours)
        if state != "ok":
            states.setdefault(state, []).append(label)

        def ms(side: dict[str, Any] | None, key: str) -> float | None:
            return side[key] * 1000 if side and side.get(key) is not None else None

        def mb(side: dict[str, Any] | None, key: str) -> float | None:
            return side.get(key) if side else None

        # The target is the peer's figure, set only where ours exists (a row without ours is no MISS).
        first_peer, median_peer = ms(peer, "first_s"), ms(peer, "median_s")
        rows.append(
            Row(
                f"{label}: compile, first",
                "ms",
                ms(ours, "first_s"),
                first_peer,
                first_peer if ours else None,
                "compile_file(path) / MalCompiler().compile(path), fresh process" if ours else state.split(" (", 1)[0],
            )
        )
        runs = f"runs: {ours.get('runs', 0) if ours else 0} / {peer.get('runs', 0) if peer else 0}"
        if ours and "repeat_error" in ours:
            runs += f"; ours failed on a repeat: {ours['repeat_error']}"
        rows.append(
            Row(
                f"{label}: compile, median",
                "ms",
                ms(ours, "median_s"),
                median_peer,
                median_peer if ours else None,
                f"{runs}; peer in a fresh MalCompiler each",
            )
        )
        graph = peer.get("graph") if peer else None
        if graph and "median_s" in graph:
            rows.append(
                Row(
                    f"{label}: LanguageGraph.from_mal_spec",
                    "ms",
                    None,
                    graph["median_s"] * 1000,
                    note=f"peer only: compile + language graph, median of {graph['runs']}",
                )
            )
        if ours and "to_langspec_s" in ours:
            rows.append(Row(f"{label}: spec.to_langspec()", "ms", ours["to_langspec_s"] * 1000, note="ours only"))
        rows.append(
            Row(
                f"{label}: peak RSS after first compile",
                "MB",
                mb(ours, "first_rss_mb"),
                mb(peer, "first_rss_mb"),
            )
        )
        rows.append(
            Row(
                f"{label}: peak RSS at the end",
                "MB",
                mb(ours, "end_rss_mb"),
                mb(peer, "end_rss_mb"),
                note="peer: after LanguageGraph too" if peer else "",
            )
        )
        for key in ("counts_error", "langspec_error"):
            if ours and key in ours:
                notes.append(f"{label}, breachpath {key.removesuffix('_error')}: {ours[key]}")
        expected = next(e for lbl, _, e in LANGUAGES if lbl == label)
        answers, diffs = compare_language(label, expected, ours, peer, notes)
        res.answers += answers
        res.differences.update(diffs)
    for state, labels in states.items():
        notes.insert(0, f"breachpath ({', '.join(labels)}): {state}")
    return res


def _strip(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """A child's figures without the bulky structure (its counts stay in the answers)."""
    if raw is None:
        return None
    out = {k: v for k, v in raw.items() if k != "structure"}
    if isinstance(out.get("graph"), dict):
        out["graph"] = {k: v for k, v in out["graph"].items() if k != "steps"}
    return out


# -- printing ------------------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 170)
    peer_label = f"mal-toolbox {res.peer_version}" if res.peer_version else "mal-toolbox (skipped)"
    title = f"breachpath MAL compiler vs mal-toolbox on {res.data} (target: no slower than mal-toolbox)"
    console.print(metrics_table(res.rows, title, peer_label))

    answers = Table(title="answers compared", title_justify="left")
    for name in ("answer", "breachpath", "mal-toolbox", "same"):
        answers.add_column(name)
    for a in res.answers:
        same = {True: "yes", False: "NO", None: "—"}[a["same"]]
        d = res.differences.get(a.get("diff") or "")
        if d and a["same"] is False:
            same += f" ({d['only_ours']} only ours, {d['only_peer']} only mal-toolbox)"
        mine, theirs = a["breachpath"], a["mal-toolbox"]
        answers.add_row(a["answer"], "—" if mine is None else str(mine), "—" if theirs is None else str(theirs), same)
    console.print(answers)
    for key, d in res.differences.items():
        for side, label in (("examples_only_ours", "only breachpath"), ("examples_only_peer", "only mal-toolbox")):
            for example in d[side]:
                console.print(f"{key}, {label}: {tuple(example)}", highlight=False)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    labels = [label for label, _, _ in LANGUAGES]
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument("--repeat", type=int, default=10, help="repeated compiles after the first (default 10)")
    parser.add_argument("--only", nargs="+", choices=labels, default=None, help="languages to measure (default all)")
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mal-toolbox")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = shared_dir() / "data"
    repeat = max(0, args.repeat)
    languages = [
        (label, language_path(data, rel)) for label, rel, _ in LANGUAGES if args.only is None or label in args.only
    ]
    missing = [str(path) for _, path in languages if not path.is_file()]
    if missing:
        log(f"missing MAL files: {', '.join(missing)}; set BREACHPATH_SHARED")
        return 2
    notes: list[str] = []

    python: Path | None = None
    if args.no_peer:
        notes.append("peer skipped (--no-peer)")
    else:
        python, why = ensure_venv(args.peer_venv or default_venv(PEER_VENV), PEER_REQUIREMENT, PEER_DISTRIBUTION)
        if python is None:
            log(f"skipping the peer: {why}")
            notes.append(f"peer skipped: {why}")

    measured: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
    for label, path in languages:
        log(f"breachpath: compiling {label} in a child process ...")
        try:
            ours: dict[str, Any] | None = run_child([sys.executable, "-c", _OURS_CHILD, str(path), str(repeat)], label)
        except RuntimeError as exc:
            log(str(exc))
            ours = {"available": True, "error": "its child process failed (see stderr)"}
        if ours is not None and not ours.get("available"):
            log(f"{NOT_AVAILABLE}: {ours.get('why')}")
        peer: dict[str, Any] | None = None
        if python is not None:
            log(f"mal-toolbox: compiling {label} in a child process ...")
            try:
                peer = run_child([str(python), "-c", _PEER_CHILD, str(path), str(repeat)], f"mal-toolbox {label}")
            except RuntimeError as exc:
                log(str(exc))
                notes.append(f"{label}, mal-toolbox: its child failed (see stderr)")
        measured[label] = (ours, peer)

    notes.append("compile rows' target: no slower than mal-toolbox, its figure from this run")
    notes.append(
        "declared steps: the compiler's attackSteps, a step under the asset that declares it (redeclared "
        "overrides listed again); incl. inherited: each asset's own and ancestors' step names, once each"
    )
    res = build_results(data, measured, notes)
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
