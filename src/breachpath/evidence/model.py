"""Estimates and findings, and their plain YAML files (one estimate per file).

An :class:`Estimate` is for one attack step (an ATT&CK technique or mitigation id and/or a MAL step). It holds
:class:`Finding` objects (what a source measured and the value), how they combine, the time-to-compromise
rationale, and the resulting MAL distribution. Reading checks everything and names the file and the field
(and, for YAML syntax, the line and column) of the first problem.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from breachpath.dist import DistributionError, parse
from breachpath.errors import InputError
from breachpath.fileio import atomic_write_bytes, read_text

METHODS = ("mean", "beta-pooled")
#: Weight of a finding given only as a percentage, as a number of observations (a Beta pseudo-count).
DEFAULT_EFFECTIVE_SAMPLE_SIZE = 100
MAX_YAML_BYTES = 1 << 20


@dataclass(frozen=True)
class Finding:
    """One figure from one source: a percentage, or a count out of a denominator."""

    source: str
    measure: str
    url: str | None = None
    year: int | None = None
    percent: float | None = None
    count: int | None = None
    denominator: int | None = None
    effective_sample_size: float | None = None
    note: str = ""

    @property
    def proportion(self) -> float | None:
        if self.count is not None and self.denominator:
            return self.count / self.denominator
        return None if self.percent is None else self.percent / 100

    def value_text(self) -> str:
        if self.count is not None and self.denominator:
            return f"{self.count}/{self.denominator} ({100 * self.count / self.denominator:.2f}%)"
        return f"{self.percent:g}%" if self.percent is not None else "no figure"


@dataclass(frozen=True)
class Estimate:
    """The evidence-backed estimate for one attack step."""

    name: str
    result: str  # MAL text
    attack_id: str | None = None
    kind: str = "technique"  # technique, mitigation or step
    step: str | None = None  # a MAL step, e.g. "Host.exploit"
    context: str = ""
    findings: tuple[Finding, ...] = ()
    combine: str = "mean"
    computation: str = ""  # the stated arithmetic, as the author wrote it
    ttc_rationale: str = ""
    effective_sample_size: float = DEFAULT_EFFECTIVE_SAMPLE_SIZE
    derived_from: str | None = None  # where the estimate came from (an imported note)
    problems: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return self.attack_id or self.step or self.name

    def distribution(self):
        return parse(self.result)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["findings"] = [{k: v for k, v in asdict(f).items() if v not in (None, "")} for f in self.findings]
        data["problems"] = list(self.problems)
        return {k: v for k, v in data.items() if v not in (None, "", [], ())}


def estimate_from_dict(data: object, origin: str) -> Estimate:
    """Build an :class:`Estimate` from parsed YAML, checking every field; errors name ``origin`` and the field."""

    def fail(where: str, message: str) -> InputError:
        return InputError(f"{origin}: {where}: {message}")

    if not isinstance(data, dict):
        raise InputError(f"{origin}: expected a mapping with name, result, findings…")
    known = set(Estimate.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise fail(str(key), f"unknown field (known: {', '.join(sorted(known))})")
    for key in ("name", "result"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise fail(key, "required text")
    try:
        parse(data["result"])
    except DistributionError as exc:
        raise fail("result", str(exc)) from None
    if data.get("combine", "mean") not in METHODS:
        raise fail("combine", f"one of {', '.join(METHODS)}")
    findings = []
    raw = data.get("findings") or []
    if not isinstance(raw, list):
        raise fail("findings", "expected a list")
    for i, item in enumerate(raw):
        findings.append(_finding(item, lambda message, i=i: fail(f"findings[{i}]", message)))
    ess = data.get("effective_sample_size", DEFAULT_EFFECTIVE_SAMPLE_SIZE)
    if not isinstance(ess, int | float) or isinstance(ess, bool) or not ess > 0:
        raise fail("effective_sample_size", "a positive number")
    text_fields = ("attack_id", "kind", "step", "context", "computation", "ttc_rationale", "derived_from")
    for key in text_fields:
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise fail(key, "expected text")
    problems = data.get("problems") or []
    return Estimate(
        name=data["name"].strip(),
        result=data["result"].strip(),
        attack_id=data.get("attack_id"),
        kind=data.get("kind") or "technique",
        step=data.get("step"),
        context=data.get("context") or "",
        findings=tuple(findings),
        combine=data.get("combine", "mean"),
        computation=data.get("computation") or "",
        ttc_rationale=data.get("ttc_rationale") or "",
        effective_sample_size=float(ess),
        derived_from=data.get("derived_from"),
        problems=tuple(str(p) for p in problems) if isinstance(problems, list) else (),
    )


def _finding(item: object, fail) -> Finding:
    if not isinstance(item, dict):
        raise fail("expected a mapping with source, measure, percent or count/denominator")
    for key in ("source", "measure"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise fail(f"{key} is required text")
    percent, count, denominator = item.get("percent"), item.get("count"), item.get("denominator")
    if percent is None and count is None:
        raise fail("needs a value: percent, or count and denominator")
    if percent is not None and (not _number(percent) or not 0 <= percent <= 100):
        raise fail(f"percent must be a number in [0, 100], not {percent!r}")
    if (count is not None or denominator is not None) and (
        not (_whole(count) and _whole(denominator)) or denominator == 0 or count > denominator
    ):
        raise fail(
            f"count/denominator must be whole numbers with 0 <= count <= denominator > 0, not {count}/{denominator}"
        )
    year = item.get("year")
    if year is not None and not _whole(year):
        raise fail(f"year must be a whole number, not {year!r}")
    ess = item.get("effective_sample_size")
    if ess is not None and (not _number(ess) or not ess > 0):
        raise fail("effective_sample_size must be a positive number")
    return Finding(
        source=item["source"].strip(),
        measure=item["measure"].strip(),
        url=item.get("url"),
        year=year,
        percent=None if percent is None else float(percent),
        count=count,
        denominator=denominator,
        effective_sample_size=None if ess is None else float(ess),
        note=item.get("note") or "",
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_estimate(path: Path) -> Estimate:
    """Read one estimate file; YAML errors give the line and column, field errors the field."""
    path = Path(path)
    text = read_text(path, MAX_YAML_BYTES)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}: {where}invalid YAML ({problem})") from None
    return estimate_from_dict(data, str(path))


def write_estimate(estimate: Estimate, path: Path) -> None:
    """Write one estimate as YAML (atomically)."""
    text = yaml.safe_dump(estimate.to_dict(), sort_keys=False, allow_unicode=True, width=110)
    atomic_write_bytes(path, text.encode())


def file_name(estimate: Estimate) -> str:
    """A file name for an estimate: its ATT&CK id or step, else its name, made safe."""
    stem = estimate.key
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in stem) + ".yaml"
