"""Instance models: concrete assets of a MAL language and the links between them.

The file format is the one mal-toolbox writes, so existing models load unchanged::

    metadata: {name: office, langID: org.mal-lang.coreLang, langVersion: 1.0.0}
    assets:
      0:
        name: web01
        type: Application
        defenses: {notPresent: 0.0}
        associated_assets:
          appExecutedApps: {1: os01}
        extras: {}

YAML or JSON. A link may name its target by id or by name. Links are symmetric: a link given from one side is
added to the other. :func:`validate` checks a model against a :class:`~breachpath.lang.spec.LanguageSpec`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from breachpath.errors import InputError
from breachpath.fileio import atomic_write_bytes, load_document

MAX_MODEL_BYTES = 256 * 2**20


@dataclass(slots=True)
class ModelAsset:
    id: int
    name: str
    type: str
    defenses: dict[str, float] = field(default_factory=dict)
    links: dict[str, list[int]] = field(default_factory=dict)  # field → target ids
    extras: dict = field(default_factory=dict)


@dataclass
class Model:
    assets: dict[int, ModelAsset]
    metadata: dict = field(default_factory=dict)
    origin: str = "<model>"

    def by_name(self) -> dict[str, ModelAsset]:
        return {a.name: a for a in self.assets.values()}

    def to_dict(self) -> dict:
        """The mal-toolbox model layout (links from every side, targets as {id: name})."""
        return {
            "metadata": self.metadata,
            "assets": {
                a.id: {
                    "name": a.name,
                    "type": a.type,
                    **({"defenses": a.defenses} if a.defenses else {}),
                    "associated_assets": {
                        f: {t: self.assets[t].name for t in targets} for f, targets in a.links.items() if targets
                    },
                    **({"extras": a.extras} if a.extras else {}),
                }
                for a in self.assets.values()
            },
        }


def _load_document(path: Path) -> object:
    """A model or scenario document: YAML or JSON by suffix, bounded, safe (see :mod:`breachpath.fileio`)."""
    return load_document(path, MAX_MODEL_BYTES)


def model_from_dict(data: object, origin: str) -> Model:
    """Build a :class:`Model` from the mal-toolbox layout; structural errors name the asset."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), dict):
        raise InputError(f"{origin}: not a model (expected 'assets': {{id: {{name, type, associated_assets}}}})")
    assets: dict[int, ModelAsset] = {}
    raw_links: dict[int, dict] = {}
    for key, raw in data["assets"].items():
        try:
            asset_id = int(key)
        except (TypeError, ValueError):
            raise InputError(f"{origin}: asset id {key!r} is not an integer") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            raise InputError(f"{origin}: asset {asset_id}: needs a type (and a name)")
        if asset_id in assets:
            raise InputError(f"{origin}: asset id {asset_id} is used twice")
        name = str(raw.get("name", f"{raw['type']}:{asset_id}"))
        defenses = raw.get("defenses") or {}
        if not isinstance(defenses, dict):
            raise InputError(f"{origin}: asset {asset_id} ({name}): defenses must be a mapping of name to value")
        for defense, value in defenses.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InputError(f"{origin}: asset {asset_id} ({name}): defense {defense} = {value!r} is not in [0, 1]")
        assets[asset_id] = ModelAsset(
            asset_id, name, raw["type"], {str(k): float(v) for k, v in defenses.items()}, {}, raw.get("extras") or {}
        )
        raw_links[asset_id] = raw.get("associated_assets") or {}
    names = {}
    for a in assets.values():
        names.setdefault(a.name, a.id)
    for asset_id, fields in raw_links.items():
        asset = assets[asset_id]
        if not isinstance(fields, dict):
            raise InputError(f"{origin}: asset {asset_id} ({asset.name}): associated_assets must be a mapping")
        for field_name, targets in fields.items():
            if isinstance(targets, dict):
                refs = list(targets)
            elif isinstance(targets, list):
                refs = targets
            else:
                refs = [targets]
            resolved = asset.links.setdefault(str(field_name), [])
            for ref in refs:
                target = _resolve(ref, assets, names)
                if target is None:
                    raise InputError(
                        f"{origin}: asset {asset_id} ({asset.name}): {field_name} names unknown asset {ref!r}"
                    )
                if target not in resolved:
                    resolved.append(target)
    return Model(assets, dict(data.get("metadata") or {}), origin)


def _resolve(ref: object, assets: dict[int, ModelAsset], names: dict[str, int]) -> int | None:
    if isinstance(ref, int) and ref in assets:
        return ref
    if isinstance(ref, str):
        if ref.strip().isdigit() and int(ref) in assets:
            return int(ref)
        return names.get(ref)
    return None


def read_model(path: Path | str) -> Model:
    """Read a model file (YAML or JSON, mal-toolbox layout)."""
    path = Path(path)
    return model_from_dict(_load_document(path), str(path))


def write_model(model: Model, path: Path | str) -> None:
    """Write ``model`` in the mal-toolbox layout, YAML or JSON by suffix (atomically)."""
    path = Path(path)
    data = model.to_dict()
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2)
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    atomic_write_bytes(path, text.encode())


def complete_links(model: Model, spec) -> list[str]:
    """Add the reverse side of every link (a model may list a link from one side only); returns problems met."""
    problems = []
    fields_of: dict[str, dict] = {}
    for asset in model.assets.values():
        if asset.type not in spec.assets:
            continue
        fields = fields_of.get(asset.type)
        if fields is None:
            fields = fields_of[asset.type] = spec.fields(asset.type)
        for field_name, targets in asset.links.items():
            info = fields.get(field_name)
            if info is None:
                continue
            back = info.back
            for target in targets:
                other = model.assets[target].links.setdefault(back, [])
                if asset.id not in other:
                    other.append(asset.id)
    return problems


def validate(model: Model, spec) -> list[str]:
    """Every problem of ``model`` against the language: one line each, naming the asset's id and name."""
    problems: list[str] = []

    def where(asset: ModelAsset) -> str:
        return f"asset {asset.id} ({asset.name})"

    seen_names: dict[str, int] = {}
    per_type: dict[str, tuple[dict, dict]] = {}  # steps and fields, computed once per asset type
    subtype: dict[tuple[str, str], bool] = {}
    for asset in model.assets.values():
        if asset.name in seen_names:
            problems.append(f"{where(asset)}: the name {asset.name!r} is also used by asset {seen_names[asset.name]}")
        else:
            seen_names[asset.name] = asset.id
        if asset.type not in spec.assets:
            problems.append(f"{where(asset)}: unknown asset type {asset.type}")
            continue
        if spec.assets[asset.type].abstract:
            problems.append(f"{where(asset)}: {asset.type} is abstract and cannot be instantiated")
        if asset.type not in per_type:
            per_type[asset.type] = (spec.steps(asset.type), spec.fields(asset.type))
        steps, fields = per_type[asset.type]
        for defense in asset.defenses:
            step = steps.get(defense)
            if step is None or step.kind != "defense":
                problems.append(f"{where(asset)}: {asset.type} has no defense {defense}")
        for field_name, targets in asset.links.items():
            info = fields.get(field_name)
            if info is None:
                problems.append(f"{where(asset)}: {asset.type} has no field {field_name}")
                continue
            for target in targets:
                other = model.assets[target]
                key = (other.type, info.target)
                if key not in subtype:
                    subtype[key] = other.type in spec.assets and spec.is_subtype(other.type, info.target)
                if other.type in spec.assets and not subtype[key]:
                    problems.append(
                        f"{where(asset)}: {field_name} links to asset {other.id} ({other.name}), a {other.type}, "
                        f"where the association {info.association} wants a {info.target}"
                    )
        for field_name, info in fields.items():
            count = len(asset.links.get(field_name, []))
            low, high = info.multiplicity
            if count < low or (high is not None and count > high):
                shown = f"{low}..{'*' if high is None else high}"
                problems.append(
                    f"{where(asset)}: {field_name} has {count} link(s), but {info.association} allows {shown}"
                )
    return problems
