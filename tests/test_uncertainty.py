"""How sure the numbers are (issue 16): each estimate's parameter uncertainty carried through the simulation
(`simulate --uncertainty`, second-order Monte Carlo on common random numbers) and which estimates drive the
results (`breachpath sensitivity`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from breachpath.demo import example_path
from breachpath.dist import parse
from breachpath.graph import scenario_graph
from breachpath.lang import compile_file
from breachpath.scenario import read_scenario
from breachpath.sim import Draws, TTCVariation, simulate
from breachpath.uncertainty import (
    ParameterDistribution,
    beta_around,
    lognormal_through,
    parameters,
    second_order,
    sensitivity,
)
from conftest import run_cli
from test_authoring import one_line_error

# Three ways to the target: phishing (a default: Beta(1, 1) on its 50%), guessing (an estimate pooled from 1,000
# observations), and a step that leads nowhere near the target. Owning the host takes a time with a stated interval.
LANGUAGE = """#id: "org.test.uncertainty"
#version: "0.1.0"

category Test {
  asset Net {
    | enter
      -> hosts.phish, hosts.guess, hosts.wander
  }
  asset Host {
    | phish [Bernoulli(0.5)]
      modeler info: "TTC: default for phishing, EasyAndUncertain: nobody measured it."
      -> own
    | guess [Bernoulli(0.5)]
      modeler info: "TTC: estimate estimates/T0002.yaml (Guess): Bernoulli(0.5)."
      -> own
    | own [Exponential(1)]
      modeler info: "TTC: estimate estimates/T0001.yaml (Own): Exponential(1)."
    | wander [Bernoulli(0.5)]
      modeler info: "TTC: default for discovery, EasyAndUncertain: it leads nowhere."
      -> nowhere
    | nowhere
  }
}

associations {
  Net [nets] * <-- Reach --> * [hosts] Host
}
"""

OWN = """name: Own
result: Exponential(1)
attack_id: T0001
kind: technique
findings:
- {source: A report, measure: median days to own, url: "https://example.org/own", year: 2024, days: 1.0, statistic: median}
time_interval: [0.5, 2.0]
"""

GUESS = """name: Guess
result: Bernoulli(0.5)
attack_id: T0002
kind: technique
findings:
- {source: A study, measure: share of guesses that worked, url: "https://example.org/guess", year: 2024, count: 500, denominator: 1000}
combine: beta-pooled
"""

SCENARIO = """lang: main.mal
samples: 1000
seed: 7
entry_points: ["net:enter"]
targets: ["host:own"]
model:
  assets:
    0: {name: net, type: Net, associated_assets: {hosts: [host]}}
    1: {name: host, type: Host}
"""


@pytest.fixture
def scenario(tmp_path):
    (tmp_path / "estimates").mkdir()
    (tmp_path / "estimates" / "T0001.yaml").write_text(OWN)
    (tmp_path / "estimates" / "T0002.yaml").write_text(GUESS)
    (tmp_path / "main.mal").write_text(LANGUAGE)
    (tmp_path / "scenario.yml").write_text(SCENARIO)
    return tmp_path / "scenario.yml"


def built(path):
    scenario = read_scenario(path)
    spec = compile_file(scenario.lang)
    graph, entries, targets, _ = scenario_graph(spec, scenario)
    return spec, graph, entries, targets


def by_label(params):
    return {p.label: p for p in params}


def test_each_number_gets_the_distribution_its_evidence_supports(scenario):
    spec, graph, _, _ = built(scenario)
    params = by_label(parameters(spec, graph))
    assert set(params) == {
        "default:phishing success probability", "T0002 success probability", "T0001 mean time",
        "default:discovery success probability",
    }  # fmt: skip
    # A default's 50% has only the uninformed prior's weight; 500 of 1,000 is the Beta posterior.
    assert params["default:phishing success probability"].distribution == ParameterDistribution("beta", 1.0, 1.0)
    assert params["T0002 success probability"].distribution == ParameterDistribution("beta", 501.0, 501.0)
    own = params["T0001 mean time"].distribution
    assert own.family == "lognormal"
    assert own.interval() == pytest.approx((0.5, 2.0))
    assert [graph.name(int(n)) for n in params["T0001 mean time"].nodes] == ["host:own"]


def test_distributions_are_vectorised_like_scipy_stats():
    beta = beta_around(0.2, weight=10)
    assert beta == ParameterDistribution("beta", 2.0, 8.0)
    draws = beta.sample(20_000, np.random.default_rng(1))
    assert draws.mean() == pytest.approx(0.2, abs=0.005)
    assert beta_around(1.0) == ParameterDistribution("point", 1.0)  # no spread at certainty
    logn = lognormal_through(1.0, 9.0)
    assert logn.median() == pytest.approx(3.0)
    assert np.quantile(logn.sample(40_000, np.random.default_rng(2)), [0.05, 0.95]) == pytest.approx([1, 9], rel=0.05)
    assert lognormal_through(2.0, 2.0) == ParameterDistribution("point", 2.0)


@pytest.mark.parametrize(
    "text", ["Bernoulli(0.3) * Exponential(2)", "Exponential(24) + Bernoulli(0.5) * Exponential(2)",
             "HardAndUncertain", "Exponential(3)", "Bernoulli(0.5) * Bernoulli(0.5)", "Zero"],
)  # fmt: skip
def test_draws_taken_apart_are_the_same_draws(text):
    dist = parse(text)
    whole = dist.sample(5000, np.random.default_rng(5))
    times, failed, u, p = dist.sample_parts(5000, np.random.default_rng(5))
    times[failed | ((u >= p) if u is not None else False)] = np.inf
    assert np.array_equal(whole, times)


@pytest.mark.parametrize("example", ["small-office", "saas-on-cloud"])
def test_zero_width_parameters_give_exactly_todays_results(example):
    scenario = read_scenario(example_path(example))
    spec = compile_file(scenario.lang)
    graph, entries, targets, _ = scenario_graph(spec, scenario)
    params = parameters(spec, graph)
    for p in params:
        p.distribution = ParameterDistribution("point", p.nominal)
    today = simulate(graph, entries, targets, samples=600, seed=11, path_targets=len(targets))
    varied = simulate(
        graph, entries, targets, samples=600, seed=11, path_targets=len(targets), draws=Draws(),
        variation=TTCVariation(np.full(graph.n_nodes, np.nan), np.ones(graph.n_nodes)),
    )  # fmt: skip
    assert np.array_equal(today.times, varied.times) and np.array_equal(today.path_nodes, varied.path_nodes)
    result = second_order(graph, entries, targets, params, outer=4, samples=600, seed=11)
    for j, name in enumerate(today.names):
        finite = today.times[:, j][np.isfinite(today.times[:, j])]
        figures = result["targets"][name]
        assert figures["draws"]["p"] == [len(finite) / 600] * 4
        assert figures["draws"]["median"] == [float(np.median(finite))] * 4
        assert figures["p_parameter_interval"] == [len(finite) / 600] * 2


def test_an_uninformed_estimate_gives_a_wider_interval_than_one_pooled_from_1000_observations(scenario):
    spec, graph, entries, targets = built(scenario)
    params = by_label(parameters(spec, graph))
    width = {}
    for label in ("default:phishing success probability", "T0002 success probability"):
        # Only this one uncertain; the others fixed at their values.
        fixed = [p if p.label == label else _pointed(p) for p in params.values()]
        result = second_order(graph, entries, targets, fixed, outer=200, samples=1000, seed=3)
        low, high = result["targets"]["host:own"]["p_parameter_interval"]
        width[label] = high - low
    assert width["default:phishing success probability"] > 5 * width["T0002 success probability"]
    assert width["T0002 success probability"] > 0


def _pointed(param):
    param = type(param)(**{k: getattr(param, k) for k in param.__dataclass_fields__})
    param.distribution = ParameterDistribution("point", param.nominal)
    return param


def test_intervals_cover_the_true_value_at_the_stated_rate(scenario):
    """A step whose true success probability is known: each replication observes 40 attempts, pools them into a
    Beta posterior and runs the second-order simulation; its 90% interval for P(compromise) should hold the true
    value in about 90% of replications (Bayesian intervals with a uniform prior are calibrated on average)."""
    spec, graph, entries, targets = built(scenario)
    params = by_label(parameters(spec, graph))
    truth = 0.3
    rng = np.random.default_rng(2026)
    held, replications = 0, 120
    for r in range(replications):
        k = int(rng.binomial(40, truth))
        guess = _pointed(params["T0002 success probability"])
        guess.distribution = ParameterDistribution("beta", 1.0 + k, 1.0 + 40 - k)
        # phishing never works here, so P(compromise) is the guess's probability itself
        phish = _pointed(params["default:phishing success probability"])
        phish.distribution = ParameterDistribution("point", 0.0)
        fixed = [guess, phish, _pointed(params["T0001 mean time"])]
        result = second_order(graph, entries, targets, fixed, outer=60, samples=1000, seed=r)
        low, high = result["targets"]["host:own"]["p_parameter_interval"]
        held += low <= truth <= high
    assert 0.83 <= held / replications <= 0.96, held / replications


def test_the_dominant_estimate_ranks_first_and_one_off_every_path_last_with_no_effect(scenario):
    spec, graph, entries, targets = built(scenario)
    result = sensitivity(graph, entries, targets, parameters(spec, graph), samples=2000, seed=5)
    labels = [row["label"] for row in result["parameters"]]
    assert labels[0] == "default:phishing success probability"
    last = result["parameters"][-1]
    assert last["label"] == "default:discovery success probability"
    assert last["effects"]["host:own"]["p_swing"] == 0 and last["effects"]["host:own"]["median_swing"] == 0
    assert not last["ran"]
    phish = result["parameters"][0]["effects"]["host:own"]
    # P = 1 − (1 − phish)(1 − guess): phish from 5% to 95% with guess at its median 50%.
    assert phish["p_low"] == pytest.approx(1 - 0.95 * 0.5, abs=0.03)
    assert phish["p_high"] == pytest.approx(1 - 0.05 * 0.5, abs=0.03)
    guess = next(r for r in result["parameters"] if r["label"] == "T0002 success probability")["effects"]["host:own"]
    assert 0 < guess["p_swing"] < phish["p_swing"] / 5
    own = next(r for r in result["parameters"] if r["label"] == "T0001 mean time")["effects"]["host:own"]
    assert own["p_swing"] == 0 and own["median_swing"] > 0  # a slower step: later, not less likely


def test_a_time_horizon_lets_times_move_the_probability(scenario):
    spec, graph, entries, targets = built(scenario)
    result = sensitivity(graph, entries, targets, parameters(spec, graph), samples=2000, seed=5, horizon=1.0)
    own = next(r for r in result["parameters"] if r["label"] == "T0001 mean time")["effects"]["host:own"]
    assert own["p_swing"] < 0  # at its 95th percentile the step takes longer: less often within a day


def test_simulate_uncertainty_and_sensitivity_from_the_command_line(scenario, tmp_path):
    done = run_cli("simulate", str(scenario), "--uncertainty", "--outer", "20", "--format", "json")
    assert done.returncode == 0, done.stderr
    spread = json.loads(done.stdout)["uncertainty"]
    own = spread["targets"]["host:own"]
    assert spread["outer"] == 20 and len(own["draws"]["p"]) == 20
    assert own["p_parameter_interval"][0] < own["p"] < own["p_parameter_interval"][1]
    assert own["p_sampling_ci95"][0] < own["p"] < own["p_sampling_ci95"][1]
    table = run_cli("simulate", str(scenario), "--uncertainty", "--outer", "20")
    assert table.returncode == 0 and "Parameter uncertainty" in table.stdout
    done = run_cli("sensitivity", str(scenario), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"][0]["label"] == "default:phishing success probability"
    table = run_cli("sensitivity", str(scenario), "--report", str(tmp_path / "r.html"))
    assert table.returncode == 0, table.stderr
    assert "Better data on default:phishing" in " ".join(table.stdout.split())
    html = (tmp_path / "r.html").read_text()
    assert "What drives this result" in html and "default:phishing success probability" in html
    done = run_cli("simulate", str(scenario), "--uncertainty", "--outer", "20", "--report", str(tmp_path / "u.html"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "u.html").read_text()
    assert "<polygon" in html and "estimates' uncertainty" in html


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--uncertainty", "--outer", "0"], ["--outer", "1 to 10,000"]),
        (["--uncertainty", "--precision", "0.01"], ["--uncertainty", "--precision"]),
    ],
)
def test_bad_uncertainty_options_are_one_line(scenario, args, needles):
    one_line_error(run_cli("simulate", str(scenario), *args), *needles)


@pytest.mark.parametrize(
    "args, needles",
    [(["--top", "0"], ["--top"]), (["--horizon", "-1"], ["--horizon"]), (["--samples", "0"], ["--samples"])],
)
def test_bad_sensitivity_options_are_one_line(scenario, args, needles):
    one_line_error(run_cli("sensitivity", str(scenario), *args), *needles)


def test_a_bad_time_interval_names_the_file_and_field(scenario):
    bad = scenario.parent / "estimates" / "T0001.yaml"
    bad.write_text(OWN.replace("[0.5, 2.0]", "[2.0, 0.5]"))
    one_line_error(run_cli("sensitivity", str(scenario)), "T0001.yaml", "time_interval")
    bad.write_text(OWN.replace("[0.5, 2.0]", "[0, 2.0]"))
    one_line_error(run_cli("simulate", str(scenario), "--uncertainty"), "T0001.yaml", "time_interval")


def test_a_time_the_scenario_replaced_is_not_the_estimates_to_vary(scenario):
    text = scenario.read_text() + 'ttc:\n  "host:guess": "Bernoulli(0.9)"\n'
    scenario.write_text(text)
    spec, graph, _, _ = built(scenario)
    labels = {p.label for p in parameters(spec, graph)}
    assert "T0002 success probability" not in labels and "default:phishing success probability" in labels


def test_a_gate_whose_mitigation_is_off_is_not_run_and_one_switched_on_is():
    """A gate's defeat step leads only to the bypassed step, which an off mitigation reaches at 0 in every sample:
    its effectiveness cannot matter (exactly), so sensitivity spends no run on it."""
    scenario = read_scenario(example_path("small-office"))
    spec = compile_file(scenario.lang)
    graph, entries, targets, _ = scenario_graph(spec, scenario)
    result = sensitivity(graph, entries, targets, parameters(spec, graph), samples=300, seed=1)
    gates = [r for r in result["parameters"] if r["what"] == "defense effectiveness"]
    assert gates and not any(r["ran"] for r in gates)
    assert all(e["p_swing"] == 0 for r in gates for e in r["effects"].values())
    graph.defense_p[graph.find("ws-alice:m1026PrivilegedAccountManagement", defense=True)] = 1.0
    result = sensitivity(graph, entries, targets, parameters(spec, graph), samples=300, seed=1)
    ran = {r["id"] for r in result["parameters"] if r["what"] == "defense effectiveness" and r["ran"]}
    assert ran == {"M1026"}


def test_estimates_resting_on_the_same_findings_move_together():
    """M1032 and D3-MFA (the same control in ATT&CK and D3FEND) pool the same findings: each outer draw gives them
    the same quantile, while estimates with other evidence are drawn independently."""
    from breachpath.uncertainty import draw_parameters

    scenario = read_scenario(example_path("saas-on-cloud"))
    spec = compile_file(scenario.lang)
    graph, _, _, _ = scenario_graph(spec, scenario)
    params = by_label(parameters(spec, graph))
    pair = [params["M1032 effectiveness"], params["D3-MFA effectiveness"]]
    other = params["M1018 effectiveness"]
    assert pair[0].evidence == pair[1].evidence != other.evidence
    draws = draw_parameters([*pair, other], 400, np.random.default_rng(3))
    quantiles = [scipy_cdf(p.distribution, d) for p, d in zip([*pair, other], draws, strict=True)]
    assert np.allclose(quantiles[0], quantiles[1])
    assert abs(np.corrcoef(quantiles[0], quantiles[2])[0, 1]) < 0.2


def scipy_cdf(dist, values):
    from scipy import stats

    return stats.beta.cdf(values, dist.a, dist.b)
