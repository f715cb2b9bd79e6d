"""MAL time-to-compromise (TTC) distributions: parse, validate, sample, and summarise.

``parse("Exponential(0.1) * Bernoulli(0.5)")`` returns an immutable :class:`Distribution`. Its
:meth:`~Distribution.sample` is vectorised (one numpy call per node, no loop over samples) and returns days,
with ``inf`` where the step turned out impossible.

Semantics (DESIGN.md): a ``Bernoulli(p)`` factor makes a step impossible (∞) with probability 1−p and is
neutral otherwise (1 in a product, 0 in a sum; alone, a step that succeeds takes no time). Named
distributions: ``EasyAndCertain`` = Exponential(1), ``HardAndCertain`` = Exponential(0.1),
``VeryHardAndCertain`` = Exponential(0.01), ``EasyAndUncertain`` = Bernoulli(0.5), ``HardAndUncertain`` =
Exponential(0.1)·Bernoulli(0.5), ``VeryHardAndUncertain`` = Exponential(0.01)·Bernoulli(0.5), ``Zero`` = 0,
``Infinity`` = ∞, ``Enabled`` = Bernoulli(1), ``Disabled`` = Bernoulli(0).

Operators follow MAL's precedence: ``+ -`` below ``* /`` below ``^`` (right-associative); parentheses group.
Parameters are as in the MAL language reference: Exponential(rate), Gamma(shape, scale), LogNormal(mu, sigma)
of the underlying normal, Pareto(min, shape), TruncatedNormal(mean, sd) truncated at 0, Uniform(a, b),
Binomial(n, p), Bernoulli(p).

:meth:`~Distribution.mean` is the mean time of the successful samples (E[T | T < ∞]), analytic for
products and sums of independent parts; :meth:`~Distribution.quantile` is the quantile of the whole TTC,
∞ beyond the success probability, analytic for single distributions and numeric (a large fixed-seed sample)
otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from breachpath.errors import InputError

__all__ = ["Distribution", "DistributionError", "parse", "NAMED"]

#: Sample size for numeric means and quantiles of composite expressions (fixed seed: reproducible).
NUMERIC_SAMPLES = 400_000
#: Expressions longer than this are refused (they come from user files).
MAX_EXPRESSION_LENGTH = 10_000
MAX_DEPTH = 100


class DistributionError(InputError):
    """A malformed or invalid TTC expression; the message names the column (1-based)."""

    def __init__(self, message: str, column: int | None = None, text: str | None = None):
        self.column = column
        self.text = text
        where = f"column {column}: " if column is not None else ""
        super().__init__(f"{where}{message}")


# -- the expression tree ------------------------------------------------------------------------------


class Distribution:
    """An immutable TTC distribution. Build one with :func:`parse`."""

    __slots__ = ()

    # Subclasses implement _draw (values, failed) where values is None for "neutral" (a Bernoulli alone). A
    # Bernoulli appends its uniforms and p to ``uniforms`` when given (see sample_parts).
    def _draw(
        self, n: int, rng: np.random.Generator, uniforms: list | None = None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        raise NotImplementedError

    def _success(self) -> float:
        raise NotImplementedError

    def _mean(self) -> float | None:
        """Mean of the finite part; None when neutral (a Bernoulli)."""
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` TTC samples in days (float64), ``inf`` where the step is impossible."""
        if n < 0:
            raise ValueError("n must be non-negative")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        values, failed = self._draw(n, rng)
        # Every node draws into fresh arrays, so the result can be taken over without a copy.
        out = np.zeros(n) if values is None else np.asarray(values, dtype=np.float64)
        if failed is not None:
            out[failed] = np.inf
        return out

    def sample_parts(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float | None]:
        """``n`` draws taken apart, from the same random stream as :meth:`sample`: ``(times, failed, u, p)``.

        ``times`` are the finite parts (before ∞ is set); when the expression has exactly one Bernoulli factor,
        ``u`` holds its uniforms and ``p`` its probability (the sample failed where ``u >= p``) and ``failed`` is
        all False; otherwise ``u`` and ``p`` are None and ``failed`` marks the failures. So a caller can redraw the
        same samples with another success probability (``u >= p'``) or scale their times: common random numbers
        for parameter uncertainty. ``times`` with ∞ where ``failed | (u >= p)`` is exactly :meth:`sample`."""
        found: list = []
        values, failed = self._draw(n, rng, found)
        times = np.zeros(n) if values is None else np.asarray(values, dtype=np.float64)
        if len(found) == 1:
            u, p = found[0]
            return times, np.zeros(n, dtype=bool), u, p
        return times, np.zeros(n, dtype=bool) if failed is None else failed, None, None

    def success_probability(self) -> float:
        """Probability that the step can be completed at all (the product of its Bernoulli factors)."""
        return self._success()

    def mean(self) -> float:
        """Mean TTC of the successful samples, in days (``inf`` if it diverges, ``nan`` if never succeeds)."""
        if self._success() == 0:
            return math.nan
        value = self._mean()
        return 0.0 if value is None else float(value)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the TTC (``inf`` when ``q`` exceeds the success probability)."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile level {q} is outside [0, 1]")
        p = self._success()
        if q >= p:
            return math.inf if q > p or p < 1 else self._conditional_quantile(1.0)
        return self._conditional_quantile(q / p)

    def _conditional_quantile(self, q: float) -> float:
        """Quantile of the successful samples; numeric unless a subclass knows better."""
        finite = self._finite_sample
        if finite.size == 0:
            return math.inf
        return float(np.quantile(finite, q))

    @cached_property
    def _finite_sample(self) -> np.ndarray:
        draws = self.sample(NUMERIC_SAMPLES, np.random.default_rng(20_240_917))
        return draws[np.isfinite(draws)]

    def __str__(self) -> str:
        return self._text(0)

    def _text(self, parent_precedence: int) -> str:
        raise NotImplementedError


@dataclass(frozen=True, eq=True)
class Number(Distribution):
    value: float
    literal: str

    def _draw(self, n, rng, uniforms=None):
        return np.full(n, self.value), None

    def _success(self):
        return 0.0 if math.isinf(self.value) else 1.0

    def _mean(self):
        return self.value

    def _conditional_quantile(self, q):
        return self.value

    def _text(self, parent_precedence):
        return self.literal


@dataclass(frozen=True, eq=True)
class Named(Distribution):
    """A named distribution (EasyAndCertain, Zero, Infinity, Enabled...): its meaning, and its name for str()."""

    name: str
    meaning: Distribution

    def _draw(self, n, rng, uniforms=None):
        return self.meaning._draw(n, rng, uniforms)

    def _success(self):
        return self.meaning._success()

    def _mean(self):
        return self.meaning._mean()

    def _conditional_quantile(self, q):
        return self.meaning._conditional_quantile(q)

    def _text(self, parent_precedence):
        return self.name


@dataclass(frozen=True, eq=True)
class Call(Distribution):
    """A parametric distribution: Exponential(1), Gamma(2, 3), Bernoulli(0.5)..."""

    name: str
    args: tuple[Distribution, ...]

    @cached_property
    def params(self) -> tuple[float, ...]:
        return tuple(a.value for a in self.args)  # type: ignore[attr-defined]

    def _draw(self, n, rng, uniforms=None):
        p = self.params
        name = self.name
        if name == "Bernoulli":
            u = rng.random(n)
            if uniforms is not None:
                uniforms.append((u, p[0]))
            return None, u >= p[0]
        if name == "Exponential":
            return rng.standard_exponential(n) / p[0], None
        if name == "Gamma":
            return rng.gamma(p[0], p[1], n), None
        if name == "LogNormal":
            return rng.lognormal(p[0], p[1], n), None
        if name == "Pareto":
            return p[0] * (1.0 + rng.pareto(p[1], n)), None
        if name == "TruncatedNormal":
            from scipy.special import ndtr, ndtri

            lower = ndtr(-p[0] / p[1])
            u = lower + (1.0 - lower) * rng.random(n)
            return np.maximum(p[0] + p[1] * ndtri(u), 0.0), None
        if name == "Uniform":
            return rng.uniform(p[0], p[1], n), None
        if name == "Binomial":
            return rng.binomial(int(p[0]), p[1], n).astype(np.float64), None
        raise AssertionError(name)

    def _success(self):
        return self.params[0] if self.name == "Bernoulli" else 1.0

    def _mean(self):
        p = self.params
        name = self.name
        if name == "Bernoulli":
            return None
        if name == "Exponential":
            return 1.0 / p[0]
        if name == "Gamma":
            return p[0] * p[1]
        if name == "LogNormal":
            return math.exp(p[0] + p[1] ** 2 / 2)
        if name == "Pareto":
            return p[1] * p[0] / (p[1] - 1) if p[1] > 1 else math.inf
        if name == "TruncatedNormal":
            from scipy.special import ndtr

            alpha = -p[0] / p[1]
            return p[0] + p[1] * _phi(alpha) / (1 - ndtr(alpha))
        if name == "Uniform":
            return (p[0] + p[1]) / 2
        if name == "Binomial":
            return p[0] * p[1]
        raise AssertionError(name)

    def _conditional_quantile(self, q):
        p = self.params
        name = self.name
        if name == "Bernoulli":
            return 0.0
        if name == "Exponential":
            return -math.log1p(-q) / p[0] if q < 1 else math.inf
        if name == "Uniform":
            return p[0] + q * (p[1] - p[0])
        if name == "Pareto":
            return p[0] * (1 - q) ** (-1 / p[1]) if q < 1 else math.inf
        from scipy import stats

        if name == "Gamma":
            return float(stats.gamma.ppf(q, p[0], scale=p[1]))
        if name == "LogNormal":
            return float(stats.lognorm.ppf(q, p[1], scale=math.exp(p[0])))
        if name == "TruncatedNormal":
            return float(stats.truncnorm.ppf(q, -p[0] / p[1], math.inf, loc=p[0], scale=p[1]))
        if name == "Binomial":
            return float(stats.binom.ppf(q, int(p[0]), p[1]))
        raise AssertionError(name)

    def _text(self, parent_precedence):
        return f"{self.name}({', '.join(a._text(0) for a in self.args)})"


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 3}
#: The value a neutral (Bernoulli) operand stands for under each operator.
_IDENTITY = {"+": 0.0, "-": 0.0, "*": 1.0, "/": 1.0, "^": 1.0}


def _apply(op: str, a, b):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    return a**b


@dataclass(frozen=True, eq=True)
class BinaryOp(Distribution):
    op: str
    left: Distribution
    right: Distribution

    def _draw(self, n, rng, uniforms=None):
        lv, lf = self.left._draw(n, rng, uniforms)
        rv, rf = self.right._draw(n, rng, uniforms)
        failed = lf if rf is None else rf if lf is None else (lf | rf)
        if lv is None and rv is None:
            return None, failed
        identity = _IDENTITY[self.op]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            values = _apply(self.op, identity if lv is None else lv, identity if rv is None else rv)
        return np.asarray(values, dtype=np.float64), failed

    def _success(self):
        return self.left._success() * self.right._success()

    def _mean(self):
        lm, rm = self.left._mean(), self.right._mean()
        if lm is None and rm is None:
            return None
        identity = _IDENTITY[self.op]
        if self.op in "+-*":
            # Independent operands: E[a+b] = E[a]+E[b], E[a·b] = E[a]·E[b].
            return _apply(self.op, identity if lm is None else lm, identity if rm is None else rm)
        if rm is None or isinstance(_plain(self.right), Number):
            divisor_or_power = identity if rm is None else rm
            if self.op == "/" and divisor_or_power != 0:
                return (identity if lm is None else lm) / divisor_or_power
        finite = self._finite_sample
        return float(finite.mean()) if finite.size else math.nan

    def _conditional_quantile(self, q):
        """Analytic when one operand is neutral (a Bernoulli) or a constant shift/scale; numeric otherwise."""
        left, right = _plain(self.left), _plain(self.right)
        if right._mean() is None:  # x op Bernoulli: the successful samples follow x
            return left._conditional_quantile(q)
        if left._mean() is None and self.op in "+*":
            return right._conditional_quantile(q)
        if self.op in "+*" or (self.op in "-/" and isinstance(right, Number)):
            for const, other in ((left, right), (right, left)):
                if isinstance(const, Number) and not isinstance(other, Number):
                    c = const.value
                    if self.op == "+":
                        return other._conditional_quantile(q) + c
                    if self.op == "-" and const is right:
                        return other._conditional_quantile(q) - c
                    if self.op == "*" and c > 0:
                        return other._conditional_quantile(q) * c
                    if self.op == "/" and const is right and c > 0:
                        return other._conditional_quantile(q) / c
        return super()._conditional_quantile(q)

    def _text(self, parent_precedence):
        mine = _PRECEDENCE[self.op]
        # Left-associative + - * /: the right operand needs parentheses at equal precedence; ^ the reverse.
        left_needs = mine + 1 if self.op == "^" else mine
        right_needs = mine if self.op == "^" else mine + 1
        text = f"{self.left._text(left_needs)} {self.op} {self.right._text(right_needs)}"
        return f"({text})" if mine < parent_precedence else text


def _plain(d: Distribution) -> Distribution:
    return d.meaning if isinstance(d, Named) else d


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


# -- names and parameters -----------------------------------------------------------------------------

#: (parameter names, validators) per distribution.
_PARAMETERS: dict[str, tuple[tuple[str, str], ...]] = {
    "Bernoulli": (("p", "probability"),),
    "Binomial": (("n", "count"), ("p", "probability")),
    "Exponential": (("rate", "positive"),),
    "Gamma": (("shape", "positive"), ("scale", "positive")),
    "LogNormal": (("mu", "finite"), ("sigma", "positive")),
    "Pareto": (("min", "positive"), ("shape", "positive")),
    "TruncatedNormal": (("mean", "finite"), ("sd", "positive")),
    "Uniform": (("a", "finite"), ("b", "finite")),
}


def _named(name: str, text: str) -> Named:
    return Named(name, parse(text))


def _build_named() -> dict[str, Named]:
    return {
        "EasyAndCertain": _named("EasyAndCertain", "Exponential(1)"),
        "EasyAndUncertain": _named("EasyAndUncertain", "Bernoulli(0.5)"),
        "HardAndCertain": _named("HardAndCertain", "Exponential(0.1)"),
        "HardAndUncertain": _named("HardAndUncertain", "Exponential(0.1) * Bernoulli(0.5)"),
        "VeryHardAndCertain": _named("VeryHardAndCertain", "Exponential(0.01)"),
        "VeryHardAndUncertain": _named("VeryHardAndUncertain", "Exponential(0.01) * Bernoulli(0.5)"),
        "Zero": Named("Zero", Number(0.0, "0")),
        "Infinity": Named("Infinity", Number(math.inf, "Infinity")),
        "Enabled": _named("Enabled", "Bernoulli(1)"),
        "Disabled": _named("Disabled", "Bernoulli(0)"),
    }


NAMED: dict[str, Named] = {}

# -- the parser ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*/^(),]))"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    column: int  # 1-based


def _tokens(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            bad = len(text[pos:]) - len(text[pos:].lstrip())
            raise DistributionError(f"unexpected character {text[pos + bad]!r}", pos + bad + 1, text)
        kind = match.lastgroup or "op"
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, message: str, token: _Token) -> DistributionError:
        return DistributionError(message, token.column, self.text)

    def expect(self, op: str) -> _Token:
        token = self.take()
        if token.text != op or token.kind != "op":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self.error(f"expected {op!r}, found {found}", token)
        return token

    def expression(self) -> Distribution:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", self.peek())
        node = self.term()
        depth = self.depth
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            node = BinaryOp(op, node, self.term())
            self._deeper(depth := depth + 1)  # a chain a + b + c … is a tree as deep as it is long
        self.depth -= 1
        return node

    def _deeper(self, depth: int) -> None:
        """Trees are walked recursively (sampling, printing): bound their depth, however it is reached."""
        if depth > MAX_DEPTH:
            raise self.error(f"expression nested deeper than {MAX_DEPTH} levels", self.peek())

    def term(self) -> Distribution:
        node = self.factor()
        depth = self.depth
        while self.peek().kind == "op" and self.peek().text in "*/":
            op = self.take().text
            node = BinaryOp(op, node, self.factor())
            self._deeper(depth := depth + 1)
        return node

    def factor(self) -> Distribution:
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text == "^":
            self.take()
            self.depth += 1
            self._deeper(self.depth)
            exponent = self.factor()
            self.depth -= 1
            return BinaryOp("^", base, exponent)
        return base

    def atom(self) -> Distribution:
        token = self.take()
        if token.kind == "number":
            value = float(token.text)
            if not math.isfinite(value):  # 1e400 overflows to ∞: silently a step that never succeeds
                raise self.error(
                    f"the number {token.text[:20]}{'…' if len(token.text) > 20 else ''} is too large for a float "
                    "(write Infinity for a step that never succeeds)",
                    token,
                )
            return Number(value, token.text)
        if token.kind == "op" and token.text == "(":
            node = self.expression()
            self.expect(")")
            return node
        if token.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(token)
            if token.text in NAMED:
                return NAMED[token.text]
            if token.text in _PARAMETERS:
                raise self.error(f"{token.text} needs parameters, e.g. {_example(token.text)}", token)
            raise self.error(f"unknown distribution {token.text!r}", token)
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        raise self.error(f"expected a number, a distribution or '(', found {found}", token)

    def call(self, name: _Token) -> Distribution:
        if name.text not in _PARAMETERS:
            known = ", ".join(sorted(_PARAMETERS))
            raise self.error(f"unknown distribution {name.text!r} (known: {known})", name)
        self.expect("(")
        args: list[tuple[Number, _Token]] = []
        if not (self.peek().kind == "op" and self.peek().text == ")"):
            while True:
                start = self.peek()
                arg = self.expression()
                plain = _plain(arg)
                if not isinstance(plain, Number):
                    raise self.error(f"{name.text} takes numbers, not {arg}", start)
                args.append((Number(plain.value, str(arg)), start))
                if self.peek().kind == "op" and self.peek().text == ",":
                    self.take()
                    continue
                break
        self.expect(")")
        spec = _PARAMETERS[name.text]
        if len(args) != len(spec):
            params = ", ".join(p for p, _ in spec)
            raise self.error(f"{name.text} takes {len(spec)} parameter(s) ({params}), got {len(args)}", name)
        for (arg, token), (param, rule) in zip(args, spec, strict=True):
            _check(name.text, param, rule, arg.value, self, token)
        if name.text == "Uniform" and args[0][0].value > args[1][0].value:
            raise self.error(f"Uniform(a, b) needs a <= b, got a={args[0][0].literal} > b={args[1][0].literal}", name)
        return Call(name.text, tuple(a for a, _ in args))


def _check(dist: str, param: str, rule: str, value: float, parser: _Parser, token: _Token) -> None:
    problem = None
    if math.isnan(value) or (math.isinf(value) and rule != "positive"):
        problem = "must be finite"
    elif rule == "probability" and not 0 <= value <= 1:
        problem = "is a probability, so it must lie in [0, 1]"
    elif rule == "positive" and not value > 0:
        problem = "must be positive"
    elif rule == "count" and (value < 0 or value != int(value)):
        problem = "must be a non-negative whole number"
    elif rule == "positive" and math.isinf(value):
        problem = "must be finite"
    if problem:
        raise parser.error(f"{dist} parameter {param}={value:g} {problem}", token)


def _example(name: str) -> str:
    return f"{name}({', '.join('0.5' if r == 'probability' else '1' for _, r in _PARAMETERS[name])})"


def parse(text: str) -> Distribution:
    """Parse a MAL TTC expression such as ``Exponential(0.1) * Bernoulli(0.5)``.

    Raises :class:`DistributionError` naming the column of the problem.
    """
    if not isinstance(text, str):
        raise DistributionError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise DistributionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    if not text.strip():
        raise DistributionError("empty expression", 1, text)
    parser = _Parser(text)
    node = parser.expression()
    token = parser.peek()
    if token.kind != "end":
        raise parser.error(f"unexpected {token.text!r} after a complete expression", token)
    return node


NAMED.update(_build_named())

#: A TTC whose typical successful attempt takes longer than this many days (about 274 years) gets a warning: such
#: values are usually a unit or parameter mistake.
PRACTICAL_DAYS = 1e5
#: Beyond this many days a TTC is "never" in practice: results are stored as float32, whose largest finite value
#: is about 3.4e38 (numpy.finfo(numpy.float32).max).
NEVER_DAYS = float(np.finfo(np.float32).max)


def completion_problem(dist: Distribution) -> tuple[str, str] | None:
    """Whether a step with this TTC can complete in practice: ``("error", why)`` when its successful attempts take
    no finite time below :data:`NEVER_DAYS` (``1/0``, ``10^400``, ``Exponential(1e-320)``, ``LogNormal(1000, 100)``),
    ``("warning", why)`` when they typically take more than :data:`PRACTICAL_DAYS`, else None.

    Judged by the median of the successful attempts (the conditional quantile, analytic for single distributions):
    unlike the mean, it is finite for heavy tails such as Pareto(1, 0.5). A distribution that never succeeds on
    purpose (``Infinity``, ``Bernoulli(0)``) is no problem. Numpy's overflow warnings are silenced while judging.
    """
    import warnings

    p = dist.success_probability()
    if p <= 0:
        return None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            median = float(dist.quantile(0.5 * p))
        except (OverflowError, ValueError, ZeroDivisionError):
            median = math.inf
    if math.isnan(median) or median >= NEVER_DAYS:
        shown = "undefined" if math.isnan(median) else "infinite" if math.isinf(median) else f"{median:.3g} days"
        return "error", f"median time {shown}; this step never completes in practice"
    if median > PRACTICAL_DAYS:
        return "warning", f"median time {median:.3g} days ({median / 365.25:.3g} years); is the unit right?"
    return None
