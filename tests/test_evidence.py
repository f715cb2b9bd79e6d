"""The evidence catalog: importing enterpriseLang's 171 notes, the Web Service seed, pooling, audits, YAML."""

from __future__ import annotations

import json

import pytest
from scipy import stats

from breachpath.errors import InputError
from breachpath.evidence import Finding, beta_pooled, mean_of, read_estimate, write_estimate
from breachpath.evidence.enterpriselang import check_note, estimate_of, import_directory, read_note
from breachpath.evidence.pages import estimate_page, render_estimate
from conftest import require_shared, run_cli


@pytest.fixture(scope="module")
def notes():
    return require_shared("data", "enterpriselang", "probabilities")


@pytest.fixture(scope="module")
def imported(notes):
    return import_directory(notes)


def test_every_note_is_imported_or_listed_with_a_reason(notes, imported):
    done, unparsed = imported
    files = sorted(p.name for p in notes.glob("*.md"))
    assert len(files) == 171
    assert sorted([n.file for n, _ in done] + [u["note"] for u in unparsed]) == files
    assert all(u["reason"] for u in unparsed)
    assert len(done) > 140  # most notes state a MAL distribution
    for _, estimate in done:
        estimate.distribution()  # every imported result parses


def test_web_service_note_reproduces_the_seed(notes):
    note = read_note(notes / "webService.md")
    estimate = estimate_of(note)
    assert estimate.attack_id == "T1102" and estimate.result == "Bernoulli(0.0445)"
    m_trends, sok = estimate.findings
    assert m_trends.percent == 3.96 and m_trends.year == 2020 and "Mtrends 2020" in m_trends.source
    assert (sok.count, sok.denominator) == (47, 951) and "SoK" in sok.source
    assert mean_of(estimate.findings) == pytest.approx((0.0396 + 47 / 951) / 2)
    assert round(mean_of(estimate.findings), 4) == 0.0445
    assert check_note(note)["consistent"] is True


def test_beta_pooling_uses_counts_and_effective_sample_sizes():
    findings = [
        Finding(source="a", measure="share of attack lifecycles", percent=3.96),
        Finding(source="b", measure="share of malware samples", count=47, denominator=951),
    ]
    pooled = beta_pooled(findings, effective_sample_size=100)
    alpha, beta = 1 + 3.96 + 47, 1 + 96.04 + 904
    assert pooled["alpha"] == pytest.approx(alpha) and pooled["beta"] == pytest.approx(beta)
    assert pooled["mean"] == pytest.approx(alpha / (alpha + beta))
    assert pooled["interval"] == pytest.approx(list(stats.beta.ppf([0.05, 0.95], alpha, beta)))
    low, high = pooled["interval"]
    assert low < 0.0445 < high
    # A finding's own effective sample size overrides the default.
    heavier = beta_pooled([Finding(source="a", measure="m", percent=50, effective_sample_size=1000)])
    lighter = beta_pooled([Finding(source="a", measure="m", percent=50)])
    assert heavier["interval"][1] - heavier["interval"][0] < lighter["interval"][1] - lighter["interval"][0]


def test_t1102_page_shows_both_findings_the_mean_and_the_interval(notes, kb18):
    page = estimate_page(estimate_of(read_note(notes / "webService.md")), kb18)
    markdown = render_estimate(page)
    assert markdown.startswith("# [Web Service (T1102)](https://attack.mitre.org/techniques/T1102)")
    for text in (
        "## Context",
        "Dead Drop Resolver (T1102.001)",
        "## Findings",
        "3.96%",
        "47 out of 951 = 4.94%",
        "Mean of the findings (how enterpriseLang combines them): 4.45%",
        "90% credible interval [",
        "## Result\n```Bernoulli(0.0445)```",
        "## Time to compromise",
        "instant",
        "measure different things",
    ):
        assert text in markdown, text
    assert page["pooled"]["interval"][0] < page["mean_of_findings"] < page["pooled"]["interval"][1]


def test_audit_catches_wrong_arithmetic_and_wrong_units(notes):
    scanning = check_note(read_note(notes / "[Mitigation] VulnerabilityScanning.md"))
    assert scanning["consistent"] is False
    assert any("'100-37 = 73%' does not hold" in p for p in scanning["problems"])
    software = check_note(read_note(notes / "[Mitigation] updateSoftware.md"))
    assert software["consistent"] is False
    assert any("0–100 percentage scale" in p for p in software["problems"])
    # 15 minutes written as a rate of 96 per day is right: no unit complaint.
    com = check_note(read_note(notes / "componentObjectModelAndDistributedCOM.md"))
    assert not [p for p in com["problems"] if "Exponential" in p]


def test_rate_written_as_a_mean_is_caught(tmp_path):
    note = tmp_path / "slow.md"
    note.write_text(
        "# [Slow Step](https://attack.mitre.org/techniques/T1000/)\n\n## Findings\nNone.\n\n"
        "## Time to compromise\nIt takes about 1440 minutes.\n\n## Result\n```Exponential(1440)```\n"
    )
    result = check_note(read_note(note))
    assert result["consistent"] is False
    assert result["recomputed"] == "Exponential(1)"


TIMED = "name: x\nresult: Exponential(50)\nfindings:\n  - {{source: s, measure: m, {}}}\n"


def test_a_time_finding_says_how_long_and_which_statistic_and_is_never_pooled_as_a_share(tmp_path):
    path = tmp_path / "T1021.yaml"
    path.write_text(
        "name: Remote Services\nresult: Exponential(50)\nattack_id: T1021\nfindings:\n"
        "  - {source: CrowdStrike, measure: average eCrime breakout time, days: 0.02014, statistic: mean, year: 2026}\n"
        "  - {source: Fastest, measure: fastest breakout, days: 0.0003125, statistic: minimum}\n"
    )
    estimate = read_estimate(path)
    slow, fast = estimate.findings
    assert (slow.days, slow.statistic, slow.proportion) == (0.02014, "mean", None)
    assert slow.value_text() == "29 minutes (mean)" and fast.value_text() == "27 seconds (minimum)"
    assert beta_pooled(estimate.findings) is None and mean_of(estimate.findings) is None
    write_estimate(estimate, tmp_path / "again.yaml")
    assert read_estimate(tmp_path / "again.yaml") == estimate
    page = render_estimate(estimate_page(estimate))
    assert "29 minutes (mean)" in page and "27 seconds (minimum)" in page
    assert "Serves as a time (the mean of what it measures): it sets the TTC, never a probability." in page


def test_each_finding_says_what_it_can_serve_as_and_the_stated_intervals_round_trip(tmp_path):
    """A share pooled into an effectiveness, a share the result does not use as a probability (prevalence), an
    input of a derived result; and the 90% intervals an estimate states for its probability and mean time."""
    share = "  - {source: S, measure: share of attacks stopped, percent: 80}\n"
    path = tmp_path / "M1.yaml"
    path.write_text(f"name: Gate\nresult: Bernoulli(0.79)\nkind: mitigation\ncombine: beta-pooled\nfindings:\n{share}")
    assert "Serves as an effectiveness: pooled" in render_estimate(estimate_page(read_estimate(path)))
    path.write_text(f"name: Step\nresult: Exponential(2)\nfindings:\n{share}")
    assert "Serves as context only" in render_estimate(estimate_page(read_estimate(path)))
    path.write_text(
        "name: Campaign\nresult: Bernoulli(0.5) * Exponential(0.1)\ncombine: derived\n"
        f"probability_interval: [0.3, 0.7]\ntime_interval: [4, 20]\nfindings:\n{share}"
    )
    estimate = read_estimate(path)
    assert (estimate.probability_interval, estimate.time_interval) == ((0.3, 0.7), (4.0, 20.0))
    page = render_estimate(estimate_page(estimate))
    assert "an input of the stated computation" in page
    assert "Success probability, 90% interval: [30.00%, 70.00%] (stated)." in page
    assert "Mean time, 90% interval: [4 days, 20 days] (stated)." in page
    write_estimate(estimate, tmp_path / "again.yaml")
    assert read_estimate(tmp_path / "again.yaml") == estimate


def test_estimates_round_trip_through_yaml(tmp_path, imported):
    _, estimate = next((n, e) for n, e in imported[0] if n.file == "webService.md")
    path = tmp_path / "T1102.yaml"
    write_estimate(estimate, path)
    assert read_estimate(path) == estimate


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nresult: [unclosed\n", r"line 3, column 1: invalid YAML"),
        ("name: x\nresult: Bernoulli(2)\n", r"result: column 11: Bernoulli parameter p=2"),
        (
            "name: x\nresult: Bernoulli(0.5)\nfindings:\n  - source: s\n    measure: m\n    percent: 140\n",
            r"findings\[0\]: percent",
        ),
        ("name: x\nresult: Bernoulli(0.5)\nunknown: 1\n", "unknown field"),
        ("- just\n- a list\n", "expected a mapping"),
        # A time: days above 0 with the statistic it is; never beside a share.
        (TIMED.format("days: 0.02"), r"findings\[0\]: a time needs its statistic"),
        (TIMED.format("days: 0.02, statistic: average"), r"findings\[0\]: a time needs its statistic"),
        (TIMED.format("days: 0, statistic: mean"), r"findings\[0\]: days must be a number of days above 0"),
        (TIMED.format("days: .inf, statistic: mean"), r"findings\[0\]: days must be"),
        (TIMED.format("days: 1e9, statistic: mean"), r"findings\[0\]: days must be"),
        (TIMED.format("statistic: mean"), r"findings\[0\]: days must be"),
        (TIMED.format("days: 0.02, statistic: mean, percent: 40"), r"findings\[0\]: a finding holds one value"),
    ],
)
def test_malformed_estimate_files_fail_with_position(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        read_estimate(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_cli_import_check_show_list(tmp_path, notes):
    env = {"BREACHPATH_HOME": str(tmp_path)}
    result = run_cli("evidence", "import-enterpriselang", str(notes), "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["imported"]) + len(data["unparsed"]) == 171
    web = next(i for i in data["imported"] if i["note"] == "webService.md")
    assert web == {"note": "webService.md", "attack_id": "T1102", "result": "Bernoulli(0.0445)", "findings": 2}
    assert set(data["unparsed"][0]) == {"note", "reason"}

    checked = json.loads(run_cli("evidence", "check", str(notes), "--format", "json", env=env).stdout)
    assert len(checked) == 171
    assert all(set(r) == {"note", "stated", "recomputed", "consistent", "problems"} for r in checked)
    assert next(r for r in checked if r["note"] == "webService.md")["consistent"] is True

    page = json.loads(run_cli("evidence", "show", "T1102", "--format", "json", env=env).stdout)
    assert page["result"] == "Bernoulli(0.0445)" and len(page["findings"]) == 2 and page["pooled"]
    listed = json.loads(run_cli("evidence", "list", "--format", "json", env=env).stdout)
    assert len(listed) == len(data["imported"])

    missing = run_cli("evidence", "show", "T9999", env=env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_cli_malformed_expression_and_yaml_exit_2(tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "bad.yaml").write_text("name: x\nresult: Exponential(0\n")
    result = run_cli("evidence", "list", "--catalog", str(catalog))
    assert result.returncode == 2
    assert "bad.yaml: result: column 14: expected ')'" in result.stderr and result.stderr.count("\n") == 1


def test_estimates_load_into_the_knowledge_base(tmp_path, notes):
    from breachpath.evidence.catalog import save_catalog
    from breachpath.kb import KnowledgeBase, load_knowledge_base

    done, _ = import_directory(notes)
    catalog = tmp_path / "catalog"
    save_catalog([e for _, e in done], catalog)
    bundle = require_shared("data", "attack-v17.1", "enterprise-attack.json.gz")
    db = tmp_path / "kb.sqlite"
    load_knowledge_base(db, attack=[str(bundle)])
    report = load_knowledge_base(db, evidence=catalog)
    assert report["evidence"]["estimates"] == len(done)
    with KnowledgeBase.open(db) as kb:
        page = kb.page("T1102")
        assert [e["result"] for e in page["estimates"]] == ["Bernoulli(0.0445)"]
        assert kb.info()["evidence"]["estimates"] == len(done)
        assert page["groups"]  # the ATT&CK part was kept
