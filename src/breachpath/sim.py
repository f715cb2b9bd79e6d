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
child is pushed once its last parent is final. The per-sample kernel is compiled with numba and runs samples in
parallel threads. Samples are drawn in fixed blocks, each from its own seed (``SeedSequence(seed).spawn``), so the
same seed gives the same results whatever the number of workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from breachpath.dist import parse
from breachpath.errors import InputError
from breachpath.graph import AttackGraph
from breachpath.scenario import check_precision, check_samples, check_seed, check_workers

#: Memory for one block of local TTCs (samples × nodes × 8 bytes) stays under this.
BLOCK_BYTES = 64 * 2**20
#: Threads a simulation uses at most (``workers``; default: every core).
MAX_THREADS = 64
MAX_BLOCK = 256


@numba.njit(cache=True, nogil=True)
def _heap_push(heap_t, heap_n, size, t, node):
    i = size
    heap_t[i] = t
    heap_n[i] = node
    while i > 0:
        parent = (i - 1) >> 1
        if heap_t[parent] <= heap_t[i]:
            break
        heap_t[parent], heap_t[i] = heap_t[i], heap_t[parent]
        heap_n[parent], heap_n[i] = heap_n[i], heap_n[parent]
        i = parent
    return size + 1


@numba.njit(cache=True, nogil=True)
def _heap_pop(heap_t, heap_n, size):
    t = heap_t[0]
    node = heap_n[0]
    size -= 1
    heap_t[0] = heap_t[size]
    heap_n[0] = heap_n[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        smallest = left
        right = left + 1
        if right < size and heap_t[right] < heap_t[left]:
            smallest = right
        if heap_t[i] <= heap_t[smallest]:
            break
        heap_t[i], heap_t[smallest] = heap_t[smallest], heap_t[i]
        heap_n[i], heap_n[smallest] = heap_n[smallest], heap_n[i]
        i = smallest
    return t, node, size


@numba.njit(cache=True, nogil=True)
def _one_sample(
    child_ptr, child_idx, n_parents, is_and, fixed, ttc_slot, local, sources, source_times, out_nodes, out_row,
    best, done, count, latest, touched, heap_t, heap_n, pred, is_out, n_out,
):  # fmt: skip
    """One sample. The scratch arrays come in clean and are left clean: only the nodes touched are reset, so a
    sample costs what it reaches, not the size of the graph. ``pred[v]`` is the parent that gave an OR step its
    time (-1 for sources), valid for the steps reached in this sample.

    The sample stops as soon as all ``n_out`` out nodes (``is_out``) are settled: steps are settled in time order,
    so nothing later can change their times, and their paths lie among the steps settled before them."""
    n_touched = 0
    size = 0
    settled = 0
    for k in range(sources.shape[0]):
        t = source_times[k]
        node = sources[k]
        if t < best[node]:
            if best[node] == np.inf and count[node] == 0:
                touched[n_touched] = node
                n_touched += 1
            best[node] = t
            pred[node] = -1
            size = _heap_push(heap_t, heap_n, size, t, node)
    # Steps with no TTC are common (instantaneous): a child reached at the very time being processed goes on a
    # stack instead of the heap, since nothing can come before it. Only later times pay for the heap.
    stack = touched[n_parents.shape[0] :]  # the second half of the scratch space
    n_stack = 0
    while size > 0 or n_stack > 0:
        if n_stack > 0:
            n_stack -= 1
            node = stack[n_stack]
            t = best[node]
            if done[node]:
                continue
        else:
            t, node, size = _heap_pop(heap_t, heap_n, size)
            if done[node] or t > best[node]:
                continue
        done[node] = True
        if is_out[node]:
            settled += 1
            if settled == n_out:
                break
        for e in range(child_ptr[node], child_ptr[node + 1]):
            child = child_idx[e]
            if done[child] or fixed[child]:
                continue
            # A node joins ``touched`` exactly once, when its state first changes: the list shares its scratch
            # space with the stack, so a node listed twice (say, an OR step that two parents fail to reach
            # because its own TTC is infinite) would overwrite the stack.
            if is_and[child]:
                if count[child] == 0 and best[child] == np.inf:
                    touched[n_touched] = child
                    n_touched += 1
                count[child] += 1
                if t > latest[child]:
                    latest[child] = t
                if count[child] != n_parents[child]:
                    continue
                slot = ttc_slot[child]
                candidate = latest[child] + (local[slot] if slot >= 0 else 0.0)
            else:
                slot = ttc_slot[child]
                candidate = t + (local[slot] if slot >= 0 else 0.0)
            if candidate < best[child]:
                if best[child] == np.inf and count[child] == 0:
                    touched[n_touched] = child
                    n_touched += 1
                best[child] = candidate
                pred[child] = node
                if candidate == t:
                    stack[n_stack] = child
                    n_stack += 1
                else:
                    size = _heap_push(heap_t, heap_n, size, candidate, child)
    for j in range(out_nodes.shape[0]):
        out_row[j] = best[out_nodes[j]] if done[out_nodes[j]] else np.inf
    return n_touched


@numba.njit(cache=True, nogil=True)
def _reset(touched, n_touched, best, done, count, latest):
    for k in range(n_touched):
        node = touched[k]
        best[node] = np.inf
        done[node] = False
        count[node] = 0
        latest[node] = 0.0


@numba.njit(cache=True, nogil=True)
def _backtrack(target, is_and, parent_ptr, parent_idx, pred, done, fixed, mark, stack, path, max_len):
    """The steps that achieved ``target`` in this sample: an OR step's best parent, an AND step's parents."""
    n_path = 0
    n_stack = 1
    stack[0] = target
    mark[target] = True
    while n_stack > 0:
        n_stack -= 1
        node = stack[n_stack]
        if n_path < max_len:
            path[n_path] = node
        n_path += 1
        if fixed[node]:
            continue
        if is_and[node] and pred[node] != -1:
            for e in range(parent_ptr[node], parent_ptr[node + 1]):
                parent = parent_idx[e]
                if done[parent] and not mark[parent]:
                    mark[parent] = True
                    stack[n_stack] = parent
                    n_stack += 1
        elif pred[node] >= 0 and not mark[pred[node]]:
            mark[pred[node]] = True
            stack[n_stack] = pred[node]
            n_stack += 1
    if n_path <= max_len:
        for k in range(n_path):
            mark[path[k]] = False
        return n_path
    # A path longer than max_len was recorded only in part: walk the same steps again (they are exactly the
    # marked ones this rule reaches) to clear every mark, or the next samples would skip those steps.
    mark[target] = False
    n_stack = 1
    stack[0] = target
    while n_stack > 0:
        n_stack -= 1
        node = stack[n_stack]
        if fixed[node]:
            continue
        if is_and[node] and pred[node] != -1:
            for e in range(parent_ptr[node], parent_ptr[node + 1]):
                parent = parent_idx[e]
                if done[parent] and mark[parent]:
                    mark[parent] = False
                    stack[n_stack] = parent
                    n_stack += 1
        elif pred[node] >= 0 and mark[pred[node]]:
            mark[pred[node]] = False
            stack[n_stack] = pred[node]
            n_stack += 1
    return n_path


@numba.njit(cache=True, nogil=True)
def _run_block(
    child_ptr, child_idx, n_parents, is_and, fixed, ttc_slot, local, entries, entry_local, defense_nodes, enabled,
    exist_nodes, out_nodes, out, chunks, parent_ptr, parent_idx, paths, path_len,
):  # fmt: skip
    samples = local.shape[0]
    n = n_parents.shape[0]
    per_chunk = (samples + chunks - 1) // chunks
    for c in range(chunks):
        # Scratch space once per chunk of samples (a thread's share), not once per sample.
        best = np.full(n, np.inf)
        done = np.zeros(n, dtype=np.bool_)
        count = np.zeros(n, dtype=np.int32)
        latest = np.zeros(n)
        touched = np.empty(2 * n + child_idx.shape[0], dtype=np.int64)  # touched nodes, then the zero-time stack
        capacity = n + child_idx.shape[0] + entries.shape[0] + defense_nodes.shape[0] + exist_nodes.shape[0] + 1
        heap_t = np.empty(capacity)
        heap_n = np.empty(capacity, dtype=np.int64)
        total_max = entries.shape[0] + defense_nodes.shape[0] + exist_nodes.shape[0]
        sources = np.empty(total_max, dtype=np.int64)
        times = np.empty(total_max)
        pred = np.empty(n, dtype=np.int64)
        mark = np.zeros(n, dtype=np.bool_)
        is_out = np.zeros(n, dtype=np.bool_)
        for j in range(out_nodes.shape[0]):
            is_out[out_nodes[j]] = True
        n_out = 0
        for v in range(n):
            if is_out[v]:
                n_out += 1
        for s in range(c * per_chunk, min(samples, (c + 1) * per_chunk)):
            k = 0
            for i in range(entries.shape[0]):
                sources[k] = entries[i]
                times[k] = entry_local[s, i]
                k += 1
            for d in range(defense_nodes.shape[0]):
                if not enabled[s, d]:
                    sources[k] = defense_nodes[d]
                    times[k] = 0.0
                    k += 1
            for i in range(exist_nodes.shape[0]):
                sources[k] = exist_nodes[i]
                times[k] = 0.0
                k += 1
            n_touched = _one_sample(
                child_ptr, child_idx, n_parents, is_and, fixed, ttc_slot, local[s], sources[:k], times[:k], out_nodes,
                out[s],
                best, done, count, latest, touched, heap_t, heap_n, pred, is_out, n_out,
            )  # fmt: skip
            for j in range(path_len.shape[1]):
                if done[out_nodes[j]]:
                    path_len[s, j] = _backtrack(
                        out_nodes[j], is_and, parent_ptr, parent_idx, pred, done, fixed, mark, heap_n, paths[s, j],
                        paths.shape[2],
                    )  # fmt: skip
                else:
                    path_len[s, j] = 0
            _reset(touched, n_touched, best, done, count, latest)


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
    block and a small row that stays in cache while a sample runs."""
    slot = np.full(graph.n_nodes, -1, dtype=np.int64)
    timed = np.flatnonzero(graph.ttc >= 0)
    slot[timed] = np.arange(len(timed))
    return slot


def _local_ttcs(graph: AttackGraph, slot: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """(block, timed steps) local TTCs: each distinct TTC expression drawn once for all its steps."""
    timed = np.flatnonzero(slot >= 0)
    local = np.zeros((block, len(timed)))
    ttc_of_timed = graph.ttc[timed]
    for k, text in enumerate(graph.ttc_texts):
        columns = np.flatnonzero(ttc_of_timed == k)
        if columns.size:
            local[:, columns] = parse(str(text)).sample(block * columns.size, rng).reshape(block, columns.size)
    # A negative time (an expression like Uniform(-1, 1)) means "at once": time never runs backwards.
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
) -> Simulation:
    """Run ``samples`` samples; return the compromise times of ``out_nodes`` (targets, or every step).

    With ``path_targets`` = k, the attack path of each of the first k out nodes is kept per sample: the steps
    that achieved it (an OR step's earliest parent, all of an AND step's parents), up to ``max_path`` steps."""
    check_samples(samples)
    check_seed(seed)
    check_workers(workers, "workers")
    if not entries:
        raise InputError("no entry points: name at least one asset:step the attacker starts from")
    threads = max(1, min(workers or os.cpu_count() or 1, MAX_THREADS))
    out_nodes = np.asarray(out_nodes, dtype=np.int64)
    n_parents = np.diff(graph.parent_ptr).astype(np.int32)
    is_and = graph.kind == 1
    fixed = graph.kind >= 2  # defenses and E/!E: their state is drawn or known, not reached through parents
    defense_nodes = np.flatnonzero(graph.kind == 2)
    defense_p = graph.defense_p[defense_nodes]
    exist_nodes = np.flatnonzero((graph.kind >= 3) & (graph.exists == 1))
    entry_arr = np.asarray(entries, dtype=np.int64)
    slot = ttc_slots(graph)
    child_ptr, child_idx, n_parents = active_edges(graph, slot, defense_nodes[defense_p == 0], n_parents, out_nodes)
    block = graph_block(graph)
    times = _allocate((samples, len(out_nodes)), np.float32, "steps")
    width = max_path if path_targets else 0
    path_len = _allocate((samples, path_targets), np.int64, "attack paths")
    path_parts: list[np.ndarray] = []  # per block: the recorded steps of its paths, back to back
    # Dense scratch for one block only: the kernel writes each path into a fixed-width row, and only the steps
    # actually on it are kept (see Simulation).
    block_paths = np.zeros((block, path_targets, width), dtype=np.int64)
    block_len = np.zeros((block, path_targets), dtype=np.int64)
    sequence = np.random.SeedSequence(seed)
    n_blocks = math.ceil(samples / block)
    seeds = sequence.spawn(first_block + n_blocks)[first_block:]
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        done = 0
        for b in range(n_blocks):
            rng = np.random.default_rng(seeds[b])
            size = min(block, samples - done)
            # Draw a whole block even when fewer samples are needed: the stream must not depend on `samples`.
            local = _local_ttcs(graph, slot, block, rng)[:size]
            enabled = (rng.random((block, len(defense_nodes))) < defense_p)[:size]
            # Entry steps without a TTC start at 0. Only the timed ones index ``local``, which has no column at all
            # when no step of the graph has a TTC (enterpriseLang's are all in comments).
            entry_slots = slot[entry_arr]
            entry_local = np.zeros((size, len(entry_arr)))
            entry_timed = entry_slots >= 0
            entry_local[:, entry_timed] = local[:, entry_slots[entry_timed]]
            out = np.empty((size, len(out_nodes)))
            # Each thread runs the compiled kernel (which releases the GIL) on its own rows of the block. Threads of
            # Python's pool rather than numba's parallel loops: the same work, and half the compilation on first use.
            bounds = np.linspace(0, size, threads + 1).astype(np.int64)
            runs = [
                (
                    child_ptr, child_idx, n_parents, is_and, fixed, slot, local[a:b], entry_arr, entry_local[a:b],
                    defense_nodes, enabled[a:b], exist_nodes, out_nodes, out[a:b], 1, graph.parent_ptr, graph.parent_idx,
                    block_paths[a:b], block_len[a:b],
                )
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                if b > a
            ]  # fmt: skip
            if pool is None or len(runs) == 1:
                for run in runs:
                    _run_block(*run)
            else:
                for future in [pool.submit(_run_block, *run) for run in runs]:
                    future.result()
            with np.errstate(over="ignore"):  # beyond float32's 3.4e38 days is ∞ (never), without a numpy warning
                times[done : done + size] = out
            if path_targets:
                path_len[done : done + size] = block_len[:size]
                stored = np.minimum(block_len[:size], width)
                # Row-major order (sample, target, position) is the CSR order of Simulation.path_nodes.
                keep = np.arange(width) < stored[:, :, None]
                path_parts.append(block_paths[:size][keep].astype(np.int32))
            done += size
            if progress:
                progress(done, samples)
    finally:
        if pool is not None:
            pool.shutdown()
    result = Simulation(times, out_nodes, [graph.name(int(n)) for n in out_nodes], seed, samples)
    if path_targets:
        result.path_nodes = np.concatenate(path_parts)
        result.path_offsets = np.zeros(samples * path_targets + 1, dtype=np.int64)
        np.cumsum(np.minimum(path_len, width).ravel(), out=result.path_offsets[1:])
        result.path_len = path_len
    return result


def active_edges(
    graph: AttackGraph, slot: np.ndarray, off_defenses: np.ndarray, n_parents: np.ndarray, out_nodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The child lists and AND in-degrees a simulation needs: without edges into steps that lead to no out node
    (their times cannot change an out node's, nor lie on its path), and without edges from steps every sample
    reaches at time 0 into AND steps that have other parents (:func:`fold_certain_parents`). Node ids, times and
    paths are those of the whole graph."""
    n = graph.n_nodes
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.child_ptr))
    dst = graph.child_idx.astype(np.int64)
    if len(out_nodes) < n and len(dst):
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import breadth_first_order

        # Ancestors of the out nodes: a search over reversed edges from one extra node linked to all of them.
        rows = np.concatenate([dst, np.full(len(out_nodes), n)])
        cols = np.concatenate([src, out_nodes])
        reverse = csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
        order = breadth_first_order(reverse, n, directed=True, return_predecessors=False)
        relevant = np.zeros(n + 1, dtype=bool)
        relevant[order] = True
        keep = relevant[dst]
        src, dst = src[keep], dst[keep]
    return fold_certain_parents(graph, slot, off_defenses, n_parents, src, dst)


def fold_certain_parents(
    graph: AttackGraph,
    slot: np.ndarray,
    off_defenses: np.ndarray,
    n_parents: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Child lists (from the edges ``src`` → ``dst``) and AND in-degrees without the edges from steps every sample
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
