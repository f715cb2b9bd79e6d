"""Benchmark the attack-graph builder against mal-toolbox's on generated coreLang models, in the same run.

What is measured
----------------
Inputs: the coreLang language (``<shared>/data/corelang/main.mal``, where ``<shared>`` is
``$BREACHPATH_SHARED`` or the ``shared`` directory beside the repository) and, per size in ``--hosts``
(default 10, 100, 1,000 and 5,000 hosts), a model made by ``breachpath.samples.corelang_enterprise(hosts)``
(about seven assets per host) and written once, in the mal-toolbox layout, to a temporary ``.json`` file
with ``breachpath.model.write_model`` (in a child process of this interpreter); both sides read that same
file.

Each side builds each size in a fresh child process (``--runs`` of them per side and size, default 1), so the
peak RSS (``ru_maxrss``) is that build's alone. Every child runs with its current directory set to the
temporary directory: mal-toolbox writes a ``logs/`` folder into its current directory on import (and reads
a ``maltoolbox.yml`` from it), and neither should touch the repository. Each child prints its figures as one
JSON line on stdout.

This process stays small (about 20 MB): it generates no model and compares no sets itself. On Linux a
child's ``ru_maxrss`` starts from its parent's peak RSS (the kernel keeps the larger across fork and exec),
so a large parent would show up as every child's peak; a note says so if this process's peak ever reaches
a child's figure.

breachpath ("ours"), a child of this interpreter:

* import ``breachpath.lang``, ``breachpath.model`` and ``breachpath.graph``;
* language: ``spec = compile_file(<shared>/data/corelang/main.mal)``, timed;
* model read: ``read_model(path)``, timed;
* build: ``graph = build_graph(spec, model)``, timed (this includes completing the model's reverse links and
  validating it, as ``build_graph`` does); the peak RSS right after it, which covers the whole child so far
  (interpreter, imports, compiled language, model and graph);
* ``graph.n_nodes``, ``graph.n_edges`` and ``graph.stats()`` (nodes by kind, the graph's array bytes).

mal-toolbox ("peer", ``mal-toolbox==2.11.0``), installed into the throwaway venv that ``lang_bench.py`` uses
(``--peer-venv``, by default ``<user cache>/breachpath-bench/maltoolbox-venv``; created on first use, never
a project dependency), a child of that venv's interpreter:

* import ``maltoolbox.language.LanguageGraph``, ``maltoolbox.model.Model`` and
  ``maltoolbox.attackgraph.AttackGraph``;
* language: ``lg = LanguageGraph.from_mal_spec(path)`` (compile plus the language graph), timed;
* model read: ``Model.load_from_file(path, lg)``, timed;
* build: ``AttackGraph(lg, model)``, timed, and the peak RSS right after it;
* nodes ``len(ag.nodes)``, edges the sum of ``len(node.children)``, nodes by ``node.type``.

Both builds are unpruned: every step of every asset is a node, an edge per (step, step it reaches).

Answers compared, per size: node and edge counts, nodes by kind and model assets. For sizes up to
``--compare-up-to`` hosts (default 1,000) each child also writes, after its figures are taken, its node names
and edges to a JSON file in the temporary directory (``{"names": [...], "edges": [[parent, child], ...]}``,
edges as indices into ``names``; ours from ``graph.names()``, ``<asset name>:<step>``, and ``graph.edges()``;
the peer's from ``node.full_name`` and ``node.children``), and a child of this interpreter compares the sets
of node names and of (parent name, child name) edges: the counts of differences and a few examples of each.

Targets (the brief): the build at least 10x faster than mal-toolbox's and its peak RSS at most a quarter of
mal-toolbox's, unpruned; so the build row's target is the peer's build seconds / 10, and the peak-RSS row's
the peer's peak RSS / 4, both from this run. Without the peer (``--no-peer``, or a failed peer child) the
targets come from the brief's figures where it gives them (1,000 hosts: 287k nodes in 4.1-5.0 s and 326 MB;
5,000 hosts: 1.43M nodes in 19-23 s and 1.6 GB; the faster figure is used) and the notes say so.

The output is a table (metric, breachpath, target, mal-toolbox, peer/ours, note) and an "answers compared"
table, or JSON with ``--format json``. Nothing is asserted: this prints figures, it is not a test. Run it
with the project's venv:

    .venv/bin/python bench/graph_bench.py [--hosts 10,100,1000,5000] [--runs N] [--compare-up-to N]
        [--format table|json] [--no-peer] [--peer-venv PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from lang_bench import PEER_DISTRIBUTION, PEER_REQUIREMENT, PEER_VENV, _diff

LANGUAGE = "corelang/main.mal"
DEFAULT_HOSTS = (10, 100, 1000, 5000)
#: The brief's figures for mal-toolbox: hosts -> (nodes, build seconds, fastest and slowest, peak RSS MB).
BRIEF_PEER: dict[int, tuple[int, float, float, float]] = {
    1000: (287_000, 4.1, 5.0, 326.0),
    5000: (1_430_000, 19.0, 23.0, 1600.0),
}
SPEED_TARGET = 10.0  # build at least this many times faster than the peer
MEMORY_TARGET = 4.0  # peak RSS at most the peer's divided by this
#: Our node kinds (``breachpath.graph.KINDS``) by the names the language and mal-toolbox give them.
OUR_KINDS = {"or": "or", "and": "and", "defense": "defense", "exists": "exist", "notExists": "notExist"}
KIND_ORDER = ("or", "and", "defense", "exist", "notExist")

# Code shared by both children: peak RSS in MB and a timer.
_CHILD_PRELUDE = (
    CHILD_RSS
    + r"""
import json, resource, sys, time

def timed(out, key, fn):
    t = time.perf_counter()
    value = fn()
    out[key] = time.perf_counter() - t
    return value

lang_path, model_path, sets_path = sys.argv[1], sys.argv[2], sys.argv[3]
out = {"rss_start_mb": rss_mb()}
"""
)

_OURS_CHILD = (
    _CHILD_PRELUDE
    + r"""
t = time.perf_counter()
from breachpath.graph import KINDS, build_graph
from breachpath.lang import compile_file
from breachpath.model import read_model
out["import_s"] = time.perf_counter() - t

spec = timed(out, "compile_s", lambda: compile_file(lang_path))
model = timed(out, "read_s", lambda: read_model(model_path))
out["assets"] = len(model.assets)
out["load_rss_mb"] = rss_mb()
graph = timed(out, "build_s", lambda: build_graph(spec, model))
out["build_rss_mb"] = rss_mb()
out["nodes"], out["edges"] = graph.n_nodes, graph.n_edges
out["stats"] = graph.stats()
out["by_kind"] = out["stats"]["nodes_by_kind"]
if sets_path:
    t = time.perf_counter()
    with open(sets_path, "w") as f:
        json.dump({"names": graph.names(), "edges": graph.edges().tolist()}, f)
    out["sets_s"] = time.perf_counter() - t
print(json.dumps(out))
"""
)

_PEER_CHILD = (
    _CHILD_PRELUDE
    + r"""
import importlib.metadata
from collections import Counter
t = time.perf_counter()
from maltoolbox.attackgraph import AttackGraph
from maltoolbox.language import LanguageGraph
from maltoolbox.model import Model
out["import_s"] = time.perf_counter() - t
out["version"] = importlib.metadata.version("mal-toolbox")

lg = timed(out, "compile_s", lambda: LanguageGraph.from_mal_spec(lang_path))
model = timed(out, "read_s", lambda: Model.load_from_file(model_path, lg))
out["assets"] = len(model.assets)
out["load_rss_mb"] = rss_mb()
ag = timed(out, "build_s", lambda: AttackGraph(lg, model))
out["build_rss_mb"] = rss_mb()
nodes = list(ag.nodes.values())
out["nodes"] = len(nodes)
out["edges"] = sum(len(n.children) for n in nodes)
out["by_kind"] = dict(Counter(n.type for n in nodes))
if sets_path:
    t = time.perf_counter()
    index = {n.id: i for i, n in enumerate(nodes)}
    edges = [[i, index[c.id]] for i, n in enumerate(nodes) for c in n.children]
    with open(sets_path, "w") as f:
        json.dump({"names": [n.full_name for n in nodes], "edges": edges}, f)
    out["sets_s"] = time.perf_counter() - t
print(json.dumps(out))
"""
)


# The model is generated, and the sets compared, in children too: on Linux a child's ru_maxrss starts from
# its parent's peak RSS (the kernel keeps the larger across fork and exec), so this process must stay
# smaller than anything it measures.
_GENERATE_CHILD = r"""
import json, sys, time
from pathlib import Path
from breachpath.model import write_model
from breachpath.samples import corelang_enterprise
hosts, path = int(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter()
model = corelang_enterprise(hosts)
generated = time.perf_counter() - t
t = time.perf_counter()
write_model(model, path)
written = time.perf_counter() - t
info = {"assets": len(model.assets), "file_mb": path.stat().st_size / 1e6}
print(json.dumps({**info, "generate_s": generated, "write_s": written}))
"""

_COMPARE_CHILD = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from graph_bench import compare_sets
diffs, duplicates = compare_sets(Path(sys.argv[2]), Path(sys.argv[3]))
print(json.dumps({"diffs": diffs, "duplicates": duplicates}))
"""


@dataclass
class Results:
    """Everything the run measured, ready to print as a table or JSON."""

    language: str
    hosts: list[int]
    runs: int
    peer_version: str | None = None
    rows: list[Row] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_rss_mb: float | None = None
    ours_raw: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    peer_raw: dict[str, list[dict[str, Any]]] | None = None


@dataclass
class Measured:
    """One size: the model file, each side's children (first one wrote the sets), and the set comparison."""

    hosts: int
    model: dict[str, Any]
    ours: list[dict[str, Any]] = field(default_factory=list)
    peer: list[dict[str, Any]] = field(default_factory=list)
    ours_error: str | None = None
    peer_error: str | None = None
    sets: dict[str, dict[str, Any]] | None = None
    duplicates: dict[str, int] = field(default_factory=dict)
    compare_error: str | None = None


# -- running the children ------------------------------------------------------------------------------


def run_side(argv: list[str], runs: int, sets: Path | None, workdir: Path, what: str) -> list[dict[str, Any]]:
    """``runs`` fresh children of ``argv`` (plus the sets path, for the first run only) with ``workdir`` as
    their current directory; each child's JSON figures."""
    results = []
    for k in range(runs):
        sets_arg = str(sets) if sets is not None and k == 0 else ""
        with contextlib.chdir(workdir):
            results.append(run_child([*argv, sets_arg], what))
    return results


def compare_sets(ours_path: Path, peer_path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The node-name and edge sets of both sides compared (``_diff``), and how many node names each side
    repeats (a repeated name would make the set comparison blind to that node)."""
    diffs: dict[str, dict[str, Any]] = {}
    duplicates: dict[str, int] = {}
    sides = {}
    for side, path in (("ours", ours_path), ("peer", peer_path)):
        doc = json.loads(path.read_text())
        names: list[str] = doc["names"]
        node_set = {(name,) for name in names}
        duplicates[side] = len(names) - len(node_set)
        edge_set = {(names[p], names[c]) for p, c in doc["edges"]}
        sides[side] = (node_set, edge_set)
        del doc
    diffs["node names"] = _diff(sides["ours"][0], sides["peer"][0])
    diffs["edges (parent, child)"] = _diff(sides["ours"][1], sides["peer"][1])
    return diffs, duplicates


def generate_model(hosts: int, path: Path, workdir: Path) -> dict[str, Any]:
    """Write the model of ``hosts`` hosts to ``path``, in a child process (see ``_GENERATE_CHILD``)."""
    with contextlib.chdir(workdir):
        return run_child([sys.executable, "-c", _GENERATE_CHILD, str(hosts), str(path)], f"model of {hosts} hosts")


def compare_in_child(ours_path: Path, peer_path: Path, workdir: Path) -> dict[str, Any]:
    """:func:`compare_sets` in a child process of this interpreter, so that this one stays small."""
    argv = [sys.executable, "-c", _COMPARE_CHILD, str(Path(__file__).resolve().parent), str(ours_path), str(peer_path)]
    with contextlib.chdir(workdir):
        return run_child(argv, "set comparison")


def measure(
    hosts: int,
    lang: Path,
    python: Path | None,
    compare_up_to: int,
    runs: int,
    workdir: Path,
) -> Measured:
    """Generate and write the model of ``hosts`` hosts, run both sides on it, compare their answers."""
    path = workdir / f"corelang-{hosts}-hosts.json"
    info = generate_model(hosts, path, workdir)
    log(f"{hosts:,} hosts: {info['assets']:,} assets, {_size(info['file_mb'])} of JSON")
    res = Measured(hosts, info)
    compare = hosts <= compare_up_to
    ours_sets = workdir / f"ours-{hosts}.json" if compare else None
    peer_sets = workdir / f"peer-{hosts}.json" if compare else None

    log(f"{hosts:,} hosts: breachpath building the attack graph in {runs} child process(es) ...")
    try:
        argv = [sys.executable, "-c", _OURS_CHILD, str(lang), str(path)]
        res.ours = run_side(argv, runs, ours_sets, workdir, f"breachpath {hosts} hosts")
    except RuntimeError as exc:
        log(str(exc))
        res.ours_error = str(exc).splitlines()[0]
    if python is not None:
        log(f"{hosts:,} hosts: mal-toolbox building the attack graph in {runs} child process(es) ...")
        try:
            argv = [str(python), "-c", _PEER_CHILD, str(lang), str(path)]
            res.peer = run_side(argv, runs, peer_sets, workdir, f"mal-toolbox {hosts} hosts")
        except RuntimeError as exc:
            log(str(exc))
            res.peer_error = str(exc).splitlines()[0]
    if ours_sets and peer_sets and res.ours and res.peer:
        log(f"{hosts:,} hosts: comparing node and edge sets ...")
        try:
            compared = compare_in_child(ours_sets, peer_sets, workdir)
            res.sets, res.duplicates = compared["diffs"], compared["duplicates"]
        except RuntimeError as exc:
            log(str(exc))
            res.compare_error = str(exc).splitlines()[0]
    for sets in (ours_sets, peer_sets):
        if sets is not None:
            sets.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    return res


# -- assembling the figures ----------------------------------------------------------------------------


def _size(mb: float) -> str:
    return f"{mb:,.1f} MB" if mb >= 1 else f"{mb * 1000:,.0f} kB"


def _median(side: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in side if r.get(key) is not None]
    return statistics.median(values) if values else None


def _peak(side: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in side if r.get(key) is not None]
    return max(values) if values else None


def _by_kind(counts: dict[str, int] | None, ours: bool) -> str | None:
    if counts is None:
        return None
    named = {OUR_KINDS.get(k, k): v for k, v in counts.items()} if ours else dict(counts)
    order = [k for k in KIND_ORDER if named.get(k)] + sorted(k for k in named if k not in KIND_ORDER)
    return ", ".join(f"{k} {named[k]:,}" for k in order) or "none"


def build_results(lang: Path, sizes: list[Measured], runs: int, notes: list[str]) -> Results:
    peers = [r for m in sizes for r in m.peer]
    res = Results(
        language=str(lang),
        hosts=[m.hosts for m in sizes],
        runs=runs,
        peer_version=peers[0].get("version") if peers else None,
        notes=notes,
        models={str(m.hosts): m.model for m in sizes},
        ours_raw={str(m.hosts): m.ours for m in sizes},
        peer_raw={str(m.hosts): m.peer for m in sizes} if peers else None,
    )
    rows = res.rows
    ours_all = [r for m in sizes for r in m.ours]
    rows.append(
        Row(
            "import",
            "s",
            _median(ours_all, "import_s"),
            _median(peers, "import_s"),
            note="breachpath.lang/.model/.graph / maltoolbox; median over the children",
        )
    )
    rows.append(
        Row(
            "language: coreLang",
            "s",
            _median(ours_all, "compile_s"),
            _median(peers, "compile_s"),
            note="compile_file / LanguageGraph.from_mal_spec (compile + language graph); median over the children",
        )
    )
    for m in sizes:
        h = f"{m.hosts:,} hosts"
        ours, peer = m.ours, m.peer
        brief = BRIEF_PEER.get(m.hosts)
        peer_build, peer_rss = _median(peer, "build_s"), _peak(peer, "build_rss_mb")
        source = "this run"
        if peer_build is None and brief is not None:
            peer_build_target, peer_rss_target, source = brief[1], brief[3], "the brief"
        else:
            peer_build_target, peer_rss_target = peer_build, peer_rss
        build_target = peer_build_target / SPEED_TARGET if ours and peer_build_target else None
        rss_target = peer_rss_target / MEMORY_TARGET if ours and peer_rss_target else None
        state = f"breachpath failed: {m.ours_error}" if m.ours_error else ""
        runs_note = f"median of {runs}" if runs > 1 else "one child each"
        rows.append(
            Row(
                f"{h}: build",
                "s",
                _median(ours, "build_s"),
                peer_build,
                build_target,
                state
                or f"build_graph / AttackGraph(lg, model); {m.model['assets']:,} assets; {runs_note}; "
                f"target peer/{SPEED_TARGET:g} ({source})",
            )
        )
        graph_mb = ours[0]["stats"].get("memory_bytes", 0) / 1e6 if ours and "stats" in ours[0] else None
        rows.append(
            Row(
                f"{h}: peak RSS",
                "MB",
                _peak(ours, "build_rss_mb"),
                peer_rss,
                rss_target,
                f"ru_maxrss after the build (whole child); target peer/{MEMORY_TARGET:g} ({source})"
                + (f"; our graph's arrays {graph_mb:,.1f} MB" if graph_mb is not None else ""),
            )
        )
        rows.append(
            Row(
                f"{h}: peak RSS before the build",
                "MB",
                _peak(ours, "load_rss_mb"),
                _peak(peer, "load_rss_mb"),
                note="after import, language and model read",
            )
        )
        rows.append(
            Row(
                f"{h}: model read",
                "s",
                _median(ours, "read_s"),
                _median(peer, "read_s"),
                note=f"read_model / Model.load_from_file; {_size(m.model['file_mb'])} of JSON",
            )
        )
        for key in ("nodes", "edges"):
            mine = ours[0][key] / 1000 if ours else None
            theirs = peer[0][key] / 1000 if peer else None
            note = "graph.n_nodes / len(ag.nodes)" if key == "nodes" else "graph.n_edges / sum of len(node.children)"
            rows.append(Row(f"{h}: {key}", f"k {key}", mine, theirs, note=note))
        res.answers += compare_size(m, res.differences, notes)
        if brief is not None and peer:
            nodes, fast, slow, mb = brief
            notes.append(
                f"mal-toolbox at {h}: {peer[0]['nodes']:,} nodes, build {peer_build:.2f} s, peak RSS "
                f"{peer_rss:,.0f} MB; the brief: {nodes / 1000:,.0f}k nodes, {fast:g}-{slow:g} s, {mb:,.0f} MB"
            )
        if m.peer_error:
            notes.append(f"mal-toolbox at {h}: its child failed: {m.peer_error}")
        if m.compare_error:
            notes.append(f"{h}: the set comparison failed: {m.compare_error}")
        if source == "the brief" and ours:
            notes.append(
                f"{h}: no peer figures in this run; the targets use the brief's mal-toolbox figures "
                f"({brief[1]:g} s, {brief[3]:,.0f} MB)"
            )
    res.parent_rss_mb = _own_rss_mb()
    children = [r["build_rss_mb"] for m in sizes for r in m.ours + m.peer if r.get("build_rss_mb") is not None]
    if res.parent_rss_mb is not None and children and res.parent_rss_mb >= min(children):
        notes.append(
            f"this process's peak RSS ({res.parent_rss_mb:,.1f} MB) is at least one child's: a child's ru_maxrss "
            "starts from its parent's peak on Linux, so the smallest peak-RSS figures may be this process's"
        )
    return res


def _own_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def compare_size(m: Measured, differences: dict[str, dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """The "answers compared" rows of one size; set differences go into ``differences``."""
    h = f"{m.hosts:,} hosts"
    ours, peer = (m.ours[0] if m.ours else None), (m.peer[0] if m.peer else None)
    answers: list[dict[str, Any]] = []

    def add(answer: str, mine: Any, theirs: Any, key: str | None = None) -> None:
        same = (mine == theirs) if mine is not None and theirs is not None else None
        if key is not None:
            d = differences[key]
            same = not d["only_ours"] and not d["only_peer"]
        answers.append({"answer": f"{h}: {answer}", "breachpath": mine, "mal-toolbox": theirs, "same": same})
        if key is not None:
            answers[-1]["diff"] = key

    add("model assets", ours and ours["assets"], peer and peer["assets"])
    add("nodes", ours and ours["nodes"], peer and peer["nodes"])
    add("edges", ours and ours["edges"], peer and peer["edges"])
    add("nodes by kind", _by_kind(ours and ours["by_kind"], True), _by_kind(peer and peer["by_kind"], False))
    if m.sets is not None:
        for name, d in m.sets.items():
            key = f"{h}: {name}"
            differences[key] = d
            add(f"{name} (sets)", d["ours"], d["peer"], key)
        for side, label in (("ours", "breachpath"), ("peer", "mal-toolbox")):
            if m.duplicates.get(side):
                notes.append(f"{h}: {label} repeats {m.duplicates[side]:,} node names; the name sets count each once")
    return answers


# -- printing ------------------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 190)
    peer_label = f"mal-toolbox {res.peer_version}" if res.peer_version else "mal-toolbox (skipped)"
    title = (
        f"breachpath attack graph vs mal-toolbox, coreLang models of {', '.join(f'{h:,}' for h in res.hosts)} "
        f"hosts (target: build ≤ peer/{SPEED_TARGET:g}, peak RSS ≤ peer/{MEMORY_TARGET:g}, unpruned)"
    )
    console.print(metrics_table(res.rows, title, peer_label))

    answers = Table(title="answers compared", title_justify="left")
    for name in ("answer", "breachpath", "mal-toolbox", "same"):
        answers.add_column(name)

    def show(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value:,}" if isinstance(value, int) else str(value)

    for a in res.answers:
        same = {True: "yes", False: "NO", None: "—"}[a["same"]]
        d = res.differences.get(a.get("diff") or "")
        if d and a["same"] is False:
            same += f" ({d['only_ours']:,} only ours, {d['only_peer']:,} only mal-toolbox)"
        answers.add_row(a["answer"], show(a["breachpath"]), show(a["mal-toolbox"]), same)
    console.print(answers)
    for key, d in res.differences.items():
        for side, label in (("examples_only_ours", "only breachpath"), ("examples_only_peer", "only mal-toolbox")):
            for example in d[side]:
                console.print(f"{key}, {label}: {tuple(example)}", highlight=False)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


# -- main ----------------------------------------------------------------------------------------------


def _hosts(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected host counts separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("host counts must be at least 1")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument(
        "--hosts",
        type=_hosts,
        default=list(DEFAULT_HOSTS),
        help="model sizes in hosts, separated by commas (default 10,100,1000,5000)",
    )
    parser.add_argument("--runs", type=int, default=1, help="fresh children per side and size (default 1)")
    parser.add_argument(
        "--compare-up-to",
        type=int,
        default=1000,
        help="compare node and edge sets for sizes up to this many hosts (default 1000)",
    )
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mal-toolbox")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lang = (shared_dir() / "data" / LANGUAGE).resolve()
    if not lang.is_file():
        log(f"missing MAL file: {lang}; set BREACHPATH_SHARED")
        return 2
    notes: list[str] = []

    python: Path | None = None
    if args.no_peer:
        notes.append("peer skipped (--no-peer)")
    else:
        venv = (args.peer_venv or default_venv(PEER_VENV)).resolve()
        python, why = ensure_venv(venv, PEER_REQUIREMENT, PEER_DISTRIBUTION)
        if python is None:
            log(f"skipping the peer: {why}")
            notes.append(f"peer skipped: {why}")

    runs = max(1, args.runs)
    sizes: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="graph-bench-") as tmp:
        workdir = Path(tmp).resolve()
        for hosts in sorted(set(args.hosts)):
            try:
                sizes.append(measure(hosts, lang, python, args.compare_up_to, runs, workdir))
            except RuntimeError as exc:  # the model could not be generated: nothing to measure
                log(f"{exc}\nrun this with the project's venv")
                return 2

    compared = [m.hosts for m in sizes if m.sets is not None]
    notes.append(
        "node and edge sets compared at "
        + (", ".join(f"{h:,}" for h in compared) + " hosts" if compared else "no size")
        + f" (--compare-up-to {args.compare_up_to:,}); node names are '<asset name>:<step>' on both sides"
    )
    notes.append("rows in k nodes / k edges are thousands; the exact counts are in the answers compared")
    res = build_results(lang, sizes, runs, notes)
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
