"""The HTML report: one self-contained file that a browser renders without fetching anything."""

from __future__ import annotations

import json
import math
import os
import re
import shutil

import pytest

from breachpath.analysis import nice_axis, whatif
from breachpath.demo import example_path, technique_names
from breachpath.dist import parse
from breachpath.evidence.catalog import load_catalog
from breachpath.evidence.model import read_estimate
from breachpath.graph import build_graph, scenario_graph
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG, ESTIMATES_DIR
from breachpath.report import estimate_summaries, render_html, report_data
from breachpath.scenario import read_scenario
from breachpath.sim import simulate
from conftest import require_shared, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def make_report(name: str, kb=None, samples: int = 400) -> tuple[str, dict]:
    spec = compile_file(ATTACKLANG)
    graph, entries, targets, _ = scenario_graph(spec, read_scenario(example_path(name)))
    sim = simulate(graph, entries, targets, samples=samples, seed=8, path_targets=len(targets))
    tried = whatif(graph, entries, targets, samples=samples, seed=8, limit=8)
    data = report_data(
        graph, sim, f"breachpath: {name}", technique_names(spec, kb), entries, kb=kb, whatif=tried,
        estimates=estimate_summaries(load_catalog(ESTIMATES_DIR)), summary={"scenario": name},
    )  # fmt: skip
    return render_html(data), data


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_a_report_for_each_example_has_every_section(name):
    html, data = make_report(name)
    for target in data["targets"]:
        assert target["name"] in html
        assert target["diagram"]["nodes"], "a diagram of the paths"
    for section in ('id="summary"', 'id="whatif"', 'id="techniques"', "Probability of compromise within t days",
                    "Most frequent attack paths", "Chokepoints"):  # fmt: skip
        assert section in html
    assert html.count("<polyline") == len(data["targets"])  # one TTC curve per target
    assert "https://attack.mitre.org/techniques/T1566/" in html  # steps link to their technique
    assert data["defenses"] and data["defenses"][0]["mean_p_reduction"] > 0


def test_the_report_is_self_contained():
    html, _ = make_report("web-service-c2")
    assert "default-src 'none'" in html  # a browser may fetch nothing
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"""\bsrc\s*=\s*["']?https?:""", html)


def test_the_report_shows_estimates_and_d3fend_countermeasures(kb_full):
    html, data = make_report("dmz-company", kb=kb_full)
    by_id = {t["id"]: t for t in data["techniques"]}
    assert by_id["T1190"]["estimate"]["result"] == read_estimate(ESTIMATES_DIR / "T1190.yaml").result
    assert by_id["T1190"]["d3fend"], "D3FEND countermeasures for exploiting the shop"
    assert "Exponential(24)" in html and by_id["T1190"]["d3fend"][0]["name"] in html
    colours = {n["colour"] for t in data["targets"] for n in t["diagram"]["nodes"]}
    assert len(colours) > 3  # coloured by tactic when the knowledge base names them


def test_the_report_escapes_what_the_model_names(tmp_path):
    spec = compile_file(ATTACKLANG)
    scenario = read_scenario(example_path("small-office"))
    for asset in scenario.model.assets.values():
        if asset.name == "fs01":
            asset.name = "<img src=x onerror=alert(1)>"
    graph = build_graph(spec, scenario.model)
    entries = [graph.find(e) for e in scenario.entry_points]
    targets = [graph.find(scenario.targets[0])]
    sim = simulate(graph, entries, targets, samples=200, seed=1, path_targets=1)
    html = render_html(report_data(graph, sim, "t", technique_names(spec), entries))
    assert "<img src=x" not in html and "&lt;img src=x" in html


def require_chromium() -> str:
    """Chromium, or a skip naming it; under BREACHPATH_REQUIRE_BROWSER=1 (CI installs it) a failure instead."""
    if CHROMIUM is None:
        message = "needs Chromium (Debian package chromium; .ci/run installs it)"
        if os.environ.get("BREACHPATH_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def test_chromium_renders_the_report_without_errors_or_requests(tmp_path):
    chromium = require_chromium()
    playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (breachpath[test])")
    html, _ = make_report("small-office")
    page_file = tmp_path / "report.html"
    page_file.write_text(html)
    requests, problems = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_file.as_uri())
        png = page.screenshot(full_page=True)
        height = page.evaluate("document.body.scrollHeight")
        svgs = page.evaluate("document.querySelectorAll('svg').length")
        page.set_content(f"<html><body style='margin:0;height:{height}px;background:#fafafa'></body></html>")
        blank = page.screenshot(full_page=True)  # what "blank" looks like at the same size
        browser.close()
    assert requests == [page_file.as_uri()], "the page fetched something besides itself"
    assert problems == []
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10 * len(blank)  # not blank: far more to compress
    assert height > 2000 and svgs == 2 * 4 + 1  # a curve and a diagram per target, and the what-if chart


def test_report_cli_from_saved_results(tmp_path):
    results = tmp_path / "results.npz"
    env = {"BREACHPATH_HOME": str(tmp_path)}
    scenario = str(example_path("web-service-c2"))
    done = run_cli("simulate", scenario, "--samples", "300", "--save", str(results), "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    out = {k: tmp_path / f for k, f in (("html", "r.html"), ("navigator", "l.json"), ("attack-flow", "f.json"))}
    args = [a for k, path in out.items() for a in (f"--{k}", str(path))]
    done = run_cli("report", str(results), *args, env=env)
    assert done.returncode == 0, done.stderr
    assert "source-code:exfiltrate" in out["html"].read_text()
    assert json.loads(out["navigator"].read_text())["versions"]["layer"] == "4.5"
    assert json.loads(out["attack-flow"].read_text())["type"] == "bundle"
    assert (out["html"].stat().st_mode & 0o777) == 0o666 & ~_umask()  # shareable, like any file the user writes


def test_report_cli_errors(tmp_path):
    done = run_cli("report", str(tmp_path / "missing.npz"), "--html", str(tmp_path / "r.html"))
    assert done.returncode == 2 and "missing.npz" in done.stderr
    done = run_cli("report", str(tmp_path / "missing.npz"))
    assert done.returncode == 2 and "--html" in done.stderr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("top", [0.07, 0.3, 1.0, 7.3, 40.7, 56.5, 99.9, 100.0, 1234.0])
def test_the_curve_axis_ends_at_a_round_number_just_above_the_data(top):
    end = nice_axis(top)
    step = end / 4
    assert top <= end < 2 * top  # covers the data, wastes less than half the axis
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-12)
    assert any(math.isclose(mantissa, m) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10))


def test_techniques_show_the_ttc_drawn_and_fill_evidence_gaps_from_the_knowledge_base(tmp_path):
    from breachpath.kb import KnowledgeBase, load_knowledge_base

    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "T1566.001.yaml").write_text(
        "name: Spearphishing Attachment\nattack_id: T1566.001\nstep: phished\n"
        "result: Bernoulli(0.3)*Exponential(2)\n"
        "findings:\n- source: A survey\n  url: https://example.org/survey\n  measure: success\n  count: 3\n"
        "  denominator: 10\n"
    )
    db = tmp_path / "kb.sqlite"
    load_knowledge_base(db, attack=[str(require_shared("data", "attack", "enterprise-attack.json.gz"))])
    load_knowledge_base(db, evidence=catalog)
    with KnowledgeBase.open(db) as kb:
        html, data = make_report("dmz-company", kb=kb)
    by_id = {t["id"]: t for t in data["techniques"]}
    # What was drawn: the estimate, on the state the technique leads to (its doors take no time).
    assert [t for t in by_id["T1190"]["ttc"] if t != "instantaneous"] == [
        str(parse(read_estimate(ESTIMATES_DIR / "T1190.yaml").result))
    ]
    assert all(t["ttc"] for t in data["techniques"])
    remote = by_id["T1566.001"]["estimate"]  # on the paths (a door), and the language has no estimate of it
    assert remote["catalog"] == "knowledge base" and remote["result"] == "Bernoulli(0.3)*Exponential(2)"
    assert remote["sources"] == [{"source": "A survey", "url": "https://example.org/survey"}]
    assert by_id["T1190"]["estimate"]["catalog"] == "language"  # the language's own estimate comes first
    assert "(knowledge base, phished)" in html
