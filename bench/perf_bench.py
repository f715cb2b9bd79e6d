"""Issue 15's table, before and now: model loading, cold start, the engine, the demo's what-if and 5,000 hosts.

What is measured
----------------
Every row is measured twice in one run: "now" with this interpreter and the checkout it imports breachpath
from (the working tree, uncommitted changes included), and "before" at ``--before REV`` (default ``880dd16``,
the commit issue 15 was filed at). "before" is a clone of this repository at REV under
``<user cache>/breachpath-bench/before-<rev>/breachpath`` (with a ``shared`` symlink beside it pointing at
``<shared>``) installed with ``pip install -e`` into the venv ``before-<rev>/venv`` beside it; both are made
on first use and reused. Its children run the same code with that venv's python and console script. With
``--no-before`` the before column shows the figures issue 15 recorded instead, labelled as such.

Inputs: the coreLang language ``<shared>/data/corelang/main.mal`` (``<shared>`` is ``$BREACHPATH_SHARED`` or
the ``shared`` directory beside the repository) and the model ``breachpath.samples.corelang_enterprise(hosts)``
(``--hosts``, default 1,000; ``samples.py`` is unchanged since 880dd16, so both sides generate the same model).
A child of this interpreter writes it once with ``breachpath.model.write_model`` to ``model.yml`` (YAML: the
suffix is not ``.json``) and ``model.json`` in a temporary directory; every row that reads a file reads these.

All the work happens in child processes, each with its current directory in the temporary directory,
``BREACHPATH_HOME`` an empty directory there (no knowledge base, no evidence catalog of the user's) and
``NUMBA_CACHE_DIR`` one fresh directory per side for the whole run (so numba, where a side uses it, compiles
once in the first warm-up and the repository's ``__pycache__`` is left alone). Peak RSS is the child's own
``ru_maxrss`` (``os.wait4``, or ``resource`` inside the child); this process stays small (it imports neither
numpy nor breachpath) since on Linux a child's ``ru_maxrss`` starts from its parent's peak.

1. ``graph build``, YAML: ``breachpath graph build model.yml --lang main.mal --format json``, the whole
   process (interpreter start, imports, reading, compiling, building, printing), ``--runs`` times (default
   3): the median wall time and the largest peak RSS. Targets: ≤ 1.0 s, and peak RSS ≤ the JSON row's × 1.2
   (this run's "now" JSON figure). The command's own ``total_seconds`` (read + compile + build in process)
   is a row too. Peer: mal-toolbox 2.11.0 (the throwaway venv of ``lang_bench.py``, ``--peer-venv``), a child
   that imports ``maltoolbox``, then ``LanguageGraph.from_mal_spec(main.mal)``, ``Model.load_from_file
   (model.yml, lg)`` and ``AttackGraph(lg, model)``, each timed; the same number of runs: whole-process wall
   (median), peak RSS (largest), and the three in-process times (median) summed in the in-process row and
   named one by one in its note.
2. ``graph build``, JSON: the same on ``model.json`` (the peer too).
3. ``simulate``, a library call in a child: ``compile_file``, ``corelang_enterprise(hosts)``, ``build_graph``;
   entry ``Internet:physicalAccess``, target ``host{hosts-1} OS:fullAccess``; one warm-up call
   ``simulate(graph, [entry], [target], samples=2, seed=1)``; then ``simulate(..., samples=1000, seed=1,
   workers=w)`` for w = 1 and 2, each timed (target ≤ 2 s with 2 workers). Also: nodes, edges
   (``len(graph.child_idx)``), ns per edge per sample (wall / (edges × samples)), the target's P and median TTC
   (among the samples that reach it) and whether both worker counts give identical ``times``. The
   memory-bandwidth bound: in the same child, after the runs, one streaming pass (``np.add.reduce``, one
   thread) over a float64 buffer of as many bytes as the kernel's per-sample working set: ``child_idx`` +
   ``child_ptr`` + ``kind`` + 12 bytes a node (a float64 time and an int32 AND counter), best of 20 passes;
   the row is (1-thread wall / samples) / (one pass).
4. ``breachpath demo`` first run after install (skip with ``--skip-cold-start``: it installs two venvs and
   takes minutes): the side's tree (``git ls-files -co --exclude-standard``: tracked and untracked files,
   not ignored ones, so no ``__pycache__`` and no build products) copied to a temporary directory with a
   ``shared`` symlink beside it, a fresh ``python -m venv``, ``pip install -e '<copy>[offline]'`` (README's
   first command; its time is in the note), then ``<venv>/bin/breachpath demo`` twice with an empty
   ``BREACHPATH_HOME`` and an empty ``XDG_CACHE_HOME``, no ``NUMBA_CACHE_DIR`` and stdin from ``/dev/null``:
   the first run is "cold" (target ≤ 6 s), the next five "warm" (≤ 2 s; the row is their median, the note gives
   their range), whole-process wall each. ``PYTHONDONTWRITEBYTECODE`` is removed from these children's
   environment: a user's Python keeps the bytecode it compiles on the first run. The demo's own
   reported seconds (its header line, ``run_demo``'s ``seconds``: from reading the example to the end, no
   imports) are in the notes.
5. The demo's what-if beyond its simulations: a child calls ``breachpath.demo.run_demo()`` (defaults: the
   small office, 2,000 samples, seed 2026, all cores, no knowledge base) twice and reports the second call
   (the first compiles or loads the kernel). Before the calls it wraps, in ``breachpath.sim`` and wherever
   ``breachpath.analysis`` and ``breachpath.demo`` hold the same function, every public ``simulate*``
   function with a timer (nested calls counted once per thread), ``breachpath.demo.whatif`` with a timer that
   marks the simulations it makes, and ``breachpath.demo.technique_paths``. What-if runs its simulations side
   by side in threads, so "the simulations' time" is the wall time during which at least one ran (the union of
   their spans). The row is whatif's wall minus that (target ≤ 0.5 s); a second row is ``run_demo``'s wall
   minus all its simulations
   (compile, graph, paths, what-if). A kernel called other than through a ``simulate*`` function would be
   counted as what-if time.
6. 5,000 hosts (``--big-hosts``): the child of row 3 on ``corelang_enterprise(5000)`` built in memory, 2
   workers only, no bandwidth pass: wall (target ≤ 10 s) and the child's peak RSS, with the graph's size.

Targets are issue 15's and apply at the default sizes, 1,000 samples. The output is a table (row, before,
now, target, met?, peer, peer/now, note) or JSON with ``--format json``. Nothing is asserted: this prints
figures, it is not a test. The demo rows run each revision's own demo (its example and built-in language:
at 880dd16 a 230-step graph, now a larger one), so they compare what a user sees, not the same workload.
Run it with the project's venv (about 10 minutes on 2 cores with the peer, before and cold start; the first
run also makes the before venv):

    python bench/perf_bench.py [--runs 3] [--hosts 1000] [--big-hosts 5000] [--before REV | --no-before]
        [--skip-cold-start] [--no-peer] [--peer-venv PATH] [--format table|json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    CHILD_RSS,
    Row,
    breachpath_script,
    default_venv,
    ensure_venv,
    log,
    print_json,
    run_child,
    run_measured,
    shared_dir,
    venv_python,
)
from lang_bench import PEER_DISTRIBUTION, PEER_REQUIREMENT, PEER_VENV

REPO = Path(__file__).resolve().parents[1]
LANGUAGE = "corelang/main.mal"
DEFAULT_BEFORE = "880dd16"
DEFAULT_HOSTS = 1000
DEFAULT_BIG_HOSTS = 5000
SAMPLES = 1000
SEED = 1
ENTRY = "Internet:physicalAccess"
BANDWIDTH_PASSES = 20

#: Issue 15's targets.
T_BUILD_S = 1.0
T_RSS_FACTOR = 1.2
T_SIM_S = 2.0
T_DEMO_COLD_S = 6.0
T_DEMO_WARM_S = 2.0
WARM_DEMO_RUNS = 5  # the machine's noise is ±0.3 s: the warm row is the median of these
T_WHATIF_S = 0.5
T_BIG_S = 10.0

#: What issue 15 recorded as "today" (fastest, slowest), by row key: the before column without --no-before's run.
RECORDED: dict[str, tuple[float, float]] = {
    "yaml_wall": (8.6, 8.9),
    "yaml_rss": (171.0, 171.0),
    "json_wall": (0.64, 0.64),
    "json_rss": (85.0, 85.0),
    "sim_1": (9.9, 9.9),
    "demo_cold": (11.0, 15.0),
    "demo_warm": (4.3, 5.5),
    "whatif": (3.1, 3.1),
}


# -- the children ----------------------------------------------------------------------------------------

_GENERATE_CHILD = r"""
import json, sys
from breachpath.model import write_model
from breachpath.samples import corelang_enterprise
hosts = int(sys.argv[1])
model = corelang_enterprise(hosts)
sizes = {}
for path in sys.argv[2:]:
    write_model(model, path)
    with open(path, "rb") as f:
        sizes[path] = len(f.read())
print(json.dumps({"assets": len(model.assets), "bytes": sizes}))
"""

_PEER_CHILD = (
    CHILD_RSS
    + r"""
import importlib.metadata, json, time
out = {}
t = time.perf_counter()
from maltoolbox.attackgraph import AttackGraph
from maltoolbox.language import LanguageGraph
from maltoolbox.model import Model
out["import_s"] = time.perf_counter() - t
out["version"] = importlib.metadata.version("mal-toolbox")
t = time.perf_counter()
lg = LanguageGraph.from_mal_spec(sys.argv[1])
out["lang_s"] = time.perf_counter() - t
t = time.perf_counter()
model = Model.load_from_file(sys.argv[2], lg)
out["load_s"] = time.perf_counter() - t
out["assets"] = len(model.assets)
t = time.perf_counter()
ag = AttackGraph(lg, model)
out["build_s"] = time.perf_counter() - t
out["nodes"] = len(ag.nodes)
out["rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

# Works on 880dd16 and now: only compile_file, corelang_enterprise, build_graph, graph.find and simulate.
_SIM_CHILD = (
    CHILD_RSS
    + r"""
import json, math, time
cfg = json.loads(sys.argv[1])
out = {"hosts": cfg["hosts"]}
t = time.perf_counter()
import numpy as np
from breachpath.graph import build_graph
from breachpath.lang import compile_file
from breachpath.samples import corelang_enterprise
from breachpath.sim import simulate
out["import_s"] = time.perf_counter() - t
spec = compile_file(cfg["lang"])
model = corelang_enterprise(cfg["hosts"])
out["assets"] = len(model.assets)
t = time.perf_counter()
graph = build_graph(spec, model)
out["build_s"] = time.perf_counter() - t
out["nodes"], out["edges"] = int(graph.n_nodes), int(len(graph.child_idx))
out["build_rss_mb"] = rss_mb()
entries = [graph.find(cfg["entry"])]
targets = [graph.find(cfg["target"])]
t = time.perf_counter()
simulate(graph, entries, targets, samples=2, seed=cfg["seed"])
out["warmup_s"] = time.perf_counter() - t
runs, first = [], None
for workers in cfg["workers"]:
    t = time.perf_counter()
    result = simulate(graph, entries, targets, samples=cfg["samples"], seed=cfg["seed"], workers=workers)
    elapsed = time.perf_counter() - t
    times = np.asarray(result.times[:, 0], dtype=np.float64)
    reached = np.isfinite(times)
    run = {
        "workers": workers,
        "s": elapsed,
        "p": float(reached.mean()),
        "median": float(np.median(times[reached])) if reached.any() else None,
        "sum": float(times[reached].sum()),
    }
    if first is None:
        first = np.asarray(result.times)
    else:
        run["identical"] = bool(np.array_equal(first, np.asarray(result.times), equal_nan=True))
    runs.append(run)
    del result
out["runs"] = runs
if cfg["bandwidth"]:
    n = graph.n_nodes
    nbytes = graph.child_idx.nbytes + graph.child_ptr.nbytes + graph.kind.nbytes + n * (8 + 4)
    buf = np.ones(-(-nbytes // 8), dtype=np.float64)
    best = math.inf
    for _ in range(cfg["passes"]):
        t = time.perf_counter()
        np.add.reduce(buf)
        best = min(best, time.perf_counter() - t)
    out["pass_bytes"], out["pass_s"] = int(buf.nbytes), best
out["rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

# The demo's time beyond its simulations: timers around simulate*, whatif and technique_paths (see the docstring).
_WHATIF_CHILD = (
    CHILD_RSS
    + r"""
import functools, json, threading, time
import breachpath.analysis as analysis_mod
import breachpath.demo as demo_mod
import breachpath.sim as sim_mod

state = {"scope": "demo"}
local = threading.local()  # nesting depth per thread: what-if runs simulations side by side in threads
lock = threading.Lock()
acc = {}
spans = []  # (scope, start, end) of every outermost simulation, from any thread

def reset():
    acc.update({"sim_demo_s": 0.0, "sim_whatif_s": 0.0, "sim_calls": 0, "whatif_s": 0.0, "paths_s": 0.0})
    spans.clear()

def covered(scope):
    # Wall time during which at least one simulation of the scope ran: the union of their spans.
    total, end = 0.0, float("-inf")
    for _, a, b in sorted(x for x in spans if x[0] == scope):
        if b > end:
            total += b - max(a, end)
            end = b
    return total

def timing_sim(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if getattr(local, "depth", 0):
            return fn(*args, **kwargs)
        local.depth = 1
        scope = state["scope"]
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            local.depth = 0
            with lock:
                spans.append((scope, t, time.perf_counter()))
                acc["sim_calls"] += 1
    return wrapper

def timing(fn, key, scope=None):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        before = state["scope"]
        if scope:
            state["scope"] = scope
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t
            state["scope"] = before
    return wrapper

wrapped = []
for name, original in list(vars(sim_mod).items()):
    if name.startswith("simulate") and callable(original):
        timed = timing_sim(original)
        for mod in (sim_mod, analysis_mod, demo_mod):
            if getattr(mod, name, None) is original:
                setattr(mod, name, timed)
                wrapped.append(f"{mod.__name__}.{name}")
demo_mod.whatif = timing(demo_mod.whatif, "whatif_s", scope="whatif")
demo_mod.technique_paths = timing(demo_mod.technique_paths, "paths_s")

runs = []
for _ in range(2):
    reset()
    t = time.perf_counter()
    result = demo_mod.run_demo()
    total = time.perf_counter() - t
    acc["sim_demo_s"], acc["sim_whatif_s"] = covered("demo"), covered("whatif")
    top = result["defenses"][0] if result["defenses"] else None
    runs.append(
        {
            **acc,
            "total_s": total,
            "whatif_beyond_s": acc["whatif_s"] - acc["sim_whatif_s"],
            "demo_beyond_s": total - acc["sim_demo_s"] - acc["sim_whatif_s"],
            "demo_seconds": result["seconds"],
            "steps": result["attack_steps"],
            "samples": result["samples"],
            "defenses_tried": result["defenses_tried"],
            "top_defense": None if top is None else [top["defense"], top["mean_p_reduction"]],
            "p": {name: t["p"] for name, t in result["targets"].items()},
        }
    )
print(json.dumps({"wrapped": wrapped, "runs": runs, "rss_mb": rss_mb()}))
"""
)


# -- the two sides -------------------------------------------------------------------------------------


@dataclass
class Side:
    """One revision's interpreter, console script and source tree."""

    label: str
    python: Path
    script: Path
    tree: Path
    revision: str


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def now_side() -> tuple[Side | None, str]:
    script = breachpath_script()
    if script is None:
        return None, "no breachpath console script beside this interpreter: install the project (pip install -e .)"
    probe = subprocess.run(
        [sys.executable, "-c", "import breachpath; print(breachpath.__file__)"], capture_output=True, text=True
    )
    imported = Path(probe.stdout.strip() or ".").resolve()
    if probe.returncode != 0 or not imported.is_relative_to(REPO):
        return None, f"this interpreter imports breachpath from {imported}, not from {REPO}"
    try:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        rev = _git("rev-parse", "--short=7", "HEAD") + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        rev = "working tree"
    return Side("now", Path(sys.executable), script, REPO, rev), ""


def before_side(rev: str) -> tuple[Side | None, str]:
    """A clone of this repository at ``rev`` and a venv with it installed editable (made once, then reused)."""
    try:
        sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"no revision {rev!r} in {REPO}: {getattr(exc, 'stderr', exc)}".strip()
    base = default_venv(f"before-{sha[:7]}")
    tree, venv = base / "breachpath", base / "venv"
    python = venv_python(venv)
    try:
        if not (tree / ".git").is_dir():
            log(f"before: cloning {REPO} at {sha[:7]} into {tree}")
            base.mkdir(parents=True, exist_ok=True)
            _git("clone", "--quiet", "--no-checkout", str(REPO), str(tree), cwd=base)
            _git("checkout", "--quiet", "--detach", sha, cwd=tree)
        if _git("rev-parse", "HEAD", cwd=tree) != sha:
            return None, f"{tree} is not at {sha[:7]}: delete {base} and run again"
        link = base / "shared"
        if not link.is_symlink() and not link.exists():
            link.symlink_to(shared_dir().resolve(), target_is_directory=True)
        installed = False
        if python.is_file():
            probe = subprocess.run(
                [str(python), "-c", "import breachpath; print(breachpath.__file__)"], capture_output=True, text=True
            )
            installed = probe.returncode == 0 and Path(probe.stdout.strip()).resolve().is_relative_to(tree.resolve())
        if not installed:
            log(f"before: installing {sha[:7]} into {venv} (first run only, about a minute)")
            if not python.is_file():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", str(tree)],
                check=True,
                capture_output=True,
                text=True,
            )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        return None, "could not set up the before checkout: " + " ".join(str(detail).strip().splitlines()[-3:])
    return Side(rev, python, venv / "bin" / "breachpath", tree, sha[:7]), ""


def child_env(home: Path, numba_cache: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    home.mkdir(parents=True, exist_ok=True)
    env["BREACHPATH_HOME"] = str(home)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    env.update(extra)
    return env


def _fail(what: str, code: int, stderr: str) -> RuntimeError:
    tail = "\n".join(stderr.strip().splitlines()[-8:])
    return RuntimeError(f"{what} failed (exit {code}):\n{tail}")


def measure_cli(side: Side, model: Path, lang: Path, runs: int, workdir: Path, env: dict[str, str]) -> dict:
    """``breachpath graph build MODEL --lang LANG --format json``, ``runs`` times: walls, peak RSS, its JSON."""
    argv = [str(side.script), "graph", "build", str(model), "--lang", str(lang), "--format", "json"]
    walls, rss, docs = [], [], []
    for _ in range(runs):
        elapsed, peak, code, stdout, stderr = run_measured(argv, workdir, env=env, cwd=workdir)
        if code != 0:
            raise _fail(f"{side.label}: graph build {model.name}", code, stderr)
        walls.append(elapsed)
        rss.append(peak)
        docs.append(json.loads(stdout))
    return {
        "walls": walls,
        "wall_s": statistics.median(walls),
        "rss_mb": max((r for r in rss if r is not None), default=None),
        "total_seconds": statistics.median(d.get("total_seconds", 0.0) for d in docs),
        "build_seconds": statistics.median(d.get("build_seconds", 0.0) for d in docs),
        "nodes": docs[0].get("nodes"),
        "edges": docs[0].get("edges"),
        "assets": docs[0].get("assets"),
    }


def measure_peer(python: Path, model: Path, lang: Path, runs: int, workdir: Path) -> dict:
    """mal-toolbox's child on ``model``, ``runs`` times: whole-process walls and the in-process times."""
    argv = [str(python), "-c", _PEER_CHILD, str(lang), str(model)]
    walls, docs = [], []
    for _ in range(runs):
        elapsed, _rss, code, stdout, stderr = run_measured(argv, workdir, cwd=workdir)
        if code != 0:
            raise _fail(f"mal-toolbox on {model.name}", code, stderr)
        walls.append(elapsed)
        docs.append(json.loads(stdout.strip().splitlines()[-1]))
    med = {key: statistics.median(d[key] for d in docs) for key in ("import_s", "lang_s", "load_s", "build_s")}
    return {
        "walls": walls,
        "wall_s": statistics.median(walls),
        "rss_mb": max(d["rss_mb"] for d in docs),
        **med,
        "inprocess_s": med["lang_s"] + med["load_s"] + med["build_s"],
        "version": docs[0]["version"],
        "nodes": docs[0]["nodes"],
        "assets": docs[0]["assets"],
    }


def run_python_child(side: Side, code: str, cfg: dict, workdir: Path, env: dict[str, str], what: str) -> dict:
    with contextlib.chdir(workdir):
        proc = subprocess.run([str(side.python), "-c", code, json.dumps(cfg)], capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise _fail(f"{side.label}: {what}", proc.returncode, proc.stderr)
    return json.loads(lines[-1])


def copy_tree(tree: Path, dest: Path) -> int:
    """Copy the files git sees in ``tree`` (tracked and untracked, not ignored) to ``dest``; how many."""
    listed = _git("ls-files", "-z", "-co", "--exclude-standard", cwd=tree).split("\0")
    count = 0
    for rel in filter(None, listed):
        src = tree / rel
        if not (src.is_file() or src.is_symlink()):
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
        count += 1
    return count


_DEMO_SECONDS = re.compile(r"seed\s+\d+;\s*([\d.]+)\s*s\b")


def cold_start(side: Side, workdir: Path) -> dict:
    """A copy of the side's tree, a fresh venv, ``pip install -e 'copy[offline]'``, then ``breachpath demo``
    twice (cold, warm) with empty homes and caches."""
    root = Path(tempfile.mkdtemp(prefix=f"cold-{side.revision[:7]}-", dir=workdir))
    try:
        checkout = root / "breachpath"
        files = copy_tree(side.tree, checkout)
        (root / "shared").symlink_to(shared_dir().resolve(), target_is_directory=True)
        venv = root / "venv"
        python = venv_python(venv)
        log(f"{side.label}: cold start: fresh venv and pip install -e '.[offline]' ({files:,} files copied) ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        install_argv = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        install_argv += ["-e", f"{checkout}[offline]"]
        install_s, _, code, _, stderr = run_measured(install_argv, root, cwd=root)
        if code != 0:
            raise _fail(f"{side.label}: pip install -e", code, stderr)
        env = child_env(root / "home", None, XDG_CACHE_HOME=str(root / "cache"), COLUMNS="200")
        # As on a user's machine, Python keeps the bytecode it compiles (this sandbox sets the variable).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        out: dict[str, Any] = {"install_s": install_s}
        runs: dict[str, list[dict]] = {"cold": [], "warm": []}
        for key in ["cold"] + ["warm"] * WARM_DEMO_RUNS:
            log(f"{side.label}: cold start: breachpath demo ({key}) ...")
            elapsed, rss, code, stdout, stderr = run_measured(
                [str(venv / "bin" / "breachpath"), "demo"], root, env, root
            )
            if code != 0:
                raise _fail(f"{side.label}: breachpath demo ({key})", code, stderr)
            match = _DEMO_SECONDS.search(" ".join(stdout.split()))
            runs[key].append({"s": elapsed, "rss_mb": rss, "demo_seconds": float(match.group(1)) if match else None})
        for key, measured in runs.items():
            middle = sorted(measured, key=lambda run: run["s"])[len(measured) // 2]  # the median run
            out[key] = {**middle, "all_s": [run["s"] for run in measured]}
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_side(
    side: Side, args: argparse.Namespace, lang: Path, models: dict[str, Path], workdir: Path
) -> dict[str, Any]:
    """Every row's children for one side; a failed child leaves its entry as ``{"error": ...}``."""
    env = child_env(workdir / f"home-{side.revision[:7]}", workdir / f"numba-{side.revision[:7]}")
    res: dict[str, Any] = {"label": side.label, "revision": side.revision, "python": str(side.python)}

    def attempt(key: str, message: str, fn) -> None:
        log(f"{side.label}: {message} ...")
        try:
            res[key] = fn()
        except (RuntimeError, OSError, subprocess.CalledProcessError, json.JSONDecodeError) as exc:
            log(str(exc))
            res[key] = {"error": str(exc).splitlines()[0]}

    for fmt in ("yaml", "json"):
        attempt(
            fmt,
            f"graph build of the {args.hosts:,}-host {fmt.upper()} model, {args.runs} run(s)",
            lambda fmt=fmt: measure_cli(side, models[fmt], lang, args.runs, workdir, env),
        )
    sim_cfg = {
        "lang": str(lang),
        "hosts": args.hosts,
        "entry": ENTRY,
        "target": f"host{args.hosts - 1} OS:fullAccess",
        "samples": SAMPLES,
        "seed": SEED,
        "workers": [1, 2],
        "bandwidth": True,
        "passes": BANDWIDTH_PASSES,
    }
    attempt(
        "sim",
        f"simulate {SAMPLES:,} samples on {args.hosts:,} hosts, 1 and 2 workers",
        lambda: run_python_child(side, _SIM_CHILD, sim_cfg, workdir, env, "simulate"),
    )
    attempt(
        "whatif",
        "run_demo twice, timing its simulations and what-if",
        lambda: run_python_child(side, _WHATIF_CHILD, {}, workdir, env, "what-if"),
    )
    if args.big_hosts:
        big_cfg = {
            **sim_cfg,
            "hosts": args.big_hosts,
            "target": f"host{args.big_hosts - 1} OS:fullAccess",
            "workers": [2],
            "bandwidth": False,
        }
        attempt(
            "big",
            f"simulate {SAMPLES:,} samples on {args.big_hosts:,} hosts, 2 workers",
            lambda: run_python_child(side, _SIM_CHILD, big_cfg, workdir, env, f"{args.big_hosts} hosts"),
        )
    if not args.skip_cold_start:
        attempt("cold", "cold start", lambda: cold_start(side, workdir))
    return res


# -- the table -----------------------------------------------------------------------------------------


@dataclass
class PerfRow(Row):
    """A :class:`Row` (``ours`` is "now") with the before figure: measured, or issue 15's recorded range."""

    key: str = ""
    before: float | None = None
    before_range: tuple[float, float] | None = None
    before_source: str = ""
    target_text: str = ""


@dataclass
class Results:
    machine: str
    hosts: int
    big_hosts: int
    runs: int
    before: str
    peer_version: str | None = None
    rows: list[PerfRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def _failed(doc: Any) -> bool:
    return doc is None or (isinstance(doc, dict) and "error" in doc)


def _get(doc: Any, *keys: Any) -> Any:
    """``doc[k1][k2]...``, or None where a key is missing or a child failed (``{"error": ...}``)."""
    for key in keys:
        if _failed(doc):
            return None
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return None if isinstance(doc, dict) and "error" in doc else doc


def _run(sim: dict | None, workers: int) -> dict | None:
    for run in _get(sim, "runs") or []:
        if run["workers"] == workers:
            return run
    return None


def _ns_per_edge(sim: dict | None, workers: int) -> float | None:
    run = _run(sim, workers)
    if run is None:
        return None
    return run["s"] / (sim["edges"] * SAMPLES) * 1e9


def _bound_ratio(sim: dict | None) -> float | None:
    run = _run(sim, 1)
    if run is None or not sim.get("pass_s"):
        return None
    return (run["s"] / SAMPLES) / sim["pass_s"]


def _answer(run: dict | None) -> str:
    if run is None:
        return "—"
    median = "—" if run["median"] is None else f"{run['median']:.6g}"
    return f"P {run['p']:.3f}, median {median}"


def build_rows(now: dict, before: dict | None, peer: dict, args: argparse.Namespace, notes: list[str]) -> list[PerfRow]:
    rows: list[PerfRow] = []
    h, big = f"{args.hosts:,} hosts", f"{args.big_hosts:,} hosts"
    default_sizes = args.hosts == DEFAULT_HOSTS

    def add(key: str, metric: str, unit: str, path=None, target=None, peer_value=None, note="", target_text=""):
        """A row whose now and before figures are at ``path`` in each side's results (None: set by the caller)."""
        ours = None if path is None else _get(now, *path)
        row = PerfRow(metric, unit, ours, peer_value, target, note, key=key, target_text=target_text)
        if before is not None:
            row.before = None if path is None else _get(before, *path)
            row.before_source = f"measured at {before['revision']}"
        elif key in RECORDED and default_sizes:
            low, high = RECORDED[key]
            row.before, row.before_range, row.before_source = low, (low, high), "issue 15 (recorded)"
        if before is not None and key in RECORDED and default_sizes:
            low, high = RECORDED[key]
            recorded = f"{low:g}" if low == high else f"{low:g}–{high:g}"
            row.note += f"{'; ' if row.note else ''}issue 15 recorded {recorded} {unit}"
        rows.append(row)
        return row

    yp, jp = peer.get("yaml"), peer.get("json")
    for fmt, label, peer_doc in (("yaml", "YAML", yp), ("json", "JSON", jp)):
        doc = now.get(fmt) or {}
        size = f"; {doc['assets']:,} assets, {doc['nodes']:,} nodes" if "nodes" in doc else ""
        add(
            f"{fmt}_wall",
            f"graph build, {h}, {label}: wall",
            "s",
            (fmt, "wall_s"),
            T_BUILD_S if fmt == "yaml" and default_sizes else None,
            _get(peer_doc, "wall_s"),
            f"whole process, median of {args.runs}{size}; peer: import + language + load + AttackGraph",
        )
        rss_target = None
        json_rss = _get(now, "json", "rss_mb")
        if fmt == "yaml" and json_rss is not None:
            rss_target = json_rss * T_RSS_FACTOR
        add(
            f"{fmt}_rss",
            f"graph build, {h}, {label}: peak RSS",
            "MB",
            (fmt, "rss_mb"),
            rss_target,
            _get(peer_doc, "rss_mb"),
            "whole process, largest of the runs",
            target_text=f"≤ JSON × {T_RSS_FACTOR:g}" if fmt == "yaml" else "",
        )
        peer_note = ""
        if peer_doc and "error" not in peer_doc:
            peer_note = (
                f"; peer: language {peer_doc['lang_s']:.2f} s, Model.load_from_file {peer_doc['load_s']:.2f} s, "
                f"AttackGraph {peer_doc['build_s']:.2f} s"
            )
        add(
            f"{fmt}_inprocess",
            f"graph build, {h}, {label}: in process",
            "s",
            (fmt, "total_seconds"),
            None,
            _get(peer_doc, "inprocess_s"),
            "the command's total_seconds (read + compile + build; build_graph alone "
            f"{_get(now, fmt, 'build_seconds') or 0:.3f} s){peer_note}",
        )

    sim = now.get("sim")
    bsim = before.get("sim") if before else None
    graph_note = f"{sim['nodes']:,} nodes, {sim['edges']:,} edges" if sim and "nodes" in sim else ""
    for workers in (1, 2):
        run = _run(sim, workers)
        note = f"library call after a warm-up; {graph_note}; now: {_answer(run)}"
        if bsim is not None:
            note += f"; before: {_answer(_run(bsim, workers))}"
        if workers == 2 and run is not None and "identical" in run:
            note += f"; times identical to 1 worker: {'yes' if run['identical'] else 'NO'}"
        add(
            f"sim_{workers}",
            f"simulate {SAMPLES:,} samples, {h}, {workers} {'thread' if workers == 1 else 'workers'}",
            "s",
            ("sim", "runs", workers - 1, "s"),
            T_SIM_S if workers == 2 and default_sizes else None,
            note=note,
        )
    for workers in (1, 2):
        row = add(
            f"ns_edge_{workers}",
            f"simulate, {h}: ns per edge per sample, {workers} {'thread' if workers == 1 else 'workers'}",
            "ns",
            note="wall / (edges × samples), edges = len(graph.child_idx)",
        )
        row.ours = _ns_per_edge(sim, workers)
        if before is not None:
            row.before = _ns_per_edge(bsim, workers)
    row = add("bound", f"simulate, {h}: kernel time per sample / one streaming pass", "×")
    row.ours = _bound_ratio(sim)
    if before is not None:
        row.before = _bound_ratio(bsim)
    if sim and sim.get("pass_s"):
        gbs = sim["pass_bytes"] / sim["pass_s"] / 1e9
        row.note = (
            f"1 thread; pass: np.add.reduce over {sim['pass_bytes'] / 1e6:.1f} MB (edge arrays + 12 B a node) "
            f"in {sim['pass_s'] * 1e3:.2f} ms ({gbs:.1f} GB/s), best of {BANDWIDTH_PASSES}"
        )

    cold, bcold = now.get("cold"), before.get("cold") if before else None
    for key in ("cold", "warm"):

        def demo_note(doc: dict | None, key: str = key) -> str:
            if not doc or "error" in doc:
                return "—"
            own = doc[key]["demo_seconds"]
            own_text = "none printed" if own is None else f"{own:.1f} s"
            spread = doc[key].get("all_s") or []
            runs = f"median of {len(spread)} runs, {min(spread):.2f}–{max(spread):.2f} s, " if len(spread) > 1 else ""
            return f"{runs}its own {own_text}, install {doc['install_s']:.0f} s"

        if args.skip_cold_start:
            note = "skipped (--skip-cold-start)"
        else:
            note = f"whole process after a fresh venv + pip install -e '.[offline]'; now: {demo_note(cold)}"
            if before is not None:
                note += f"; before: {demo_note(bcold)}"
        add(
            f"demo_{key}",
            f"breachpath demo, {'first run after install' if key == 'cold' else 'warm (runs 2–6)'}",
            "s",
            ("cold", key, "s"),
            T_DEMO_COLD_S if key == "cold" else T_DEMO_WARM_S,
            note=note,
        )

    wi, bwi = now.get("whatif"), before.get("whatif") if before else None

    def whatif_note(doc: dict | None) -> str:
        run = _get(doc, "runs", 1)
        if not run:
            return "—"
        return (
            f"{run['steps']:,}-step graph, whatif {run['whatif_s']:.2f} s with {run['sim_whatif_s']:.2f} s simulating, "
            f"{run['sim_calls']} simulate calls in the demo, {run['defenses_tried']} defenses tried"
        )

    note = f"second run_demo() in a child; now: {whatif_note(wi)}"
    if before is not None:
        note += f"; before: {whatif_note(bwi)}"
    add(
        "whatif",
        "demo: what-if beyond its simulations",
        "s",
        ("whatif", "runs", 1, "whatif_beyond_s"),
        T_WHATIF_S,
        note=note,
    )

    def paths_note(doc: dict | None) -> str:
        run = _get(doc, "runs", 1)
        if not run:
            return "—"
        return (
            f"run_demo {run['total_s']:.2f} s, technique_paths {run['paths_s']:.2f} s, top defense {run['top_defense']}"
        )

    note = f"run_demo wall − all its simulations; now: {paths_note(wi)}"
    if before is not None:
        note += f"; before: {paths_note(bwi)}"
    add("demo_beyond", "demo: run_demo beyond its simulations", "s", ("whatif", "runs", 1, "demo_beyond_s"), note=note)

    if args.big_hosts:
        bg = now.get("big")
        size = f"{bg['nodes']:,} nodes, {bg['edges']:,} edges" if bg and "nodes" in bg else ""
        note = f"library call after a warm-up; {size}; now: {_answer(_run(bg, 2))}"
        if before is not None:
            note += f"; before: {_answer(_run(before.get('big'), 2))}"
        add(
            "big_sim",
            f"simulate {SAMPLES:,} samples, {big}, 2 workers",
            "s",
            ("big", "runs", 0, "s"),
            T_BIG_S if args.big_hosts == DEFAULT_BIG_HOSTS else None,
            note=note,
        )
        add(
            "big_rss",
            f"simulate, {big}: peak RSS",
            "MB",
            ("big", "rss_mb"),
            note="the whole child (model, graph, warm-up and the run); "
            f"{_get(bg, 'build_rss_mb') or 0:,.0f} MB after the build",
        )

    for label, doc in (("now", now), ("before", before)):
        for key, value in (doc or {}).items():
            if isinstance(value, dict) and "error" in value:
                notes.append(f"{label}: {key} failed: {value['error']}")
    return rows


# -- printing ------------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s" if value >= 0.995 else f"{value:.3f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "×":
        return f"{value:,.1f}×"
    if unit == "ns":
        return f"{value:.2f} ns"
    return f"{value:.3g} {unit}".strip()


def _fmt_before(row: PerfRow) -> str:
    if row.before_range and row.before_range[0] != row.before_range[1]:
        low, high = row.before_range
        return f"{low:g}–{high:g} {row.unit} (issue)"
    text = _fmt(row.before, row.unit)
    return f"{text} (issue)" if row.before_range else text


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 230)
    before_head = f"before ({res.before})"
    table = Table(title=f"issue 15, before and now; {res.machine}", title_justify="left")
    for name, justify in (
        ("row", "left"),
        (before_head, "right"),
        ("now", "right"),
        ("target", "right"),
        ("met?", "center"),
        (f"mal-toolbox {res.peer_version}" if res.peer_version else "peer", "right"),
        ("peer/now", "right"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "note")
    for row in res.rows:
        target = row.target_text or ("" if row.target is None else f"≤ {_fmt(row.target, row.unit)}")
        if row.target_text and row.target is not None:
            target += f" = {_fmt(row.target, row.unit)}"
        met = {True: "yes", False: "NO", None: ""}[row.meets_target]
        ratio = "—" if row.ratio is None else f"{row.ratio:,.1f}×" if row.ratio >= 1 else f"{row.ratio:.2g}×"
        table.add_row(
            row.metric,
            _fmt_before(row),
            _fmt(row.ours, row.unit),
            target,
            met,
            _fmt(row.peer, row.unit),
            ratio,
            row.note,
        )
    console.print(table)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"machine: {cores} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument("--runs", type=int, default=3, help="graph build processes per model and side (default 3)")
    parser.add_argument("--hosts", type=int, default=DEFAULT_HOSTS, help="hosts of rows 1-3 (default 1000)")
    parser.add_argument(
        "--big-hosts", type=int, default=DEFAULT_BIG_HOSTS, help="hosts of the large-model row (default 5000; 0: skip)"
    )
    parser.add_argument("--before", default=DEFAULT_BEFORE, help=f"the before revision (default {DEFAULT_BEFORE})")
    parser.add_argument("--no-before", action="store_true", help="show issue 15's recorded figures as before")
    parser.add_argument(
        "--skip-cold-start", action="store_true", help="skip the demo after a fresh install (it takes minutes)"
    )
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mal-toolbox")
    parser.add_argument("--no-peer", action="store_true", help="skip mal-toolbox")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.hosts < 1 or args.big_hosts < 0:
        parser.error("--runs and --hosts must be at least 1, --big-hosts at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lang = (shared_dir() / "data" / LANGUAGE).resolve()
    if not lang.is_file():
        log(f"missing MAL file: {lang}; set BREACHPATH_SHARED")
        return 2
    notes: list[str] = []
    now, why = now_side()
    if now is None:
        log(why)
        return 2
    before: Side | None = None
    if args.no_before:
        notes.append("before not measured (--no-before): the before column is issue 15's recorded figures")
    else:
        before, why = before_side(args.before)
        if before is None:
            log(f"skipping before: {why}")
            notes.append(f"before not measured: {why}; the before column is issue 15's recorded figures")
    peer_python: Path | None = None
    if args.no_peer:
        notes.append("mal-toolbox skipped (--no-peer)")
    else:
        peer_python, why = ensure_venv(
            (args.peer_venv or default_venv(PEER_VENV)).resolve(), PEER_REQUIREMENT, PEER_DISTRIBUTION
        )
        if peer_python is None:
            log(f"skipping mal-toolbox: {why}")
            notes.append(f"mal-toolbox skipped: {why}")

    res = Results(machine(), args.hosts, args.big_hosts, args.runs, before.revision if before else "issue 15")
    with tempfile.TemporaryDirectory(prefix="perf-bench-") as tmp:
        workdir = Path(tmp).resolve()
        models = {"yaml": workdir / "model.yml", "json": workdir / "model.json"}
        log(f"writing the {args.hosts:,}-host model as YAML and JSON ...")
        with contextlib.chdir(workdir):
            info = run_child(
                [sys.executable, "-c", _GENERATE_CHILD, str(args.hosts), *map(str, models.values())], "model"
            )
        res.raw["model"] = info
        notes.append(
            f"model: corelang_enterprise({args.hosts}), {info['assets']:,} assets; "
            + ", ".join(f"{Path(p).name} {b / 1e6:.2f} MB" for p, b in info["bytes"].items())
        )
        peer: dict[str, Any] = {}
        if peer_python is not None:
            for fmt, path in models.items():
                log(
                    f"mal-toolbox: loading the {fmt.upper()} model and building its attack graph, {args.runs} run(s) ..."
                )
                try:
                    peer[fmt] = measure_peer(peer_python, path, lang, args.runs, workdir)
                except (RuntimeError, OSError, json.JSONDecodeError) as exc:
                    log(str(exc))
                    peer[fmt] = {"error": str(exc).splitlines()[0]}
                    notes.append(f"mal-toolbox on {fmt.upper()} failed: {peer[fmt]['error']}")
            res.peer_version = next((d["version"] for d in peer.values() if "version" in d), None)
        measured_before = measure_side(before, args, lang, models, workdir) if before else None
        measured_now = measure_side(now, args, lang, models, workdir)
    res.raw.update(now=measured_now, before=measured_before, peer=peer)
    notes.append(
        f"now: {now.revision} ({now.python}); before: "
        + (f"{before.revision} ({before.python})" if before else "not measured")
    )
    res.rows = build_rows(measured_now, measured_before, peer, args, notes)
    if args.skip_cold_start:
        notes.append("cold start skipped (--skip-cold-start)")
    res.notes = notes
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
