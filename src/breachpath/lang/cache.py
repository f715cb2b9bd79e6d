"""A cache of compiled MAL languages: :func:`~breachpath.lang.compiler.compile_file` loads a language compiled
before, unchanged since, instead of parsing it again (attacklang: 1.46 MB over 4 files, ~0.45 s to compile).

Where: ``$BREACHPATH_CACHE/languages``, else ``languages`` in the platform's user cache directory for breachpath
(the directory :mod:`breachpath.kb.sources` caches downloads in). ``BREACHPATH_CACHE=off`` turns the cache off.

One entry per language: the file's name is a sha256 over what makes the compiled language differ for the same
files (the format below, breachpath's version and the compiler's own source code, the compile options, the entry
file's path as given, absolute and resolved), so editing a language overwrites its entry rather than adding one.
The entry lists every file the compile read (absolute and resolved path, size and sha256 of its bytes less a
byte-order mark: the text compiled); it is used only when every one still resolves to the same file with the same
bytes, which costs a read and a hash of each file (~5 ms for attacklang).

The entry is JSON (never pickle): the whole :class:`~breachpath.lang.spec.LanguageSpec`, every field of it and of
its assets, steps and associations, so a cached language equals the compiled one (locations, warnings, files and
``ttc_from_comment`` included; ``to_langspec`` would lose those). It is treated as untrusted input: read with a size
bound, and anything that does not parse or has the wrong shape is ignored (the language is compiled and the entry
written again). Writing is atomic (a temporary file renamed into place, so concurrent writers are fine) and never
fails the command: an unwritable cache directory only means no cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from pathlib import Path

import orjson

from breachpath import __version__
from breachpath.errors import InputError
from breachpath.fileio import cache_dir as cache_root
from breachpath.fileio import read_bytes
from breachpath.lang.compiler import MAX_FILE_BYTES
from breachpath.lang.spec import STEP_KINDS, Asset, Association, LanguageSpec, Step, _check_expr, _check_extends

#: The layout of an entry; raise it when the layout changes (the compiler's code is in the key already).
CACHE_FORMAT = 1
#: An entry (attacklang's: 1.3 MB) is read only up to this size; a larger one is ignored.
MAX_ENTRY_BYTES = 64 * 2**20
_BOM = "\ufeff".encode()
#: Modules whose code decides what a compile gives: a change to any of them (an editable install keeps its
#: version number) makes old entries unused.
_CODE = (
    "breachpath.lang.cache",
    "breachpath.lang.compiler",
    "breachpath.lang.syntax",
    "breachpath.lang.spec",
    "breachpath.dist",
    "breachpath.kb.text",
)


class _Invalid(Exception):
    """An entry of the wrong shape."""


def cache_dir() -> Path | None:
    """``languages`` in breachpath's cache directory (:func:`breachpath.fileio.cache_dir`); None when turned off."""
    found = cache_root()
    return None if found is None else found / "languages"


@functools.cache
def _code_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update(name.encode() + b"\0")
        try:
            module = sys.modules.get(name) or importlib.import_module(name)
            digest.update(Path(module.__file__).read_bytes())
        except (ImportError, OSError, TypeError):  # no source file (a frozen install): the version decides
            digest.update(b"?")
    return digest.hexdigest()


def entry_path(path: Path | str, options: dict[str, bool]) -> Path | None:
    """The cache file of the language whose entry file is ``path`` compiled with ``options``; None when the
    cache is off or the path cannot be resolved."""
    directory = cache_dir()
    if directory is None:
        return None
    path = Path(path)
    try:
        place = [str(path), str(path.absolute()), str(path.resolve())]
    except (OSError, RuntimeError, ValueError):
        return None
    what = [CACHE_FORMAT, __version__, _code_fingerprint(), sorted(options.items()), place]
    return directory / (hashlib.sha256(orjson.dumps(what)).hexdigest() + ".json")


# -- reading ----------------------------------------------------------------------------------------------------


def load(path: Path | str, options: dict[str, bool]) -> LanguageSpec | None:
    """The cached language for ``path`` and ``options`` if its files are unchanged, else None (no entry, the cache
    off, a stale, unreadable or malformed entry: never an error)."""
    entry = entry_path(path, options)
    if entry is None:
        return None
    try:
        data = orjson.loads(read_bytes(entry, MAX_ENTRY_BYTES))
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return None
        if not _sources_unchanged(data.get("sources")):
            return None
        return spec_from_json(data.get("spec"))
    except (InputError, OSError, ValueError, TypeError, IndexError, KeyError, AttributeError, RecursionError, _Invalid):
        return None  # orjson.JSONDecodeError is a ValueError; TypeError and IndexError: bad expression indices


def _sources_unchanged(sources: object) -> bool:
    if not isinstance(sources, list) or not sources:
        return False
    for source in sources:
        if not isinstance(source, dict):
            return False
        path, resolved = source.get("path"), source.get("resolved")
        if not isinstance(path, str) or not isinstance(resolved, str):
            return False
        try:
            if str(Path(path).resolve()) != resolved:
                return False
            # The text compiled is the file's bytes less a byte-order mark (then decoded: same bytes, same text).
            data = read_bytes(path, MAX_FILE_BYTES).removeprefix(_BOM)
        except (InputError, OSError, RuntimeError, ValueError):
            return False
        if source.get("size") != len(data) or source.get("sha256") != hashlib.sha256(data).hexdigest():
            return False
    return True


# -- writing ----------------------------------------------------------------------------------------------------


def store(path: Path | str, options: dict[str, bool], sources: Sequence[tuple[str, str]], spec: LanguageSpec) -> None:
    """Write the entry for ``path`` and ``options``: ``sources`` are (path as read, text compiled) of every file the
    compile read. Never raises for the cache's sake: an unwritable directory is skipped."""
    entry = entry_path(path, options)
    if entry is None:
        return
    try:
        listed = []
        for name, text in sources:
            data = text.encode("utf-8")
            listed.append(
                {
                    "path": str(Path(name).absolute()),
                    "resolved": str(Path(name).resolve()),
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        payload = orjson.dumps({"format": CACHE_FORMAT, "sources": listed, "spec": spec_to_json(spec)})
        _write_atomic(entry, payload)
    except (OSError, RuntimeError, ValueError, TypeError, _Invalid):  # orjson.JSONEncodeError is a TypeError
        return


def _write_atomic(target: Path, data: bytes) -> None:
    """A temporary file beside ``target`` renamed over it: readers see the old entry or the new one, and a symlink
    at ``target`` is replaced, never followed (unlike :func:`breachpath.fileio.atomic_write_bytes`, which writes
    through it, as a user's output should)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- LanguageSpec ⇄ JSON ----------------------------------------------------------------------------------------
#
# The layout: {"defines", "categories", "warnings", "files": as in LanguageSpec, "assets": {name: {Asset's fields,
# "steps": {name: [Step's fields in _STEP_FIELDS order]}}}, "associations": [{Association's fields}], "expressions":
# [each distinct step expression of requires and reaches once]}, with requires and reaches lists of indices into
# "expressions" (attacklang: 15,877 of them, 1,044 distinct; as objects they were 40% of the file and of its reading
# time). Each step gets its own copies of its expressions, as from a compile. Written and read with the field names
# listed here: a field added to a dataclass but not here makes every entry fail the check (no cache, never a wrong
# language) until it is added, and tests/test_lang_cache.py says so at once.

_SPEC_KEYS = frozenset(("defines", "categories", "assets", "associations", "warnings", "files", "expressions"))
_ASSET_FIELDS = ("name", "category", "abstract", "extends", "meta", "steps", "variables", "location")
_STEP_FIELDS = (
    "name", "kind", "asset", "tags", "cia", "ttc", "ttc_from_comment", "meta", "requires", "reaches",
    "reaches_overrides", "attack_ids", "detectors", "location", "causal_mode", "append_reaches", "remove_reaches",
)  # fmt: skip
_ASSOCIATION_FIELDS = (
    "name", "left_asset", "left_field", "left_mult", "right_asset", "right_field", "right_mult", "meta",
)  # fmt: skip
_ASSET_KEYS = frozenset(_ASSET_FIELDS)
_ASSOCIATION_KEYS = frozenset(_ASSOCIATION_FIELDS)
_NAMED = frozenset(("field", "attackStep", "variable"))
_INNER = ("lhs", "rhs", "stepExpression")


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.init)


@functools.cache
def _layout_matches() -> bool:
    """Whether the dataclasses have exactly the fields listed here, in this order (Step's are written by position)."""
    return (_fields(Step), _fields(Asset), _fields(Association)) == (_STEP_FIELDS, _ASSET_FIELDS, _ASSOCIATION_FIELDS)


def dump_spec(spec: LanguageSpec) -> bytes:
    """``spec`` as the JSON of an entry's ``"spec"`` (see the layout above)."""
    return orjson.dumps(spec_to_json(spec))


def load_spec(data: bytes) -> LanguageSpec:
    """The :class:`LanguageSpec` :func:`dump_spec` gave ``data`` for; an :class:`_Invalid`, :class:`InputError`
    or ValueError for anything else."""
    return spec_from_json(orjson.loads(data))


def spec_to_json(spec: LanguageSpec) -> dict:
    """Every field of ``spec``, its assets, steps and associations, as JSON values (see the layout above)."""
    if not _layout_matches():
        raise _Invalid("LanguageSpec's dataclasses have fields the cache does not know")
    expressions: list[dict] = []
    index: dict[bytes, int] = {}

    def indices(exprs: list[dict] | None) -> list[int] | None:
        if exprs is None:
            return None
        out = []
        for expr in exprs:
            key = orjson.dumps(expr)  # key order kept: expressions alike but for it stay apart
            found = index.get(key)
            if found is None:
                found = index[key] = len(expressions)
                expressions.append(expr)
            out.append(found)
        return out

    def step_json(step: Step) -> list:
        values = {name: getattr(step, name) for name in _STEP_FIELDS}
        values["requires"], values["reaches"] = indices(step.requires), indices(step.reaches)
        return list(values.values())

    assets = {
        key: {
            **{name: getattr(asset, name) for name in _ASSET_FIELDS},
            "steps": {name: step_json(step) for name, step in asset.steps.items()},
        }
        for key, asset in spec.assets.items()
    }
    return {
        "defines": spec.defines,
        "categories": spec.categories,
        "assets": assets,
        "associations": [{name: getattr(a, name) for name in _ASSOCIATION_FIELDS} for a in spec.associations],
        "warnings": spec.warnings,
        "files": spec.files,
        "expressions": expressions,
    }


def spec_from_json(data: object) -> LanguageSpec:
    """The :class:`LanguageSpec` that :func:`spec_to_json` gave ``data`` for, every value's type checked, and what
    the engine relies on without checking: assets and steps under their own names, super-assets and associated
    assets that exist, no inheritance cycle (not the depth of expressions with variables expanded, which the
    compiler checks: 45 ms for attacklang). Anything else is an :class:`_Invalid` or :class:`InputError`."""
    if not _layout_matches() or type(data) is not dict or data.keys() != _SPEC_KEYS:
        raise _Invalid("a LanguageSpec")
    categories, assets, associations = data["categories"], data["assets"], data["associations"]
    expressions = data["expressions"]
    if not all(
        type(v) is t for v, t in ((categories, dict), (assets, dict), (associations, list), (expressions, list))
    ):
        raise _Invalid("a LanguageSpec")
    _exprs(expressions)
    copiers = [dict if expr.keys().isdisjoint(_INNER) else _copy_expr for expr in expressions]
    table = list(zip(copiers, expressions, strict=True))
    spec = LanguageSpec(
        defines=_str_map(data["defines"]),
        categories={key: _str_map(meta) for key, meta in categories.items()},
        assets={key: _asset(key, asset, table) for key, asset in assets.items()},
        associations=[_association(a) for a in associations],
        warnings=_strs(data["warnings"]),
        files=_strs(data["files"]),
    )
    _check_extends(spec.assets, "cache")
    for a in spec.associations:
        if a.left_asset not in spec.assets or a.right_asset not in spec.assets:
            raise _Invalid("an association naming an unknown asset")
    return spec


def _copy_expr(expr: dict) -> dict:
    """A copy of a step expression, its sub-expressions copied too (at most MAX_EXPRESSION_DEPTH levels, checked)."""
    out = dict(expr)
    for key in _INNER:
        if key in out:
            out[key] = _copy_expr(out[key])
    return out


def _asset(key: str, value: object, table: list[tuple[Callable[[dict], dict], dict]]) -> Asset:
    if type(value) is not dict or value.keys() != _ASSET_KEYS:
        raise _Invalid("an asset")
    asset = Asset(**value)
    if not (
        asset.name == key
        and type(asset.name) is str
        and type(asset.category) is str
        and type(asset.abstract) is bool
        and (asset.extends is None or type(asset.extends) is str)
        and (asset.location is None or type(asset.location) is str)
        and type(asset.steps) is dict
        and type(asset.variables) is dict
    ):
        raise _Invalid("an asset")
    _str_map(asset.meta)
    for expr in asset.variables.values():
        _check_expr(expr, "cache")
    asset.steps = {name: _step(name, key, step, table) for name, step in asset.steps.items()}
    return asset


def _step(key: str, asset: str, value: object, table: list[tuple[Callable[[dict], dict], dict]]) -> Step:
    if type(value) is not list or len(value) != len(_STEP_FIELDS):
        raise _Invalid("a step")
    step = Step(*value)
    # One expression for the common case (a step without tags, CIA, detectors or effects), in a loop of thousands.
    if not (
        step.name == key
        and step.asset == asset
        and step.kind in STEP_KINDS
        and (step.ttc is None or type(step.ttc) is str)
        and (step.location is None or type(step.location) is str)
        and (step.causal_mode is None or type(step.causal_mode) is str)
        and type(step.ttc_from_comment) is bool
        and type(step.reaches_overrides) is bool
        and type(step.tags) is list
        and (not step.tags or _all_str(step.tags))
        and type(step.attack_ids) is list
        and (not step.attack_ids or _all_str(step.attack_ids))
        and (step.cia is None or (type(step.cia) is list and _all_str(step.cia)))
        and type(step.meta) is dict
        and (not step.meta or _all_str(step.meta.values()))
        and type(step.detectors) is list
        and (not step.detectors or all(type(d) is dict for d in step.detectors))
    ):
        raise _Invalid("a step")
    # Indices into the (checked) expressions; anything but a list of in-range integers is a TypeError/IndexError.
    if step.requires is not None:
        step.requires = [copy(expr) for copy, expr in (table[i] for i in _indices(step.requires))]
    if step.reaches is not None:
        step.reaches = [copy(expr) for copy, expr in (table[i] for i in _indices(step.reaches))]
    if step.append_reaches is not None:
        _block(step.append_reaches)
    if step.remove_reaches is not None:
        _block(step.remove_reaches)
    return step


def _indices(value: object) -> list[int]:
    if type(value) is not list or not all(type(i) is int and i >= 0 for i in value):
        raise _Invalid("expression indices")
    return value


def _all_str(values: Iterable[object]) -> bool:
    return all(type(v) is str for v in values)


def _association(value: object) -> Association:
    if type(value) is not dict or value.keys() != _ASSOCIATION_KEYS:
        raise _Invalid("an association")
    assoc = Association(**value)
    names = (assoc.name, assoc.left_asset, assoc.left_field, assoc.right_asset, assoc.right_field)
    if not _all_str(names):
        raise _Invalid("an association")
    assoc.left_mult, assoc.right_mult = _mult(assoc.left_mult), _mult(assoc.right_mult)
    _str_map(assoc.meta)
    return assoc


def _strs(value: object) -> list[str]:
    if type(value) is not list or not _all_str(value):
        raise _Invalid("a list of strings")
    return value


def _str_map(value: object) -> dict[str, str]:
    if type(value) is not dict or not _all_str(value.values()):
        raise _Invalid("an object of strings")
    return value


def _mult(value: object) -> tuple[int, int | None]:
    """A multiplicity: a JSON list [min, max or null], back to the tuple the compiler gives."""
    if type(value) is not list or len(value) != 2:
        raise _Invalid("a multiplicity")
    low, high = value
    if type(low) is not int or low < 0 or (high is not None and (type(high) is not int or high < low)):
        raise _Invalid("a multiplicity")
    return low, high


def _exprs(value: object) -> None:
    """A list of step expressions (most are one name: checked here, the others by the langspec reader's check)."""
    if type(value) is not list:
        raise _Invalid("a list of step expressions")
    for expr in value:
        if not (type(expr) is dict and expr.get("type") in _NAMED and type(expr.get("name")) is str):
            _check_expr(expr, "cache")  # an InputError for a malformed one


def _block(value: object) -> None:
    """``{"overrides": bool, "stepExpressions": [...]}`` (A> and R> effects)."""
    if (
        type(value) is not dict
        or value.keys() != {"overrides", "stepExpressions"}
        or type(value["overrides"]) is not bool
    ):
        raise _Invalid("an expression block")
    _exprs(value["stepExpressions"])
