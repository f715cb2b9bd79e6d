"""Import enterpriseLang's probability notes (markdown, one per attack step or mitigation) and audit them.

A note has a title (often a link to the ATT&CK page), a Context, Findings in prose with their figures and
the author's arithmetic, a Time-to-compromise rationale and a Result (a MAL distribution in a code span).
The importer reads those parts into an :class:`~breachpath.evidence.model.Estimate`; the audit re-does the
stated arithmetic and checks that the result follows from it, and that units are right (a TruncatedNormal
on a 0–100 scale is not a probability; an Exponential's parameter is a rate, not a mean). A note that
cannot be read is reported with the reason, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.dist import Call, DistributionError, Named, Number, parse
from breachpath.errors import InputError
from breachpath.evidence.model import Estimate, Finding
from breachpath.fileio import read_text
from breachpath.kb.text import attack_id_from_url

MAX_NOTE_BYTES = 1 << 20

_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")
_ATTACK_URL = re.compile(r"https?://attack\.mitre\.org/(?:techniques|mitigations)/[A-Z]+\d+(?:/\d{3})?/?")
_CODE = re.compile(r"`{1,4}([^`\n]+?)`{1,4}")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent\b)")
_OUT_OF = re.compile(r"(\d[\d,]*)\s*(?:out of|of the|of|/)\s*(\d[\d,]*)\s+(?!%)")
_YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")
# "(3.96 + 4.94) / 2 = 4.45%", "15+26=41%", "[98.75 (google) + 99.9 (microsoft)]/2 = 99.325%"
_ARITHMETIC = re.compile(
    r"(?P<lhs>[\[(]?[\d.]+(?:\s*\([a-zA-Z][^)]*\))?(?:\s*[-+*/]\s*[\[(]?\s*[\d.]+(?:\s*\([a-zA-Z][^)]*\))?\s*[\])]?)+[\])]?"
    r"(?:\s*[-+*/]\s*[\d.]+)*)\s*=\s*~?\s*(?P<rhs>\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(?P<pct>%)?"
)
_TIME_UNITS = {"minute": 1 / 1440, "min": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.0}

_MEASURES = (
    (re.compile(r"lifecycle", re.I), "share of attack lifecycles"),
    (re.compile(r"malware famil", re.I), "share of malware families"),
    (re.compile(r"malware|samples|bots", re.I), "share of malware samples"),
    (
        re.compile(r"organi[sz]ations|companies|businesses|enterprises|firms|respondents", re.I),
        "share of organisations",
    ),
    (re.compile(r"effective|prevent|block|reduc|stop", re.I), "effectiveness"),
    (re.compile(r"users|people|employees|individuals", re.I), "share of users"),
    (re.compile(r"systems|hosts|machines|devices|servers|computers", re.I), "share of systems"),
    (re.compile(r"attacks|incidents|breaches|intrusions", re.I), "share of attacks"),
)


@dataclass
class Arithmetic:
    """One computation the author wrote, and what it really gives."""

    text: str
    stated: float
    percent: bool
    computed: float | None

    @property
    def holds(self) -> bool | None:
        if self.computed is None:
            return None
        # A percentage may be written as the fraction itself (47/951 = 4.94%), sometimes without the % sign.
        as_percent = self.percent or (abs(self.computed) <= 1 < self.stated <= 100)
        candidates = [self.computed, self.computed * 100] if as_percent else [self.computed]
        return any(_close(c, self.stated, self.text.split("=")[-1]) for c in candidates)


@dataclass
class Note:
    """What the importer read from one note."""

    path: Path
    name: str
    kind: str
    attack_id: str | None
    sections: dict[str, str]
    result: str | None
    result_problem: str | None
    findings: list[Finding] = field(default_factory=list)
    arithmetic: list[Arithmetic] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.path.name


def _close(value: float, stated: float, stated_text: str) -> bool:
    """Equal up to the rounding of the stated figure (its last decimal), or 1% relative."""
    match = re.search(r"\d+(?:\.(\d+))?", stated_text)
    decimals = len(match.group(1) or "") if match else 0
    return abs(value - stated) <= max(0.5 * 10**-decimals, 0.01 * abs(stated)) + 1e-9


def _sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        heading = re.match(r"^##\s+(.*?)\s*$", line)
        if heading and not line.startswith("###"):
            current = heading.group(1).strip().lower()
            current = re.sub(r"\s*\(https?://[^)]*\)", "", current)
            sections.setdefault(current, [])
            continue
        sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def _title(text: str, path: Path) -> tuple[str, str]:
    first = next((line for line in text.splitlines() if line.startswith("# ")), "# " + path.stem)
    title = first[2:].strip()
    link = _LINK.search(title)
    name = link.group(1) if link and link.group(1).strip() else _LINK.sub(r"\1", title)
    name = re.sub(r"\[Mitigation\]|^\s*Mitigation,\s*|[\[\]()]", "", name).strip() or path.stem
    kind = "mitigation" if "mitigation" in (path.name + title).lower() else "technique"
    return name, kind


_DIST_NAMES = "Bernoulli|Binomial|Exponential|Gamma|LogNormal|Pareto|TruncatedNormal|Uniform"
# A MAL expression written inside prose: "… to be [Bernoulli(0.79)*Exponential(127.1)]."
_EMBEDDED = re.compile(
    rf"(?:(?:{_DIST_NAMES})\([^()]*\)|\d+(?:\.\d+)?)(?:\s*[-+*/]\s*(?:(?:{_DIST_NAMES})\([^()]*\)|\d+(?:\.\d+)?))*"
)


def _result(sections: dict[str, str], text: str) -> tuple[str | None, str | None]:
    """The MAL distribution the note ends with: the Result section's code span or the expression its prose
    gives, else the last code span in the note that parses."""
    result_sections = [v for k, v in sections.items() if k.startswith("result")]
    problem = None
    for body in result_sections:
        spans = _CODE.findall(body) or [m.group(0) for m in _EMBEDDED.finditer(body) if "(" in m.group(0)]
        for span in spans or [body.strip().splitlines()[0] if body.strip() else ""]:
            candidate = span.strip().strip("[]").strip()
            try:
                parse(candidate)
                return candidate, None
            except DistributionError as exc:
                problem = f"the Result {_short(candidate)!r} is not a MAL distribution ({exc})"
        if re.search(r"\bbinary\b", body, re.I):
            problem = "the Result calls the distribution 'binary' and gives no MAL expression"
    for span in reversed(_CODE.findall(text)):
        candidate = span.strip().strip("[]").strip()
        if re.match(r"^[A-Z][A-Za-z]+\(", candidate):
            try:
                parse(candidate)
                return candidate, None
            except DistributionError as exc:
                problem = problem or f"{candidate!r} is not a MAL distribution ({exc})"
    return None, problem or "no MAL distribution (Result section or code span) in the note"


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _findings(body: str) -> list[Finding]:
    findings = []
    for paragraph in re.split(r"\n\s*\n", body):
        links = _LINK.findall(paragraph)
        if not links:
            continue
        plain = _LINK.sub(r"\1", paragraph)
        plain_no_math = _ARITHMETIC.sub(" ", plain)
        count = denominator = percent = None
        out_of = _OUT_OF.search(plain_no_math)
        if out_of:
            k, n = (int(x.replace(",", "")) for x in out_of.groups())
            if 0 <= k <= n and n > 1:
                count, denominator = k, n
        if count is None:
            pct = _PERCENT.search(plain_no_math)
            if pct and float(pct.group(1)) <= 100:
                percent = float(pct.group(1))
        if count is None and percent is None:
            continue
        source, url = links[0]
        year = _YEAR.search(source) or _YEAR.search(paragraph) or _YEAR.search(url)
        measure = next((label for pattern, label in _MEASURES if pattern.search(plain)), "unspecified")
        findings.append(
            Finding(
                source=source.strip() or url,
                url=url,
                year=int(year.group(1)) if year else None,
                measure=measure,
                percent=percent,
                count=count,
                denominator=denominator,
                note=" ".join(plain.split())[:600],
            )
        )
    return findings


def _arithmetic(body: str) -> list[Arithmetic]:
    out = []
    for match in _ARITHMETIC.finditer(_LINK.sub(r"\1", body)):
        lhs = match.group("lhs")
        if not re.search(r"[-+*/]", lhs):
            continue
        expression = re.sub(r"\([a-zA-Z][^)]*\)", "", lhs).replace("[", "(").replace("]", ")").strip()
        # Prose cuts arithmetic out of longer sentences: balance the parentheses it leaves open or closed.
        while expression.startswith("(") and expression.count("(") > expression.count(")"):
            expression = expression[1:].strip()
        expression = "(" * max(0, expression.count(")") - expression.count("(")) + expression
        try:
            computed = parse(expression).mean()
            stated = parse(match.group("rhs")).mean()
        except DistributionError:
            computed, stated = None, float(match.group("rhs").split("/")[0])
        out.append(Arithmetic(" ".join(match.group(0).split()), stated, bool(match.group("pct")), computed))
    return out


def read_note(path: Path) -> Note:
    """Read one note; raises :class:`InputError` only when the file itself cannot be read."""
    path = Path(path)
    text = read_text(path, MAX_NOTE_BYTES, errors="replace")
    sections = _sections(text)
    name, kind = _title(text, path)
    urls = _ATTACK_URL.findall(text)
    preferred = [u for u in urls if ("/mitigations/" in u) == (kind == "mitigation")] or urls
    attack_id = attack_id_from_url(preferred[0]) if preferred else None
    result, problem = _result(sections, text)
    evidence = "\n\n".join(v for k, v in sections.items() if k.startswith(("finding", "update", "additional")))
    return Note(
        path=path,
        name=name,
        kind=kind,
        attack_id=attack_id,
        sections=sections,
        result=result,
        result_problem=problem,
        findings=_findings(evidence),
        arithmetic=_arithmetic(evidence),
    )


def _ttc_text(note: Note) -> str:
    return "\n\n".join(v for k, v in note.sections.items() if k.startswith(("time", "ttc")))


def estimate_of(note: Note) -> Estimate | None:
    """The note as an estimate (None when it has no readable result)."""
    if note.result is None:
        return None
    context = note.sections.get("context", "")
    return Estimate(
        name=note.name,
        result=note.result,
        attack_id=note.attack_id,
        kind=note.kind,
        context=context.lstrip(">").strip(),
        findings=tuple(note.findings),
        combine="mean",
        computation="\n".join(a.text for a in note.arithmetic),
        ttc_rationale=_ttc_text(note),
        derived_from=f"enterpriseLang probabilities/{note.file}",
        # The measure flags are recomputed on every page; keep the arithmetic and unit findings of the audit.
        problems=tuple(p for p in check_note(note)["problems"] if not p.startswith("the findings measure")),
    )


def check_note(note: Note) -> dict:
    """Re-do the note's arithmetic and check its result: ``{note, stated, recomputed, consistent, problems}``."""
    problems: list[str] = []
    recomputed: str | None = None
    consistent: bool | None = None
    for a in note.arithmetic:
        if a.computed is None:
            problems.append(f"cannot evaluate the stated arithmetic {a.text!r}")
        elif not a.holds:
            shown = a.computed * (
                100 if a.percent and abs(a.computed * 100 - a.stated) < abs(a.computed - a.stated) else 1
            )
            problems.append(f"{a.text!r} does not hold: the left side gives {shown:.6g}")
            consistent = False
    if note.result is None:
        problems.append(note.result_problem or "no result")
        return {"note": note.file, "stated": None, "recomputed": None, "consistent": None, "problems": problems}
    dist = parse(note.result)
    parts = _factors(dist)
    bernoullis = [p for p in parts if isinstance(p, Call) and p.name == "Bernoulli"]
    ttc_text = _ttc_text(note)
    # Units: a TruncatedNormal on a percentage scale, an Exponential given a mean instead of a rate.
    for part in parts:
        if isinstance(part, Call) and part.name == "TruncatedNormal" and part.params[0] > 1:
            problems.append(
                f"{part} is on a 0–100 percentage scale: it is not a probability (MAL expresses success "
                "probability with Bernoulli)"
            )
            consistent = False
        if isinstance(part, Call) and part.name == "Exponential":
            rate = part.params[0]
            text = ttc_text + "\n" + note.sections.get("findings", "")
            times = _times(text)
            as_mean = _time_with_unit(rate, text)
            if any(abs(days * rate - 1) <= 0.1 for days, _ in times):
                continue  # the stated time is the mean of this rate: consistent
            if as_mean:
                days, unit = as_mean
                problems.append(
                    f"{part} has a mean of {1 / rate:.4g} days, but the note gives {rate:g} {unit} as a time: "
                    f"a mean of {rate:g} {unit} is Exponential({1 / days:.6g}) (MAL's parameter is a rate)"
                )
                recomputed = str(dist).replace(str(part), f"Exponential({1 / days:.6g})")
                consistent = False
            elif times:
                shown = ", ".join(text for _, text in times[:4])
                problems.append(f"{part} means a mean of {_duration(1 / rate)}; the note's times ({shown}) give none")
    # The success probability should follow from the stated figures: a computation's result or a finding.
    if len(bernoullis) == 1:
        p = bernoullis[0].params[0]
        figures = [
            (a.text, a.computed * 100 if a.computed <= 1 < a.stated else a.computed, a.text.split("=")[-1])
            for a in note.arithmetic
            if a.computed is not None and (a.percent or a.computed <= 1 < a.stated <= 100)
        ]
        figures += [
            (f.value_text(), 100 * f.proportion, f"{100 * f.proportion:.2f}")
            for f in note.findings
            if f.proportion is not None
        ]
        if figures:
            matches = [
                text
                for text, percent, written in figures
                if _close(p * 100, percent, written) or abs(p * 100 - percent) <= 0.01 * max(percent, 1)
            ]
            last_text, last_percent, _ = (
                figures[-1]
                if not note.arithmetic
                else next((f for f in reversed(figures) if f[0] in {a.text for a in note.arithmetic}), figures[-1])
            )
            if matches:
                consistent = True if consistent is None else consistent
                recomputed = recomputed or str(dist)
            else:
                recomputed = recomputed or str(dist).replace(
                    str(bernoullis[0]), f"Bernoulli({round(last_percent / 100, 6):g})"
                )
                problems.append(
                    f"the result {bernoullis[0]} follows from none of the stated figures (the last: {last_text} → "
                    f"{last_percent:.4g}%)"
                )
                consistent = False
    if note.findings:
        from breachpath.evidence.pool import measure_warnings

        problems += measure_warnings(note.findings)
    return {
        "note": note.file,
        "stated": str(dist),
        "recomputed": recomputed,
        "consistent": consistent,
        "problems": problems,
    }


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _factors(dist) -> list:
    """The parametric parts of an expression (Named distributions opened up)."""
    if isinstance(dist, Named):
        return _factors(dist.meaning)
    if isinstance(dist, Call):
        return [dist]
    if isinstance(dist, Number):
        return []
    return _factors(dist.left) + _factors(dist.right)


_A_TIME = re.compile(
    r"(?:(?<![\d.])(\d+(?:\.\d+)?)|\b(an?|one)\b)\s*(minutes?|mins?|hours?|hrs?|days?|weeks?|months?)\b", re.I
)


def _unit_days(unit: str) -> float:
    unit = unit.lower()
    key = "min" if unit.startswith("min") else "hour" if unit.startswith("h") else unit.rstrip("s")
    return _TIME_UNITS[key]


def _times(text: str) -> list[tuple[float, str]]:
    """Durations written in ``text`` ("15 minutes", "an hour"), in days."""
    out = []
    for match in _A_TIME.finditer(text):
        amount = float(match.group(1)) if match.group(1) else 1.0
        out.append((amount * _unit_days(match.group(3)), " ".join(match.group(0).split())))
    return out


def _duration(days: float) -> str:
    if days >= 1:
        return f"{days:.3g} days"
    if days >= 1 / 24:
        return f"{days * 24:.3g} hours"
    return f"{days * 1440:.3g} minutes"


def _time_with_unit(value: float, text: str) -> tuple[float, str] | None:
    """``value`` written in ``text`` with a time unit (1440 minutes → (1.0 day, "minutes"))."""
    number = f"{value:g}"
    pattern = re.compile(
        rf"(?<![\d.]){re.escape(number)}(?:\.0+)?\s*(minutes?|mins?|hours?|hrs?|days?|weeks?|months?)\b", re.I
    )
    match = pattern.search(text)
    if not match:
        return None
    return value * _unit_days(match.group(1)), match.group(1)


def import_directory(directory: Path) -> tuple[list[tuple[Note, Estimate]], list[dict]]:
    """Read every ``*.md`` note of ``directory``: ``(imported, unparsed)``; unparsed entries give the reason."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory of enterpriseLang probability notes")
    notes = sorted(directory.glob("*.md"))
    if not notes:
        raise InputError(f"{directory}: no .md notes here")
    imported, unparsed = [], []
    for path in notes:
        note = read_note(path)
        estimate = estimate_of(note)
        if estimate is None:
            unparsed.append({"note": note.file, "reason": note.result_problem or "no result"})
        else:
            imported.append((note, estimate))
    return imported, unparsed
