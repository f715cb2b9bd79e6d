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

import math
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.dist import DistributionError, completion_problem, parse
from breachpath.errors import InputError
from breachpath.langs import builtin_language
from breachpath.model import Model, _load_document, describe, model_from_dict, read_model, refuse_misspelt_keys

#: Samples per run, in a scenario file and on the command line: 10^8 samples of one target's float32 times are
#: 400 MB, already more than a laptop wants; beyond that a run is a mistake, not a wish for precision.
MAX_SAMPLES = 100_000_000
#: Seeds are whole numbers 0 ≤ seed < 2^64: numpy's SeedSequence takes any non-negative integer, and saved results
#: keep the seed as a 64-bit integer.
SEED_LIMIT = 2**64


def check_samples(value: object, what: str = "samples") -> int:
    """A number of samples: a whole number from 1 to :data:`MAX_SAMPLES`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SAMPLES:
        raise InputError(f"{what} must be a whole number from 1 to {MAX_SAMPLES:,}, not {describe(value)}")
    return value


def check_seed(value: object, what: str = "seed") -> int | None:
    """A seed: None (fresh entropy) or a whole number 0 ≤ seed < 2^64."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise InputError(f"{what} must be a whole number from 0 to 2^64 - 1, not {describe(value)}")
    return value


def check_workers(value: object, what: str = "--workers") -> int | None:
    """A number of threads: None (all cores) or at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{what} must be at least 1 (threads), not {describe(value)}")
    return value


def check_horizons(values: list[float], what: str = "--horizon") -> list[float]:
    """Horizons in days: finite and positive."""
    for h in values:
        if isinstance(h, bool) or not isinstance(h, int | float) or not math.isfinite(h) or h <= 0:
            raise InputError(f"{what}: {h!r} is not a number of days (finite, more than 0)")
    return values


def check_precision(value: object, what: str = "--precision") -> float:
    """An interval width to reach: finite and positive."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a finite number more than 0 (an interval width), not {describe(value)}")
    return float(value)


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
#: The keys a scenario may have: breachpath's, and mal-simulator's (which it reads or passes over).
SCENARIO_KEYS = (
    "lang", "model", "entry_points", "targets", "defenses", "ttc", "samples", "seed",
    "lang_file", "model_file", "agents", "rewards", "attacker_agent_class", "defender_agent_class",
    "observable_steps", "actionable_steps", "false_positive_rates", "false_negative_rates",
)  # fmt: skip
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


def _section(data: dict, key: str) -> object:
    """A mapping section of a scenario: absent or empty (``key:``) is {}; anything else is returned to be checked
    (``defenses: ''`` or ``ttc: 0`` were taken as empty, silently)."""
    value = data.get(key)
    return {} if value is None else value


def _steps(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        for v in value:
            if not isinstance(v, str):
                raise InputError(f"{where}: expected a list of asset:step, found {describe(v)} in it")
        return list(value)
    raise InputError(f"{where}: expected a list of asset:step, not {describe(value)}")


def find_steps(graph, texts: list[str], where: str) -> list[int]:
    """The graph's nodes for ``asset:step`` names; an unknown one is an :class:`InputError` that says where the
    name came from (``s.yml: targets``, ``--entry``) and suggests the nearest asset or step."""
    nodes = []
    for text in texts:
        try:
            nodes.append(graph.find(text))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return nodes


def read_scenario(path: Path | str) -> Scenario:
    """Read a scenario file (breachpath's layout or mal-simulator's)."""
    path = Path(path)
    return scenario_from_document(_load_document(path), path)


def read_source(path: Path | str) -> tuple[Model, Scenario | None]:
    """A scenario or a bare model, whichever the file holds (a scenario names a language), parsed once: the
    model, and the scenario or None."""
    path = Path(path)
    data = _load_document(path)
    if is_scenario_document(data):
        scenario = scenario_from_document(data, path)
        return scenario.model, scenario
    return model_from_dict(data, str(path)), None


def scenario_from_document(data: object, path: Path) -> Scenario:
    """A scenario from its parsed document (``path``: where it was read, for messages and relative references)."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: a scenario is a mapping (lang, model, entry_points, targets…)")
    refuse_misspelt_keys(data, SCENARIO_KEYS, str(path))
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
    agents = _section(data, "agents")
    if not isinstance(agents, dict):
        raise InputError(f"{path}: agents must be a mapping of name to agent, not {describe(agents)}")
    for name, agent in agents.items():
        if not isinstance(agent, dict):
            raise InputError(
                f"{path}: agents.{name} must be a mapping (type, entry_points, goals), not {describe(agent)}"
            )
        if agent.get("type", "attacker") == "attacker":
            entry += _steps(agent.get("entry_points"), f"{path}: agents.{name}.entry_points")
            targets += _steps(agent.get("goals"), f"{path}: agents.{name}.goals")
    defenses = _section(data, "defenses")
    if not isinstance(defenses, dict):
        raise InputError(f"{path}: defenses must map asset:defense to a probability, not {describe(defenses)}")
    checked: dict[str, float] = {}
    for key, value in defenses.items():
        if not isinstance(key, str):
            raise InputError(f"{path}: defenses: the key {key!r} is not an asset:defense name")
        if isinstance(value, bool):
            value = 1.0 if value else 0.0
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InputError(f"{path}: defenses.{key} = {value!r} is not a probability in [0, 1]")
        checked[key] = float(value)
    defenses = checked
    ttc = _section(data, "ttc")
    if not isinstance(ttc, dict):
        raise InputError(f"{path}: ttc must map a step, an asset type's step or an ATT&CK id to a MAL distribution")
    for key, text in ttc.items():
        if not isinstance(key, str):
            raise InputError(f"{path}: ttc: the key {key!r} is not asset:step, Type.step or an ATT&CK id")
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise InputError(f"{path}: ttc.{key} must be a MAL distribution (text), not {describe(text)}")
        if str(text).strip().lower() == "evidence":
            continue
        try:
            dist = parse(str(text))
        except DistributionError as exc:
            raise InputError(f"{path}: ttc.{key}: {exc}") from None
        problem = completion_problem(dist)
        if problem and problem[0] == "error":  # warnings come from apply_overrides, once per run
            raise InputError(
                f"{path}: ttc.{key} = {text}: {problem[1]} (write Infinity for a step that never succeeds)"
            )
    samples = check_samples(data.get("samples", 1000), f"{path}: samples")
    seed = check_seed(data.get("seed"), f"{path}: seed")
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
    return is_scenario_document(_load_document(path))


def is_scenario_document(data: object) -> bool:
    return isinstance(data, dict) and ("lang" in data or "lang_file" in data)
