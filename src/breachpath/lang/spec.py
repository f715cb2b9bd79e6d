"""The compiled language: assets, their attack steps (inheritance resolved on demand), associations.

:class:`LanguageSpec` is what the rest of the engine uses. It converts to and from the ``langspec.json``
layout of ``.mar`` archives (formatVersion, defines, categories, assets with attackSteps, associations), so a
language compiled here opens in mal-toolbox and the other way round.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.errors import InputError
from breachpath.lang.syntax import MAX_DEPTH as MAX_EXPRESSION_DEPTH

FORMAT_VERSION = "1.0.0"
STEP_KINDS = ("or", "and", "defense", "exist", "notExist")


@dataclass
class Step:
    """An attack step as declared in one asset (``reaches`` are step-expression dicts, langspec layout)."""

    name: str
    kind: str
    asset: str  # the asset that declares it
    tags: list[str] = field(default_factory=list)
    cia: list[str] | None = None
    ttc: str | None = None  # MAL text
    ttc_from_comment: bool = False
    meta: dict[str, str] = field(default_factory=dict)
    requires: list[dict] | None = None
    reaches: list[dict] | None = None
    reaches_overrides: bool = True
    attack_ids: list[str] = field(default_factory=list)
    detectors: list[dict] = field(default_factory=list)
    location: str | None = None  # file:line:column
    causal_mode: str | None = None  # action or effect (newer MAL; kept, not yet simulated)
    append_reaches: dict | None = None  # {"overrides": bool, "stepExpressions": [...]} for A> / +A>
    remove_reaches: dict | None = None  # for R> / +R>


@dataclass
class Asset:
    name: str
    category: str
    abstract: bool = False
    extends: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)  # own steps (declared or overridden here)
    variables: dict[str, dict] = field(default_factory=dict)  # name → step expression
    location: str | None = None


@dataclass
class Association:
    name: str
    left_asset: str
    left_field: str
    left_mult: tuple[int, int | None]
    right_asset: str
    right_field: str
    right_mult: tuple[int, int | None]
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Field:
    """A navigable field of an asset: ``Host.passwords`` → Password, via the Credentials association."""

    name: str
    target: str
    multiplicity: tuple[int, int | None]
    association: str
    back: str = ""  # the field on the target that leads back here


@dataclass
class LanguageSpec:
    defines: dict[str, str]
    categories: dict[str, dict[str, str]]
    assets: dict[str, Asset]
    associations: list[Association]
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Inheritance resolved once per asset (ancestors, steps, fields, subtypes): asked for every asset of a language
    # and of a model, it would otherwise cost chain length × assets. Cleared by clear_caches().
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def clear_caches(self) -> None:
        """Forget resolved inheritance: call after changing assets, their steps or the associations."""
        self._cache.clear()

    # -- inheritance --------------------------------------------------------------------------------

    def _ancestry(self, asset: str) -> tuple[str, ...]:
        """``asset`` and its super-assets, nearest first; each asset's tuple is its parent's with itself in front,
        computed iteratively (no recursion however long the chain)."""
        cache = self._cache.setdefault("ancestors", {})
        found = cache.get(asset)
        if found is not None:
            return found
        chain: list[str] = []
        on_chain: set[str] = set()
        name: str | None = asset
        while name and name not in cache:
            if name in on_chain:  # a cycle (a hand-made spec): stop before repeating, do not cache
                return tuple(chain)
            chain.append(name)
            on_chain.add(name)
            name = self.assets[name].extends
        tail = cache[name] if name else ()
        for member in reversed(chain):
            tail = cache[member] = (member, *tail)
        return tail

    def ancestors(self, asset: str) -> list[str]:
        """``asset`` and its super-assets, nearest first."""
        return list(self._ancestry(asset))

    def is_subtype(self, asset: str, of: str) -> bool:
        return of in self._ancestry(asset)

    def subtypes(self, asset: str) -> list[str]:
        """``asset`` and the assets that extend it, directly or not, in the language's order."""
        below = self._cache.get("subtypes")
        if below is None:
            below = self._cache["subtypes"] = {}
            for a in self.assets:
                for ancestor in self._ancestry(a):
                    below.setdefault(ancestor, []).append(a)
        return list(below.get(asset, ()))

    def fields(self, asset: str) -> dict[str, Field]:
        """Every field of ``asset``, inherited ones included."""
        cache = self._cache.setdefault("fields", {})
        found = cache.get(asset)
        if found is None:
            found = cache[asset] = self._resolve_fields(asset)
        return dict(found)

    def _resolve_fields(self, asset: str) -> dict[str, Field]:
        touching = self._cache.get("touching")
        if touching is None:  # association indices by the assets they name
            touching = self._cache["touching"] = {}
            for i, assoc in enumerate(self.associations):
                touching.setdefault(assoc.left_asset, []).append(i)
                if assoc.right_asset != assoc.left_asset:
                    touching.setdefault(assoc.right_asset, []).append(i)
        lineage = set(self._ancestry(asset))
        indices = sorted({i for member in lineage for i in touching.get(member, ())})
        out: dict[str, Field] = {}
        for assoc in (self.associations[i] for i in indices):
            if assoc.left_asset in lineage:
                right = Field(assoc.right_field, assoc.right_asset, assoc.right_mult, assoc.name, assoc.left_field)
                out.setdefault(assoc.right_field, right)
            if assoc.right_asset in lineage:
                left = Field(assoc.left_field, assoc.left_asset, assoc.left_mult, assoc.name, assoc.right_field)
                out.setdefault(assoc.left_field, left)
        return out

    def variable(self, asset: str, name: str) -> tuple[str, dict] | None:
        """The variable ``name`` visible in ``asset`` (its own or inherited): (declaring asset, expression)."""
        for a in self.ancestors(asset):
            if name in self.assets[a].variables:
                return a, self.assets[a].variables[name]
        return None

    def steps(self, asset: str) -> dict[str, Step]:
        """The attack steps of ``asset`` with inheritance resolved: a redefined step uses its own TTC and type;
        ``->`` replaces the inherited children, ``+>`` adds to them."""
        cache = self._cache.setdefault("steps", {})
        if asset not in cache:
            lineage = self._ancestry(asset)
            if self.assets[lineage[-1]].extends:  # the chain ends in a cycle (a hand-made spec): no cache
                return self._resolve_steps(lineage, {})
            # From the top of the chain down, each asset from its parent's resolved steps.
            resolved: dict[str, Step] = {}
            for a in reversed(lineage):
                if a in cache:
                    resolved = cache[a]
                else:
                    resolved = cache[a] = self._resolve_steps((a,), resolved)
        return dict(cache[asset])

    def _resolve_steps(self, lineage: tuple[str, ...], inherited_steps: dict[str, Step]) -> dict[str, Step]:
        """``inherited_steps`` with the steps of ``lineage`` (nearest first) laid over them, top down."""
        resolved = dict(inherited_steps)
        for a in reversed(lineage):
            for name, step in self.assets[a].steps.items():
                inherited = resolved.get(name)
                if inherited is not None and not step.reaches_overrides:
                    merged = Step(**{**step.__dict__})
                    merged.reaches = (inherited.reaches or []) + (step.reaches or [])
                    merged.reaches_overrides = True
                    resolved[name] = merged
                elif inherited is not None and step.reaches is None:
                    # Redefined without children: keep the inherited ones.
                    merged = Step(**{**step.__dict__})
                    merged.reaches = inherited.reaches
                    resolved[name] = merged
                else:
                    resolved[name] = step
        return resolved

    def counts(self) -> dict:
        """Assets, attack steps (each asset's steps with inherited ones included, as mal-toolbox counts them),
        associations, and steps by type."""
        by_kind = dict.fromkeys(STEP_KINDS, 0)
        total = 0
        for asset in self.assets:
            for step in self.steps(asset).values():
                by_kind[step.kind] += 1
                total += 1
        return {
            "assets": len(self.assets),
            "steps": total,
            "declared_steps": sum(len(a.steps) for a in self.assets.values()),
            "associations": len(self.associations),
            "steps_by_type": by_kind,
        }

    # -- langspec.json ------------------------------------------------------------------------------

    def to_langspec(self) -> dict:
        """The ``langspec.json`` layout used by ``.mar`` archives."""
        return {
            "formatVersion": FORMAT_VERSION,
            "defines": dict(self.defines),
            "categories": [{"name": n, "meta": m} for n, m in self.categories.items()],
            "assets": [_asset_json(a) for a in self.assets.values()],
            "associations": [_association_json(a) for a in self.associations],
        }


def _mult_json(mult: tuple[int, int | None]) -> dict:
    return {"min": mult[0], "max": mult[1]}


def _asset_json(asset: Asset) -> dict:
    return {
        "name": asset.name,
        "meta": asset.meta,
        "category": asset.category,
        "isAbstract": asset.abstract,
        "superAsset": asset.extends,
        "variables": [{"name": n, "stepExpression": e} for n, e in asset.variables.items()],
        "attackSteps": [_step_json(s) for s in asset.steps.values()],
    }


def _step_json(step: Step) -> dict:
    from breachpath.lang.ttc import ttc_json

    data = {
        "name": step.name,
        "meta": step.meta,
        "type": step.kind,
        "tags": step.tags,
        "risk": None
        if step.cia is None
        else {
            "isConfidentiality": "C" in step.cia,
            "isIntegrity": "I" in step.cia,
            "isAvailability": "A" in step.cia,
        },
        "ttc": None if step.ttc is None else ttc_json(step.ttc),
        "requires": None if step.requires is None else {"overrides": True, "stepExpressions": step.requires},
        "reaches": None
        if step.reaches is None
        else {"overrides": step.reaches_overrides, "stepExpressions": step.reaches},
    }
    if step.detectors:
        data["detectors"] = step.detectors
    for key, value in (
        ("causal_mode", step.causal_mode),
        ("append_reaches", step.append_reaches),
        ("remove_reaches", step.remove_reaches),
    ):
        if value is not None:
            data[key] = value
    return data


def _association_json(assoc: Association) -> dict:
    return {
        "name": assoc.name,
        "meta": assoc.meta,
        "leftAsset": assoc.left_asset,
        "leftField": assoc.left_field,
        "leftMultiplicity": _mult_json(assoc.left_mult),
        "rightAsset": assoc.right_asset,
        "rightField": assoc.right_field,
        "rightMultiplicity": _mult_json(assoc.right_mult),
    }


# -- reading langspec.json / .mar ---------------------------------------------------------------------

#: A langspec.json (enterpriseLang's: 1.3 MiB) or a .mar archive, and what its langspec.json may inflate to.
MAX_LANGSPEC_BYTES = 64 * 2**20
#: ``extends`` / ``superAsset`` chain length (coreLang: 3 assets deep); with it, resolving inheritance costs at
#: most this per asset.
MAX_EXTENDS_DEPTH = 256
#: Depth of a step expression with the variables it names expanded, as the checks and graph building walk it
#: (recursively; real languages: under 10).
MAX_EXPANDED_DEPTH = 4 * MAX_EXPRESSION_DEPTH

_EXPR_NAMED = ("field", "attackStep", "variable")
_EXPR_BINARY = ("collect", "union", "intersection", "difference")
_EXPR_INNER = ("transitive", "subType")


def _fail(where: str, message: str) -> InputError:
    return InputError(f"{where}: {message}")


def _str(value: object, where: str, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _fail(where, f"{what} must be a string")
    return value


def _dict(value: object, where: str, what: str) -> dict:
    """A JSON object, or {} for null/missing."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"{what} must be an object")
    return value


def _list(value: object, where: str, what: str) -> list:
    """A JSON array, or [] for null/missing."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, f"{what} must be a list")
    return value


def _mult(data: dict, where: str) -> tuple[int, int | None]:
    low = data.get("min") if isinstance(data, dict) else None
    if not isinstance(low, int) or isinstance(low, bool) or low < 0:
        raise InputError(f"{where}: multiplicity needs an integer min")
    top = data.get("max")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < low):
        raise InputError(f"{where}: multiplicity max must be an integer ≥ min or null")
    return low, top


def _check_expr(expr: object, where: str) -> dict:
    """A step expression in the langspec layout, checked without recursion: known node types, names that are
    strings, children that are expressions, at most :data:`MAX_EXPRESSION_DEPTH` deep."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise _fail(where, f"step expression nested deeper than {MAX_EXPRESSION_DEPTH} levels")
        kind = node.get("type") if isinstance(node, dict) else None
        if kind in _EXPR_NAMED:
            _str(node.get("name"), where, f"a {kind} expression's name")
        elif kind in _EXPR_BINARY:
            stack += [(node.get("lhs"), depth + 1), (node.get("rhs"), depth + 1)]
        elif kind in _EXPR_INNER:
            if kind == "subType":
                _str(node.get("subType"), where, "a subType expression's subType")
            stack.append((node.get("stepExpression"), depth + 1))
        else:
            shown = repr(kind) if isinstance(kind, str) and len(kind) <= 40 else "missing or not a string"
            raise _fail(where, f"not a step expression (type {shown})")
    return expr  # type: ignore[return-value]


def _expressions(block: object, where: str, what: str) -> dict | None:
    """``{"overrides": bool, "stepExpressions": [...]}`` (requires, reaches, append/remove reaches) or None."""
    if block is None:
        return None
    block = _dict(block, where, what)
    overrides = block.get("overrides", True)
    if not isinstance(overrides, bool):
        raise _fail(where, f"{what}.overrides must be true or false")
    exprs = _list(block.get("stepExpressions"), where, f"{what}.stepExpressions")
    return {"overrides": overrides, "stepExpressions": [_check_expr(e, f"{where}.{what}") for e in exprs]}


def _step(s: object, where: str) -> Step:
    from breachpath.lang.ttc import ttc_text

    if not isinstance(s, dict) or s.get("type") not in STEP_KINDS or not isinstance(s.get("name"), str):
        raise InputError(f"{where}: a step needs a name and a type ({', '.join(STEP_KINDS)})")
    risk = s.get("risk")
    cia = None
    if risk is not None:
        risk = _dict(risk, where, "risk")
        cia = [c for c, k in (("C", "isConfidentiality"), ("I", "isIntegrity"), ("A", "isAvailability")) if risk.get(k)]
    tags = _list(s.get("tags"), where, "tags")
    for tag in tags:
        _str(tag, where, "a tag")
    reaches = _expressions(s.get("reaches") or None, where, "reaches")
    requires = _expressions(s.get("requires") or None, where, "requires")
    detectors = _list(s.get("detectors"), where, "detectors")
    for detector in detectors:
        _dict(detector, where, "a detector")
    ttc = s.get("ttc")
    if ttc:
        ttc = ttc_text(_dict(ttc, where, "ttc"), where)
    return Step(
        name=s["name"],
        kind=s["type"],
        asset="",
        tags=list(tags),
        cia=cia,
        ttc=ttc or None,
        meta=dict(_dict(s.get("meta"), where, "meta")),
        requires=None if requires is None else requires["stepExpressions"],
        reaches=None if reaches is None else reaches["stepExpressions"],
        reaches_overrides=True if reaches is None else reaches["overrides"],
        detectors=list(detectors),
        causal_mode=_str(s.get("causal_mode"), where, "causal_mode", optional=True),
        append_reaches=_expressions(s.get("append_reaches"), where, "append_reaches"),
        remove_reaches=_expressions(s.get("remove_reaches"), where, "remove_reaches"),
    )


def _asset(a: object, where: str) -> Asset:
    if not isinstance(a, dict) or not isinstance(a.get("name"), str):
        raise InputError(f"{where}: an asset needs a name")
    asset = Asset(
        a["name"],
        _str(a.get("category"), where, "category", optional=True) or "",
        abstract=bool(a.get("isAbstract")),
        extends=_str(a.get("superAsset"), where, "superAsset", optional=True),
        meta=dict(_dict(a.get("meta"), where, "meta")),
    )
    for k, v in enumerate(_list(a.get("variables"), where, "variables")):
        vwhere = f"{where}.variables[{k}]"
        name = _str(_dict(v, vwhere, "a variable").get("name"), vwhere, "a variable's name")
        if name in asset.variables:
            raise _fail(vwhere, f"variable {name} is defined twice in {asset.name}")
        asset.variables[name] = _check_expr(v.get("stepExpression"), vwhere)
    for j, s in enumerate(_list(a.get("attackSteps"), where, "attackSteps")):
        step = _step(s, f"{where}.attackSteps[{j}]")
        if step.name in asset.steps:
            raise _fail(f"{where}.attackSteps[{j}]", f"attack step {asset.name}.{step.name} is defined twice")
        step.asset = asset.name
        asset.steps[step.name] = step
    return asset


def _check_extends(assets: dict[str, Asset], origin: str) -> None:
    """Unknown super-assets, cycles and over-long chains, each asset's depth computed once."""
    depth: dict[str, int] = {}
    for name, asset in assets.items():
        if asset.extends is not None and asset.extends not in assets:
            raise InputError(f"{origin}: asset {name} extends unknown asset {asset.extends}")
    for start in assets:
        chain: list[str] = []
        current: str | None = start
        while current is not None and current not in depth:
            if current in chain:
                cycle = " → ".join([*chain[chain.index(current) :], current])
                raise InputError(f"{origin}: cyclic inheritance: {cycle}")
            chain.append(current)
            current = assets[current].extends
        level = 0 if current is None else depth[current]
        for member in reversed(chain):
            level += 1
            if level > MAX_EXTENDS_DEPTH:
                raise InputError(f"{origin}: asset {member} extends a chain of more than {MAX_EXTENDS_DEPTH} assets")
            depth[member] = level


def _variable_refs(expr: dict) -> list[tuple[str, int]]:
    """(variable name, depth at which it is named) in an expression, and (“”, its depth) for the expression."""
    found = []
    deepest = 0
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        kind = node["type"]
        if kind == "variable":
            found.append((node["name"], depth))
        elif kind in _EXPR_BINARY:
            stack += [(node["lhs"], depth + 1), (node["rhs"], depth + 1)]
        elif kind in _EXPR_INNER:
            stack.append((node["stepExpression"], depth + 1))
    return [("", deepest), *found]


def check_expanded_depth(spec: LanguageSpec) -> tuple[str, str, int] | None:
    """The deepest step expression with variables expanded, if deeper than :data:`MAX_EXPANDED_DEPTH`:
    (asset, what, depth). Graph building evaluates a variable by name for every asset type that defines it and
    stops at a variable already being evaluated; this bounds that walk the same way (per name, all definitions)."""
    definitions: dict[str, list[dict]] = {}
    for asset in spec.assets.values():
        for name, expr in asset.variables.items():
            definitions.setdefault(name, []).append(expr)
    refs = {name: [_variable_refs(e) for e in exprs] for name, exprs in definitions.items()}
    expanded: dict[str, int] = {}
    # Post-order over the variable-name graph with an explicit stack; a name on the stack counts 0 (a cycle is
    # cut there at run time too).
    for root in refs:
        if root in expanded:
            continue
        on_stack = {root}
        stack = [(root, iter([r for per_expr in refs[root] for r in per_expr[1:]]))]
        while stack:
            name, pending = stack[-1]
            child = next((r for r, _ in pending if r in refs and r not in expanded and r not in on_stack), None)
            if child is not None:
                on_stack.add(child)
                stack.append((child, iter([r for per_expr in refs[child] for r in per_expr[1:]])))
                continue
            stack.pop()
            on_stack.discard(name)
            expanded[name] = max(
                max(own, *(level + expanded.get(r, 0) for r, level in rest)) if rest else own
                for (_, own), *rest in refs[name]
            )
    for asset in spec.assets.values():
        items = [(f"variable {n}", e) for n, e in asset.variables.items()]
        for step in asset.steps.values():
            items += [(f"step {step.name}", e) for e in (step.requires or []) + (step.reaches or [])]
        for what, expr in items:
            (_, own), *rest = _variable_refs(expr)
            depth = max([own] + [level + expanded.get(r, 0) for r, level in rest])
            if depth > MAX_EXPANDED_DEPTH:
                return asset.name, what, depth
    return None


def from_langspec(data: object, origin: str) -> LanguageSpec:
    """A :class:`LanguageSpec` from the ``langspec.json`` layout, checked throughout: wrong types, unknown
    expression nodes, duplicate names, unknown or cyclic super-assets and over-deep nesting are one-line
    :class:`InputError` naming the object, never a traceback later."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        raise InputError(f"{origin}: not a langspec (expected formatVersion, defines, categories, assets…)")
    assets: dict[str, Asset] = {}
    for i, a in enumerate(data["assets"]):
        asset = _asset(a, f"{origin}: assets[{i}]")
        if asset.name in assets:
            raise InputError(f"{origin}: assets[{i}]: asset {asset.name} is defined twice")
        assets[asset.name] = asset
    _check_extends(assets, origin)
    associations = []
    for i, a in enumerate(_list(data.get("associations"), origin, "associations")):
        where = f"{origin}: associations[{i}]"
        a = _dict(a, where, "an association")
        for key in ("name", "leftAsset", "leftField", "rightAsset", "rightField"):
            _str(a.get(key), where, key)
        for key in ("leftAsset", "rightAsset"):
            if a[key] not in assets:
                raise _fail(where, f"association {a['name']} names unknown asset {a[key]}")
        associations.append(
            Association(
                a["name"],
                a["leftAsset"],
                a["leftField"],
                _mult(a.get("leftMultiplicity"), where),
                a["rightAsset"],
                a["rightField"],
                _mult(a.get("rightMultiplicity"), where),
                dict(_dict(a.get("meta"), where, "meta")),
            )
        )
    categories = {}
    for i, c in enumerate(_list(data.get("categories"), origin, "categories")):
        where = f"{origin}: categories[{i}]"
        c = _dict(c, where, "a category")
        categories[_str(c.get("name"), where, "a category's name")] = dict(_dict(c.get("meta"), where, "meta"))
    defines = _dict(data.get("defines"), origin, "defines")
    for key, value in defines.items():
        _str(value, f"{origin}: defines", f"#{key}")
    spec = LanguageSpec(dict(defines), categories, assets, associations, files=[origin])
    too_deep = check_expanded_depth(spec)
    if too_deep:
        asset, what, depth = too_deep
        raise InputError(
            f"{origin}: {asset} {what}: step expression {depth} levels deep with its variables expanded "
            f"(more than {MAX_EXPANDED_DEPTH})"
        )
    return spec


def _read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """One archive member, inflated in chunks and never beyond :data:`MAX_LANGSPEC_BYTES` (the size the archive
    declares is not trusted: a zip bomb stops at the limit)."""
    chunks, total = [], 0
    with archive.open(name) as member:
        while chunk := member.read(1 << 20):
            total += len(chunk)
            if total > MAX_LANGSPEC_BYTES:
                raise InputError(f"{path}: {name} larger than {MAX_LANGSPEC_BYTES // 2**20} MiB when inflated")
            chunks.append(chunk)
    return b"".join(chunks)


def read_langspec(path: Path) -> LanguageSpec:
    """Read a ``langspec.json`` file or a ``.mar`` archive (a zip holding ``langspec.json``): a regular file of
    bounded size, JSON with duplicate keys and deep nesting refused; every failure a one-line InputError."""
    from breachpath.fileio import load_json, read_bytes

    path = Path(path)
    raw = read_bytes(path, MAX_LANGSPEC_BYTES)
    origin = str(path)
    if zipfile.is_zipfile(io.BytesIO(raw)):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "langspec.json"]
                if not names:
                    raise InputError(f"{path}: a .mar archive without langspec.json")
                raw = _read_member(archive, names[0], path)
                origin = f"{path} ({names[0]})"
        except InputError:
            raise
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            RuntimeError,
            NotImplementedError,
        ) as exc:
            raise InputError(f"{path}: not a readable .mar archive ({exc})") from None
    elif raw[:2] == b"PK" or path.suffix.lower() == ".mar":  # no zip directory at the end: cut short, or not a zip
        raise InputError(f"{path}: not a readable .mar archive (a zip file holding langspec.json)")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"{origin}: not UTF-8 text (byte {exc.start}, {exc.reason})") from None
    try:
        data = load_json(text, origin)
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits, which Python refuses to convert
        raise InputError(f"{origin}: invalid JSON ({str(exc).split(';')[0]})") from None
    return from_langspec(data, str(path))
