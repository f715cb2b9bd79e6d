"""How sure the numbers are: each estimate's parameter uncertainty, carried through the simulation (second-order
Monte Carlo), and which estimates drive the results (sensitivity).

A language's numbers come from estimate files or stated defaults (:mod:`breachpath.evidence_coverage`). Each one
gets a distribution over its parameter (:func:`parameter_distributions`):

- a defense's **effectiveness**, or the **success probability** of a step's single Bernoulli factor: the Beta
  posterior of the estimate's pooled findings (:func:`breachpath.evidence.pool.beta_pooled`); without findings, a
  Beta with the stated value as its mean and the weight of the uninformed Beta(1, 1) prior (two observations), so
  a 50% default is Beta(1, 1) itself;
- a step's **mean time**: log-normal through the estimate's ``time_interval`` (its 5th and 95th percentiles);
  without one, centred on the stated mean and 90% within a factor of :data:`ESTIMATE_TIME_FACTOR` of it for an
  estimate, of :data:`DEFAULT_TIME_FACTOR` for a default.

:func:`second_order` draws every parameter at once, ``outer`` times, and runs the same inner samples (the same seed
and draws: common random numbers, :class:`breachpath.sim.TTCVariation`) for each draw, so the spread between outer
draws is the parameters' alone. :func:`sensitivity` moves one parameter at a time from its 5th to its 95th
percentile, the others at their medians, and ranks the parameters by the change in each target's P(compromise)
(Saltelli et al., *Global Sensitivity Analysis: The Primer*, 2008, §1.2: one-at-a-time "tornado" analysis).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from breachpath.analysis import curve_end
from breachpath.dist import parse
from breachpath.errors import InputError
from breachpath.graph import AttackGraph, possibly_reached
from breachpath.lang.spec import LanguageSpec
from breachpath.sim import Draws, TTCVariation, median_ci, simulate, summarise

#: A default's mean time is, with 90% probability, within this factor of its stated value (either way).
DEFAULT_TIME_FACTOR = 10.0
#: An estimate's mean time without a stated ``time_interval``: within this factor, with 90% probability.
ESTIMATE_TIME_FACTOR = 3.0
#: A probability without findings weighs as much as the uninformed Beta(1, 1) prior: two observations.
PRIOR_WEIGHT = 2.0
#: A step's Bernoulli is its findings' pooled mean when within this of it (files round to four digits).
POOLED_TOLERANCE = 5e-4
#: Outer draws of :func:`second_order` at most, and inner samples times outer draws at most.
MAX_OUTER = 10_000
MAX_RUNS_SAMPLES = 10**9
_Z90 = 1.6448536269514722  # the standard normal's 95th percentile


@dataclass(frozen=True)
class ParameterDistribution:
    """One number's uncertainty, in the style of a frozen scipy.stats distribution: ``beta`` (α, β) over a
    probability, ``lognormal`` (median, σ of the log) over a time in days, or ``point`` (a value, no spread)."""

    family: str
    a: float
    b: float = 0.0

    def ppf(self, q) -> np.ndarray:
        """The ``q``-quantiles (vectorised)."""
        q = np.asarray(q, dtype=np.float64)
        if self.family == "point":
            return np.full(q.shape, self.a)
        from scipy import stats

        if self.family == "beta":
            return stats.beta.ppf(q, self.a, self.b)
        return stats.lognorm.ppf(q, self.b, scale=self.a)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws, by inversion of ``n`` uniforms (so equal uniforms give equal quantiles)."""
        return self.ppf(rng.random(n))

    def median(self) -> float:
        return float(self.ppf(0.5))

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """The equal-tailed interval holding ``level`` of the distribution."""
        low, high = self.ppf([(1 - level) / 2, (1 + level) / 2])
        return float(low), float(high)

    def describe(self) -> str:
        if self.family == "point":
            return f"{self.a:g} (no spread)"
        if self.family == "beta":
            return f"Beta({self.a:.4g}, {self.b:.4g})"
        return f"LogNormal(median {self.a:.4g} d, σ {self.b:.3g})"


def beta_around(value: float, weight: float = PRIOR_WEIGHT) -> ParameterDistribution:
    """A Beta with mean ``value`` and ``weight`` observations (a point at 0 or 1)."""
    if value <= 0 or value >= 1:
        return ParameterDistribution("point", float(value))
    return ParameterDistribution("beta", value * weight, (1 - value) * weight)


def beta_through(low: float, high: float) -> ParameterDistribution:
    """The Beta whose 5th and 95th percentiles are ``low`` and ``high`` (solved on log α, log β; a point when they
    are equal, and at 0 or 1)."""
    if high <= low or high <= 0 or low >= 1:
        return ParameterDistribution("point", float(low))
    from scipy import optimize, stats

    low, high = max(low, 1e-6), min(high, 1 - 1e-6)
    mean = (low + high) / 2

    def gap(x: np.ndarray) -> np.ndarray:
        return stats.beta.ppf([0.05, 0.95], math.exp(x[0]), math.exp(x[1])) - [low, high]

    # Start from a Beta with the interval's midpoint as its mean and a normal approximation's weight.
    weight = max(mean * (1 - mean) / ((high - low) / (2 * _Z90)) ** 2 - 1, 0.5)
    solved = optimize.least_squares(gap, np.log([mean * weight, (1 - mean) * weight]))
    return ParameterDistribution("beta", float(math.exp(solved.x[0])), float(math.exp(solved.x[1])))


def lognormal_through(low: float, high: float) -> ParameterDistribution:
    """The log-normal whose 5th and 95th percentiles are ``low`` and ``high`` (a point when they are equal)."""
    if high <= low:
        return ParameterDistribution("point", float(low))
    return ParameterDistribution("lognormal", math.sqrt(low * high), math.log(high / low) / (2 * _Z90))


@dataclass
class UncertainParameter:
    """One uncertain number of a language and the graph steps it sets.

    ``quantity`` is ``effectiveness`` (a gate: the defeat step's Bernoulli is 1 − it), ``success probability``
    (a step's single Bernoulli factor) or ``mean time`` (days; the drawn times are scaled by draw / nominal)."""

    id: str
    what: str
    quantity: str
    source: str
    name: str | None
    findings: int
    publishers: list[str]
    nominal: float
    distribution: ParameterDistribution
    basis: str
    nodes: np.ndarray
    # The findings behind the number (source, value); estimates that rest on the same ones share their draws.
    evidence: tuple = ()
    shares_evidence_with: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.id} {self.quantity}"

    def to_json(self) -> dict:
        low, high = self.distribution.interval()
        return {
            "id": self.id, "label": self.label, "what": self.what, "quantity": self.quantity, "source": self.source,
            "name": self.name, "findings": self.findings, "publishers": self.publishers, "nominal": self.nominal,
            "distribution": self.distribution.describe(), "median": self.distribution.median(),
            "interval90": [low, high], "basis": self.basis, "steps": int(len(self.nodes)),
            "shares_evidence_with": self.shares_evidence_with,
        }  # fmt: skip


def _bernoulli_p(text: str) -> float | None:
    """The probability of the TTC's Bernoulli factor when it has exactly one (else None)."""
    return parse(text).sample_parts(1, np.random.default_rng(0))[3]


def parameter_distributions(row: dict, estimate) -> list[tuple[str, float, ParameterDistribution, str]]:
    """``(quantity, nominal, distribution, basis)`` for each uncertain number of one coverage row
    (:func:`breachpath.evidence_coverage.coverage_rows`) whose estimate, if any, is ``estimate``."""
    from breachpath.evidence.pool import beta_pooled

    pooled = beta_pooled(estimate.findings, estimate.effective_sample_size) if estimate is not None else None
    out = []
    if row["what"] == "defense effectiveness":
        value = float(row["value"])
        if pooled is not None:
            dist = ParameterDistribution("beta", pooled["alpha"], pooled["beta"])
            out.append(("effectiveness", value, dist, f"Beta posterior of {pooled['findings_used']} pooled findings"))
        else:
            out.append(("effectiveness", value, beta_around(value), "no findings: the weight of a Beta(1, 1) prior"))
        return out
    text = str(row["value"])
    p = _bernoulli_p(text)
    if p is not None:
        stated = estimate.probability_interval if estimate is not None else None
        if stated is not None:
            dist, basis = beta_through(*stated), f"the estimate's 90% interval {stated[0]:g}–{stated[1]:g}"
        elif pooled is not None and abs(pooled["mean"] - p) <= POOLED_TOLERANCE:
            dist = ParameterDistribution("beta", pooled["alpha"], pooled["beta"])
            basis = f"Beta posterior of {pooled['findings_used']} findings"
        elif pooled is not None:  # derived from the findings by a model: their weight, centred on its value
            dist = beta_around(p, pooled["alpha"] + pooled["beta"])
            basis = f"derived, not pooled: centred on {p:g} with the weight of its {pooled['findings_used']} findings"
        else:
            dist, basis = beta_around(p), "no findings: the weight of a Beta(1, 1) prior"
        out.append(("success probability", p, dist, basis))
    mean = parse(text).mean()
    if math.isfinite(mean) and mean > 0:
        interval = estimate.time_interval if estimate is not None else None
        if interval is not None:
            dist, basis = lognormal_through(*interval), f"the estimate's 90% interval {interval[0]:g}–{interval[1]:g} d"
        else:
            factor = DEFAULT_TIME_FACTOR if row["source"] != "estimate" else ESTIMATE_TIME_FACTOR
            dist = lognormal_through(mean / factor, mean * factor)
            basis = f"{'a default' if row['source'] != 'estimate' else 'no stated interval'}: ×/÷ {factor:g} (90%)"
        out.append(("mean time", mean, dist, basis))
    return out


def parameters(spec: LanguageSpec, graph: AttackGraph, catalog: dict | None = None) -> list[UncertainParameter]:
    """The uncertain numbers of ``spec`` that set steps of ``graph``, one per (estimate or default, quantity)."""
    from breachpath.evidence_coverage import coverage_rows, language_catalog, row_of_nodes

    catalog = language_catalog(spec) if catalog is None else catalog
    rows = coverage_rows(spec, catalog)
    owner = {step: i for i, row in enumerate(rows) for step in row["steps"]}
    row_of = row_of_nodes(spec, graph, owner)
    out = []
    for i in np.unique(row_of[row_of >= 0]).tolist():
        row = rows[i]
        nodes = np.flatnonzero(row_of == i)
        # A step whose TTC the scenario replaced is the scenario's number, not this estimate's.
        own = {spec.steps(step.split(".", 1)[0])[step.split(".", 1)[1]].ttc for step in row["steps"]}
        kept = [k for k, text in enumerate(graph.ttc_texts.tolist()) if str(text) in own]
        nodes = nodes[np.isin(graph.ttc[nodes], kept)]
        if not len(nodes):
            continue
        stem = row["id"] if row["source"] == "estimate" else None
        estimate = catalog.get(stem) if stem else None
        for quantity, nominal, dist, basis in parameter_distributions(row, estimate):
            # The findings behind this number: shares for a probability, times for a mean time.
            behind = [
                f for f in (estimate.findings if estimate else ())
                if (f.days is not None) == (quantity == "mean time") and (f.days is not None or f.proportion is not None)
            ]  # fmt: skip
            evidence = tuple(sorted((f.url or f.source, f.percent, f.count, f.denominator, f.days) for f in behind))
            out.append(
                UncertainParameter(
                    row["id"], row["what"], quantity, row["source"], row["name"], len(behind),
                    sorted({f.source for f in behind}), nominal, dist, basis, nodes, evidence,
                )
            )  # fmt: skip
    same: dict[tuple, list[str]] = {}
    for param in out:
        if param.evidence:
            same.setdefault((param.quantity, param.evidence), []).append(param.id)
    for param in out:
        if param.evidence:
            param.shares_evidence_with = [i for i in same[(param.quantity, param.evidence)] if i != param.id]
    return out


def variation(graph: AttackGraph, params: list[UncertainParameter], values) -> TTCVariation:
    """The :class:`TTCVariation` that gives each parameter its value in ``values`` (same order)."""
    probability = np.full(graph.n_nodes, np.nan)
    factor = np.ones(graph.n_nodes)
    for param, value in zip(params, values, strict=True):
        if param.quantity == "effectiveness":
            probability[param.nodes] = 1.0 - value
        elif param.quantity == "success probability":
            probability[param.nodes] = value
        else:
            factor[param.nodes] *= value / param.nominal
    return TTCVariation(probability, factor)


def check_outer(outer: object, samples: int = 1) -> int:
    """A number of outer draws: 1 to :data:`MAX_OUTER`, and at most :data:`MAX_RUNS_SAMPLES` inner runs in all."""
    if isinstance(outer, bool) or not isinstance(outer, int) or not 1 <= outer <= MAX_OUTER:
        raise InputError(f"--outer must be a whole number from 1 to {MAX_OUTER:,}, not {outer!r}")
    if outer * samples > MAX_RUNS_SAMPLES:
        raise InputError(f"{outer:,} outer draws × {samples:,} samples is more than {MAX_RUNS_SAMPLES:,} runs")
    return outer


def _fixed_seed(seed: int | None) -> int:
    """Common random numbers need one seed for every outer draw: the given one, or a fresh one (reported)."""
    return int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed


def _target_figures(times: np.ndarray, horizons: list[float]) -> tuple[float, float, list[float]]:
    """P(compromise), median TTC of the compromised samples (∞: none) and P within each horizon."""
    finite = times[np.isfinite(times)]
    n = len(times)
    median = float(np.median(finite)) if len(finite) else math.inf
    return len(finite) / n, median, [float(np.count_nonzero(finite <= h) / n) for h in horizons]


def draw_parameters(params: list[UncertainParameter], n: int, rng: np.random.Generator) -> np.ndarray:
    """(parameters, n) draws, by inversion of uniforms. Estimates that rest on the same findings (one study behind
    both M1032 and D3-MFA) take the same uniforms: what the evidence says about one it says about the other, so
    their draws move together instead of averaging out."""
    uniforms: dict[object, np.ndarray] = {}
    out = np.empty((len(params), n))
    for i, param in enumerate(params):
        key = (param.quantity, param.evidence) if param.evidence else i
        if key not in uniforms:
            uniforms[key] = rng.random(n)
        out[i] = param.distribution.ppf(uniforms[key])
    return out


def second_order(
    graph: AttackGraph,
    entries: list[int],
    targets: list[int],
    params: list[UncertainParameter],
    outer: int = 100,
    samples: int = 1000,
    seed: int | None = None,
    horizons: list[float] | None = None,
    workers: int | None = None,
    level: float = 0.9,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Second-order Monte Carlo: ``outer`` draws of every parameter at once, each run on the same ``samples``
    inner samples (common random numbers). Per target: today's result (every number at its stated value) with its
    sampling intervals, and the ``level`` interval of P(compromise), of the median TTC and of each P within a
    horizon over the outer draws, with a band of the TTC curve (its quantiles at each time of a grid)."""
    check_outer(outer, samples)
    seed = _fixed_seed(seed)
    horizons = list(horizons or [])
    draws = Draws(seed=seed)
    nominal = simulate(graph, entries, targets, samples=samples, seed=seed, workers=workers)
    rng = np.random.default_rng([seed, 16])  # outer draws: a stream of their own beside the inner samples' blocks
    values = draw_parameters(params, outer, rng)
    p_draws = np.empty((outer, len(targets)))
    median_draws = np.empty((outer, len(targets)))
    within_draws = np.empty((outer, len(targets), len(horizons)))
    curves = [nominal.times[:, j] for j in range(len(targets))]
    tops = [curve_end(c) for c in curves]
    grid = [np.linspace(0.0, top, 101) for top in tops]
    curve_draws = np.empty((outer, len(targets), 101))
    for k in range(outer):
        run = simulate(
            graph, entries, targets, samples=samples, seed=seed, workers=workers, draws=draws,
            variation=variation(graph, params, values[:, k]),
        )  # fmt: skip
        for j in range(len(targets)):
            column = run.times[:, j]
            p_draws[k, j], median_draws[k, j], within_draws[k, j] = _target_figures(column, horizons)
            curve_draws[k, j] = np.searchsorted(np.sort(column), grid[j], side="right") / samples
        if progress:
            progress(k + 1, outer)
    tail = (1 - level) / 2
    out = {}
    for j, name in enumerate(nominal.names):
        column = nominal.times[:, j]
        base = summarise(column, horizons)
        finite = np.sort(column[np.isfinite(column)].astype(np.float64))
        medians = median_draws[:, j]
        out[name] = {
            "p": base["p"],
            "p_sampling_ci95": base["p_ci"],
            "p_parameter_interval": _quantiles(p_draws[:, j], tail),
            "p_outer_mean": float(p_draws[:, j].mean()),
            "median": base["ttc"]["p50"],
            "median_sampling_ci95": list(median_ci(finite)) if len(finite) else None,
            "median_parameter_interval": _quantiles(medians, tail),
            "outer_without_compromise": int(np.count_nonzero(~np.isfinite(medians))),
            "draws": {"p": p_draws[:, j].tolist(), "median": [_finite(m) for m in medians.tolist()]},
            "within": {
                f"{h:g}": {"p": base["within"][f"{h:g}"], "parameter_interval": _quantiles(within_draws[:, j, i], tail)}
                for i, h in enumerate(horizons)
            },
            "curve": {
                "days": grid[j].tolist(),
                "nominal": (np.searchsorted(finite, grid[j], side="right") / samples).tolist(),
                "low": np.quantile(curve_draws[:, j], tail, axis=0).tolist(),
                "high": np.quantile(curve_draws[:, j], 1 - tail, axis=0).tolist(),
            },
        }
    return {
        "outer": outer, "samples": samples, "seed": seed, "level": level, "horizons": horizons,
        "parameters": [p.to_json() for p in params], "targets": out,
    }  # fmt: skip


def _quantiles(values: np.ndarray, tail: float) -> list[float | None]:
    """The equal-tailed interval of ``values`` (∞, a draw without any compromise, sorts last; shown as None)."""
    low, high = np.quantile(values, [tail, 1 - tail], method="inverted_cdf")
    return [float(v) if math.isfinite(v) else None for v in (low, high)]


def relevant(
    graph: AttackGraph, entries: list[int], targets: list[int], params: list[UncertainParameter]
) -> list[bool]:
    """Whether each parameter sets a step that some sample can reach from ``entries``, that leads to a target and
    whose time can reach one of its children: the others cannot change any result, whatever their value."""
    from breachpath.graph import _reach

    reached = possibly_reached(graph, entries)
    leads = np.zeros(graph.n_nodes, dtype=bool)
    leads[_reach(graph.parent_ptr, graph.parent_idx, np.asarray(targets, dtype=np.int64))] = True
    # An OR step with a parent every sample reaches at 0 (a defense that is off, an existence step that holds) has
    # its time whatever its other parents do: a step whose children are all such cannot change anything. A gate's
    # defeat step is one when its mitigation is off (its bypassed step is reached through the defense at 0).
    at_zero = ((graph.kind == 2) & (graph.defense_p == 0)) | ((graph.kind >= 3) & (graph.exists == 1))
    edges = graph.edges()
    settled = np.zeros(graph.n_nodes, dtype=bool)
    settled[edges[at_zero[edges[:, 0]] & (graph.kind[edges[:, 1]] == 0), 1]] = True
    free_children = np.bincount(edges[~settled[edges[:, 1]], 0], minlength=graph.n_nodes) > 0
    free_children[np.asarray(targets, dtype=np.int64)] = True  # a target's own time is a result
    matters = reached & leads & free_children
    return [bool(matters[p.nodes].any()) for p in params]


def sensitivity(
    graph: AttackGraph,
    entries: list[int],
    targets: list[int],
    params: list[UncertainParameter],
    samples: int = 1000,
    seed: int | None = None,
    horizon: float | None = None,
    workers: int | None = None,
    low: float = 0.05,
    high: float = 0.95,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """One at a time, each parameter at its ``low`` and then its ``high`` quantile with every other one at its
    median, on the same samples (common random numbers): per target, P(compromise) (within ``horizon`` days when
    given) and the median TTC at both ends, and the swing between them. Parameters that cannot reach a target
    (:func:`relevant`) or have no spread swing by 0 without a run. Ranked by the largest |swing of P| over the
    targets, then by the largest relative swing of the median."""
    seed = _fixed_seed(seed)
    horizons = [horizon] if horizon is not None else []
    medians = np.array([p.distribution.median() for p in params])
    draws = Draws(seed=seed)

    def figures(values: np.ndarray) -> list[tuple[float, float]]:
        run = simulate(
            graph, entries, targets, samples=samples, seed=seed, workers=workers, draws=draws,
            variation=variation(graph, params, values),
        )  # fmt: skip
        out = []
        for j in range(len(targets)):
            p, median, within = _target_figures(run.times[:, j], horizons)
            out.append((within[0] if horizons else p, median))
        return out

    matters = relevant(graph, entries, targets, params)
    todo = [i for i, p in enumerate(params) if matters[i] and p.distribution.family != "point"]
    base = figures(medians)
    names = [graph.name(int(t)) for t in targets]
    rows = []
    for done, (i, param) in enumerate(enumerate(params)):
        ends = param.distribution.ppf([low, high])
        if i in todo:
            at = []
            for value in ends:
                values = medians.copy()
                values[i] = value
                at.append(figures(values))
        else:
            at = [base, base]
        effects = {}
        for j, name in enumerate(names):
            (p_low, m_low), (p_high, m_high) = at[0][j], at[1][j]
            effects[name] = {
                "p_low": p_low, "p_high": p_high, "p_swing": p_high - p_low,
                "median_low": _finite(m_low), "median_high": _finite(m_high),
                "median_swing": m_high - m_low if math.isfinite(m_low) and math.isfinite(m_high) else None,
            }  # fmt: skip
        rows.append({**param.to_json(), "low": float(ends[0]), "high": float(ends[1]), "effects": effects,
                     "ran": i in todo})  # fmt: skip
        if progress:
            progress(done + 1, len(params))
    baseline = {name: {"p": base[j][0], "median": _finite(base[j][1])} for j, name in enumerate(names)}

    def rank(row: dict) -> tuple[float, float]:
        swings = [abs(e["p_swing"]) for e in row["effects"].values()]
        relative = [
            abs(e["median_swing"]) / baseline[name]["median"]
            for name, e in row["effects"].items()
            if e["median_swing"] is not None and baseline[name]["median"]
        ]
        return (-max(swings, default=0.0), -max(relative, default=0.0))

    rows.sort(key=rank)
    return {
        "samples": samples, "seed": seed, "horizon": horizon, "quantiles": [low, high], "baseline": baseline,
        "targets": names, "parameters": rows, "runs": 1 + 2 * len(todo),
    }  # fmt: skip


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
