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
from urllib.parse import urlsplit

import yaml

from breachpath.dist import DistributionError, parse
from breachpath.errors import InputError
from breachpath.fileio import atomic_write_bytes, load_yaml, read_text

METHODS = ("mean", "beta-pooled", "derived")  # derived: by the stated computation (a model), not pooled
#: Weight of a finding given only as a percentage, as a number of observations (a Beta pseudo-count).
DEFAULT_EFFECTIVE_SAMPLE_SIZE = 100
MAX_YAML_BYTES = 1 << 20
# Sizes an estimate file controls, far above any real estimate (enterpriseLang's longest note has 7 findings and a
# 4,132-character rationale) and low enough that aliases expanding to many long strings cannot flood a page.
MAX_FINDINGS = 1000
MAX_SHORT_TEXT = 1000  # names, ids, sources, measures
MAX_URL = 4096
MAX_LONG_TEXT = 100_000  # context, computation, rationale, a finding's note
MAX_PROBLEMS = 1000
MAX_DENOMINATOR = 10**12
#: Only these become links (a ``javascript:`` or ``data:`` URL in a report or page would run or leak).
LINK_SCHEMES = ("http", "https")
_FINDING_FIELDS = frozenset(
    (
        "source", "measure", "url", "year", "percent", "count", "denominator", "days", "statistic",
        "effective_sample_size", "note",
    )
)  # fmt: skip
#: What a time finding's ``days`` is of the times the source measured.
STATISTICS = ("mean", "median", "minimum", "maximum")
MAX_DAYS = 1e6  # about 2,700 years: far above any time a source reports
_SHORT_FIELDS = ("name", "result", "attack_id", "kind", "step", "combine", "derived_from")


@dataclass(frozen=True)
class Finding:
    """One figure from one source: a share (a percentage, or a count out of a denominator), or a time in days with
    the statistic it is of the times measured (a mean, a median, the fastest…). Only shares can be pooled into a
    success probability; times say how long a step takes (an estimate's TTC rationale fits its distribution to
    them)."""

    source: str
    measure: str
    url: str | None = None
    year: int | None = None
    percent: float | None = None
    count: int | None = None
    denominator: int | None = None
    days: float | None = None
    statistic: str | None = None
    effective_sample_size: float | None = None
    note: str = ""

    @property
    def proportion(self) -> float | None:
        if self.count is not None and self.denominator:
            return self.count / self.denominator
        return None if self.percent is None else self.percent / 100

    def value_text(self) -> str:
        if self.days is not None:
            return f"{duration_text(self.days)} ({self.statistic})"
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
    # 90% intervals of the step's mean time (days) and of its success probability: how unsure they are (issue 16's
    # parameter uncertainty); a pooled probability's interval comes from its findings instead.
    time_interval: tuple[float, float] | None = None
    probability_interval: tuple[float, float] | None = None

    @property
    def key(self) -> str:
        return self.attack_id or self.step or self.name

    def distribution(self):
        return parse(self.result)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["findings"] = [{k: v for k, v in asdict(f).items() if v not in (None, "")} for f in self.findings]
        data["problems"] = list(self.problems)
        for key in ("time_interval", "probability_interval"):
            if data[key] is not None:
                data[key] = list(data[key])
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
            raise fail(_shown(key), f"unknown field (known: {', '.join(sorted(known))})")
    for key in ("name", "result"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise fail(key, "required text")
    text_fields = ("attack_id", "kind", "step", "context", "computation", "ttc_rationale", "derived_from")
    for key in text_fields:
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise fail(key, f"expected text, not {_kind(data[key])}")
    for key in (*_SHORT_FIELDS, "context", "computation", "ttc_rationale"):
        limit = MAX_SHORT_TEXT if key in _SHORT_FIELDS else MAX_LONG_TEXT
        if isinstance(data.get(key), str) and len(data[key]) > limit:
            raise fail(key, f"longer than {limit:,} characters")
    try:
        parse(data["result"])
    except DistributionError as exc:
        raise fail("result", str(exc)) from None
    if not isinstance(data.get("combine", "mean"), str) or data.get("combine", "mean") not in METHODS:
        raise fail("combine", f"one of {', '.join(METHODS)}")
    findings = []
    raw = data.get("findings") or []
    if not isinstance(raw, list):
        raise fail("findings", f"expected a list, not {_kind(raw)}")
    if len(raw) > MAX_FINDINGS:
        raise fail("findings", f"more than {MAX_FINDINGS:,} findings")
    for i, item in enumerate(raw):
        findings.append(_finding(item, lambda message, i=i: fail(f"findings[{i}]", message)))
    ess = data.get("effective_sample_size", DEFAULT_EFFECTIVE_SAMPLE_SIZE)
    if not _number(ess) or not ess > 0:
        raise fail("effective_sample_size", "a positive number")
    problems = data.get("problems") or []
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        raise fail("problems", "expected a list of text")
    if len(problems) > MAX_PROBLEMS or any(len(p) > MAX_LONG_TEXT for p in problems):
        raise fail(
            "problems", f"more than {MAX_PROBLEMS:,} entries or an entry longer than {MAX_LONG_TEXT:,} characters"
        )
    interval = data.get("time_interval")
    if interval is not None:
        if (
            not isinstance(interval, list)
            or len(interval) != 2
            or not all(_number(v) and 0 < v <= MAX_DAYS for v in interval)
            or not interval[0] <= interval[1]
        ):
            raise fail("time_interval", f"[low, high]: two numbers of days in (0, {MAX_DAYS:g}], low ≤ high")
        interval = (float(interval[0]), float(interval[1]))
    chance = data.get("probability_interval")
    if chance is not None:
        if (
            not isinstance(chance, list)
            or len(chance) != 2
            or not all(_number(v) and 0 <= v <= 1 for v in chance)
            or not chance[0] <= chance[1]
        ):
            raise fail("probability_interval", "[low, high]: two probabilities in [0, 1], low ≤ high")
        chance = (float(chance[0]), float(chance[1]))
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
        problems=tuple(problems),
        time_interval=interval,
        probability_interval=chance,
    )


def is_link(url: object) -> bool:
    """Whether ``url`` may become a link in a page or report: an absolute http(s) URL with a host, nothing else
    (no ``javascript:``, ``data:``, ``file:``, relative or protocol-relative URLs)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.netloc)


def _shown(value: object, width: int = 60) -> str:
    """A value as it may appear in a one-line message (quoted, control characters escaped, cut short)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _kind(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def duration_text(days: float) -> str:
    """A time for people: ``11 days``, ``3.4 hours``, ``29 minutes``, ``27 seconds``."""
    if days >= 1:
        return f"{days:.3g} days"
    if days >= 1 / 24:
        return f"{days * 24:.3g} hours"
    if days >= 1 / 1440:
        return f"{days * 1440:.3g} minutes"
    return f"{days * 86400:.3g} seconds"


def _finding(item: object, fail) -> Finding:
    if not isinstance(item, dict):
        raise fail("expected a mapping with source, measure, and percent, count/denominator or days")
    for key in item:
        if key not in _FINDING_FIELDS:
            raise fail(f"{_shown(key)} is not a field of a finding (known: {', '.join(sorted(_FINDING_FIELDS))})")
    for key in ("source", "measure"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise fail(f"{key} is required text")
        if len(item[key]) > MAX_SHORT_TEXT:
            raise fail(f"{key} is longer than {MAX_SHORT_TEXT:,} characters")
    url = item.get("url")
    if url is not None and not is_link(url):
        raise fail(f"url must be an http:// or https:// address, not {_shown(url)}")
    note = item.get("note")
    if note is not None and not isinstance(note, str):
        raise fail(f"note must be text, not {_kind(note)}")
    if isinstance(note, str) and len(note) > MAX_LONG_TEXT:
        raise fail(f"note is longer than {MAX_LONG_TEXT:,} characters")
    percent, count, denominator = item.get("percent"), item.get("count"), item.get("denominator")
    days, statistic = item.get("days"), item.get("statistic")
    if days is not None or statistic is not None:
        if percent is not None or count is not None or denominator is not None:
            raise fail("a finding holds one value: a share (percent, or count and denominator) or a time (days)")
        if not _number(days) or not 0 < days <= MAX_DAYS:
            raise fail(f"days must be a number of days above 0 and at most {MAX_DAYS:.0e}, not {_shown(days)}")
        if statistic not in STATISTICS:
            raise fail(f"a time needs its statistic: one of {', '.join(STATISTICS)}, not {_shown(statistic)}")
    elif percent is None and count is None:
        raise fail("needs a value: percent, count and denominator, or days (a time) with its statistic")
    if percent is not None and (not _number(percent) or not 0 <= percent <= 100):
        raise fail(f"percent must be a number in [0, 100], not {_shown(percent)}")
    if (count is not None or denominator is not None) and (
        not (_whole(count) and _whole(denominator)) or denominator == 0 or count > denominator
    ):
        raise fail(
            "count/denominator must be whole numbers with 0 <= count <= denominator > 0, "
            f"not {_shown(count, 30)}/{_shown(denominator, 30)}"
        )
    if denominator is not None and denominator > MAX_DENOMINATOR:
        raise fail(f"denominator above {MAX_DENOMINATOR:.0e}")
    year = item.get("year")
    if year is not None and not _whole(year):
        raise fail(f"year must be a whole number, not {_shown(year)}")
    ess = item.get("effective_sample_size")
    if ess is not None and (not _number(ess) or not ess > 0):
        raise fail("effective_sample_size must be a positive number")
    return Finding(
        source=item["source"].strip(),
        measure=item["measure"].strip(),
        url=url,
        year=year,
        percent=None if percent is None else float(percent),
        count=count,
        denominator=denominator,
        days=None if days is None else float(days),
        statistic=statistic,
        effective_sample_size=None if ess is None else float(ess),
        note=note or "",
    )


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_estimate(path: Path) -> Estimate:
    """Read one estimate file; YAML errors give the line and column, field errors the field."""
    # Untrusted: a regular file of bounded size (never a FIFO or device), YAML without alias bombs, deep nesting,
    # duplicate or list keys; every field is then checked by estimate_from_dict.
    text = read_text(path, MAX_YAML_BYTES)
    return estimate_from_dict(load_yaml(text, str(path)), str(path))


def estimate_yaml(estimate: Estimate) -> str:
    """An estimate as the YAML text of its file."""
    return yaml.safe_dump(estimate.to_dict(), sort_keys=False, allow_unicode=True, width=110)


def write_estimate(estimate: Estimate, path: Path) -> None:
    """Write one estimate as YAML (atomically)."""
    atomic_write_bytes(path, estimate_yaml(estimate).encode())


def file_name(estimate: Estimate) -> str:
    """A file name for an estimate: its ATT&CK id or step, else its name, made safe."""
    stem = estimate.key
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in stem) + ".yaml"
