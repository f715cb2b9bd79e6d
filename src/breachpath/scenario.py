"""Scenarios: a language, a model, the attacker's entry points and targets, overrides, samples and seed.

Two layouts load. breachpath's own::

    lang: ../shared/data/corelang/main.mal
    model: office.yml            # a path, or the model inline ({metadata, assets})
    entry_points: ["Internet:access"]
    targets: ["host3 data:read"]
    defenses: {"host0 OS:notPresent": 1.0}
    ttc: {"Application.fullAccess": "Exponential(0.5)"}
    samples: 1000
    seed: 7

and mal-simulator's (``lang_file``, ``model_file``, ``agents: {name: {type: attacker, entry_points, goals}}``).
Paths are relative to the scenario file; ``lang: attacklang`` names the built-in language. Steps are written ``asset:step`` or ``asset.step``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from breachpath.dist import DistributionError, parse
from breachpath.errors import InputError
from breachpath.langs import builtin_language
from breachpath.model import Model, _load_document, model_from_dict, read_model


@dataclass
class Scenario:
    lang: Path
    model: Model
    entry_points: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    defenses: dict[str, float] = field(default_factory=dict)
    ttc: dict[str, str] = field(default_factory=dict)
    samples: int = 1000
    seed: int | None = None
    origin: str = "<scenario>"


#: What a scenario's ``model:`` and ``lang:`` may name: a scenario is untrusted, so it must not make us read
#: (and quote back in an error) a file that is neither, such as /etc/passwd or a device.
MODEL_SUFFIXES = (".yml", ".yaml", ".json")
LANG_SUFFIXES = (".mal", ".json", ".mar")


def _referenced(scenario: Path, key: str, value: str, suffixes: tuple[str, ...]) -> Path:
    """The file a scenario's ``key: value`` names, relative to the scenario; only files with the expected
    suffixes (the reading itself refuses devices, FIFOs and oversized files)."""
    target = scenario.parent / value
    if target.suffix.lower() not in suffixes:
        kinds = ", ".join(suffixes)
        hint = " or a built-in language (attacklang)" if key == "lang" else ""
        raise InputError(f"{scenario}: {key}: {value!r} is not a {key} file ({kinds}{hint})")
    return target


def _steps(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"{where}: expected a list of asset:step")


def read_scenario(path: Path | str) -> Scenario:
    """Read a scenario file (breachpath's layout or mal-simulator's)."""
    path = Path(path)
    data = _load_document(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a scenario is a mapping (lang, model, entry_points, targets…)")
    base = path.parent
    lang = data.get("lang", data.get("lang_file"))
    if not isinstance(lang, str):
        raise InputError(f"{path}: names no language (lang: FILE.mal)")
    model_ref = data.get("model", data.get("model_file"))
    if isinstance(model_ref, str):
        model = read_model(_referenced(path, "model", model_ref, MODEL_SUFFIXES))
    elif isinstance(model_ref, dict):
        model = model_from_dict(model_ref, f"{path}: model")
    else:
        raise InputError(f"{path}: names no model (model: FILE or an inline model)")
    entry = _steps(data.get("entry_points"), f"{path}: entry_points")
    targets = _steps(data.get("targets"), f"{path}: targets")
    agents = data.get("agents") or {}
    if not isinstance(agents, dict):
        raise InputError(f"{path}: agents must be a mapping of name to agent")
    for name, agent in agents.items():
        if isinstance(agent, dict) and agent.get("type", "attacker") == "attacker":
            entry += _steps(agent.get("entry_points"), f"{path}: agents.{name}.entry_points")
            targets += _steps(agent.get("goals"), f"{path}: agents.{name}.goals")
    defenses = data.get("defenses") or {}
    if not isinstance(defenses, dict):
        raise InputError(f"{path}: defenses must map asset:defense to a probability")
    for key, value in defenses.items():
        if isinstance(value, bool):
            value = 1.0 if value else 0.0
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InputError(f"{path}: defenses.{key} = {value!r} is not a probability in [0, 1]")
        defenses[key] = float(value)
    ttc = data.get("ttc") or {}
    if not isinstance(ttc, dict):
        raise InputError(f"{path}: ttc must map a step, an asset type's step or an ATT&CK id to a MAL distribution")
    for key, text in ttc.items():
        try:
            parse(str(text))
        except DistributionError as exc:
            raise InputError(f"{path}: ttc.{key}: {exc}") from None
    samples = data.get("samples", 1000)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 100_000_000:
        raise InputError(f"{path}: samples must be a whole number from 1 to 100,000,000")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"{path}: seed must be a whole number")
    lang_path = builtin_language(lang) if builtin_language(lang) and not (base / lang).exists() else None
    if lang_path is None:
        lang_path = _referenced(path, "lang", lang, LANG_SUFFIXES).resolve()
    return Scenario(
        lang=lang_path,
        model=model,
        entry_points=entry,
        targets=targets,
        defenses=defenses,
        ttc={str(k): str(v) for k, v in ttc.items()},
        samples=samples,
        seed=seed,
        origin=str(path),
    )


def looks_like_scenario(path: Path) -> bool:
    """A scenario names a language; a model does not."""
    data = _load_document(path)
    return isinstance(data, dict) and ("lang" in data or "lang_file" in data)
