"""The attack graph: a language and a model compiled into flat numpy arrays.

One node per (asset, attack step) of every asset (inherited steps included). A step's children come from its
reach expressions, evaluated over the model's links for all assets of a type at once: the pairs (origin, asset)
an expression reaches are a sorted array of int64 keys; ``a.b`` gathers the CSR neighbours of field ``a`` then
``b``; ``\\/`` ``/\\`` and ``-`` are sorted-array set operations; ``x*`` is a fixed point (zero or more hops, the
start included); ``[T]`` keeps assets of type T or below; ``v()`` follows the variable's relation. No Python
object per node on the way.

The :class:`AttackGraph` holds the node arrays (kind, asset, step, TTC id, defense probability, existence),
children and parents in CSR form, and the names to read them by. It saves to ``.npz`` without pickle.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from breachpath.dist import parse
from breachpath.errors import InputError
from breachpath.lang.spec import LanguageSpec
from breachpath.model import Model, complete_links, validate

KINDS = ("or", "and", "defense", "exists", "notExists")
_KIND_CODE = {"or": 0, "and": 1, "defense": 2, "exist": 3, "notExist": 4}
FORMAT = "breachpath-attack-graph/1"


@dataclass
class AttackGraph:
    """Flat arrays, one entry per node (``kind``…) or per edge (CSR ``child_idx``/``parent_idx``)."""

    kind: np.ndarray  # int8: 0 or, 1 and, 2 defense, 3 exists, 4 notExists
    asset: np.ndarray  # int32: index into asset_ids / asset_names / asset_types
    step: np.ndarray  # int32: index into step_names
    ttc: np.ndarray  # int32: index into ttc_texts, -1 for none (instantaneous)
    defense_p: np.ndarray  # float64: probability a defense is enabled (NaN for other kinds)
    exists: np.ndarray  # int8: for E/!E, 1 when the requirement holds in the model (so the step is reached at 0)
    child_ptr: np.ndarray  # int64, len n+1
    child_idx: np.ndarray  # int32
    parent_ptr: np.ndarray
    parent_idx: np.ndarray
    asset_ids: np.ndarray  # int64: the model's ids
    asset_names: np.ndarray  # str
    asset_types: np.ndarray  # str
    step_names: np.ndarray  # str
    ttc_texts: np.ndarray  # str (MAL text)
    info: dict = field(default_factory=dict)  # language, model, attack ids per "Type.step", build figures

    @property
    def n_nodes(self) -> int:
        return len(self.kind)

    @property
    def n_edges(self) -> int:
        return len(self.child_idx)

    def name(self, node: int) -> str:
        """``<asset name>:<step>``."""
        return f"{self.asset_names[self.asset[node]]}:{self.step_names[self.step[node]]}"

    def names(self) -> list[str]:
        return [f"{a}:{s}" for a, s in zip(self.asset_names[self.asset], self.step_names[self.step], strict=True)]

    def children(self, node: int) -> np.ndarray:
        return self.child_idx[self.child_ptr[node] : self.child_ptr[node + 1]]

    def parents(self, node: int) -> np.ndarray:
        return self.parent_idx[self.parent_ptr[node] : self.parent_ptr[node + 1]]

    def edges(self) -> np.ndarray:
        """(parent, child) pairs, shape (E, 2)."""
        parents = np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.child_ptr))
        return np.stack([parents, self.child_idx], axis=1)

    def find(self, text: str) -> int:
        """The node called ``asset:step`` or ``asset.step`` (asset by name, or by id)."""
        asset_part, sep, step_part = (
            text.replace(":", ".", 1).rpartition(".") if ":" not in text else text.partition(":")
        )
        if not sep:
            raise InputError(f"{text}: expected asset:step")
        candidates = np.flatnonzero(self.asset_names == asset_part)
        if candidates.size == 0 and asset_part.isdigit():
            candidates = np.flatnonzero(self.asset_ids == int(asset_part))
        if candidates.size == 0:
            raise InputError(f"{text}: no asset {asset_part!r} in the model")
        steps = np.flatnonzero(self.step_names == step_part)
        nodes = np.flatnonzero(np.isin(self.asset, candidates) & np.isin(self.step, steps))
        if nodes.size == 0:
            types = ", ".join(sorted(set(self.asset_types[candidates])))
            raise InputError(f"{text}: asset {asset_part!r} ({types}) has no attack step {step_part!r}")
        return int(nodes[0])

    def node(self, index: int) -> dict:
        """A readable view of one node: name, kind, asset, step, TTC, ATT&CK ids, language location."""
        asset_type = str(self.asset_types[self.asset[index]])
        step = str(self.step_names[self.step[index]])
        key = f"{asset_type}.{step}"
        return {
            "id": index,
            "name": self.name(index),
            "kind": KINDS[self.kind[index]],
            "asset": {
                "id": int(self.asset_ids[self.asset[index]]),
                "name": str(self.asset_names[self.asset[index]]),
                "type": asset_type,
            },
            "step": step,
            "ttc": None if self.ttc[index] < 0 else str(self.ttc_texts[self.ttc[index]]),
            "defense_p": None if np.isnan(self.defense_p[index]) else float(self.defense_p[index]),
            "attack_ids": self.info.get("attack_ids", {}).get(key, []),
            "language": self.info.get("locations", {}).get(key),
            "children": [int(c) for c in self.children(index)],
            "parents": [int(p) for p in self.parents(index)],
        }

    def stats(self) -> dict:
        counts = np.bincount(self.kind, minlength=len(KINDS))
        return {
            "nodes": self.n_nodes,
            "edges": self.n_edges,
            "assets": len(self.asset_ids),
            "nodes_by_kind": {k: int(n) for k, n in zip(KINDS, counts, strict=True)},
            "build_seconds": self.info.get("build_seconds"),
            "memory_bytes": int(sum(a.nbytes for a in self._arrays().values())),
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}

    # -- .npz ---------------------------------------------------------------------------------------

    def save(self, path: Path | str) -> None:
        """Write the arrays to ``.npz`` (no pickle: strings are numpy unicode arrays, info is JSON)."""
        import io

        from breachpath.fileio import atomic_write_bytes

        buffer = io.BytesIO()
        np.savez(buffer, format=np.array(FORMAT), info=np.array(json.dumps(self.info)), **self._arrays())
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path | str) -> AttackGraph:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "format" not in data or str(data["format"]) != FORMAT:
                    raise InputError(f"{path}: not a breachpath attack graph")
                arrays = {k: data[k] for k in data.files if k not in ("format", "info")}
                info = json.loads(str(data["info"]))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the attack graph ({exc})") from None
        missing = set(cls.__dataclass_fields__) - set(arrays) - {"info"}
        if missing:
            raise InputError(f"{path}: attack graph without {', '.join(sorted(missing))}")
        return cls(**arrays, info=info)

    def to_json(self) -> dict:
        """``{"nodes": [{"id", "name", "kind"}], "edges": [[parent, child], ...]}`` for other tools."""
        names = self.names()
        return {
            "nodes": [{"id": i, "name": names[i], "kind": KINDS[k]} for i, k in enumerate(self.kind.tolist())],
            "edges": self.edges().tolist(),
        }


# -- building ---------------------------------------------------------------------------------------------


class _Csr:
    """An N×N boolean relation in CSR form (row asset → column assets)."""

    __slots__ = ("indptr", "indices")

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int):
        keys = _unique_keys(rows.astype(np.int64) * n + cols.astype(np.int64))
        rows, self.indices = np.divmod(keys, n)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=self.indptr[1:])


def _unique_keys(keys: np.ndarray) -> np.ndarray:
    """Sorted unique int64 keys (a sort is faster than np.unique's hashing for these sizes)."""
    keys.sort()
    if keys.size:
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys


class _Builder:
    """Evaluates step expressions over the model.

    A set of (origin, asset) pairs is a sorted array of int64 keys ``origin * N + asset``: navigation gathers
    CSR neighbours (no Python loop per pair), union/intersection/difference are sorted-array set operations,
    ``x*`` iterates to a fixed point that includes the start, ``[T]`` keeps the assets whose type is T or below.
    """

    def __init__(self, spec: LanguageSpec, model: Model):
        self.spec = spec
        self.model = model
        self.ids = np.array(list(model.assets), dtype=np.int64)
        self.index = {asset_id: i for i, asset_id in enumerate(model.assets)}
        self.types = [a.type for a in model.assets.values()]
        self.n = len(self.ids)
        self._fields: dict[str, _Csr] = {}
        self._variables: dict[str, _Csr] = {}
        self._subtype_masks: dict[str, np.ndarray] = {}
        self.type_rows: dict[str, np.ndarray] = {}
        types = np.array(self.types)
        for t in dict.fromkeys(self.types):
            self.type_rows[t] = np.flatnonzero(types == t)
        # One pass over the links gives every field's relation.
        pairs: dict[str, tuple[list[int], list[int]]] = {}
        index = self.index
        for i, asset in enumerate(model.assets.values()):
            for name, targets in asset.links.items():
                rows, cols = pairs.setdefault(name, ([], []))
                rows.extend([i] * len(targets))
                cols.extend(index[t] for t in targets)
        for name, (rows, cols) in pairs.items():
            self._fields[name] = _Csr(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), self.n)
        self._empty = _Csr(np.zeros(0, np.int64), np.zeros(0, np.int64), self.n)

    def field(self, name: str) -> _Csr:
        return self._fields.get(name, self._empty)

    def subtype_mask(self, asset_type: str) -> np.ndarray:
        found = self._subtype_masks.get(asset_type)
        if found is None:
            ok = {t for t in self.type_rows if t in self.spec.assets and self.spec.is_subtype(t, asset_type)}
            found = np.array([t in ok for t in self.types], dtype=bool)
            self._subtype_masks[asset_type] = found
        return found

    def start(self, rows: np.ndarray) -> np.ndarray:
        """Origin i (a position in ``rows``) starts at asset rows[i]."""
        return np.arange(len(rows), dtype=np.int64) * self.n + rows.astype(np.int64)

    def compose(self, keys: np.ndarray, relation: _Csr) -> np.ndarray:
        """Follow ``relation`` from every (origin, asset) pair."""
        origins, assets = np.divmod(keys, self.n)
        gathered = _gather(relation.indptr, relation.indices, assets)
        counts = relation.indptr[assets + 1] - relation.indptr[assets]
        return _unique_keys(np.repeat(origins, counts) * self.n + gathered)

    def variable(self, name: str) -> _Csr:
        """Row b holds the assets the variable ``name`` gives from asset b (its own type's definition)."""
        found = self._variables.get(name)
        if found is None:
            self._variables[name] = self._empty  # guards self-reference
            rows_all, cols_all = [], []
            for asset_type, rows in self.type_rows.items():
                var = self.spec.variable(asset_type, name) if asset_type in self.spec.assets else None
                if var is None:
                    continue
                origins, assets = np.divmod(self.evaluate(var[1], self.start(rows)), self.n)
                rows_all.append(rows[origins])
                cols_all.append(assets)
            found = _Csr(np.concatenate(rows_all), np.concatenate(cols_all), self.n) if rows_all else self._empty
            self._variables[name] = found
        return found

    def evaluate(self, expr: dict, keys: np.ndarray) -> np.ndarray:
        """The (origin, asset) pairs an expression leads to from the pairs ``keys``."""
        kind = expr["type"]
        if kind == "field":
            return self.compose(keys, self.field(expr["name"]))
        if kind == "collect":
            return self.evaluate(expr["rhs"], self.evaluate(expr["lhs"], keys))
        if kind == "union":
            return np.union1d(self.evaluate(expr["lhs"], keys), self.evaluate(expr["rhs"], keys))
        if kind == "intersection":
            return np.intersect1d(
                self.evaluate(expr["lhs"], keys), self.evaluate(expr["rhs"], keys), assume_unique=True
            )
        if kind == "difference":
            return np.setdiff1d(self.evaluate(expr["lhs"], keys), self.evaluate(expr["rhs"], keys), assume_unique=True)
        if kind == "transitive":
            reached = keys
            frontier = keys
            for _ in range(self.n + 1):
                new = np.setdiff1d(self.evaluate(expr["stepExpression"], frontier), reached, assume_unique=True)
                if new.size == 0:
                    break
                reached = np.union1d(reached, new)
                frontier = new
            return reached
        if kind == "subType":
            inner = self.evaluate(expr["stepExpression"], keys)
            return inner[self.subtype_mask(expr["subType"])[inner % self.n]]
        if kind == "variable":
            return self.compose(keys, self.variable(expr["name"]))
        raise InputError(f"unknown step expression {kind!r}")


def _split_reach(expr: dict) -> tuple[dict | None, str]:
    """A reach is a path then an attack step: (path or None for the asset itself, step name)."""
    if expr["type"] == "attackStep":
        return None, expr["name"]
    if expr["type"] == "collect" and expr["rhs"]["type"] == "attackStep":
        return expr["lhs"], expr["rhs"]["name"]
    if expr["type"] == "collect":
        path, step = _split_reach(expr["rhs"])
        return ({"type": "collect", "lhs": expr["lhs"], "rhs": path} if path else expr["lhs"]), step
    raise InputError(f"a reach must end in an attack step: {expr}")


def build_graph(spec: LanguageSpec, model: Model) -> AttackGraph:
    """Compile ``model`` under ``spec`` into an :class:`AttackGraph` (unpruned)."""
    started = time.perf_counter()
    complete_links(model, spec)
    fatal = [p for p in validate(model, spec) if "unknown asset type" in p or "has no field" in p or "is abstract" in p]
    if fatal:
        raise InputError(f"{model.origin}: {fatal[0]}" + (f" (and {len(fatal) - 1} more)" if len(fatal) > 1 else ""))
    builder = _Builder(spec, model)
    n = builder.n

    # Nodes: every step of every asset, asset by asset; filled per asset type from one template per type.
    step_names: dict[str, int] = {}
    ttc_texts: dict[str, int] = {}
    type_steps = {t: spec.steps(t) for t in builder.type_rows}
    templates = {}
    for asset_type, steps in type_steps.items():
        kinds, ids, ttcs, defaults = [], [], [], []
        for name, step in steps.items():
            kinds.append(_KIND_CODE[step.kind])
            ids.append(step_names.setdefault(name, len(step_names)))
            if step.kind == "defense":
                ttcs.append(-1)
                defaults.append(parse(step.ttc).success_probability() if step.ttc else 0.0)
            else:
                ttcs.append(ttc_texts.setdefault(step.ttc, len(ttc_texts)) if step.ttc else -1)
                defaults.append(np.nan)
        templates[asset_type] = (
            np.array(kinds, np.int8),
            np.array(ids, np.int32),
            np.array(ttcs, np.int32),
            np.array(defaults),
        )
    per_asset = np.array([len(type_steps[t]) for t in builder.types], dtype=np.int64)
    first_node = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_asset, out=first_node[1:])
    total = int(first_node[-1])
    kind = np.empty(total, np.int8)
    step_of = np.empty(total, np.int32)
    node_ttc = np.empty(total, np.int32)
    defense_p = np.empty(total, np.float64)
    asset_of = np.repeat(np.arange(n, dtype=np.int32), per_asset)
    exists = np.full(total, -1, np.int8)
    for asset_type, rows in builder.type_rows.items():
        t_kind, t_step, t_ttc, t_def = templates[asset_type]
        positions = (first_node[rows][:, None] + np.arange(len(t_kind))).ravel()
        kind[positions] = np.tile(t_kind, len(rows))
        step_of[positions] = np.tile(t_step, len(rows))
        node_ttc[positions] = np.tile(t_ttc, len(rows))
        defense_p[positions] = np.tile(t_def, len(rows))
    # The model's defense values override the language's defaults.
    for i, asset in enumerate(model.assets.values()):
        if asset.defenses:
            names = list(type_steps[asset.type])
            for name, value in asset.defenses.items():
                if name in type_steps[asset.type]:
                    defense_p[first_node[i] + names.index(name)] = value

    # A step's node on asset b is first_node[b] + the step's position in b's type (-1 when b's type lacks it):
    # a (steps × types) table instead of a node id per (step, asset).
    type_names = list(builder.type_rows)
    type_code = np.empty(n, dtype=np.int32)
    for code, asset_type in enumerate(type_names):
        type_code[builder.type_rows[asset_type]] = code
    position = np.full((len(step_names), len(type_names)), -1, dtype=np.int64)
    for code, asset_type in enumerate(type_names):
        for offset, name in enumerate(type_steps[asset_type]):
            position[step_names[name], code] = offset
    step_list = list(step_names)

    def node_ids(name: str, assets: np.ndarray) -> np.ndarray:
        offsets = position[step_names[name], type_code[assets]] if name in step_names else np.full(len(assets), -1)
        return np.where(offsets >= 0, first_node[assets] + offsets, -1)

    parents_all, children_all = [], []
    for asset_type, rows in builder.type_rows.items():
        start = builder.start(rows)
        for name, step in type_steps[asset_type].items():
            own = node_ids(name, rows)
            if step.kind in ("exist", "notExist"):
                any_found = np.zeros(len(rows), dtype=bool)
                all_empty = np.ones(len(rows), dtype=bool)
                for requirement in step.requires or []:
                    found = np.zeros(len(rows), dtype=bool)
                    found[builder.evaluate(requirement, start) // n] = True
                    any_found |= found
                    all_empty &= ~found
                exists[own] = (any_found if step.kind == "exist" else all_empty).astype(np.int8)
            for reach in step.reaches or []:
                path, target = _split_reach(reach)
                reached = start if path is None else builder.evaluate(path, start)
                rr, cc = np.divmod(reached, n)
                child = node_ids(target, cc)
                keep = child >= 0
                parents_all.append(own[rr[keep]].astype(np.int32))
                children_all.append(child[keep].astype(np.int32))

    parents = np.concatenate(parents_all) if parents_all else np.zeros(0, dtype=np.int32)
    children = np.concatenate(children_all) if children_all else np.zeros(0, dtype=np.int32)
    del parents_all, children_all
    # Two expressions reaching the same step give one edge (a sort is faster than np.unique's hashing here).
    keys = _unique_keys(parents.astype(np.int64) * total + children)
    del parents, children
    parents, children = (keys // total).astype(np.int32), (keys % total).astype(np.int32)
    del keys
    child_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=total), out=child_ptr[1:])
    order = np.lexsort((parents, children))
    parent_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(children, minlength=total), out=parent_ptr[1:])

    attack_ids, locations = {}, {}
    for asset_type in builder.type_rows:
        for name, step in type_steps[asset_type].items():
            key = f"{asset_type}.{name}"
            if step.attack_ids:
                attack_ids[key] = step.attack_ids
            locations[key] = f"{step.asset}.{name}" + (f" ({step.location})" if step.location else "")
    graph = AttackGraph(
        kind=kind,
        asset=asset_of,
        step=step_of,
        ttc=node_ttc,
        defense_p=defense_p,
        exists=exists,
        child_ptr=child_ptr,
        child_idx=children,
        parent_ptr=parent_ptr,
        parent_idx=parents[order],
        asset_ids=builder.ids,
        asset_names=np.array([a.name for a in model.assets.values()], dtype=np.str_),
        asset_types=np.array(builder.types, dtype=np.str_),
        step_names=np.array(step_list, dtype=np.str_),
        ttc_texts=np.array(list(ttc_texts), dtype=np.str_),
        info={
            "language": dict(spec.defines),
            "model": model.origin,
            "attack_ids": attack_ids,
            "locations": locations,
        },
    )
    graph.info["build_seconds"] = round(time.perf_counter() - started, 4)
    return graph


def _gather(ptr: np.ndarray, idx: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The CSR neighbours of all ``nodes``, concatenated (no Python loop)."""
    starts, ends = ptr[nodes], ptr[nodes + 1]
    counts = ends - starts
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=idx.dtype)
    offsets = np.repeat(starts - np.cumsum(np.concatenate(([0], counts[:-1]))), counts)
    return idx[np.arange(total) + offsets]


def _reach(ptr: np.ndarray, idx: np.ndarray, sources: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of nodes reachable from ``sources`` along CSR edges (breadth first, vectorised per level)."""
    seen = np.zeros(len(ptr) - 1, dtype=bool)
    frontier = np.unique(sources.astype(np.int64))
    if allowed is not None:
        frontier = frontier[allowed[frontier]]
    seen[frontier] = True
    while frontier.size:
        neighbours = _gather(ptr, idx, frontier)
        fresh = neighbours[~seen[neighbours]]
        if allowed is not None:
            fresh = fresh[allowed[fresh]]
        frontier = np.unique(fresh)
        seen[frontier] = True
    return seen


def prune(graph: AttackGraph, entries: list[int]) -> AttackGraph:
    """Keep what the attacker can reach from ``entries``, and every ancestor that can itself be reached (from the
    entries, a possibly disabled defense, or an E/!E step) since it may gate or speed up a kept step."""
    entries_arr = np.asarray(entries, dtype=np.int64)
    attacker = _reach(graph.child_ptr, graph.child_idx, entries_arr)
    possible_defense = (graph.kind == 2) & (graph.defense_p < 1)
    existence = (graph.kind >= 3) & (graph.exists == 1)
    sources = np.flatnonzero(attacker | possible_defense | existence)
    reachable = _reach(graph.child_ptr, graph.child_idx, sources)
    # Ancestors of attacker-reached nodes that can be reached at all (defense/existence-fed gates), and the
    # defenses and existence steps that gate them even when they are never reached (enabled defenses).
    keep = _reach(graph.parent_ptr, graph.parent_idx, np.flatnonzero(attacker), allowed=reachable | attacker)
    gates = np.zeros_like(keep)
    parents_of_kept = _gather(graph.parent_ptr, graph.parent_idx, np.flatnonzero(keep))
    gates[parents_of_kept[graph.kind[parents_of_kept] >= 2]] = True
    return subgraph(graph, keep | gates)


def subgraph(graph: AttackGraph, mask: np.ndarray) -> AttackGraph:
    """The graph restricted to the nodes in ``mask`` (ids renumbered; assets and names kept)."""
    old_ids = np.flatnonzero(mask)
    new_id = np.full(graph.n_nodes, -1, dtype=np.int64)
    new_id[old_ids] = np.arange(len(old_ids))
    edges = graph.edges()
    keep = mask[edges[:, 0]] & mask[edges[:, 1]]
    parents = new_id[edges[keep, 0]].astype(np.int32)
    children = new_id[edges[keep, 1]].astype(np.int32)
    total = len(old_ids)
    child_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=total), out=child_ptr[1:])
    order = np.lexsort((parents, children))
    parent_ptr = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(np.bincount(children, minlength=total), out=parent_ptr[1:])
    info = {**graph.info, "pruned_from": graph.n_nodes}
    return AttackGraph(
        kind=graph.kind[old_ids],
        asset=graph.asset[old_ids],
        step=graph.step[old_ids],
        ttc=graph.ttc[old_ids],
        defense_p=graph.defense_p[old_ids],
        exists=graph.exists[old_ids],
        child_ptr=child_ptr,
        child_idx=children,
        parent_ptr=parent_ptr,
        parent_idx=parents[order],
        asset_ids=graph.asset_ids,
        asset_names=graph.asset_names,
        asset_types=graph.asset_types,
        step_names=graph.step_names,
        ttc_texts=graph.ttc_texts,
        info=info,
    )


def set_defenses(graph: AttackGraph, overrides: dict[str, float]) -> None:
    """Set defense probabilities by ``asset:defense`` name (scenario overrides)."""
    for name, value in overrides.items():
        node = graph.find(name)
        if graph.kind[node] != 2:
            raise InputError(f"{name}: not a defense (it is an {KINDS[graph.kind[node]]} step)")
        graph.defense_p[node] = value


_ATTACK_KEY = re.compile(r"^(T\d{4}(?:\.\d{3})?|M\d{4})$")


def apply_overrides(
    graph: AttackGraph, defenses: dict[str, float], ttcs: dict[str, str], catalog_dir: Path | None = None
) -> None:
    """A scenario's overrides: defense probabilities, then TTCs; the evidence catalog is read only when a TTC says
    ``evidence``."""
    set_defenses(graph, defenses)
    if ttcs:
        catalog = None
        if any(v.strip().lower() == "evidence" for v in ttcs.values()):
            from breachpath.evidence.catalog import default_catalog_dir, load_catalog

            catalog = load_catalog(catalog_dir or default_catalog_dir())
        set_ttcs(graph, ttcs, catalog)


def set_ttcs(graph: AttackGraph, overrides: dict[str, str], catalog: list | None = None) -> dict[str, int]:
    """Replace TTCs: ``asset:step`` (one node), ``Type.step`` (every asset of that type or a subtype's asset
    named by type), or an ATT&CK id (every step tagged with it). A value ``evidence`` takes the estimate for that
    key from the evidence ``catalog``. Returns how many nodes each override changed."""
    changed: dict[str, int] = {}
    texts = [str(t) for t in graph.ttc_texts]
    for key, value in overrides.items():
        text = value
        if value.strip().lower() == "evidence":
            if catalog is None:
                raise InputError(f"ttc.{key}: 'evidence' needs an evidence catalog (--catalog)")
            from breachpath.evidence.catalog import find_estimate

            text = find_estimate(catalog, key).result
        text = str(parse(text))
        if ":" in key:
            nodes = np.array([graph.find(key)])
        elif _ATTACK_KEY.match(key):
            steps = [k for k, ids in graph.info.get("attack_ids", {}).items() if key in ids]
            mask = np.zeros(graph.n_nodes, dtype=bool)
            for type_step in steps:
                asset_type, step = type_step.split(".", 1)
                mask |= (graph.asset_types[graph.asset] == asset_type) & (graph.step_names[graph.step] == step)
            nodes = np.flatnonzero(mask)
        elif "." in key:
            asset_type, step = key.split(".", 1)
            nodes = np.flatnonzero(
                (graph.asset_types[graph.asset] == asset_type) & (graph.step_names[graph.step] == step)
            )
        else:
            raise InputError(f"ttc.{key}: expected asset:step, Type.step or an ATT&CK id")
        if nodes.size == 0:
            raise InputError(f"ttc.{key}: matches no attack step in the graph")
        if np.any(graph.kind[nodes] == 2):
            raise InputError(f"ttc.{key}: a defense takes a probability (defenses:), not a TTC")
        if text not in texts:
            texts.append(text)
        graph.ttc[nodes] = texts.index(text)
        changed[key] = int(nodes.size)
    graph.ttc_texts = np.array(texts, dtype=np.str_)
    return changed
