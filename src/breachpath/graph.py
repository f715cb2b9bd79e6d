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

from breachpath.dist import completion_problem, parse
from breachpath.errors import InputError
from breachpath.lang.spec import LanguageSpec
from breachpath.langs import renamed_hint
from breachpath.model import Model, complete_links, did_you_mean, nearest, validate

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

    def find(self, text: str, defense: bool = False) -> int:
        """The node called ``asset:step`` or ``asset.step`` (asset by name, or by id). With ``defense``, an unknown
        name is told apart from defenses and the suggestions are the asset's defenses."""
        asset_part, sep, step_part = (
            text.replace(":", ".", 1).rpartition(".") if ":" not in text else text.partition(":")
        )
        if not sep:
            raise InputError(f"{text}: expected asset:step")
        candidates = np.flatnonzero(self.asset_names == asset_part)
        if candidates.size == 0 and asset_part.isdigit():
            candidates = np.flatnonzero(self.asset_ids == int(asset_part))
        if candidates.size == 0:
            hint = did_you_mean(asset_part, self.asset_names.tolist(), "assets")
            raise InputError(f"{text}: no asset {asset_part!r} in the model{hint}")
        steps = np.flatnonzero(self.step_names == step_part)
        on_asset = np.isin(self.asset, candidates)
        nodes = np.flatnonzero(on_asset & np.isin(self.step, steps))
        if nodes.size == 0:
            types = ", ".join(sorted(set(self.asset_types[candidates])))
            # The steps this asset has in this graph (a pruned graph may lack some of its type's steps).
            kinds = on_asset & (self.kind == 2) if defense else on_asset
            valid = self.step_names[np.unique(self.step[kinds])].tolist()
            what = "defense" if defense else "attack step"
            hint = renamed_hint(step_part, valid) or did_you_mean(step_part, valid, f"{what}s")
            raise InputError(f"{text}: {asset_part} ({types}) has no {what} {step_part!r}{hint}")
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
        """Read a graph saved by :meth:`save`. The file is untrusted: it is read with bounded sizes
        (:func:`breachpath.results.read_npz`) and every array is checked (dtype, shape, ranges, CSR pointers, the
        parent lists the transpose of the child lists, TTC texts that parse) before the engine may index with it;
        any failure is one line, ``<path>: not a breachpath attack graph (…)``."""
        from breachpath.results import read_npz, refused

        arrays = read_npz(path, _GRAPH_SCHEMA, _GRAPH_WHAT)
        with refused(path, _GRAPH_WHAT):
            return _validated_graph(arrays)

    def to_json(self) -> dict:
        """``{"nodes": [{"id", "name", "kind"}], "edges": [[parent, child], ...]}`` for other tools."""
        names = self.names()
        return {
            "nodes": [{"id": i, "name": names[i], "kind": KINDS[k]} for i, k in enumerate(self.kind.tolist())],
            "edges": self.edges().tolist(),
        }


# -- checking a loaded graph ------------------------------------------------------------------------------

_GRAPH_WHAT = "breachpath attack graph"
#: Canonical dtype of each array (what build_graph makes and the engine is compiled for), or text.
_GRAPH_DTYPES = {
    "kind": np.int8, "asset": np.int32, "step": np.int32, "ttc": np.int32, "defense_p": np.float64,
    "exists": np.int8, "child_ptr": np.int64, "child_idx": np.int32, "parent_ptr": np.int64, "parent_idx": np.int32,
    "asset_ids": np.int64, "asset_names": np.str_, "asset_types": np.str_, "step_names": np.str_,
    "ttc_texts": np.str_,
}  # fmt: skip


#: What read_npz may accept for each member: dtype kinds and numbers of dimensions (see results.Member).
_GRAPH_SCHEMA = {"format": ("U", (0,)), "info": ("U", (0,))} | {
    name: ("U" if dtype is np.str_ else "f" if dtype is np.float64 else "iu", (1,))
    for name, dtype in _GRAPH_DTYPES.items()
}


def _validated_graph(arrays: dict[str, np.ndarray]) -> AttackGraph:
    """An AttackGraph from arrays read by read_npz, every one checked against the others first."""
    from breachpath.fileio import load_json
    from breachpath.results import _Refused, check_csr, has_control_characters, scalar_text

    missing = [k for k in ("format", "info", *_GRAPH_DTYPES) if k not in arrays]
    if "format" in arrays and scalar_text(arrays, "format") != FORMAT:
        raise _Refused(f"format {scalar_text(arrays, 'format')[:40]!r}, expected {FORMAT!r}")
    if missing:
        raise _Refused(f"no {', '.join(missing)}")
    n = len(arrays["kind"])
    for name in ("asset", "step", "ttc", "defense_p", "exists"):
        if len(arrays[name]) != n:
            raise _Refused(f"{name} has {len(arrays[name])} entries for {n} nodes")
    n_assets = len(arrays["asset_ids"])
    for name in ("asset_names", "asset_types"):
        if len(arrays[name]) != n_assets:
            raise _Refused(f"{name} has {len(arrays[name])} entries for {n_assets} assets")

    def within(name: str, low: int, high: int) -> None:
        values = arrays[name]
        if len(values) and (values.min() < low or values.max() >= high):
            raise _Refused(f"{name} holds {int(values.min() if values.min() < low else values.max())}, "
                           f"outside [{low}, {high})")  # fmt: skip

    within("kind", 0, len(KINDS))
    within("exists", -1, 2)
    within("asset", 0, n_assets)
    within("step", 0, len(arrays["step_names"]))
    within("ttc", -1, len(arrays["ttc_texts"]))
    within("asset_ids", -(2**63), 2**63)
    defense_p = arrays["defense_p"][arrays["kind"] == 2]
    if not np.all((defense_p >= 0) & (defense_p <= 1)):  # NaN fails too
        raise _Refused("a defense's probability is not in [0, 1]")
    check_csr(arrays["child_ptr"], arrays["child_idx"], n, n, "child")
    check_csr(arrays["parent_ptr"], arrays["parent_idx"], n, n, "parent")
    # The engine counts an AND step's parents in parent_ptr and follows edges in child_idx: they must agree.
    nodes = np.arange(n, dtype=np.int64)
    by_child = np.repeat(nodes, np.diff(arrays["child_ptr"])) + arrays["child_idx"].astype(np.int64) * n
    by_parent = np.repeat(nodes, np.diff(arrays["parent_ptr"])) * n + arrays["parent_idx"].astype(np.int64)
    if len(by_child) != len(by_parent) or not np.array_equal(np.sort(by_child), np.sort(by_parent)):
        raise _Refused("the parent lists are not the child lists reversed")
    for name in ("asset_names", "asset_types", "step_names", "ttc_texts"):
        if has_control_characters(arrays[name]):
            raise _Refused(f"{name} hold control characters")
    for text in arrays["ttc_texts"]:
        try:
            parse(str(text))
        except (InputError, RecursionError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
            raise _Refused(f"TTC {str(text)[:60]!r}: {reason}") from None
    try:
        info = load_json(scalar_text(arrays, "info"), "info")
    except InputError as exc:
        raise _Refused(str(exc)) from None
    if not isinstance(info, dict):
        raise _Refused("info is not a JSON object")
    attack_ids = info.get("attack_ids", {})
    if not isinstance(attack_ids, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in attack_ids.values()
    ):
        raise _Refused("info.attack_ids is not a mapping of step to ATT&CK ids")
    locations = info.get("locations", {})
    if not isinstance(locations, dict) or not all(isinstance(v, str | None) for v in locations.values()):
        raise _Refused("info.locations is not a mapping of step to location")
    fields = {name: arrays[name].astype(dtype, copy=False) for name, dtype in _GRAPH_DTYPES.items()}
    return AttackGraph(**fields, info=info)


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


#: Defenses named in one error line (an attacklang host has about a hundred).
LISTED_DEFENSES = 12


def not_a_defense(graph: AttackGraph, node: int, text: str) -> str:
    """Why ``text`` (an attack step) cannot be used as a defense, with the defenses its asset does have."""
    on_asset = np.flatnonzero((graph.asset == graph.asset[node]) & (graph.kind == 2))
    shown = [str(graph.step_names[graph.step[d]]) for d in on_asset[:LISTED_DEFENSES]]
    more = len(on_asset) - len(shown)
    names = ", ".join(shown) + (f" and {more} more (`breachpath lang show TYPE` lists them)" if more > 0 else "")
    kind = {0: "an attack step", 1: "an attack step", 3: "an existence step", 4: "an existence step"}
    listed = f"defenses on this asset: {names}" if shown else "this asset has no defenses"
    return f"{text} is {kind.get(int(graph.kind[node]), 'a step')}, not a defense; {listed}"


def find_defense(graph: AttackGraph, text: str) -> int:
    """The defense node called ``asset:defense``; an attack step is refused (enabling it would change nothing)."""
    node = graph.find(text, defense=True)
    if graph.kind[node] != 2:
        raise InputError(not_a_defense(graph, node, text))
    return node


def set_defenses(graph: AttackGraph, overrides: dict[str, float]) -> None:
    """Set defense probabilities by ``asset:defense`` name (scenario overrides)."""
    for name, value in overrides.items():
        graph.defense_p[find_defense(graph, name)] = value


_ATTACK_KEY = re.compile(r"^(T\d{4}(?:\.\d{3})?|M\d{4})$")


def scenario_graph(spec: LanguageSpec, scenario, catalog: list | None = None) -> tuple:
    """A scenario's attack graph with its defenses and TTC overrides applied, and its entry points and targets as
    nodes: ``(graph, entries, targets, warnings)``, the overrides' warnings last. What a simulation of a scenario
    starts from; an unknown name is an :class:`InputError` naming the scenario's file and key."""
    from breachpath.scenario import find_steps

    graph = build_graph(spec, scenario.model)
    warnings = apply_overrides(graph, scenario.defenses, scenario.ttc, catalog, origin=scenario.origin)
    entries = find_steps(graph, scenario.entry_points, f"{scenario.origin}: entry_points")
    targets = find_steps(graph, scenario.targets, f"{scenario.origin}: targets")
    return graph, entries, targets, warnings


def apply_overrides(
    graph: AttackGraph,
    defenses: dict[str, float],
    ttcs: dict[str, str],
    catalog_dir: Path | None = None,
    origin: str | None = None,
) -> list[str]:
    """A scenario's overrides: defense probabilities, then TTCs; the evidence catalog is read only when a TTC says
    ``evidence``. Errors name ``origin`` (the scenario file) and the key; returns warnings (a TTC that takes
    centuries)."""
    prefix = f"{origin}: " if origin else ""
    for name, value in defenses.items():
        try:
            node = find_defense(graph, name)
        except InputError as exc:
            raise InputError(f"{prefix}defenses: {exc}") from None
        graph.defense_p[node] = value
    warnings: list[str] = []
    if ttcs:
        catalog = None
        if any(v.strip().lower() == "evidence" for v in ttcs.values()):
            from breachpath.evidence.catalog import default_catalog_dir, load_catalog

            catalog = load_catalog(catalog_dir or default_catalog_dir())
        try:
            set_ttcs(graph, ttcs, catalog, warnings)
        except InputError as exc:
            raise InputError(f"{prefix}{exc}") from None
    return [f"{prefix}{w}" for w in warnings]


def _ttc_key_hint(graph: AttackGraph, key: str) -> str:
    """For a ``Type.step`` key that matches nothing: the nearest step of that type, or the nearest type."""
    if _ATTACK_KEY.match(key) or "." not in key:
        return ""
    asset_type, step = key.split(".", 1)
    types = np.unique(graph.asset_types).tolist()
    if asset_type not in types:
        return did_you_mean(asset_type, types, "asset types in the model")
    steps = np.unique(graph.step[graph.asset_types[graph.asset] == asset_type])
    renamed = renamed_hint(step, graph.step_names[steps].tolist())
    if renamed:  # said as the key is written: Type.step
        return renamed.replace(" renamed it ", f" renamed it {asset_type}.", 1)
    close = nearest(step, graph.step_names[steps].tolist())
    return f"; did you mean {' or '.join(f'{asset_type}.{c}' for c in close[:2])}?" if close else ""


def set_ttcs(
    graph: AttackGraph, overrides: dict[str, str], catalog: list | None = None, warnings: list[str] | None = None
) -> dict[str, int]:
    """Replace TTCs: ``asset:step`` (one node), ``Type.step`` (every asset of that type or a subtype's asset
    named by type), or an ATT&CK id (every step tagged with it). A value ``evidence`` takes the estimate for that
    key from the evidence ``catalog``. Returns how many nodes each override changed.

    A TTC that never completes in practice (``1/0``, ``Exponential(1e-320)``: see
    :func:`breachpath.dist.completion_problem`) is refused; one that takes centuries is added to ``warnings``."""
    changed: dict[str, int] = {}
    texts = [str(t) for t in graph.ttc_texts]
    for key, value in overrides.items():
        text = value
        if value.strip().lower() == "evidence":
            if catalog is None:
                raise InputError(f"ttc.{key}: 'evidence' needs an evidence catalog (--catalog)")
            from breachpath.evidence.catalog import find_estimate

            text = find_estimate(catalog, key).result
        try:
            dist = parse(text)
        except InputError as exc:
            raise InputError(f"ttc.{key}: {exc}") from None
        problem = completion_problem(dist)
        if problem and problem[0] == "error":
            raise InputError(f"ttc.{key} = {value}: {problem[1]} (write Infinity for a step that never succeeds)")
        if problem and warnings is not None:
            warnings.append(f"ttc.{key} = {value}: {problem[1]}")
        text = str(dist)
        if ":" in key:
            try:
                nodes = np.array([graph.find(key)])
            except InputError as exc:
                raise InputError(f"ttc.{exc}") from None
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
            raise InputError(f"ttc.{key}: matches no attack step in the graph{_ttc_key_hint(graph, key)}")
        if np.any(graph.kind[nodes] == 2):
            raise InputError(f"ttc.{key}: a defense takes a probability (defenses:), not a TTC")
        if text not in texts:
            texts.append(text)
        graph.ttc[nodes] = texts.index(text)
        changed[key] = int(nodes.size)
    graph.ttc_texts = np.array(texts, dtype=np.str_)
    return changed


# -- why a target cannot be reached ----------------------------------------------------------------------------


def possibly_reached(graph: AttackGraph, entries: list[int]) -> np.ndarray:
    """Boolean mask of the steps some sample can reach from ``entries``, whatever the draws: entries, defenses
    that may be off (p < 1), existence steps that hold, then OR steps with a reached parent and AND steps with
    all their (at least one) parents reached, to the least fixed point. A step whose TTC never succeeds
    (``Infinity``, ``Bernoulli(0)``) is not reached.

    A worklist over the CSR children, a level at a time (numpy per level, no loop per node): each edge is counted
    once, when its parent is reached, so the work is linear in the edges however deep the graph."""
    n = graph.n_nodes
    n_parents = np.diff(graph.parent_ptr)
    never = np.array([parse(str(t)).success_probability() == 0 for t in graph.ttc_texts], dtype=bool)
    impossible = (graph.ttc >= 0) & never[np.maximum(graph.ttc, 0)] if never.size else np.zeros(n, dtype=bool)
    attackable = (graph.kind <= 1) & ~impossible
    is_and = graph.kind == 1
    reached = np.zeros(n, dtype=bool)
    reached[np.asarray(entries, dtype=np.int64)] = True
    reached |= (graph.kind == 2) & (graph.defense_p < 1)
    reached |= (graph.kind >= 3) & (graph.exists == 1)
    reached_parents = np.zeros(n, dtype=np.int64)
    frontier = np.flatnonzero(reached)
    while frontier.size:
        children = _gather(graph.child_ptr, graph.child_idx, frontier).astype(np.int64)
        np.add.at(reached_parents, children, 1)
        candidates = np.unique(children)
        candidates = candidates[~reached[candidates] & attackable[candidates]]
        ready = ~is_and[candidates] | (reached_parents[candidates] == n_parents[candidates])
        frontier = candidates[ready]
        reached[frontier] = True
    return reached


def why_unreachable(graph: AttackGraph, reached: np.ndarray, target: int, most: int = 3) -> list[str]:
    """The first causes on the way back from an unreached ``target`` (breadth first through unreached
    parents): steps with no parent that are not entry points, defenses that are always on, existence steps
    that do not hold, TTCs that never succeed, and AND steps whose other parents are reached but one is not."""
    causes: list[str] = []
    queue, seen = [target], {target}
    while queue and len(causes) < most and len(seen) < 100_000:
        v = queue.pop(0)
        name = graph.name(v)
        parents = [int(p) for p in graph.parents(v)]
        if graph.kind[v] == 2:
            causes.append(f"{name} is a defense that is always on (p = 1)")
            continue
        if graph.kind[v] >= 3:
            causes.append(f"{name} is an existence step that does not hold in this model")
            continue
        if graph.ttc[v] >= 0 and parse(str(graph.ttc_texts[graph.ttc[v]])).success_probability() == 0:
            causes.append(f"{name} has TTC {graph.ttc_texts[graph.ttc[v]]}, which never succeeds")
            continue
        if not parents:
            causes.append(f"{name} has no parent step and is not an entry point")
            continue
        missing = [p for p in parents if not reached[p]]
        if graph.kind[v] == 1 and len(missing) < len(parents):
            shown = ", ".join(graph.name(p) for p in missing[:3])
            causes.append(f"{name} is an AND step and its parent {shown} is unreachable")
        for p in missing:
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return causes


def unreachable_warnings(graph: AttackGraph, entries: list[int], targets: list[int]) -> list[str]:
    """One warning per target that no sample can reach from the entry points, saying why
    (:func:`why_unreachable`)."""
    reached = possibly_reached(graph, entries)
    out = []
    for t in targets:
        if not reached[t]:
            causes = why_unreachable(graph, reached, int(t))
            why = "; ".join(causes) if causes else "no path from the entry points leads to it"
            out.append(f"target {graph.name(int(t))} cannot be reached from the entry points: {why}")
    return out
