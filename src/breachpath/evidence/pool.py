"""Combine findings into one probability: the plain mean, and a Beta-pooled posterior with an interval.

``mean`` is what enterpriseLang does: the average of the findings' proportions (the seed averages 3.96% and
47/951 into Bernoulli(0.0445)). ``beta-pooled`` treats each finding as binomial evidence for one success
probability: a count k out of n adds k successes and n−k failures to a Beta(1, 1) prior; a bare percentage p
adds p·m and (1−p)·m, where m is its effective sample size. The posterior Beta(α, β) gives the mean α/(α+β)
and a 90% equal-tailed credible interval (Gelman et al., *Bayesian Data Analysis*, 3rd ed., §2.4).
"""

from __future__ import annotations

from collections.abc import Sequence

from breachpath.evidence.model import DEFAULT_EFFECTIVE_SAMPLE_SIZE, Finding

PRIOR = (1.0, 1.0)


def mean_of(findings: Sequence[Finding]) -> float | None:
    """The average of the findings' proportions (None without any)."""
    values = [f.proportion for f in findings if f.proportion is not None]
    return sum(values) / len(values) if values else None


def beta_pooled(
    findings: Sequence[Finding], effective_sample_size: float = DEFAULT_EFFECTIVE_SAMPLE_SIZE, level: float = 0.9
) -> dict | None:
    """Posterior of a Beta(1, 1) prior updated with every finding: mean, interval, α and β (None without any)."""
    from scipy import stats

    alpha, beta = PRIOR
    used = 0
    for f in findings:
        if f.count is not None and f.denominator:
            alpha += f.count
            beta += f.denominator - f.count
        elif f.percent is not None:
            weight = f.effective_sample_size or effective_sample_size
            alpha += f.percent / 100 * weight
            beta += (1 - f.percent / 100) * weight
        else:
            continue
        used += 1
    if not used:
        return None
    tail = (1 - level) / 2
    low, high = stats.beta.ppf([tail, 1 - tail], alpha, beta)
    return {
        "method": "beta-pooled",
        "mean": alpha / (alpha + beta),
        "interval": [float(low), float(high)],
        "level": level,
        "alpha": alpha,
        "beta": beta,
        "findings_used": used,
    }


def measure_warnings(findings: Sequence[Finding]) -> list[str]:
    """Flag findings that measure different things: pooling them treats, say, prevalence as success."""
    measures = sorted({f.measure for f in findings if f.proportion is not None})
    if len(measures) <= 1:
        return []
    return [
        "the findings measure different things (" + "; ".join(measures) + "): combining them treats each as the "
        "same success probability, which prevalence is not"
    ]
