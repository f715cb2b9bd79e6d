"""Import enterpriseLang's probability notes (markdown, one per attack step or mitigation) and audit them.

A note has a title (often a link to the ATT&CK page), a Context, Findings in prose with their figures and
the author's arithmetic, a Time-to-compromise rationale and a Result (a MAL distribution in a code span).
The importer reads those parts into an :class:`~breachpath.evidence.model.Estimate`; the audit re-does the
stated arithmetic and checks that the result follows from it, and that units are right (a TruncatedNormal
on a 0–100 scale is not a probability; an Exponential's parameter is a rate, not a mean). A note that
cannot be read is reported with the reason, never dropped.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from breachpath.dist import Call, DistributionError, Named, Number, parse
from breachpath.errors import InputError
from breachpath.evidence.model import Estimate, Finding
from breachpath.fileio import read_text
from breachpath.kb.text import attack_id_from_url

MAX_NOTE_BYTES = 1 << 20
MAX_NOTES = 10_000
#: Computations read from one note at most (real notes state a few dozen; a crafted one may state millions).
MAX_COMPUTATIONS = 1000

# Bounded repeats and possessive groups: a crafted note of a megabyte must not make these patterns backtrack.
_LINK = re.compile(r"\[([^\[\]]{0,1000})\]\((https?://[^)\s\[]{1,4096})\)")
_ATTACK_URL = re.compile(r"https?://attack\.mitre\.org/(?:techniques|mitigations)/[A-Z]+\d+(?:/\d{3})?/?")
_CODE = re.compile(r"`{1,4}([^`\n]+?)`{1,4}")
_PERCENT = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)\s*(?:%|percent\b)")
_OUT_OF = re.compile(r"(?<![\d,])(\d[\d,]*)\s*(?:out of|of the|of|/)\s*(\d[\d,]*)\s+(?!%)")
# Where _ARITHMETIC can match: an "=" after a number or bracket and before a number.
_EQUALS_BETWEEN_NUMBERS = re.compile(r"[\d.)\]]\s{0,50}(?P<eq>=)(?=\s{0,50}~?\s{0,50}\d)")
_YEAR = re.compile(r"\b(19[89]\d|20[0-4]\d)\b")
# "(3.96 + 4.94) / 2 = 4.45%", "15+26=41%", "[98.75 (google) + 99.9 (microsoft)]/2 = 99.325%"
_ARITHMETIC = re.compile(
    r"(?P<lhs>[\[(]?(?<![\d.])[\d.]++(?:\s*\([a-zA-Z][^)]{0,200}\))?"
    r"(?:\s*[-+*/]\s*[\[(]?\s*[\d.]+(?:\s*\([a-zA-Z][^)]{0,200}\))?\s*[\])]?)++[\])]?"
    r"(?:\s*[-+*/]\s*[\d.]+)*+)\s*=\s*~?\s*(?P<rhs>\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?)\s*(?P<pct>%)?"
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
    expression: str = ""

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
    #: Figures the findings state that cannot be shares (149%, 12 out of 10): kept visible, never dropped.
    figure_problems: list[str] = field(default_factory=list)
    #: What :func:`_computations` reads from the findings and the Result (filled on first use).
    computations: list[Arithmetic] | None = field(default=None, repr=False, compare=False)

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
        heading = re.match(r"^##\s+(.*)$", line)
        if heading and not line.startswith("###"):
            current = heading.group(1).strip().lower()
            current = re.sub(r"(?<!\s)\s*\(https?://[^)]{0,4096}\)", "", current)
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


def _findings(body: str, problems: list[str] | None = None) -> list[Finding]:
    """The sourced figures of the findings, one per paragraph with a link; figures that cannot be shares (a
    percentage outside 0–100, a count above its denominator) go to ``problems`` instead of being dropped."""
    findings = []
    problems = [] if problems is None else problems
    for paragraph in re.split(r"\n\s*\n", body):
        links = _LINK.findall(paragraph)
        if not links:
            continue
        plain = _LINK.sub(r"\1", paragraph)
        plain_no_math = _without_arithmetic(plain)
        count = denominator = percent = None
        out_of = _OUT_OF.search(plain_no_math)
        if out_of:
            k, n = (int(x.replace(",", "")) for x in out_of.groups())
            if 0 <= k <= n and n > 1:
                count, denominator = k, n
            elif k > n > 1 and not _YEAR.fullmatch(out_of.group(1)):
                problems.append(f"finding of {k} out of {n} is not a share (count above its denominator)")
        if count is None:
            pct = _PERCENT.search(plain_no_math)
            if pct:
                value = -float(pct.group(1)) if _negative(plain_no_math, pct.start()) else float(pct.group(1))
                if 0 <= value <= 100:
                    percent = value
                else:
                    problems.append(f"finding of {value:g}% is not a share (outside 0–100%)")
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


def _negative(text: str, start: int) -> bool:
    """A minus sign written right before the number at ``start`` ("fell by -5%"), not a range ("10-12%")."""
    before = text[max(0, start - 64) : start]
    return before.endswith("-") and not before[:-1].rstrip().endswith(tuple("0123456789.%"))


def _arithmetic_matches(text: str) -> list[re.Match]:
    """What ``_ARITHMETIC.finditer(text)`` gives, looking only just before each "=" that has a number or bracket
    before it and a number after it (a left side has no "=" and real ones are a few dozen characters): linear in
    the text, however it is crafted."""
    out: list[re.Match] = []
    cursor, previous = 0, -1
    for tried, eq in enumerate(_EQUALS_BETWEEN_NUMBERS.finditer(text)):
        at = eq.start("eq")
        if tried >= 4 * MAX_COMPUTATIONS:
            break
        if at < cursor:
            continue
        match = _ARITHMETIC.search(text, max(cursor, previous + 1, at - 200), at + 80)
        previous = at
        if match:
            out.append(match)
            cursor = match.end()
            if len(out) >= MAX_COMPUTATIONS:
                break
    return out


def _without_arithmetic(text: str) -> str:
    """``text`` with the stated arithmetic blanked out (``_ARITHMETIC.sub(" ", text)``, in linear time)."""
    parts, last = [], 0
    for match in _arithmetic_matches(text):
        parts += [text[last : match.start()], " "]
        last = match.end()
    return "".join(parts) + text[last:]


def _arithmetic(body: str) -> list[Arithmetic]:
    out = []
    for match in _arithmetic_matches(_LINK.sub(r"\1", body)):
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
        out.append(Arithmetic(" ".join(match.group(0).split()), stated, bool(match.group("pct")), computed, expression))
    return out


_LABEL = re.compile(r"\([a-zA-Z][^()]{0,80}\)")  # "98.75 (google)"
_INNER_EQUATION = re.compile(r"\(([-+*/\d.\s]{1,80})=\s*([-+*/\d.\s]{1,40})\)")  # "(28/7=4)" inside a sum
_EQUALS = re.compile(r"[\d.%)\]]\s{0,50}(?P<eq>~=|≈|=)(?=\s{0,50}~?\s{0,50}\d)")
_RESULT_SIDE = re.compile(r"\s*~?\s*(\d+(?:\.\d+)?)(?:\.\.\.|…)?\s*(%|percent\b)?")
_OPERATOR_BETWEEN_NUMBERS = re.compile(r"\d\s*%?\s*[-+*/]\s*[(\[]?\s*\d")
_ADJACENT_NUMBERS = re.compile(r"\d\s+[\d(\[]")  # "2019 (3+4)": prose before the computation
_LHS_CHARS = frozenset("0123456789.+-*/()[]% \t")
_PERCENT_OF = re.compile(
    r"(?<![\d.])(\d+(?:\.\d+)?)\s*%\s+of\s+(\d+(?:\.\d+)?)\s*%\s+(?:is|=|equals|gives)\s+~?(\d+(?:\.\d+)?)\s*%"
)
# "The average prevalence is (3.96 + 6.492) / 2": a mean written without its value.
_BARE_MEAN = re.compile(
    r"\(\s*\d+(?:\.\d+)?%?(?:\s*\+\s*\d+(?:\.\d+)?%?){1,50}\s*\)\s*/\s*\d+(?:\.\d+)?(?!\s*(?:[\d.]|~?=|≈))"
)


def _evaluate(expression: str) -> float | None:
    """The value of an arithmetic expression of numbers, + - * / and brackets, or None."""
    expression = expression.replace("%", "").replace("[", "(").replace("]", ")").strip()
    if not expression or not re.search(r"\d", expression):
        return None
    try:
        return float(parse(expression).mean())
    except (DistributionError, ZeroDivisionError, OverflowError, ValueError):
        return None


def _left_side(before: str) -> str | None:
    """The longest arithmetic expression (with an operator) that ends ``before``: prose cuts computations out of
    sentences, so try each start (a number or a bracket) from the furthest back and keep the first that evaluates."""
    start = len(before)
    while start > 0 and before[start - 1] in _LHS_CHARS:
        start -= 1
    run = before[start:]
    starts = [i for i, c in enumerate(run) if c in "([" or c.isdigit() and (i == 0 or run[i - 1] not in "0123456789.")]
    for i in starts[:12]:  # a real left side starts within a few tokens of the run's start
        candidate = run[i:].strip()
        while candidate.startswith(("(", "[")) and _opened(candidate) > 0:
            candidate = candidate[1:].strip()
        if (
            _OPERATOR_BETWEEN_NUMBERS.search(candidate)
            and not _ADJACENT_NUMBERS.search(candidate)
            and _evaluate(candidate) is not None
        ):
            return candidate
    return None


def _opened(expression: str) -> int:
    """Brackets opened and not closed."""
    return expression.count("(") + expression.count("[") - expression.count(")") - expression.count("]")


def _computations(body: str) -> list[Arithmetic]:
    """Every computation stated in ``body``, read more widely than :func:`_arithmetic` (which gives the note's
    stated arithmetic): percent signs inside ("(17%+19%)/2 = 18%"), "~=", "34.1666...%", worked sub-results
    ("(28/7=4) + (20/30=2/3) + 41 = ~45.67%"), "1% of 0.934% is 0.00934%", and a mean written without its value.
    Used to recognise that a result is the stated computation; each holds or not as :class:`Arithmetic` says."""
    text = _LABEL.sub("", _LINK.sub(r"\1", body))
    text = _INNER_EQUATION.sub(lambda m: f"({m.group(2).strip()})", text)
    out: list[Arithmetic] = []
    for tried, eq in enumerate(_EQUALS.finditer(text)):
        if len(out) >= MAX_COMPUTATIONS or tried >= 4 * MAX_COMPUTATIONS:
            break
        rhs = _RESULT_SIDE.match(text, eq.end("eq"))
        lhs = _left_side(text[max(0, eq.start("eq") - 200) : eq.start("eq")]) if rhs else None
        if lhs is None:
            continue
        stated, percent = float(rhs.group(1)), bool(rhs.group(2))
        line = f"{lhs} = {rhs.group(1)}{'%' if percent else ''}"
        out.append(Arithmetic(line, stated, percent, _evaluate(lhs), lhs))
    for m in _PERCENT_OF.finditer(text):
        a, b, c = (float(x) for x in m.groups())
        out.append(Arithmetic(" ".join(m.group(0).split()), c, True, a * b / 100 / 100, f"{a}/100*{b}"))
    for m in _BARE_MEAN.finditer(text):
        value = _evaluate(m.group(0))
        if value is not None:
            out.append(Arithmetic(" ".join(m.group(0).split()), value, False, value, m.group(0)))
    return out[:MAX_COMPUTATIONS]


def _note_computations(note: Note) -> list[Arithmetic]:
    """The computations of the note's findings and Result sections, read once."""
    if note.computations is None:
        result_text = "\n\n".join(v for k, v in note.sections.items() if k.startswith("result"))
        note.computations = _computations(_evidence_text(note.sections) + "\n\n" + result_text)
    return note.computations


def _one_scale(a: Arithmetic) -> str | None:
    """When a computation adds fractions to percentages ("(1-0.4567) + 7.647)/2 = 0.309885"), the figures above 1
    that read as percentages make it hold: those figures, else None. Divisors are left alone."""
    if a.computed is None or not a.expression or a.stated > 1:
        return None
    rescaled: list[str] = []

    def as_fraction(m: re.Match) -> str:
        if float(m.group(2)) > 1 and not m.group(1).strip().endswith("/"):
            rescaled.append(m.group(2))
            return f"{m.group(1)}{float(m.group(2)) / 100!r}"
        return m.group(0)

    reread = _evaluate(re.sub(r"(^|[^\d.]\s*)(\d+(?:\.\d+)?)", as_fraction, a.expression))
    if not rescaled or reread is None:
        return None
    if not Arithmetic(a.text, a.stated, False, reread).holds:
        return None
    return ", ".join(rescaled)


def _as_percentages(a: Arithmetic) -> list[tuple[str, float, str]]:
    """The figure a holding computation states, on the percentage scale: 8.785 and 8.785% are percentages,
    0.4395 without a % sign may be a fraction (43.95%) or a percentage."""
    written = a.text.split("=")[-1].strip().rstrip("%").strip()
    out = []
    if a.percent or a.stated > 1:
        if 0 <= a.stated <= 100:
            out.append((a.text, a.stated, written))
    else:
        decimals = max(0, _decimals(written) - 2)
        out.append((a.text, 100 * a.stated, f"{100 * a.stated:.{decimals}f}"))
        out.append((a.text, a.stated, written))
    return out


def _stated_results(note: Note, mixed: set[int]) -> list[tuple[str, float, str]]:
    """Figures (text, percent, as written) a result may follow from besides the findings: the result of every
    computation that holds (in the findings or the Result), the mean of the findings, and each percentage a
    sourced paragraph states (and their mean) where that paragraph's finding is a percentage, not a count."""
    out: list[tuple[str, float, str]] = []
    for i, a in enumerate(note.arithmetic):
        if a.computed is not None and (i in mixed or a.holds):
            out += _as_percentages(a)
    for a in _note_computations(note):
        if a.holds:
            out += _as_percentages(a)
    proportions = [f.proportion for f in note.findings if f.proportion is not None]
    if len(proportions) > 1:
        mean = 100 * sum(proportions) / len(proportions)
        out.append(("the mean of the findings", mean, f"{mean:.2f}"))
    for paragraph in re.split(r"\n\s*\n", _evidence_text(note.sections)):
        if not _LINK.search(paragraph):
            continue
        plain = _without_arithmetic(_LINK.sub(r"\1", paragraph))
        out_of = _OUT_OF.search(plain)
        if out_of and _counts(out_of):
            continue  # the paragraph's percentages restate its count; a slip there is no separate figure
        # "~27,05%" is a decimal comma: its "05%" is no figure.
        values = [
            float(m.group(1))
            for m in _PERCENT.finditer(plain)
            if float(m.group(1)) <= 100 and not (plain[m.start() - 1 : m.start()] == "," and _digit_before(plain, m))
        ]
        out += [(f"{v:g}%", v, f"{v:g}") for v in values]
        if len(values) > 1:
            mean = sum(values) / len(values)
            out.append((f"the mean of {', '.join(f'{v:g}%' for v in values)}", mean, f"{mean:.2f}"))
    return out


def _corrected(note: Note, p: float, mixed: set[int]) -> float | None:
    """When the result is a computation that uses a figure an earlier computation got wrong ("100-37 = 73%", then
    "(59+73+…)/7 = 65.3%"), that computation again with the right figure (in percent); else None."""
    wrong = {
        a.text.split("=")[-1].strip().rstrip("%").strip(): a.computed
        for i, a in enumerate(note.arithmetic)
        if a.computed is not None and i not in mixed and not a.holds and a.stated > 1
    }
    if not wrong:
        return None
    for a in _note_computations(note):
        if not a.holds or not any(abs(p * 100 - v) <= 0.01 * max(v, 1) for _, v, _ in _as_percentages(a)):
            continue
        fixed = re.sub(
            r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])",
            lambda m: (
                repr(wrong[m.group(0)] * (100 if wrong[m.group(0)] <= 1 else 1)) if m.group(0) in wrong else m.group(0)
            ),
            a.expression,
        )
        value = _evaluate(fixed) if fixed != a.expression else None
        if value is not None:
            return value
    return None


_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.])\d+(?:[.,]\d+)?")
# A term of a computation: a number not right after "/" (a divisor such as the 3 of a mean is no figure).
_TERM = re.compile(r"(?<![\d./])(?<!/ )(\d+(?:\.\d+)?)")


def _unstated_terms(note: Note, p: float) -> list[str]:
    """Terms of the computation the result follows from that the note states nowhere else (the 52.3 of
    "(0.44+6.492+52.3) / 3 = 19.744" where the finding is 53.2%): the result then follows from the computation but
    not from the figures. A term is stated when a number elsewhere equals it up to its rounding, as a percentage or
    a fraction (34.1666…% for 0.34167); 1 and 100 are constants."""
    text = _LINK.sub(r"\1", "\n\n".join(note.sections.values()))
    for a in _note_computations(note):
        if not a.holds or not any(abs(p * 100 - v) <= 0.01 * max(v, 1) for _, v, _ in _as_percentages(a)):
            continue
        elsewhere = text.replace(a.expression.strip(), " ")
        # "27,05" is a decimal comma, "26,057" a thousands separator.
        known = sorted(
            float(
                n.replace(",", "")
                if n.count(",") != 1 or "." in n or len(n.split(",")[1]) == 3
                else n.replace(",", ".")
            )
            for n in (m.group(0) for m in _NUMBER.finditer(elsewhere))
        )
        by_digits = {"".join(sorted(f"{k:g}")): k for k in reversed(known)}
        missing, hints = [], []
        for m in _TERM.finditer(a.expression):
            term, digits = float(m.group(1)), _decimals(m.group(1))
            tolerance = 0.5 * 10**-digits + 1e-12
            if term in (1, 100) or any(_near(known, term / scale, tolerance / scale) for scale in (1, 100, 0.01)):
                continue
            missing.append(m.group(1))
            # Transposed digits (52.3 for 53.2) are the common slip: name the stated figure they may stand for.
            alike = by_digits.get("".join(sorted(m.group(1))))
            if alike is not None:
                hints.append(f"{m.group(1)} for {alike:g}?")
        if missing:
            hint = f" (a slip: {'; '.join(hints)})" if hints else ""
            return [f"{a.text!r} uses {', '.join(missing)}, which the note states nowhere else{hint}"]
        return []
    return []


def _near(ordered: list[float], value: float, tolerance: float) -> bool:
    """Whether the sorted list holds a number within ``tolerance`` of ``value``."""
    i = bisect.bisect_left(ordered, value - tolerance)
    return i < len(ordered) and ordered[i] <= value + tolerance


def _digit_before(text: str, match: re.Match) -> bool:
    return match.start() >= 2 and text[match.start() - 2].isdigit()


def _counts(match: re.Match) -> bool:
    k, n = (int(x.replace(",", "")) for x in match.groups())
    return 0 <= k <= n and n > 1


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
    evidence = _evidence_text(sections)
    figure_problems: list[str] = []
    return Note(
        path=path,
        name=name,
        kind=kind,
        attack_id=attack_id,
        sections=sections,
        result=result,
        result_problem=problem,
        findings=_findings(evidence, figure_problems),
        arithmetic=_arithmetic(evidence),
        figure_problems=figure_problems,
    )


def _evidence_text(sections: dict[str, str]) -> str:
    return "\n\n".join(v for k, v in sections.items() if k.startswith(("finding", "update", "additional")))


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
    if note.figure_problems:
        problems += note.figure_problems
        consistent = False
    mixed: set[int] = set()  # computations that hold once their fractions and percentages are on one scale
    for i, a in enumerate(note.arithmetic):
        if a.computed is None:
            problems.append(f"cannot evaluate the stated arithmetic {a.text!r}")
        elif not a.holds:
            rescaled = _one_scale(a)
            if rescaled is not None:
                read_as = "is read as a percentage" if "," not in rescaled else "are read as percentages"
                problems.append(f"{a.text!r} mixes fractions and percentages: it holds when {rescaled} {read_as}")
                mixed.add(i)
                continue
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
    # The success probability should follow from the stated figures: a computation's result, a finding, or the
    # mean of the findings, written as a percentage or as a fraction (8.785% or 0.08785).
    if len(bernoullis) == 1:
        p = bernoullis[0].params[0]
        figures = [
            (a.text, a.computed * 100 if a.computed <= 1 < a.stated else a.computed, a.text.split("=")[-1])
            for i, a in enumerate(note.arithmetic)
            if a.computed is not None and i not in mixed and (a.percent or a.computed <= 1 < a.stated <= 100)
        ]
        figures += [
            (f.value_text(), 100 * f.proportion, f"{100 * f.proportion:.2f}")
            for f in note.findings
            if f.proportion is not None
        ]
        matches = [
            text
            for text, percent, written in figures + _stated_results(note, mixed)
            if _close(p * 100, percent, written) or abs(p * 100 - percent) <= 0.01 * max(percent, 1)
        ]
        if matches or figures:
            if matches:
                consistent = True if consistent is None else consistent
                problems += _unstated_terms(note, p)
                corrected = _corrected(note, p, mixed)
                if corrected is not None:
                    recomputed = recomputed or str(dist).replace(
                        str(bernoullis[0]), f"Bernoulli({round(corrected / 100, 6):g})"
                    )
                recomputed = recomputed or str(dist)
            else:
                stated_texts = {a.text for a in note.arithmetic}
                last_text, last_percent, _ = next((f for f in reversed(figures) if f[0] in stated_texts), figures[-1])
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


def note_files(directory: Path) -> list[Path]:
    """The ``*.md`` notes of a directory, sorted; one-line errors for a missing directory, a file given as one,
    one that cannot be listed, or one with no notes or too many."""
    directory = Path(directory)
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise InputError(f"{directory}: {what} (expected a directory of enterpriseLang probability notes)")
    notes: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".md") and not entry.name.startswith("."):  # as glob("*.md")
                    notes.append(directory / entry.name)
                    if len(notes) > MAX_NOTES:
                        raise InputError(f"{directory}: more than {MAX_NOTES:,} notes")
    except OSError as exc:
        raise InputError(f"{directory}: cannot list the notes ({exc.strerror or exc})") from None
    if not notes:
        raise InputError(f"{directory}: no .md notes here")
    return sorted(notes)


def import_directory(directory: Path) -> tuple[list[tuple[Note, Estimate]], list[dict]]:
    """Read every ``*.md`` note of ``directory``: ``(imported, unparsed)``; unparsed entries give the reason."""
    imported, unparsed = [], []
    for path in note_files(directory):
        note = read_note(path)
        estimate = estimate_of(note)
        if estimate is None:
            unparsed.append({"note": note.file, "reason": note.result_problem or "no result"})
        else:
            imported.append((note, estimate))
    return imported, unparsed


def check_directory(directory: Path) -> list[dict]:
    """:func:`check_note` for every note of ``directory``, in file-name order."""
    return [check_note(read_note(path)) for path in note_files(directory)]
