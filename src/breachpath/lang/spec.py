"""The compiled language: assets, their attack steps (inheritance resolved on demand), associations.

:class:`LanguageSpec` is what the rest of the engine uses. It converts to and from the ``langspec.json``
layout of ``.mar`` archives (formatVersion, defines, categories, assets with attackSteps, associations), so a
language compiled here opens in mal-toolbox and the other way round.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.errors import InputError

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

    # -- inheritance --------------------------------------------------------------------------------

    def ancestors(self, asset: str) -> list[str]:
        """``asset`` and its super-assets, nearest first."""
        chain = [asset]
        while (parent := self.assets[chain[-1]].extends) and parent not in chain:
            chain.append(parent)
        return chain

    def is_subtype(self, asset: str, of: str) -> bool:
        return of in self.ancestors(asset)

    def subtypes(self, asset: str) -> list[str]:
        return [a for a in self.assets if self.is_subtype(a, asset)]

    def fields(self, asset: str) -> dict[str, Field]:
        """Every field of ``asset``, inherited ones included."""
        lineage = set(self.ancestors(asset))
        out: dict[str, Field] = {}
        for assoc in self.associations:
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
        resolved: dict[str, Step] = {}
        for a in reversed(self.ancestors(asset)):
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


def _mult(data: dict, where: str) -> tuple[int, int | None]:
    if not isinstance(data, dict) or not isinstance(data.get("min"), int):
        raise InputError(f"{where}: multiplicity needs an integer min")
    top = data.get("max")
    if top is not None and not isinstance(top, int):
        raise InputError(f"{where}: multiplicity max must be an integer or null")
    return data["min"], top


def from_langspec(data: object, origin: str) -> LanguageSpec:
    """A :class:`LanguageSpec` from the ``langspec.json`` layout (checked; errors name the object)."""
    from breachpath.lang.ttc import ttc_text

    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        raise InputError(f"{origin}: not a langspec (expected formatVersion, defines, categories, assets…)")
    assets: dict[str, Asset] = {}
    for i, a in enumerate(data["assets"]):
        where = f"{origin}: assets[{i}]"
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise InputError(f"{where}: an asset needs a name")
        asset = Asset(
            a["name"],
            a.get("category") or "",
            abstract=bool(a.get("isAbstract")),
            extends=a.get("superAsset"),
            meta=dict(a.get("meta") or {}),
        )
        for v in a.get("variables") or []:
            asset.variables[v["name"]] = v["stepExpression"]
        for j, s in enumerate(a.get("attackSteps") or []):
            swhere = f"{where}.attackSteps[{j}]"
            if not isinstance(s, dict) or s.get("type") not in STEP_KINDS or not isinstance(s.get("name"), str):
                raise InputError(f"{swhere}: a step needs a name and a type ({', '.join(STEP_KINDS)})")
            risk = s.get("risk")
            cia = None
            if isinstance(risk, dict):
                cia = [
                    c
                    for c, k in (("C", "isConfidentiality"), ("I", "isIntegrity"), ("A", "isAvailability"))
                    if risk.get(k)
                ]
            reaches = s.get("reaches") or None
            requires = s.get("requires") or None
            asset.steps[s["name"]] = Step(
                name=s["name"],
                kind=s["type"],
                asset=asset.name,
                tags=list(s.get("tags") or []),
                cia=cia,
                ttc=ttc_text(s["ttc"], swhere) if s.get("ttc") else None,
                meta=dict(s.get("meta") or {}),
                requires=None if requires is None else list(requires.get("stepExpressions") or []),
                reaches=None if reaches is None else list(reaches.get("stepExpressions") or []),
                reaches_overrides=True if reaches is None else bool(reaches.get("overrides", True)),
                detectors=list(s.get("detectors") or []),
                causal_mode=s.get("causal_mode"),
                append_reaches=s.get("append_reaches"),
                remove_reaches=s.get("remove_reaches"),
            )
        assets[asset.name] = asset
    associations = []
    for i, a in enumerate(data.get("associations") or []):
        where = f"{origin}: associations[{i}]"
        try:
            associations.append(
                Association(
                    a["name"],
                    a["leftAsset"],
                    a["leftField"],
                    _mult(a["leftMultiplicity"], where),
                    a["rightAsset"],
                    a["rightField"],
                    _mult(a["rightMultiplicity"], where),
                    dict(a.get("meta") or {}),
                )
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"{where}: missing {exc}") from None
    categories = {c["name"]: dict(c.get("meta") or {}) for c in data.get("categories") or [] if isinstance(c, dict)}
    spec = LanguageSpec(dict(data.get("defines") or {}), categories, assets, associations, files=[origin])
    for name, asset in assets.items():
        if asset.extends and asset.extends not in assets:
            raise InputError(f"{origin}: asset {name} extends unknown asset {asset.extends}")
    return spec


def read_langspec(path: Path) -> LanguageSpec:
    """Read a ``langspec.json`` file or a ``.mar`` archive (a zip holding ``langspec.json``)."""
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "langspec.json"]
                if not names:
                    raise InputError(f"{path}: a .mar archive without langspec.json")
                info = archive.getinfo(names[0])
                if info.file_size > 64 * 2**20:
                    raise InputError(f"{path}: langspec.json larger than 64 MiB")
                text = archive.read(names[0]).decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        data = json.load(io.StringIO(text))
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    return from_langspec(data, str(path))
