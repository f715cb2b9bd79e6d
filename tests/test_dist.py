"""MAL TTC distributions: parsing, validation, sampling against analytic values, and MAL text round trips.

Tolerances come from the sample size: a sample mean lies within 5 standard errors of the true mean, a sample
proportion within 5·sqrt(p(1-p)/n) of p (a failure then happens about once in two million runs).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from breachpath.dist import DistributionError, parse

N = 400_000


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def assert_proportion(observed: float, p: float, n: int = N) -> None:
    assert abs(observed - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-12, (observed, p)


def assert_mean(samples: np.ndarray, mean: float, sd: float) -> None:
    assert abs(samples.mean() - mean) <= 5 * sd / math.sqrt(samples.size), (samples.mean(), mean)


# Each case: expression, scipy frozen distribution of the same TTC.
CASES = [
    ("Exponential(0.1)", stats.expon(scale=10)),
    ("Gamma(2, 3)", stats.gamma(2, scale=3)),
    ("LogNormal(0.5, 0.4)", stats.lognorm(0.4, scale=math.exp(0.5))),
    ("Pareto(2, 4)", stats.pareto(4, scale=2)),
    ("TruncatedNormal(1, 2)", stats.truncnorm(-0.5, math.inf, loc=1, scale=2)),
    ("Uniform(1, 3)", stats.uniform(1, 2)),
    ("Binomial(10, 0.3)", stats.binom(10, 0.3)),
]


@pytest.mark.parametrize(("text", "reference"), CASES)
def test_single_distributions_match_their_analytic_mean_and_quantiles(text, reference):
    d = parse(text)
    samples = d.sample(N, rng())
    assert samples.dtype == np.float64 and samples.shape == (N,)
    assert d.mean() == pytest.approx(reference.mean(), rel=1e-9)
    assert_mean(samples, reference.mean(), reference.std())
    for q in (0.05, 0.5, 0.95):
        assert d.quantile(q) == pytest.approx(reference.ppf(q), rel=1e-9)
        # The sample's q-quantile has CDF q within the binomial tolerance (discrete: up to one atom).
        empirical = np.quantile(samples, q)
        if text.startswith("Binomial"):
            assert reference.cdf(empirical - 1) <= q + 0.01 and reference.cdf(empirical) >= q - 0.01
        else:
            assert_proportion(reference.cdf(empirical), q)


def test_bernoulli_factors_multiply_success_probabilities():
    d = parse("Exponential(1) * Bernoulli(0.5) * Bernoulli(0.2)")
    assert d.success_probability() == pytest.approx(0.1)
    samples = d.sample(N, rng())
    assert_proportion(np.isfinite(samples).mean(), 0.1)
    finite = samples[np.isfinite(samples)]
    assert d.mean() == pytest.approx(1.0)
    assert_mean(finite, 1.0, 1.0)
    assert d.quantile(0.05) == pytest.approx(-math.log(1 - 0.5))  # q/p = 0.5 of Exponential(1)
    assert d.quantile(0.5) == math.inf


def test_bernoulli_alone_is_immediate_or_impossible():
    d = parse("Bernoulli(0.0445)")
    samples = d.sample(N, rng())
    assert set(np.unique(samples)) == {0.0, math.inf}
    assert_proportion((samples == 0).mean(), 0.0445)
    assert d.mean() == 0.0 and d.success_probability() == pytest.approx(0.0445)


def test_bernoulli_is_neutral_in_sums_too():
    samples = parse("Bernoulli(0.5) + 2").sample(1000, rng())
    assert set(np.unique(samples)) == {2.0, math.inf}


@pytest.mark.parametrize(
    ("name", "meaning", "p", "mean"),
    [
        ("EasyAndCertain", "Exponential(1)", 1.0, 1.0),
        ("HardAndCertain", "Exponential(0.1)", 1.0, 10.0),
        ("VeryHardAndCertain", "Exponential(0.01)", 1.0, 100.0),
        ("EasyAndUncertain", "Bernoulli(0.5)", 0.5, 0.0),
        ("HardAndUncertain", "Exponential(0.1) * Bernoulli(0.5)", 0.5, 10.0),
        ("VeryHardAndUncertain", "Exponential(0.01) * Bernoulli(0.5)", 0.5, 100.0),
        ("Zero", "0", 1.0, 0.0),
        ("Enabled", "Bernoulli(1)", 1.0, 0.0),
    ],
)
def test_named_distributions(name, meaning, p, mean):
    d = parse(name)
    assert str(d) == name
    assert d.success_probability() == pytest.approx(p) and d.mean() == pytest.approx(mean)
    a, b = d.sample(5000, rng(3)), parse(meaning).sample(5000, rng(3))
    np.testing.assert_array_equal(a, b)


def test_infinity_and_disabled_never_succeed():
    for text in ("Infinity", "Disabled"):
        d = parse(text)
        assert d.success_probability() == 0.0
        assert np.isinf(d.sample(100, rng())).all()
        assert d.quantile(0.01) == math.inf and math.isnan(d.mean())


@pytest.mark.parametrize(
    ("text", "value"),
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ^ 3 ^ 2", 512), ("8 / 4 / 2", 1), ("10 - 2 - 3", 5), ("2 * 3 ^ 2", 18)],
)
def test_operator_precedence_and_associativity(text, value):
    d = parse(text)
    assert d.sample(3, rng()).tolist() == [value] * 3
    assert d.mean() == value


def test_sums_and_products_of_distributions():
    d = parse("Exponential(1) + Gamma(2, 3)")
    assert d.mean() == pytest.approx(7.0)
    assert_mean(d.sample(N, rng()), 7.0, math.sqrt(1 + 2 * 9))
    product = parse("2 * Exponential(0.5)")
    assert product.mean() == pytest.approx(4.0)
    assert product.quantile(0.5) == pytest.approx(4 * math.log(2), rel=0.02)  # numeric: 400k fixed-seed samples


@pytest.mark.parametrize(
    "text",
    [
        "Exponential(1)",
        "Exponential(0.1) * Bernoulli(0.5)",
        "(Exponential(1) + 2) * 3",
        "2 ^ (3 ^ 2)",
        "(2 ^ 3) ^ 2",
        "1 - (2 - 3)",
        "HardAndUncertain + LogNormal(0.5, 1.25)",
        "0.712 * Exponential(1)",
        "Gamma(2, 3) / (1 + Uniform(0, 1))",
    ],
)
def test_str_round_trips_to_mal_text(text):
    d = parse(text)
    assert parse(str(d)) == d
    assert str(parse(str(d))) == str(d)


def test_distributions_are_immutable_values():
    d = parse("Exponential(1)")
    assert d == parse("Exponential(1)") and hash(d) == hash(parse("Exponential(1)"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "Gamma"  # type: ignore[misc]


def test_sampling_is_reproducible_and_vectorised():
    d = parse("HardAndUncertain")
    np.testing.assert_array_equal(d.sample(1000, rng(1)), d.sample(1000, rng(1)))
    assert d.sample(0, rng()).shape == (0,)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("Bernoulli(1.5)", 11, "probability"),
        ("Exponential(0)", 13, "must be positive"),
        ("Exponential(1", 14, r"expected '\)'"),
        ("Foo(1)", 1, "unknown distribution 'Foo'"),
        ("Exponential(1) +", 17, "expected a number"),
        ("Exponential", 1, "needs parameters"),
        ("Gamma(1)", 1, "takes 2 parameter"),
        ("Uniform(3, 1)", 1, "a <= b"),
        ("Binomial(2.5, 0.5)", 10, "whole number"),
        ("1 $ 2", 3, "unexpected character"),
        ("1 2", 3, "after a complete expression"),
        ("", 1, "empty"),
        ("Exponential(Exponential(1))", 13, "takes numbers"),
    ],
)
def test_errors_say_what_and_where(text, column, message):
    with pytest.raises(DistributionError, match=message) as caught:
        parse(text)
    assert caught.value.column == column
    assert str(caught.value).startswith(f"column {column}: ")


def test_untrusted_input_is_bounded():
    with pytest.raises(DistributionError, match="nested deeper"):
        parse("(" * 500 + "1" + ")" * 500)
    with pytest.raises(DistributionError, match="longer than"):
        parse("1 + " * 5000 + "1")


@pytest.mark.parametrize(
    "text",
    [
        "1" + " ^ 1" * 1000,
        " + ".join(["1"] * 1000),
        " * ".join(["Exponential(1)"] * 500),
        "(" * 1000 + "1" + ")" * 1000,
    ],
)
def test_long_chains_are_refused_not_a_recursion_error(text):
    """Sampling and printing walk the tree recursively: a chain of a thousand operators is a clean error."""
    with pytest.raises(DistributionError, match="nested deeper than"):
        parse(text)
