"""Evidence coverage (`breachpath evidence coverage`): which of a language's numbers rest on an estimate with
findings, which on a stated default, and how often each lies on the example systems' attack paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from breachpath.evidence.model import read_estimate
from breachpath.evidence.pool import beta_pooled
from breachpath.evidence_coverage import coverage, coverage_rows, gate_id, path_shares
from breachpath.lang import compile_file
from breachpath.lang.provenance import ttc_provenance
from breachpath.langs import ATTACKLANG, ESTIMATES_DIR
from conftest import run_cli
from test_authoring import one_line_error

LANGUAGE = """#id: "org.test.coverage"
#version: "0.1.0"

category Test {
  asset Host {
    | access [Exponential(1)]
      modeler info: "TTC: estimate estimates/T0001.yaml (Test access): Exponential(1)."
      -> own
    | own [Exponential(2)]
      modeler info: "TTC: estimate estimates/T0404.yaml (Never written): Exponential(2)."
    | look [Exponential(3)]
      modeler info: "TTC: default for discovery, EasyAndCertain: about a day."
    | sneak [Exponential(3)]
      modeler info: "TTC: estimate estimates/../../secrets.yaml (Outside): Exponential(3)."
    | bare [Exponential(4)]
    # m1032MultiFactorAuthentication
      user info: "Multi-factor Authentication, https://attack.mitre.org/mitigations/M1032/"
      -> m1032MultiFactorAuthenticationBypassed
    | defeatM1032MultiFactorAuthentication [Bernoulli(0.2)]
      modeler info: "estimates/M1032.yaml (Beta-pooled findings). Effectiveness 80.00%; defeated otherwise."
      -> m1032MultiFactorAuthenticationBypassed
    | m1032MultiFactorAuthenticationBypassed
      -> own
  }
}
"""

ACCESS = """name: Test access
result: Exponential(1)
attack_id: T0001
kind: technique
findings:
- {source: A report, measure: median hours to access, url: "https://example.org/a", year: 2024, percent: 40.0}
- {source: A report, measure: median hours to access, url: "https://example.org/b", year: 2023, percent: 60.0}
- {source: Another, measure: median hours to access, url: "https://example.org/a", year: 2023, percent: 50.0}
combine: mean
"""

MFA = """name: Multi-factor Authentication
result: Bernoulli(0.8)
attack_id: M1032
kind: mitigation
findings:
- {source: A study, measure: effectiveness, url: "https://example.org/mfa", year: 2022, percent: 80.0}
combine: beta-pooled
"""


@pytest.fixture
def language(tmp_path):
    (tmp_path / "estimates").mkdir()
    (tmp_path / "estimates" / "T0001.yaml").write_text(ACCESS)
    (tmp_path / "estimates" / "M1032.yaml").write_text(MFA)
    (tmp_path / "secrets.yaml").write_text(ACCESS.replace("T0001", "T6666"))  # beside, not in estimates/
    (tmp_path / "main.mal").write_text(LANGUAGE)
    return tmp_path / "main.mal"


def test_each_number_is_one_row_with_its_estimate_findings_and_sources_or_its_default(language):
    rows = {r["id"]: r for r in coverage_rows(compile_file(language))}
    assert set(rows) == {"T0001", "T0404", "default:discovery", "estimates/../../secrets.yaml", "unstated:Host.bare",
                         "M1032"}  # fmt: skip
    access = rows["T0001"]
    assert (access["source"], access["what"], access["name"], access["value"]) == (
        "estimate", "step TTC", "Test access", "Exponential(1)",
    )  # fmt: skip
    # Three findings from two URLs; sources count distinct URLs (or titles without one).
    assert (access["findings"], access["sources"], access["steps"]) == (3, 2, ["Host.access"])
    assert rows["T0404"]["missing"] and rows["T0404"]["findings"] == 0
    # A cited path outside estimates/ is never read: missing, even though the file exists.
    assert rows["estimates/../../secrets.yaml"]["missing"]
    default = rows["default:discovery"]
    assert (default["source"], default["name"], default["reason"]) == (
        "default",
        "discovery",
        "EasyAndCertain: about a day",
    )
    assert rows["unstated:Host.bare"]["source"] == "unstated"
    mfa = rows["M1032"]
    assert (mfa["what"], mfa["source"], mfa["value"], mfa["findings"], mfa["name"]) == (
        "defense effectiveness", "estimate", 0.8, 1, "Multi-factor Authentication",
    )  # fmt: skip
    assert mfa["steps"] == ["Host.defeatM1032MultiFactorAuthentication"]


def test_gate_ids_are_the_mitigation_or_the_d3fend_id_the_name_spells():
    assert gate_id("m1032MultiFactorAuthentication", ["M1032"]) == "M1032"
    assert gate_id("d3CFPChangeDefaultPassword", []) == "D3-CFP"
    assert gate_id("d3DNSALDnsAllowlisting", []) == "D3-DNSAL"
    assert gate_id("lockDoor", []) == "lockDoor"


@pytest.fixture(scope="module")
def attacklang():
    return compile_file(ATTACKLANG)


def test_attacklang_every_timed_step_is_counted_once_against_the_shipped_catalog(attacklang):
    rows = coverage_rows(attacklang)
    timed = [
        f"{asset}.{name}"
        for asset in attacklang.assets
        for name, step in attacklang.steps(asset).items()
        if step.asset == asset and ttc_provenance(step) is not None
    ]
    listed = [step for row in rows for step in row["steps"]]
    assert sorted(listed) == sorted(timed) and len(set(listed)) == len(listed)
    assert not [r["id"] for r in rows if r["missing"] or r["source"] == "unstated"]
    by_id = {r["id"]: r for r in rows}
    # The catalog's own counts: MFA's findings and pooled effectiveness; phishing's campaign estimate.
    shipped = {p.stem for p in ESTIMATES_DIR.glob("*.yaml")}
    assert {r["id"] for r in rows if r["source"] == "estimate"} <= shipped
    mfa = read_estimate(ESTIMATES_DIR / "M1032.yaml")
    pooled = beta_pooled(mfa.findings, mfa.effective_sample_size)
    assert by_id["M1032"]["findings"] == len(mfa.findings) >= 2
    assert by_id["M1032"]["value"] == pytest.approx(pooled["mean"], abs=5e-5)
    assert by_id["T1566"]["source"] == "estimate" and by_id["T1566"]["steps"] == ["Person.phished"]


def test_path_shares_count_the_paths_that_hold_a_rows_step(attacklang):
    """Checked against a plain count over every path; a row whose steps the example lacks has none."""
    from breachpath.analysis import path_steps
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.scenario import read_scenario
    from breachpath.sim import simulate

    rows = coverage_rows(attacklang)
    shares = path_shares(rows, ["small-office"], samples=300, seed=4)
    scenario = read_scenario(example_path("small-office"))
    graph, entries, targets, _ = scenario_graph(attacklang, scenario)
    sim = simulate(graph, entries, targets, samples=300, seed=4, path_targets=len(targets))
    phishing = {s for r in rows if r["id"] == "T1566" for s in r["steps"]}
    held = total = 0
    for j in range(len(targets)):
        successful = np.flatnonzero(np.isfinite(sim.times[:, j]))
        nodes, path = path_steps(sim, successful, j)
        for k in range(len(successful)):
            names = {f"{graph.asset_types[graph.asset[n]]}.{graph.step_names[graph.step[n]]}" for n in nodes[path == k]}
            held += bool(names & phishing)
            total += 1
    assert shares["step TTC|T1566"] == held / total > 0.5
    # Rows listing steps as the type that declares them: a step the model's types neither declare nor inherit.
    present = {
        f"{st.asset}.{name}" for t in set(graph.asset_types.tolist()) for name, st in attacklang.steps(t).items()
    }
    absent = [r for r in rows if not set(r["steps"]) & present]
    assert absent and all(shares.get(f"{r['what']}|{r['id']}", 0.0) == 0.0 for r in absent)
    assert all(0.0 <= v <= 1.0 for v in shares.values())


def test_coverage_ranks_rows_by_their_share_of_paths_and_sums_up(attacklang):
    result = coverage(attacklang, ["small-office", "dmz-company"], samples=200, seed=3)
    on_paths = [r["on_paths"] for r in result["rows"]]
    assert on_paths == sorted(on_paths, reverse=True) and on_paths[0] > 0.5
    summary = result["summary"]
    assert summary["target"] == 60 and summary["catalog_files"] == len(list(ESTIMATES_DIR.glob("*.yaml")))
    uses = {r["id"] for r in result["rows"] if r["source"] == "estimate" and r["findings"]}
    assert summary["estimates_with_findings"] == len(uses)
    steps = sum(c["steps"] for kind in summary["by_kind"].values() for c in kind.values())
    assert steps == sum(len(r["steps"]) for r in result["rows"])
    assert (result["samples"], result["seed"], result["examples"]) == (200, 3, ["small-office", "dmz-company"])


def test_cli_table_and_json(language):
    table = run_cli("evidence", "coverage", "--samples", "100", env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "Evidence coverage of org.breachpath.attacklang" in table.stdout and "on paths" in table.stdout
    assert "of the estimates this language uses have findings (target 60)" in table.stdout
    own = run_cli("evidence", "coverage", "--lang", str(language), "--format", "json")
    assert own.returncode == 0, own.stderr
    data = json.loads(own.stdout)
    # Another language's paths are not the examples': no share is counted.
    assert data["examples"] == [] and "on_paths" not in data["rows"][0]
    assert data["summary"]["missing"] == ["T0404", "estimates/../../secrets.yaml"]
    assert data["language"]["id"] == "org.test.coverage"
    shown = run_cli("evidence", "coverage", "--lang", str(language), env={"COLUMNS": "200"})
    assert "Cited but missing: T0404" in shown.stdout and "(file missing)" in shown.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--samples", "0"], "--samples"), (["--seed", "-1"], "--seed"), (["--lang", "nowhere.mal"], "nowhere.mal")],
)
def test_cli_bad_options_are_one_line(args, needle):
    one_line_error(run_cli("evidence", "coverage", *args), needle)


def test_a_malformed_estimate_beside_the_language_is_one_line_naming_it(language):
    (language.parent / "estimates" / "T0001.yaml").write_text("name: [unclosed\n")
    one_line_error(run_cli("evidence", "coverage", "--lang", str(language)), "T0001.yaml")
