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

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from breachpath.errors import InputError
from breachpath.fileio import atomic_write_bytes, load_document
from breachpath.langs import renamed_hint

MAX_MODEL_BYTES = 256 * 2**20
#: Up to this many valid names are listed in full when a name is unknown; beyond it, the nearest are suggested.
LIST_ALL_BELOW = 8
#: Problems shown in the one-line error of :func:`check_model` (the rest are counted).
PROBLEMS_SHOWN = 3


def _initials(name: str) -> str:
    """``multiFactorAuthentication`` → ``mfa``, ``os_credential-dumping`` → ``ocd``: the first letter of each word
    of a camelCase, snake_case or kebab-case name, lowercased."""
    return "".join(w[0] for w in _words(name)).lower()


#: A generated defense's ATT&CK or D3FEND id before its name (``m1032MultiFactorAuthentication``,
#: ``d3MFAMultiFactorAuthentication``): ``mfa`` abbreviates the name, not the id.
_ID_PREFIX = re.compile(r"^(?:m\d{4}|d3[A-Z]+)(?=[A-Z])")


def _words(name: str) -> list[str]:
    return re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)


def nearest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The valid names a mistyped ``name`` most likely meant, best first.

    Case-insensitive equality first, then abbreviations (``mfa`` for multiFactorAuthentication: the initials of
    the words of a camelCase name, which difflib's ratio misses), then names containing ``name`` or contained in
    it, then difflib's closest matches (Ratcliff/Obershelp similarity ≥ 0.6, :func:`difflib.get_close_matches`).
    """
    choices = list(dict.fromkeys(str(c) for c in choices))
    wanted = name.lower()
    found: list[str] = [c for c in choices if c.lower() == wanted]
    found += [c for c in choices if len(wanted) >= 2 and wanted in (_initials(c), _initials(_ID_PREFIX.sub("", c)))]
    if len(wanted) >= 3:
        found += sorted((c for c in choices if wanted in c.lower() or c.lower() in wanted), key=len)
    words = {w.lower() for w in _words(name) if len(w) >= 4}
    if words:  # credentialAccess ~ osCredentialDumping: shared words of four letters or more, longest first
        shared = {c: sum(map(len, words & {w.lower() for w in _words(c)})) for c in choices}
        found += sorted((c for c, n in shared.items() if n), key=lambda c: -shared[c])
    found += difflib.get_close_matches(name, choices, n=n)
    lowered = {c.lower(): c for c in choices}
    found += [lowered[c] for c in difflib.get_close_matches(wanted, list(lowered), n=n)]
    return list(dict.fromkeys(found))[:n]


#: The keys of a mal-toolbox model and of one of its assets (older versions also wrote attackers and associations).
MODEL_KEYS = ("metadata", "assets", "attackers", "associations")
ASSET_KEYS = ("name", "type", "associated_assets", "defenses", "extras")


def refuse_misspelt_keys(data: dict, known: Iterable[str], where: str) -> None:
    """Refuse a key that is not ``known`` but nearly is (``defences`` for ``defenses``): ignored, it silently dropped
    what the user meant, and the run went on without it. Other unknown keys (other tools' fields) are left alone."""
    known = list(known)
    for key in data:
        if isinstance(key, str) and key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
            if close:
                raise InputError(f"{where}: unknown key {key!r}; did you mean {close[0]}?")


def did_you_mean(name: str, choices: Iterable[str], what: str = "") -> str:
    """A hint to append to an "unknown name" message: ``; did you mean X?`` when a valid name is near, else the
    valid names when there are few (``; valid: a, b``), else nothing."""
    choices = sorted(dict.fromkeys(str(c) for c in choices))
    close = nearest(name, choices)
    if close:
        return f"; did you mean {' or '.join(close[:2])}?"
    if not choices:
        return f" (there are no {what})" if what else ""
    if len(choices) <= LIST_ALL_BELOW:
        return f"; {what + ': ' if what else 'valid: '}{', '.join(choices)}"
    return ""


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


def describe(value: object) -> str:
    """What a YAML/JSON value is, for messages: a list, a mapping, a number, true…"""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if value is None:
        return "empty"
    return repr(value) if isinstance(value, str) else f"a {type(value).__name__}"


def _is_id_text(text: str) -> bool:
    """Text that is an asset id: ASCII digits ("²" is a digit to str.isdigit but not to int), and few enough that
    int() takes them (Python refuses more than 4,300 digits with a ValueError)."""
    text = text.strip()
    return text.isascii() and text.isdigit() and len(text) <= 40


def _asset_id(key: object, origin: str) -> int:
    """An asset id: an integer, or text of digits (JSON keys are text); never true/false or 1.5."""
    if isinstance(key, int) and not isinstance(key, bool):
        number = key
    elif isinstance(key, str) and _is_id_text(key):
        number = int(key)
    else:
        raise InputError(f"{origin}: assets: the key {key!r} is not an asset id (a whole number)")
    # The graph keeps asset ids in int64 arrays: a larger one was an OverflowError traceback there.
    if not -(2**63) <= number < 2**63:
        raise InputError(f"{origin}: assets: the id {key!r} is too large (at most 2^63 - 1)")
    return number


def model_from_dict(data: object, origin: str) -> Model:
    """Build a :class:`Model` from the mal-toolbox layout; structural errors name the file, the asset and the key,
    and say what was found (a list where a name belongs, text where a mapping belongs…)."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), dict):
        raise InputError(f"{origin}: not a model (expected 'assets': {{id: {{name, type, associated_assets}}}})")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InputError(f"{origin}: metadata must be a mapping (name, langID, langVersion), not {describe(metadata)}")
    refuse_misspelt_keys(data, MODEL_KEYS, origin)
    assets: dict[int, ModelAsset] = {}
    raw_links: dict[int, object] = {}
    for key, raw in data["assets"].items():
        asset_id = _asset_id(key, origin)
        if asset_id in assets:
            raise InputError(f"{origin}: asset id {asset_id} is used twice")
        if not isinstance(raw, dict):
            raise InputError(f"{origin}: asset {asset_id}: expected a mapping (name, type…), not {describe(raw)}")
        asset_type = raw.get("type")
        if not isinstance(asset_type, str) or not asset_type.strip():
            got = "none" if asset_type is None else describe(asset_type)
            raise InputError(f"{origin}: asset {asset_id}: type must be an asset type's name, not {got}")
        name = raw.get("name", f"{asset_type}:{asset_id}")
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise InputError(f"{origin}: asset {asset_id}: name must be text, not {describe(name)}")
        name = str(name)
        where = f"{origin}: asset {asset_id} ({name})"
        refuse_misspelt_keys(raw, ASSET_KEYS, where)
        defenses = raw.get("defenses") or {}
        if not isinstance(defenses, dict):
            raise InputError(f"{where}: defenses must be a mapping of defense to probability, not {describe(defenses)}")
        for defense, value in defenses.items():
            if not isinstance(defense, str):
                raise InputError(f"{where}: defenses: the key {defense!r} is not a defense's name")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InputError(f"{where}: defense {defense} = {value!r} is not in [0, 1]")
        extras = raw.get("extras") or {}
        if not isinstance(extras, dict):
            raise InputError(f"{where}: extras must be a mapping, not {describe(extras)}")
        assets[asset_id] = ModelAsset(
            asset_id, name, asset_type, {k: float(v) for k, v in defenses.items()}, {}, extras
        )
        raw_links[asset_id] = raw.get("associated_assets") or {}
    names: dict[str, int] = {}
    for a in assets.values():
        names.setdefault(a.name, a.id)
    for asset_id, fields in raw_links.items():
        asset = assets[asset_id]
        where = f"{origin}: asset {asset_id} ({asset.name})"
        if not isinstance(fields, dict):
            raise InputError(f"{where}: associated_assets must be a mapping of field to assets, not {describe(fields)}")
        for field_name, targets in fields.items():
            if not isinstance(field_name, str):
                raise InputError(f"{where}: associated_assets: the key {field_name!r} is not a field's name")
            if isinstance(targets, dict):
                refs = list(targets)
            elif isinstance(targets, list):
                refs = targets
            else:
                refs = [targets]
            resolved = asset.links.setdefault(field_name, [])
            for ref in refs:
                target = _resolve(ref, assets, names)
                if target is None:
                    if isinstance(ref, str | int) and not isinstance(ref, bool):
                        hint = did_you_mean(str(ref), names)
                        raise InputError(f"{where}: {field_name} names unknown asset {ref!r}{hint}")
                    raise InputError(f"{where}: {field_name}: expected asset names or ids, found {describe(ref)}")
                if target not in resolved:
                    resolved.append(target)
    return Model(assets, dict(metadata), origin)


def _resolve(ref: object, assets: dict[int, ModelAsset], names: dict[str, int]) -> int | None:
    if isinstance(ref, int) and not isinstance(ref, bool) and ref in assets:
        return ref
    if isinstance(ref, str):
        if _is_id_text(ref) and int(ref) in assets:
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
    """Add the reverse side of every link (a model may list a link from one side only); returns problems met.

    A link to an asset of the wrong type gets no reverse side: that side would be a field the other asset's
    type lacks, and :func:`validate` would blame the other asset ("ana: Person has no field hosts") for a mistake
    made on this one; validate reports it here, on the asset whose entry is wrong."""
    problems: list[str] = []
    fields_of: dict[str, dict] = {}
    fits: dict[tuple[str, str], bool] = {}
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
                other = model.assets[target]
                key = (other.type, info.target)
                if key not in fits:
                    fits[key] = other.type in spec.assets and spec.is_subtype(other.type, info.target)
                if not fits[key]:
                    continue
                reverse = other.links.setdefault(back, [])
                if asset.id not in reverse:
                    reverse.append(asset.id)
    return problems


def validate(model: Model, spec) -> list[str]:
    """Every problem of ``model`` against the language: one line each, naming the asset's id and name, with the
    nearest valid name or the valid ones when a type, field or defense is unknown."""
    problems: list[str] = []

    def where(asset: ModelAsset) -> str:
        return f"asset {asset.id} ({asset.name})"

    seen_names: dict[str, int] = {}
    per_type: dict[str, tuple[dict, dict]] = {}  # steps and fields, computed once per asset type
    subtype: dict[tuple[str, str], bool] = {}
    concrete = [name for name, a in spec.assets.items() if not a.abstract]
    for asset in model.assets.values():
        if asset.name in seen_names:
            problems.append(f"{where(asset)}: the name {asset.name!r} is also used by asset {seen_names[asset.name]}")
        else:
            seen_names[asset.name] = asset.id
        if asset.type not in spec.assets:
            problems.append(f"{where(asset)}: unknown asset type {asset.type}{did_you_mean(asset.type, concrete)}")
            continue
        if spec.assets[asset.type].abstract:
            subtypes = [t for t in spec.subtypes(asset.type) if not spec.assets[t].abstract]
            hint = f"; use one of its subtypes: {', '.join(sorted(subtypes))}" if subtypes else ""
            problems.append(f"{where(asset)}: {asset.type} is abstract and cannot be instantiated{hint}")
        if asset.type not in per_type:
            per_type[asset.type] = (spec.steps(asset.type), spec.fields(asset.type))
        steps, fields = per_type[asset.type]
        for defense in asset.defenses:
            step = steps.get(defense)
            if step is None:
                valid = [n for n, st in steps.items() if st.kind == "defense"]
                hint = renamed_hint(defense, valid) or did_you_mean(defense, valid, "defenses")
                problems.append(f"{where(asset)}: {asset.type} has no defense {defense}{hint}")
            elif step.kind != "defense":
                valid = [n for n, st in steps.items() if st.kind == "defense"]
                hint = f"; defenses of a {asset.type}: {', '.join(valid)}" if valid else ""
                problems.append(f"{where(asset)}: {asset.type}.{defense} is an attack step, not a defense{hint}")
        for field_name, targets in asset.links.items():
            info = fields.get(field_name)
            if info is None:
                hint = renamed_hint(field_name, fields) or did_you_mean(field_name, fields, "fields")
                problems.append(f"{where(asset)}: {asset.type} has no field {field_name}{hint}")
                continue
            for target in targets:
                other = model.assets[target]
                key = (other.type, info.target)
                if key not in subtype:
                    subtype[key] = other.type in spec.assets and spec.is_subtype(other.type, info.target)
                if other.type in spec.assets and not subtype[key]:
                    problems.append(
                        f"{where(asset)}: {field_name} links to asset {other.id} ({other.name}), "
                        f"{_article(other.type)}, where the association {info.association} wants "
                        f"{_article(info.target)}"
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


def problems_line(origin: str, problems: list[str]) -> str:
    """One line for many problems: the first few, and how many more (``model validate`` lists them all)."""
    shown = "; ".join(problems[:PROBLEMS_SHOWN])
    more = len(problems) - PROBLEMS_SHOWN
    tail = f" (and {more} more; `breachpath model validate {origin}` lists them all)" if more > 0 else ""
    return f"{origin}: {shown}{tail}"


def deprecation_warnings(model: Model, spec) -> list[str]:
    """One warning per asset whose type the language marks deprecated (its user info starts "Deprecated"): it
    still works, and the warning says what to use instead (attacklang 1.0: CloudAccount → SaaSAccount)."""
    out = []
    for asset in model.assets.values():
        declared = spec.assets.get(asset.type)
        info = declared.meta.get("user", "") if declared is not None else ""
        if info.lower().startswith("deprecated"):
            out.append(f"asset {asset.id} ({asset.name}): {asset.type} is deprecated: {info}")
    return out


def check_model(model: Model, spec, origin: str | None = None) -> None:
    """Complete the links and :func:`validate` the model, as ``model validate`` does; any problem is an
    :class:`InputError` naming ``origin`` (the model's file, or the scenario that holds it)."""
    complete_links(model, spec)
    problems = validate(model, spec)
    if problems:
        raise InputError(problems_line(origin or model.origin, problems))


def _article(noun: str) -> str:
    """'a Host', 'an Identity' (by the first letter: good enough for type names)."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
