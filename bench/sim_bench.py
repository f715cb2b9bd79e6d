"""Benchmark the Monte Carlo time-to-compromise engine on generated coreLang models, with mal-simulator beside it.

What is measured
----------------
The two tools answer different questions. breachpath (``breachpath.sim.simulate``) estimates, per sample, the
earliest time each chosen step can be compromised over all paths at once (Dijkstra generalised to AND nodes),
so many samples give compromise-time distributions: a probability and TTC quantiles per target.
mal-simulator runs an attacker agent through the attack graph episode by episode, one action per step; it
has no Monte Carlo TTC estimator, so what it yields is whether the agent reached its goal and after how many
steps. The comparison rows set 1,000 of our samples beside 1,000 of its episodes (the brief measured 308 s
for that on a 2-host model); they are costs of the two tools' ways of asking, not the same quantity.

Inputs: the coreLang language (``<shared>/data/corelang/main.mal``, where ``<shared>`` is
``$BREACHPATH_SHARED`` or the ``shared`` directory beside the repository) and, per size, the model made by
``breachpath.samples.corelang_enterprise(hosts)`` (about seven assets per host).

breachpath, per size in ``--hosts`` (default 10, 100, 1,000 and 5,000), in a fresh child process of this
interpreter (so its peak RSS, ``ru_maxrss``, is that size's alone):

* ``spec = compile_file(main.mal)``; ``model = corelang_enterprise(hosts)`` (timed apart from the build);
* ``graph = build_graph(spec, model)``, timed: the graph build;
* entry ``Internet:physicalAccess``; targets ``host{i} OS:fullAccess`` for i in 0, hosts // 2, hosts - 1 and
  ``host0 data:read`` (and the mal-simulator goal, if it is none of these);
* warm-up: ``simulate(graph, [entry], targets, samples=2, seed)``, timed (the kernel is C compiled at install,
  so this is the first call's fixed costs and one whole block of local TTCs: ``simulate`` draws whole blocks
  whatever ``samples`` is);
* ``result = simulate(graph, [entry], targets, samples=--samples, seed=--seed)`` with the default workers (all
  cores), timed: the simulate row; samples per second is ``--samples`` over that time;
* at ``--workers-at`` hosts (default 1,000) the same call again with ``workers=1``, timed, and whether both
  runs' ``result.times`` are identical (they should be: every block draws from its own seed);
* ``summarise(result.times[:, j])`` per target (probability with its 95% Wilson interval, median TTC among the
  samples that reach it), shown for the largest size in the answers table;
* the child's peak RSS at the end (after the graph, the samples and any workers=1 run).

Targets (the brief): simulate ≤ 10 s at 1,000 hosts and ≤ 60 s at 5,000 hosts with 1,000 samples on this
2-core machine, memory bounded by processing samples in blocks. The target column applies them only when
``--samples`` is 1,000.

mal-simulator (``mal-simulator==3.3.0`` with ``mal-toolbox==2.11.0``), on the models of ``--malsim-hosts``
(default 2 and 10 hosts), in the throwaway venv ``--peer-venv`` (by default
``<user cache>/breachpath-bench/malsim-venv``; created on first use, never a project dependency), one child of
that venv's interpreter per size:

* the model is written once per size with ``breachpath.model.write_model`` (mal-toolbox's layout, JSON, in
  the temporary directory), and read with ``Model.load_from_file``;
* ``LanguageGraph.from_mal_spec(main.mal)`` and ``AttackGraph(lg, model)``, timed (the build row);
* ``MalSimulator(attack_graph, agents=[AttackerSettings(entry_points={"Internet:physicalAccess"},
  goals={--malsim-goal}, policy=BreadthFirstAttacker)], MalSimulatorSettings(seed, ttc_mode))`` with
  ``--malsim-ttc-mode`` (default ``PER_STEP_SAMPLE``: a TTC is drawn afresh at every attempt, and the
  attempt succeeds when it is ≤ 1; defenses and impossible steps are drawn again at each reset);
* ``--malsim-episodes`` episodes (default 100), each timed: ``sim.reset()``, a fresh breadth-first agent, then
  one action per step until the simulator is done (goal reached, or nothing left to attempt) or
  ``--malsim-max-steps``; per episode whether the goal was reached and the number of steps. The time per
  episode is extrapolated to 1,000 episodes (mean × 1,000). mal-simulator logs every step at INFO level to
  ``logs/malsim_log.txt``, its default, which is part of its time.

For each mal-simulator size breachpath's figures come from that size's child above, or, for a size not in
``--hosts`` (such as 2), from one more child of the same kind whose figures appear only in the comparison
rows. The answers table sets breachpath's probability of the goal beside the fraction of episodes that
reached it (both draw the same Bernoulli defenses and steps, so these should agree within sampling error),
and breachpath's median TTC beside the agent's steps (not comparable: earliest time over all paths at once vs
the steps of a one-action-at-a-time agent).

Every child runs with its current directory set to the temporary directory (mal-toolbox writes a ``logs/``
folder into its current directory on import) and prints its figures as one JSON line on stdout. This process
stays small (it imports neither numpy nor breachpath); on Linux a child's ``ru_maxrss`` starts from its
parent's peak, so a note says so if this process's peak ever reaches a child's.

Nothing is asserted: this prints figures, it is not a test. Run it with the project's venv:

    .venv/bin/python bench/sim_bench.py [--hosts 10,100,1000,5000] [--samples 1000] [--seed 1]
        [--workers-at 1000] [--malsim-hosts 2,10] [--malsim-episodes 100] [--malsim-ttc-mode PER_STEP_SAMPLE]
        [--malsim-goal "host0 OS:fullAccess"] [--format table|json] [--no-peer] [--peer-venv PATH]
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
from graph_bench import _hosts, _own_rss_mb, generate_model
from lang_bench import PEER_DISTRIBUTION as TOOLBOX_DISTRIBUTION
from lang_bench import PEER_REQUIREMENT as TOOLBOX_REQUIREMENT

LANGUAGE = "corelang/main.mal"
DEFAULT_HOSTS = (10, 100, 1000, 5000)
DEFAULT_MALSIM_HOSTS = (2, 10)
ENTRY = "Internet:physicalAccess"
DEFAULT_GOAL = "host0 OS:fullAccess"
PEER_REQUIREMENT = "mal-simulator==3.3.0"
PEER_DISTRIBUTION = "mal-simulator"
PEER_VENV = "malsim-venv"
#: The brief's targets for ``simulate`` with 1,000 samples: hosts -> seconds.
SIM_TARGETS: dict[int, float] = {1000: 10.0, 5000: 60.0}
TARGET_SAMPLES = 1000
#: The brief's figures: mal-toolbox's node count at 1,000 hosts; mal-simulator's 1,000 episodes on 2 hosts.
BRIEF_NODES_1000 = 287_000
BRIEF_MALSIM_2_HOSTS_S = 308.0
TTC_MODES = ("PER_STEP_SAMPLE", "EFFORT_BASED_PER_STEP_SAMPLE", "PRE_SAMPLE", "EXPECTED_VALUE", "DISABLED")

_RSS = (
    CHILD_RSS
    + r"""
import json, os, resource, sys, time

cfg = json.loads(sys.argv[1])
out = {"hosts": cfg["hosts"], "rss_start_mb": rss_mb()}
"""
)

_OURS_CHILD = (
    _RSS
    + r"""
t = time.perf_counter()
import numpy as np
from breachpath import sim
from breachpath.graph import build_graph
from breachpath.lang import compile_file
from breachpath.samples import corelang_enterprise
out["import_s"] = time.perf_counter() - t

def timed(key, fn):
    t = time.perf_counter()
    value = fn()
    out[key] = time.perf_counter() - t
    return value

hosts, samples, seed = cfg["hosts"], cfg["samples"], cfg["seed"]
spec = timed("compile_s", lambda: compile_file(cfg["lang"]))
model = timed("generate_s", lambda: corelang_enterprise(hosts))
out["assets"] = len(model.assets)
graph = timed("build_s", lambda: build_graph(spec, model))
out["nodes"], out["edges"] = graph.n_nodes, graph.n_edges
out["build_rss_mb"] = rss_mb()
if hasattr(sim, "block_size"):
    out["block"] = int(sim.block_size(graph.n_nodes))

entry = graph.find(cfg["entry"])
names = [f"host{i} OS:fullAccess" for i in (0, hosts // 2, hosts - 1)] + ["host0 data:read"] + cfg["extra"]
names = list(dict.fromkeys(names))
targets = [graph.find(name) for name in names]

timed("warmup_s", lambda: sim.simulate(graph, [entry], targets, samples=2, seed=seed))
result = timed("simulate_s", lambda: sim.simulate(graph, [entry], targets, samples=samples, seed=seed))
out["threads"] = min(os.cpu_count() or 1, sim.MAX_THREADS)
out["samples_per_s"] = samples / out["simulate_s"]
out["simulate_rss_mb"] = rss_mb()
out["answers"] = [{"target": name, **sim.summarise(result.times[:, j])} for j, name in enumerate(names)]
if cfg["workers"]:
    one = timed("workers1_s", lambda: sim.simulate(graph, [entry], targets, samples=samples, seed=seed, workers=1))
    out["identical"] = bool(np.array_equal(result.times, one.times))
out["rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

_PEER_CHILD = (
    _RSS
    + r"""
import importlib.metadata
t = time.perf_counter()
from maltoolbox.attackgraph import AttackGraph
from maltoolbox.language import LanguageGraph
from maltoolbox.model import Model
from malsim import AttackerSettings, MalSimulator, MalSimulatorSettings
from malsim.config.sim_settings import TTCMode
from malsim.policies.attackers.searchers import BreadthFirstAttacker
out["import_s"] = time.perf_counter() - t
out["version"] = importlib.metadata.version("mal-simulator")
out["toolbox_version"] = importlib.metadata.version("mal-toolbox")

def timed(key, fn):
    t = time.perf_counter()
    value = fn()
    out[key] = time.perf_counter() - t
    return value

lg = timed("compile_s", lambda: LanguageGraph.from_mal_spec(cfg["lang"]))
model = timed("read_s", lambda: Model.load_from_file(cfg["model"], lg))
graph = timed("build_s", lambda: AttackGraph(lg, model))
out["nodes"] = len(graph.nodes)
attacker = AttackerSettings(
    "attacker",
    entry_points={cfg["entry"]},
    goals={cfg["goal"]},
    policy=BreadthFirstAttacker,
    config={"seed": cfg["seed"]},
)
settings = MalSimulatorSettings(seed=cfg["seed"], ttc_mode=TTCMode[cfg["ttc_mode"]])
simulator = timed("init_s", lambda: MalSimulator(graph, agents=[attacker], sim_settings=settings))
goal = simulator.get_node(cfg["goal"])

episodes = []
for _ in range(cfg["episodes"]):
    t = time.perf_counter()
    states = simulator.reset()
    agent_settings = simulator.agent_settings["attacker"]
    agent_settings.reset_agent()  # a fresh breadth-first queue: reset() leaves the decision agent as it was
    agent = agent_settings.agent
    steps = 0
    while not simulator.done() and steps < cfg["max_steps"]:
        action = agent.get_next_action(states["attacker"])
        states = simulator.step({"attacker": [action]} if action else {})
        steps += 1
    state = states["attacker"]
    episodes.append(
        {
            "s": time.perf_counter() - t,
            "steps": steps,
            "reached": goal in state.performed_nodes,
            "truncated": not simulator.done(),
            "performed": len(state.performed_nodes),
        }
    )
out["episodes"] = episodes
out["rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)


@dataclass
class Results:
    """Everything the run measured, ready to print as a table or JSON."""

    language: str
    hosts: list[int]
    samples: int
    seed: int
    peer_version: str | None = None
    toolbox_version: str | None = None
    malsim: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parent_rss_mb: float | None = None
    ours_raw: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    peer_raw: dict[str, dict[str, Any] | None] = field(default_factory=dict)


# -- running the children ------------------------------------------------------------------------------


def run_ours(hosts: int, cfg: dict[str, Any], workdir: Path, workers: bool, extra: list[str]) -> dict[str, Any]:
    """breachpath's child for ``hosts`` hosts (see ``_OURS_CHILD``)."""
    doc = {**cfg, "hosts": hosts, "workers": workers, "extra": extra}
    with contextlib.chdir(workdir):
        return run_child([sys.executable, "-c", _OURS_CHILD, json.dumps(doc)], f"breachpath {hosts} hosts")


def run_peer(python: Path, hosts: int, cfg: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Write the model of ``hosts`` hosts and run mal-simulator's child on it (see ``_PEER_CHILD``)."""
    path = workdir / f"corelang-{hosts}-hosts.json"
    generate_model(hosts, path, workdir)
    try:
        doc = {**cfg, "hosts": hosts, "model": str(path)}
        with contextlib.chdir(workdir):
            return run_child([str(python), "-c", _PEER_CHILD, json.dumps(doc)], f"mal-simulator {hosts} hosts")
    finally:
        path.unlink(missing_ok=True)


def measure(args: argparse.Namespace, lang: Path, python: Path | None, workdir: Path, notes: list[str]) -> Results:
    """Run every child; collect their figures into :class:`Results`."""
    hosts = sorted(set(args.hosts))
    malsim_hosts = sorted(set(args.malsim_hosts)) if python is not None else []
    cfg = {
        "lang": str(lang),
        "samples": args.samples,
        "seed": args.seed,
        "entry": ENTRY,
    }
    extra = [] if args.malsim_goal == DEFAULT_GOAL else [args.malsim_goal]
    res = Results(str(lang), hosts, args.samples, args.seed, notes=notes)

    for h in [*hosts, *(h for h in malsim_hosts if h not in hosts)]:
        workers = h == args.workers_at
        what = f"{args.samples:,} samples" + (", then again with workers=1" if workers else "")
        log(f"{h:,} hosts: breachpath building the graph and simulating {what} ...")
        try:
            res.ours_raw[str(h)] = run_ours(h, cfg, workdir, workers, extra if h in malsim_hosts else [])
        except RuntimeError as exc:
            log(str(exc))
            res.ours_raw[str(h)] = None
            notes.append(f"breachpath at {h:,} hosts: its child failed: {str(exc).splitlines()[-1]}")

    peer_cfg = {
        "lang": str(lang),
        "seed": args.seed,
        "entry": ENTRY,
        "goal": args.malsim_goal,
        "episodes": args.malsim_episodes,
        "ttc_mode": args.malsim_ttc_mode,
        "max_steps": args.malsim_max_steps,
    }
    if python is None:
        return res
    for h in malsim_hosts:
        log(f"{h:,} hosts: mal-simulator running {args.malsim_episodes} episodes of its breadth-first attacker ...")
        try:
            res.peer_raw[str(h)] = run_peer(python, h, peer_cfg, workdir)
        except RuntimeError as exc:
            log(str(exc))
            res.peer_raw[str(h)] = None
            notes.append(f"mal-simulator at {h:,} hosts: its child failed: {str(exc).splitlines()[-1]}")
    return res


# -- assembling the figures ----------------------------------------------------------------------------


def _get(doc: dict[str, Any] | None, key: str, scale: float = 1.0) -> float | None:
    value = doc.get(key) if doc else None
    return value * scale if value is not None else None


def _episodes(peer: dict[str, Any]) -> dict[str, Any]:
    """Aggregates of one mal-simulator child's episodes."""
    eps = peer["episodes"]
    times = [e["s"] for e in eps]
    reached = [e["steps"] for e in eps if e["reached"]]
    total_steps = sum(e["steps"] for e in eps)
    return {
        "episodes": len(eps),
        "reached": len(reached),
        "truncated": sum(e["truncated"] for e in eps),
        "mean_s": statistics.fmean(times) if times else None,
        "median_s": statistics.median(times) if times else None,
        "total_s": sum(times),
        "per_1000_s": 1000 * statistics.fmean(times) if times else None,
        "per_step_ms": 1000 * sum(times) / total_steps if total_steps else None,
        "steps_mean": statistics.fmean(reached) if reached else None,
        "steps_median": statistics.median(reached) if reached else None,
        "steps_min": min(reached) if reached else None,
        "steps_max": max(reached) if reached else None,
    }


def _answer(doc: dict[str, Any] | None, target: str) -> dict[str, Any] | None:
    for a in (doc or {}).get("answers", []):
        if a["target"] == target:
            return a
    return None


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _p_text(a: dict[str, Any]) -> str:
    low, high = a["p_ci"]
    return f"{a['p']:.3f} [{low:.3f}, {high:.3f}]"


def _ttc_text(a: dict[str, Any]) -> str:
    ttc = a["ttc"]
    if ttc["p50"] is None:
        return "never reached"
    return f"median {ttc['p50']:.3g}, mean {ttc['mean']:.3g}, p95 {ttc['p95']:.3g}"


def build_results(res: Results, args: argparse.Namespace) -> Results:
    rows, notes = res.rows, res.notes
    ours = {int(h): doc for h, doc in res.ours_raw.items() if doc is not None}
    peers = {int(h): doc for h, doc in res.peer_raw.items() if doc is not None}
    first = next(iter(peers.values()), None)
    res.peer_version = first["version"] if first else None
    res.toolbox_version = first["toolbox_version"] if first else None
    res.malsim = {str(h): _episodes(p) for h, p in peers.items()}

    scaling = [ours.get(h) for h in res.hosts]
    done = [d for d in scaling if d]
    rows.append(
        Row(
            "import breachpath",
            "s",
            statistics.median(d["import_s"] for d in done) if done else None,
            note="numpy, breachpath.sim/.graph/.lang/.samples; median over the children",
        )
    )
    rows.append(
        Row(
            "language: coreLang",
            "s",
            statistics.median(d["compile_s"] for d in done) if done else None,
            statistics.median(p["compile_s"] for p in peers.values()) if peers else None,
            note="compile_file / LanguageGraph.from_mal_spec; median over the children",
        )
    )

    for h, d in zip(res.hosts, scaling, strict=True):
        label = f"{h:,} hosts"
        if d is None:
            rows.append(Row(f"{label}: simulate", "s", None, note="breachpath's child failed; see the notes"))
            continue
        target = SIM_TARGETS.get(h) if res.samples == TARGET_SAMPLES else None
        block = f"; {d['block']} samples a block" if "block" in d else ""
        rows.append(
            Row(
                f"{label}: graph build",
                "s",
                d["build_s"],
                note=f"build_graph; {d['assets']:,} assets; model generated in {d['generate_s']:.3f} s",
            )
        )
        rows.append(Row(f"{label}: nodes", "k nodes", d["nodes"] / 1000, note=f"{d['edges']:,} edges"))
        rows.append(
            Row(f"{label}: warm-up", "s", d["warmup_s"], note="simulate(samples=2): first call + one block of draws")
        )
        rows.append(
            Row(
                f"{label}: simulate",
                "s",
                d["simulate_s"],
                target=target,
                note=f"{res.samples:,} samples, {len(d['answers'])} targets, {d['threads']} threads{block}",
            )
        )
        rows.append(Row(f"{label}: samples/s", "samples/s", d["samples_per_s"]))
        rows.append(
            Row(
                f"{label}: peak RSS",
                "MB",
                d["rss_mb"],
                note=f"whole child, ru_maxrss; {d['build_rss_mb']:,.0f} MB after the build",
            )
        )
        if "workers1_s" in d:
            rows.append(
                Row(
                    f"{label}: simulate, workers=1",
                    "s",
                    d["workers1_s"],
                    note=f"{d['workers1_s'] / d['simulate_s']:.2f}× the {d['threads']}-thread time; "
                    f"result.times identical: {'yes' if d['identical'] else 'NO'}",
                )
            )
        if h == 1000:
            notes.append(
                f"the brief's 1,000-host figure is {BRIEF_NODES_1000 / 1000:,.0f}k nodes (mal-toolbox's count); "
                f"breachpath's graph here has {d['nodes']:,}"
            )

    for h, p in peers.items():
        label = f"{h:,} hosts vs mal-simulator"
        mine = ours.get(h)
        e = res.malsim[str(h)]
        rows.append(
            Row(
                f"{label}: attack graph build",
                "s",
                _get(mine, "build_s"),
                p["build_s"],
                note=f"build_graph / AttackGraph(lg, model); {mine['nodes'] if mine else 0:,} / {p['nodes']:,} nodes",
            )
        )
        rows.append(
            Row(
                f"{label}: 1,000 samples / 1,000 episodes",
                "s",
                _get(mine, "simulate_s", TARGET_SAMPLES / res.samples),
                e["per_1000_s"],
                note=f"episodes extrapolated from {e['episodes']} (mean {e['mean_s'] * 1000:,.0f} ms, "
                f"{_ms(e['per_step_ms'])} a step); different quantities (see the docstring)",
            )
        )
        rows.append(
            Row(
                f"{label}: per sample / per episode",
                "ms",
                _get(mine, "simulate_s", 1000 / res.samples),
                e["mean_s"] * 1000 if e["mean_s"] is not None else None,
                note=f"{args.malsim_ttc_mode}; simulator set up in {p['init_s']:.3f} s (not counted)",
            )
        )
        rows.append(
            Row(
                f"{label}: peak RSS",
                "MB",
                _get(mine, "rss_mb"),
                p["rss_mb"],
                note="whole child, ru_maxrss",
            )
        )
        if h == 2 and e["per_1000_s"] is not None:
            notes.append(
                f"mal-simulator at 2 hosts: 1,000 episodes extrapolate to {e['per_1000_s']:,.0f} s here; "
                f"the brief measured {BRIEF_MALSIM_2_HOSTS_S:g} s"
            )
        if e["truncated"]:
            notes.append(
                f"mal-simulator at {h:,} hosts: {e['truncated']} episodes stopped at --malsim-max-steps "
                f"{args.malsim_max_steps:,}"
            )

    res.answers = answers(res, ours, args)
    res.parent_rss_mb = _own_rss_mb()
    children = [d["rss_mb"] for d in ours.values()] + [p["rss_mb"] for p in peers.values()]
    if res.parent_rss_mb is not None and children and res.parent_rss_mb >= min(children):
        notes.append(
            f"this process's peak RSS ({res.parent_rss_mb:,.1f} MB) is at least one child's: a child's ru_maxrss "
            "starts from its parent's peak on Linux, so the smallest peak-RSS figures may be this process's"
        )
    return res


def answers(res: Results, ours: dict[int, dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The answers rows: every target at the largest size, then the goal against mal-simulator's episodes."""
    out: list[dict[str, Any]] = []
    done = [h for h in res.hosts if h in ours]
    if done:
        h = done[-1]
        for a in ours[h]["answers"]:
            out.append(
                {
                    "answer": f"{h:,} hosts: {a['target']}",
                    "breachpath": f"P {_p_text(a)}; TTC {_ttc_text(a)}",
                    "mal-simulator": None,
                    "note": f"{res.samples:,} samples, seed {res.seed}; P with its 95% Wilson interval",
                }
            )
    goal = args.malsim_goal
    for key, e in res.malsim.items():
        h = int(key)
        a = _answer(ours.get(h), goal)
        fraction = e["reached"] / e["episodes"] if e["episodes"] else None
        within = None
        if a is not None and fraction is not None:
            low, high = a["p_ci"]
            within = low <= fraction <= high
        theirs = f"{e['reached']}/{e['episodes']} = {fraction:.3f}" if fraction is not None else None
        out.append(
            {
                "answer": f"{h:,} hosts: P({goal})",
                "breachpath": _p_text(a) if a else None,
                "mal-simulator": theirs,
                "note": "fraction of episodes whose agent reached the goal"
                + ("" if within is None else f"; inside our 95% interval: {'yes' if within else 'no'}"),
            }
        )
        steps = None
        if e["steps_median"] is not None:
            steps = (
                f"steps median {e['steps_median']:g}, mean {e['steps_mean']:.1f} "
                f"(min {e['steps_min']}, max {e['steps_max']})"
            )
        out.append(
            {
                "answer": f"{h:,} hosts: time to {goal}",
                "breachpath": f"TTC {_ttc_text(a)}" if a else None,
                "mal-simulator": steps,
                "note": "not comparable: earliest time over all paths vs steps of a one-action-per-step "
                f"breadth-first agent ({args.malsim_ttc_mode}), among episodes that reached the goal",
            }
        )
    return out


# -- printing ------------------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    peer_label = f"mal-simulator {res.peer_version}" if res.peer_version else "mal-simulator (skipped)"
    targets = ", ".join(f"≤ {s:g} s at {h:,} hosts" for h, s in SIM_TARGETS.items())
    title = (
        f"breachpath Monte Carlo TTC vs mal-simulator, coreLang models of {', '.join(f'{h:,}' for h in res.hosts)} "
        f"hosts, {res.samples:,} samples (target: simulate {targets}, {TARGET_SAMPLES:,} samples)"
    )
    console.print(metrics_table(res.rows, title, peer_label))

    table = Table(title="answers", title_justify="left")
    for name in ("answer", "breachpath", "mal-simulator", "note"):
        table.add_column(name)
    for a in res.answers:
        table.add_row(a["answer"], a["breachpath"] or "—", a["mal-simulator"] or "—", a["note"])
    console.print(table)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument(
        "--hosts",
        type=_hosts,
        default=list(DEFAULT_HOSTS),
        help="model sizes in hosts, separated by commas (default 10,100,1000,5000)",
    )
    parser.add_argument("--samples", type=int, default=1000, help="Monte Carlo samples per size (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of both tools (default 1)")
    parser.add_argument(
        "--workers-at",
        type=int,
        default=1000,
        help="size at which simulate runs again with workers=1 (default 1000; 0: nowhere)",
    )
    parser.add_argument(
        "--malsim-hosts",
        type=_hosts,
        default=list(DEFAULT_MALSIM_HOSTS),
        help="model sizes for mal-simulator, separated by commas (default 2,10)",
    )
    parser.add_argument(
        "--malsim-episodes", type=int, default=100, help="mal-simulator episodes per size (default 100)"
    )
    parser.add_argument(
        "--malsim-ttc-mode",
        choices=TTC_MODES,
        default="PER_STEP_SAMPLE",
        help="mal-simulator's TTC mode (default PER_STEP_SAMPLE: a TTC drawn at every attempt)",
    )
    parser.add_argument("--malsim-goal", default=DEFAULT_GOAL, help=f"the attacker's goal (default {DEFAULT_GOAL!r})")
    parser.add_argument("--malsim-max-steps", type=int, default=100_000, help="stop an episode after this many steps")
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mal-simulator")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    args = parser.parse_args(argv)
    if args.samples < 1 or args.malsim_episodes < 1 or args.malsim_max_steps < 1:
        parser.error("--samples, --malsim-episodes and --malsim-max-steps must be at least 1")
    return args


def peer_python(venv: Path) -> tuple[Path | None, str]:
    """The peer venv's python with mal-simulator and its mal-toolbox pinned, or ``(None, why)``."""
    python, why = ensure_venv(venv, PEER_REQUIREMENT, PEER_DISTRIBUTION)
    if python is None:
        return None, why
    return ensure_venv(venv, TOOLBOX_REQUIREMENT, TOOLBOX_DISTRIBUTION)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lang = (shared_dir() / "data" / LANGUAGE).resolve()
    if not lang.is_file():
        log(f"missing MAL file: {lang}; set BREACHPATH_SHARED")
        return 2
    notes: list[str] = []

    python: Path | None = None
    if args.no_peer:
        notes.append("mal-simulator skipped (--no-peer)")
    else:
        python, why = peer_python((args.peer_venv or default_venv(PEER_VENV)).resolve())
        if python is None:
            log(f"skipping mal-simulator: {why}")
            notes.append(f"mal-simulator skipped: {why}")

    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        res = measure(args, lang, python, Path(tmp).resolve(), notes)
    if args.samples != TARGET_SAMPLES:
        notes.append(f"the targets are for {TARGET_SAMPLES:,} samples: not applied to {args.samples:,}")
    res = build_results(res, args)
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
