"""Monte Carlo time-to-compromise over an :class:`~breachpath.graph.AttackGraph`.

For each sample every step draws a local TTC from its distribution, every defense is enabled with its
probability, and each step's compromise time is the earliest time the attacker can complete it (DESIGN.md):

* entry steps: 0 plus their own TTC, whatever their kind;
* OR: the earliest reached parent plus the local TTC; AND: once all parents are reached, the latest plus the TTC;
* a defense that is enabled is never reached (it blocks its children); a disabled one is reached at 0, and so
  is an E/!E step whose requirement holds in the model; a step with no parents that is not an entry is never
  reached; ∞ (a failed Bernoulli factor) means impossible.

Cycles are allowed: this is Dijkstra's algorithm generalised to AND nodes (Knuth, "A generalization of Dijkstra's
algorithm", IPL 6(1), 1977): a node is final when popped; an OR child is relaxed from each final parent, an AND
child is pushed once its last parent is final. The per-sample kernel is C (``_kernel.c``, compiled when the package
is installed, so a first run pays no compilation) and runs samples in parallel threads. Samples are drawn in fixed
blocks, each from its own seed (``SeedSequence(seed).spawn``), so the same seed gives the same results whatever the
number of workers.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from breachpath import _kernel
from breachpath.dist import parse
from breachpath.errors import InputError
from breachpath.graph import AttackGraph
from breachpath.scenario import check_precision, check_samples, check_seed, check_workers

#: Memory for one block of local TTCs (samples × nodes × 8 bytes) stays under this.
BLOCK_BYTES = 64 * 2**20
#: Threads a simulation uses at most (``workers``; default: every core).
MAX_THREADS = 64
MAX_BLOCK = 256


def run_block(
    child_ptr: np.ndarray,
    child_idx: np.ndarray,
    n_parents: np.ndarray,
    is_and: np.ndarray,
    fixed: np.ndarray,
    ttc_slot: np.ndarray,
    local: np.ndarray,
    entries: np.ndarray,
    entry_local: np.ndarray,
    defense_nodes: np.ndarray,
    enabled: np.ndarray,
    exist_nodes: np.ndarray,
    out_nodes: np.ndarray,
    out: np.ndarray,
    parent_ptr: np.ndarray,
    parent_idx: np.ndarray,
    max_path: int,
    path_len: np.ndarray,
) -> np.ndarray:
    """Run one block of samples (rows of ``local``, ``entry_local``, ``enabled``) in the compiled kernel, writing
    ``out`` (samples × out nodes: times, ∞ for never) and, for the first ``path_len.shape[1]`` out nodes, each
    sample's attack path: its full length into ``path_len`` and its first ``max_path`` steps (the target first)
    into the int32 array returned, all paths back to back in (sample, target) order. ``n_parents`` counts the AND
    steps' parents along ``child_idx``; ``ttc_slot`` gives each step's column in ``local`` (-1: no TTC). The kernel
    releases the GIL while it runs."""
    stored = _kernel.run_block(
        np.ascontiguousarray(child_ptr, dtype=np.int64), np.ascontiguousarray(child_idx, dtype=np.int32),
        np.ascontiguousarray(n_parents, dtype=np.int32), np.ascontiguousarray(is_and, dtype=np.bool_),
        np.ascontiguousarray(fixed, dtype=np.bool_), np.ascontiguousarray(ttc_slot, dtype=np.int64),
        np.ascontiguousarray(local, dtype=np.float64), np.ascontiguousarray(entries, dtype=np.int64),
        np.ascontiguousarray(entry_local, dtype=np.float64), np.ascontiguousarray(defense_nodes, dtype=np.int64),
        np.ascontiguousarray(enabled, dtype=np.bool_), np.ascontiguousarray(exist_nodes, dtype=np.int64),
        np.ascontiguousarray(out_nodes, dtype=np.int64), out, np.ascontiguousarray(parent_ptr, dtype=np.int64),
        np.ascontiguousarray(parent_idx, dtype=np.int32), max_path, path_len,
    )  # fmt: skip
    return np.frombuffer(stored, dtype=np.int32)


@dataclass
class Simulation:
    """Per-sample compromise times of the chosen nodes (float32, ∞ for never), and the attack path of each
    (sample, path target) when recorded.

    Paths are ragged (compressed sparse rows): the path of sample ``s`` to path target ``j`` is
    ``path_nodes[path_offsets[s * k + j] : path_offsets[s * k + j + 1]]`` for ``k`` path targets, in the order
    backtracking found it (the target first). A path is as long as it is, not as long as the longest one can be:
    60,000 samples of a 40-step path take 10 MB instead of 2 GB per target, and a sample that missed the target
    takes nothing. ``path_len`` keeps each full length, which exceeds the stored one when a path was truncated to
    ``max_path`` steps.
    """

    times: np.ndarray  # (samples, nodes)
    nodes: np.ndarray  # node ids, columns of times
    names: list[str]
    seed: int | None
    samples: int
    path_nodes: np.ndarray | None = None  # int32 node ids, all recorded paths back to back
    path_offsets: np.ndarray | None = None  # int64, samples * path targets + 1, non-decreasing, from 0
    path_len: np.ndarray | None = None  # (samples, path targets) int64: steps on the path (0 when not reached)

    @property
    def path_targets(self) -> int:
        """How many of the first columns have recorded paths (0 when none were recorded)."""
        return 0 if self.path_len is None else int(self.path_len.shape[1])

    def path(self, sample: int, target: int) -> np.ndarray:
        """The recorded path of one sample to path target ``target``: node ids, the target first (empty when the
        sample did not reach it)."""
        if self.path_len is None or not 0 <= target < self.path_len.shape[1]:
            raise ValueError("run simulate(..., path_targets=k) to record paths")
        row = sample * self.path_len.shape[1] + target
        return self.path_nodes[self.path_offsets[row] : self.path_offsets[row + 1]]

    def truncated_paths(self, target: int) -> int:
        """Samples whose path to ``target`` was longer than what was kept (``max_path``)."""
        stored = np.diff(self.path_offsets).reshape(self.path_len.shape)[:, target]
        return int(np.count_nonzero(self.path_len[:, target] > stored))


def ttc_slots(graph: AttackGraph) -> np.ndarray:
    """Column of each node in the compact local-TTC matrix (-1 for steps without a TTC: they take no time).

    Most steps have no TTC (coreLang: 14k of 250k), so only the timed ones are drawn and stored: less memory per
    block and a small row that stays in cache while a sample runs. The columns of the steps sharing a TTC
    expression are contiguous (in step order), so each expression's draws are copied in as one block."""
    slot = np.full(graph.n_nodes, -1, dtype=np.int64)
    timed = np.flatnonzero(graph.ttc >= 0)
    slot[timed[np.argsort(graph.ttc[timed], kind="stable")]] = np.arange(len(timed))
    return slot


def _local_ttcs(graph: AttackGraph, slot: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """(block, timed steps) local TTCs: each distinct TTC expression drawn once for all its steps, in the order
    of its steps (the columns :func:`ttc_slots` gives them)."""
    counts = np.bincount(graph.ttc[graph.ttc >= 0], minlength=len(graph.ttc_texts))
    local = np.empty((block, int(counts.sum())))
    start = 0
    for text, count in zip(graph.ttc_texts, counts.tolist(), strict=True):
        if count:
            local[:, start : start + count] = parse(str(text)).sample(block * count, rng).reshape(block, count)
            start += count
    # A negative time (an expression like Uniform(-1, 1)) means "at once": time never runs backwards.
    np.maximum(local, 0.0, out=local)
    return local


def _local_parts(
    graph: AttackGraph, slot: np.ndarray, block: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The draws of :func:`_local_ttcs` (the same stream) taken apart (:meth:`Distribution.sample_parts`):
    (block, timed steps) finite times, failures, and the uniforms of each step's single Bernoulli factor (NaN
    where it has none or several), with each column's Bernoulli probability (NaN: none)."""
    counts = np.bincount(graph.ttc[graph.ttc >= 0], minlength=len(graph.ttc_texts))
    width = int(counts.sum())
    times, failed = np.empty((block, width)), np.zeros((block, width), dtype=bool)
    uniforms, p = np.full((block, width), np.nan), np.full(width, np.nan)
    start = 0
    for text, count in zip(graph.ttc_texts, counts.tolist(), strict=True):
        if count:
            part_t, part_f, part_u, part_p = parse(str(text)).sample_parts(block * count, rng)
            cols = slice(start, start + count)
            times[:, cols], failed[:, cols] = part_t.reshape(block, count), part_f.reshape(block, count)
            if part_u is not None:
                uniforms[:, cols], p[cols] = part_u.reshape(block, count), part_p
            start += count
    return times, failed, uniforms, p


@dataclass(frozen=True)
class TTCVariation:
    """Other values of the steps' TTC parameters for one run, on the same random draws (common random numbers):
    ``probability`` (one per node; NaN keeps the TTC's own) replaces the success probability of a step whose TTC
    has exactly one Bernoulli factor (a sample fails where its uniform is ≥ the probability); ``time_factor``
    (one per node; 1 keeps it) multiplies the step's drawn time. The TTC's own values give exactly the run
    without a variation."""

    probability: np.ndarray
    time_factor: np.ndarray

    def columns(self, graph: AttackGraph, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities and factors in the columns of the local-TTC matrix (:func:`ttc_slots`)."""
        if np.shape(self.probability) != (graph.n_nodes,) or np.shape(self.time_factor) != (graph.n_nodes,):
            raise ValueError("a TTCVariation holds one probability and one time factor per node of the graph")
        timed = np.flatnonzero(slot >= 0)
        order = np.empty(len(timed), dtype=np.int64)
        order[slot[timed]] = timed
        return np.asarray(self.probability, dtype=np.float64)[order], np.asarray(self.time_factor)[order]


def _varied(parts: tuple, probability: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Local TTCs from drawn parts (:func:`_local_parts`) with each column's probability and time factor."""
    times, failed, uniforms, p = parts
    p = np.where(np.isnan(probability), p, probability)
    with np.errstate(invalid="ignore"):
        local = times * factor
        local[failed | (uniforms >= p)] = np.inf
    np.maximum(local, 0.0, out=local)
    return local


def _allocate(shape: tuple[int, int], dtype: type, what: str) -> np.ndarray:
    """A zeroed result array, or an :class:`InputError` saying how much memory the run asked for: 10^8 samples of
    every step (--all-steps) wanted 86 GiB and ended in a MemoryError traceback."""
    try:
        return np.zeros(shape, dtype=dtype)
    except MemoryError:
        need = shape[0] * shape[1] * np.dtype(dtype).itemsize / 2**30
        raise InputError(
            f"{shape[0]:,} samples of {shape[1]:,} {what} need {need:.1f} GiB of memory, more than is available: "
            "ask for fewer samples (--samples) or fewer steps"
        ) from None


def thread_count(workers: int | None) -> int:
    """Threads for ``workers`` (None: one per CPU), at most :data:`MAX_THREADS`."""
    return max(1, min(workers or os.cpu_count() or 1, MAX_THREADS))


@dataclass
class Draws:
    """Each block's random draws (local TTCs, and the uniforms that decide the defenses), kept for later runs of the
    same graph and seed: what-if runs use their baseline's seed, so they draw the very same numbers again. Blocks are
    kept while they fit in ``max_bytes``; the defenses' probabilities are applied at each run, so a run may change
    them. Pass the same object to each :func:`simulate` call of one graph (its TTCs unchanged) and seed; calls may
    run at the same time in several threads."""

    max_bytes: int = 4 * BLOCK_BYTES
    seed: int | None = None
    blocks: dict[int, tuple] = field(default_factory=dict)
    kept: int = 0
    parts: bool = False  # the blocks hold draws taken apart (runs with a TTCVariation), not local TTCs
    ancestors: dict[bytes, np.ndarray] = field(default_factory=dict, repr=False)  # by out nodes: see ancestors()
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


def simulate(
    graph: AttackGraph,
    entries: list[int],
    out_nodes: list[int] | np.ndarray,
    samples: int = 1000,
    seed: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    first_block: int = 0,
    path_targets: int = 0,
    max_path: int = 4096,
    rows: np.ndarray | None = None,
    draws: Draws | None = None,
    defense_p: np.ndarray | None = None,
    variation: TTCVariation | None = None,
) -> Simulation:
    """Run ``samples`` samples; return the compromise times of ``out_nodes`` (targets, or every step).

    With ``path_targets`` = k, the attack path of each of the first k out nodes is kept per sample: the steps
    that achieved it (an OR step's earliest parent, all of an AND step's parents), up to ``max_path`` steps.

    With ``rows`` (increasing sample indices below ``samples``), only those samples are run, each exactly as a full
    run would (the same draws): the result holds them in that order (``samples`` is then their number). Blocks
    without any are not even drawn. With ``draws``, blocks drawn by an earlier call are taken from it (see
    :class:`Draws`). ``defense_p`` (one probability per node, as ``graph.defense_p``) replaces the graph's defense
    probabilities for this run alone: what-if runs of several defenses share one graph. ``variation`` gives the
    steps' TTC parameters other values on the same draws (:class:`TTCVariation`): a ``draws`` object then keeps
    the draws taken apart, so runs of many variations draw once."""
    check_samples(samples)
    check_seed(seed)
    check_workers(workers, "workers")
    if not entries:
        raise InputError("no entry points: name at least one asset:step the attacker starts from")
    threads = thread_count(workers)
    out_nodes = np.asarray(out_nodes, dtype=np.int64)
    defense_nodes = np.flatnonzero(graph.kind == 2)
    if defense_p is not None and np.shape(defense_p) != graph.defense_p.shape:
        raise ValueError("defense_p must hold one probability per node of the graph")
    defense_p = (graph.defense_p if defense_p is None else np.asarray(defense_p))[defense_nodes]
    exist_nodes = np.flatnonzero((graph.kind >= 3) & (graph.exists == 1))
    entry_arr = np.asarray(entries, dtype=np.int64)
    slot = ttc_slots(graph)
    apart = variation is not None
    if apart:
        p_col, factor_col = variation.columns(graph, slot)
    sources = np.concatenate([entry_arr, defense_nodes, exist_nodes])
    ancestor = None
    if draws is not None:  # runs that share draws share their graph: the steps leading to the targets, once
        key = out_nodes.tobytes()
        with draws.lock:
            ancestor = draws.ancestors.get(key)
        if ancestor is None:
            ancestor = ancestors(graph, out_nodes)
            with draws.lock:
                draws.ancestors[key] = ancestor
    kg = kernel_graph(graph, slot, defense_nodes[defense_p == 0], out_nodes, sources, ancestor)
    k_entries, k_defenses, k_exists, k_out = (kg.new[v] for v in (entry_arr, defense_nodes, exist_nodes, out_nodes))
    entry_slots = slot[entry_arr]
    entry_timed = entry_slots >= 0
    block = graph_block(graph)
    n_blocks = math.ceil(samples / block)
    if rows is None:
        starts = np.arange(n_blocks + 1) * block
        starts[-1] = samples
    else:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows[0] < 0 or rows[-1] >= samples or (np.diff(rows) <= 0).any()):
            raise ValueError("rows must be increasing sample indices below samples")
        starts = np.searchsorted(rows, np.arange(n_blocks + 1) * block)  # block b's rows: starts[b]:starts[b + 1]
    todo = [b for b in range(n_blocks) if starts[b + 1] > starts[b]]
    total = int(starts[-1])
    times = _allocate((total, len(out_nodes)), np.float32, "steps")
    width = max_path if path_targets else 0
    path_len = _allocate((total, path_targets), np.int64, "attack paths")
    path_parts: list[np.ndarray] = []  # per block: the recorded steps of its paths, back to back
    sequence = np.random.SeedSequence(seed)
    seeds = sequence.spawn(first_block + n_blocks)[first_block:]
    if draws is not None and (draws.seed != seed or draws.seed is None or draws.parts != apart):
        with draws.lock:  # another seed (or none: fresh entropy), or draws of the other form: draw anew
            draws.seed, draws.blocks, draws.kept, draws.parts = seed, {}, 0, apart

    def run(b: int, pool: ThreadPoolExecutor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw block ``b`` and run it: its rows split among the pool's threads, or on this thread alone."""
        size = min(block, samples - b * block)
        kept = draws.blocks.get(first_block + b) if draws is not None else None
        if kept is None:
            rng = np.random.default_rng(seeds[b])
            # Draw a whole block even when fewer samples are needed: the stream must not depend on `samples`.
            drawn = _local_parts(graph, slot, block, rng) if apart else _local_ttcs(graph, slot, block, rng)
            kept = (drawn, rng.random((block, len(defense_nodes))))
            if draws is not None:
                size_of = sum(a.nbytes for a in (drawn if apart else (drawn,))) + kept[1].nbytes
                with draws.lock:
                    if draws.kept + size_of <= draws.max_bytes and first_block + b not in draws.blocks:
                        draws.blocks[first_block + b] = kept
                        draws.kept += size_of
        local = (_varied(kept[0], p_col, factor_col) if apart else kept[0])[:size]
        enabled = (kept[1] < defense_p)[:size]
        if rows is not None:
            chosen = rows[starts[b] : starts[b + 1]] - b * block
            local, enabled, size = local[chosen], enabled[chosen], len(chosen)
        # Entry steps without a TTC start at 0. Only the timed ones index ``local``, which has no column at all
        # when no step of the graph has a TTC (enterpriseLang's are all in comments).
        entry_local = np.zeros((size, len(k_entries)))
        entry_local[:, entry_timed] = local[:, entry_slots[entry_timed]]
        out = np.empty((size, len(out_nodes)))
        lengths = np.zeros((size, path_targets), dtype=np.int64)
        bounds = np.linspace(0, size, (threads if pool else 1) + 1).astype(np.int64)
        runs = [
            (
                kg.child_ptr, kg.child_idx, kg.n_parents, kg.is_and, kg.fixed, kg.slot, local[a:b], k_entries,
                entry_local[a:b], k_defenses, enabled[a:b], k_exists, k_out, out[a:b], kg.parent_ptr, kg.parent_idx,
                width, lengths[a:b],
            )
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            if b > a
        ]  # fmt: skip
        if pool is None or len(runs) == 1:
            parts = [run_block(*args) for args in runs]
        else:
            parts = [future.result() for future in [pool.submit(run_block, *args) for args in runs]]
        # Rows in order, each (sample, target) in order: the CSR order of Simulation.path_nodes.
        kept = kg.old[np.concatenate(parts)].astype(np.int32) if path_targets else np.zeros(0, dtype=np.int32)
        return out, lengths, kept

    # Threads (the kernel releases the GIL, and so does numpy's drawing) take whole blocks, drawing included, when
    # there are enough blocks and their results are small; otherwise each block's rows are split among them.
    # Blocks are independent (their own seeds), so the results are the same either way.
    out_bytes = block * len(out_nodes) * 8
    by_block = threads > 1 and len(todo) > 1 and threads * out_bytes <= 4 * BLOCK_BYTES
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        if by_block:
            pending = {i: pool.submit(run, todo[i], None) for i in range(min(threads, len(todo)))}
        done = 0
        for i, b in enumerate(todo):
            if by_block:
                out, lengths, kept = pending.pop(i).result()
                if i + threads < len(todo):  # at most one block per thread in memory at a time
                    pending[i + threads] = pool.submit(run, todo[i + threads], None)
            else:
                out, lengths, kept = run(b, pool)
            size = len(out)
            with np.errstate(over="ignore"):  # beyond float32's 3.4e38 days is ∞ (never), without a numpy warning
                times[done : done + size] = out
            if path_targets:
                path_len[done : done + size] = lengths
                path_parts.append(kept)
            done += size
            if progress:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    result = Simulation(times, out_nodes, [graph.name(int(n)) for n in out_nodes], seed, total)
    if path_targets:
        result.path_nodes = np.concatenate(path_parts) if path_parts else np.zeros(0, dtype=np.int32)
        result.path_offsets = np.zeros(total * path_targets + 1, dtype=np.int64)
        np.cumsum(np.minimum(path_len, width).ravel(), out=result.path_offsets[1:])
        result.path_len = path_len
    return result


@dataclass
class KernelGraph:
    """The part of a graph one simulation runs on, renumbered: the steps that lead to an out node (the others
    cannot change an out node's time, nor lie on its path) and the sources, numbered in breadth-first order from the sources so
    that steps reached close in time lie close in memory, with the edges :func:`fold_certain_parents` leaves.
    Each step keeps its children and parents in the graph's order, so samples run exactly as on the whole graph.
    ``old[i]`` is the graph's id of kernel node ``i``; ``new[v]`` the kernel id of graph node ``v`` (-1: left
    out)."""

    child_ptr: np.ndarray
    child_idx: np.ndarray
    n_parents: np.ndarray  # AND in-degree along child_idx
    parent_ptr: np.ndarray  # every parent in the graph (backtracking reads them all)
    parent_idx: np.ndarray
    is_and: np.ndarray
    fixed: np.ndarray
    slot: np.ndarray
    old: np.ndarray
    new: np.ndarray


def ancestors(graph: AttackGraph, out_nodes: np.ndarray) -> np.ndarray:
    """Boolean mask of the steps that lead to ``out_nodes`` (themselves included)."""
    ancestor = np.zeros(graph.n_nodes, dtype=bool)
    ancestor[breadth_first(graph.parent_ptr, graph.parent_idx, out_nodes)] = True
    return ancestor


def kernel_graph(
    graph: AttackGraph,
    slot: np.ndarray,
    off_defenses: np.ndarray,
    out_nodes: np.ndarray,
    sources: np.ndarray,
    ancestor: np.ndarray | None = None,
) -> KernelGraph:
    """The :class:`KernelGraph` of a simulation of ``out_nodes`` from ``sources`` (entries, defenses, E/!E steps;
    graph ids, in the order the kernel pushes them); ``ancestor``: :func:`ancestors` of ``out_nodes``, when known."""
    n = graph.n_nodes
    if ancestor is None:
        ancestor = ancestors(graph, out_nodes)
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.child_ptr))
    dst = graph.child_idx.astype(np.int64)
    keep = ancestor[dst]  # and so its parent, an ancestor too
    # Sources stay, whether they lead anywhere or not: the kernel pushes them in the same order as on the whole
    # graph, so it takes steps of equal times in the same order too, and paths credit the same parents.
    relevant = ancestor.copy()
    relevant[sources] = True
    n_parents = np.diff(graph.parent_ptr).astype(np.int32)
    child_ptr, child_idx, n_parents = fold_certain_parents(graph, slot, off_defenses, n_parents, src[keep], dst[keep])
    # Breadth-first from the sources, then the steps no source reaches.
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(child_ptr))
    reached = breadth_first(child_ptr, child_idx, sources[relevant[sources]])
    placed = np.zeros(n, dtype=bool)
    placed[reached] = True
    old = np.concatenate([reached, np.flatnonzero(relevant & ~placed)])
    new = np.full(n, -1, dtype=np.int64)
    new[old] = np.arange(len(old))
    # Children in the graph's order within each step: a stable sort of the kept edges by their parent's new id.
    order = np.argsort(new[src], kind="stable")
    k_child_ptr = np.zeros(len(old) + 1, dtype=np.int64)
    np.cumsum(np.diff(child_ptr)[old], out=k_child_ptr[1:])
    k_child_idx = new[child_idx[order]].astype(np.int32)
    counts = np.where(ancestor[old], np.diff(graph.parent_ptr)[old], 0)  # a source off every path needs none
    k_parent_ptr = np.zeros(len(old) + 1, dtype=np.int64)
    np.cumsum(counts, out=k_parent_ptr[1:])
    gather = np.repeat(graph.parent_ptr[old] - k_parent_ptr[:-1], counts) + np.arange(k_parent_ptr[-1])
    k_parent_idx = new[graph.parent_idx[gather]].astype(np.int32)
    return KernelGraph(
        k_child_ptr, k_child_idx, n_parents[old], k_parent_ptr, k_parent_idx, graph.kind[old] == 1,
        graph.kind[old] >= 2, slot[old], old, new,
    )  # fmt: skip


def breadth_first(ptr: np.ndarray, idx: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The nodes reachable from ``starts`` along the CSR edges ``ptr``/``idx``, in breadth-first order (Moore,
    "The shortest path through a maze", 1959): one vectorised step per level, each level's nodes in the order
    a queue would meet them."""
    seen = np.zeros(len(ptr) - 1, dtype=bool)
    level = np.asarray(starts, dtype=np.int64)
    levels = []
    while len(level):
        _, first = np.unique(level, return_index=True)
        level = level[np.sort(first)]  # each node once, where it was first met
        level = level[~seen[level]]
        seen[level] = True
        levels.append(level)
        counts = ptr[level + 1] - ptr[level]
        gather = np.repeat(ptr[level] - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        level = idx[gather].astype(np.int64)
    return np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)


def fold_certain_parents(
    graph: AttackGraph,
    slot: np.ndarray,
    off_defenses: np.ndarray,
    n_parents: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Child lists (from the edges ``src`` → ``dst``, grouped by ``src`` in increasing order) and AND in-degrees without the edges from steps every sample
    reaches at time 0 into AND steps that have other parents: such a parent never decides the AND step's time
    (max(0, t) = t).

    A defense that is off for sure (p = 0) is reached at 0 in every sample, and so is an OR step without a TTC
    below it, or an AND step without a TTC all of whose parents are: the "bypassed" step of a mitigation that no
    model switched on. attacklang gates each technique's door with up to 30 of them, so most of a graph's edges
    would otherwise be relaxed in every sample for nothing. Times are unchanged; paths keep those steps (they are
    still reached, and backtracking reads the full parent lists), though where several parents of an OR step tie,
    the one a path credits may differ, since steps are taken in another order; only the work is less."""
    n = graph.n_nodes
    drop = np.zeros(len(dst), dtype=bool)
    folded = n_parents
    if len(off_defenses) and len(dst):
        untimed = slot < 0
        certain = np.zeros(n, dtype=bool)
        certain[off_defenses] = True
        while True:  # a fixed point, one vectorised pass per level of the (shallow) zero-time layer
            at_zero = np.bincount(dst[certain[src]], minlength=n)
            grown = certain | (
                untimed & (((graph.kind == 0) & (at_zero > 0)) | ((graph.kind == 1) & (at_zero == n_parents)))
            )
            if (grown == certain).all():
                break
            certain = grown
        drop = certain[src] & (graph.kind[dst] == 1) & (at_zero[dst] < n_parents[dst])
        folded = n_parents - np.bincount(dst[drop], minlength=n).astype(n_parents.dtype)
    keep = ~drop
    child_ptr = np.zeros(n + 1, dtype=graph.child_ptr.dtype)
    np.cumsum(np.bincount(src[keep], minlength=n), out=child_ptr[1:])
    return child_ptr, dst[keep].astype(graph.child_idx.dtype), folded


def graph_block(graph: AttackGraph) -> int:
    """Samples per block for this graph (only steps with a TTC are stored per sample)."""
    return block_size(max(1, int(np.count_nonzero(graph.ttc >= 0))))


def block_size(n_nodes: int) -> int:
    """Samples per block: local TTCs of a block fit in :data:`BLOCK_BYTES`."""
    return int(max(1, min(MAX_BLOCK, BLOCK_BYTES // max(1, 8 * n_nodes))))


# -- summaries --------------------------------------------------------------------------------------------


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (Wilson, JASA 22(158), 1927)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(times: np.ndarray, horizons: list[float] | None = None) -> dict:
    """Probability with a 95% interval, TTC quantiles and mean among compromised samples, and within-horizon
    probabilities, for one column of per-sample times."""
    n = len(times)
    finite = times[np.isfinite(times)].astype(np.float64)
    k = len(finite)
    low, high = wilson(k, n)
    out = {"p": k / n if n else 0.0, "p_ci": [low, high]}
    if k:
        q = np.quantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95])
        out["ttc"] = {"p5": q[0], "p25": q[1], "p50": q[2], "p75": q[3], "p95": q[4], "mean": float(finite.mean())}
        out["ttc"] = {key: float(v) for key, v in out["ttc"].items()}
    else:
        out["ttc"] = {"p5": None, "p25": None, "p50": None, "p75": None, "p95": None, "mean": None}
    out["within"] = {f"{h:g}": float(np.count_nonzero(finite <= h) / n) if n else 0.0 for h in horizons or []}
    return out


def median_ci(finite: np.ndarray, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% distribution-free interval for the median from order statistics (Conover, *Practical
    Nonparametric Statistics*, 3rd ed., §3.2)."""
    return _median_ci_sorted(np.sort(finite), z)


def _median_ci_sorted(ordered: np.ndarray, z: float = 1.959963984540054) -> tuple[float, float]:
    """:func:`median_ci` of values already sorted."""
    k = len(ordered)
    if k == 0:
        return (math.nan, math.nan)
    half = z * math.sqrt(k) / 2
    low = max(0, int(math.floor(k / 2 - half)))
    high = min(k - 1, int(math.ceil(k / 2 + half)))
    return (float(ordered[low]), float(ordered[high]))


def precise_enough(times: np.ndarray, precision: float) -> bool:
    """Every column's compromise probability and median TTC have 95% intervals narrower than ``precision``."""
    ordered = [np.sort(times[:, j][np.isfinite(times[:, j])]) for j in range(times.shape[1])]
    return _precise_enough_sorted(ordered, times.shape[0], precision)


def _precise_enough_sorted(ordered: list[np.ndarray], n: int, precision: float) -> bool:
    """:func:`precise_enough` from each column's finite times, sorted, out of ``n`` samples."""
    for finite in ordered:
        low, high = wilson(len(finite), n)
        if high - low >= precision:
            return False
        if len(finite):
            m_low, m_high = _median_ci_sorted(finite)
            if m_high - m_low >= precision:
                return False
    return True


def simulate_until(
    graph: AttackGraph,
    entries: list[int],
    out_nodes: list[int] | np.ndarray,
    precision: float,
    max_samples: int,
    seed: int | None = None,
    workers: int | None = None,
    check_columns: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Simulation:
    """Sample block after block until :func:`precise_enough` holds for the first ``check_columns`` columns
    (the targets), or ``max_samples`` is reached. The same seed gives the same samples as :func:`simulate`."""
    check_precision(precision, "precision")
    check_samples(max_samples, "max_samples")
    block = graph_block(graph)
    columns = check_columns or len(out_nodes)
    parts: list[np.ndarray] = []
    # Each target's finite times kept sorted as blocks arrive: checking the rule after every block is then a
    # merge and two lookups, not a sort of everything so far (a cap of 10^6 samples took minutes, not seconds).
    ordered = [np.empty(0, dtype=np.float32) for _ in range(columns)]
    done = 0
    blocks_done = 0
    while done < max_samples:
        # Blocks are simulated in batches that grow with the run (one call per block cost more than the samples)
        # but the rule is still checked block by block, so the run stops exactly where a block-wise one would.
        batch = min(max(1, blocks_done), 256) * block
        size = min(batch, max_samples - done)
        part = simulate(graph, entries, out_nodes, samples=size, seed=seed, workers=workers, first_block=blocks_done)
        for start in range(0, size, block):
            piece = part.times[start : start + block]
            parts.append(piece)
            done += len(piece)
            blocks_done += 1
            for j in range(columns):
                new = np.sort(piece[:, j][np.isfinite(piece[:, j])])
                ordered[j] = np.insert(ordered[j], np.searchsorted(ordered[j], new), new)
            if done >= 100 and _precise_enough_sorted(ordered, done, precision):
                break
        else:
            if progress:
                progress(done, max_samples)
            continue
        if progress:
            progress(done, max_samples)
        break
    times = np.concatenate(parts)
    return Simulation(times, np.asarray(out_nodes, dtype=np.int64), [graph.name(int(n)) for n in out_nodes], seed, done)
