"""The evidence catalog under bad input (issue 13): the enterpriseLang audit tells consistent notes from wrong ones,
figures that are not shares stay visible, estimate files are untrusted (one line naming the file and field), only
http(s) URLs become links, and a catalog directory that is not one gets one line."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from breachpath.errors import InputError
from breachpath.evidence import Estimate, Finding, read_estimate
from breachpath.evidence.catalog import load_catalog
from breachpath.evidence.enterpriselang import check_directory, check_note, estimate_of, read_note
from breachpath.evidence.pages import estimate_page, render_estimate
from conftest import require_shared, run_cli


@pytest.fixture(scope="module")
def notes() -> Path:
    return require_shared("data", "enterpriselang", "probabilities")


# -- 1. the audit of enterpriseLang's notes ---------------------------------------------------------------------

# Notes whose result follows from what they state, which the audit used to call inconsistent, with the reason.
CONSISTENT = {
    "credentialDumping.md": "(15 + 9.25 + 5.89 + 5) / 4 = 8.785, no % sign → Bernoulli(0.08785)",
    "browserBookmarkDiscovery.md": "(5.29 + 0.84) / 2 = 3.065 → Bernoulli(0.03065)",
    "dLLSideLoading.md": "(11.14 + 3.96) / 2 = 7.55 → Bernoulli(0.0755)",
    "fileDeletion.md": "(14.19 + 10.57) / 2 = 12.38 → Bernoulli(0.1238)",
    "resourceHijacking.md": "(2.2+7)/2 = 4.6 → Bernoulli(0.046)",
    "executionThroughAPI.md": "(59.1 + 52.9) / 2 = 56 → Bernoulli(0.56)",
    "securitySoftwareDiscovery.md": "(78.654 + 88.12) / 2 = 83.387 → Bernoulli(0.83387)",
    "connectionProxy.md": "(77.04 + 87.97) / 2 = 82.505 → ~Bernoulli(0.825)",
    "passTheHash.md": "(19 + 13) / 2 = 16 → Bernoulli(0.16)",
    "[Mitigation] executionPrevention.md": "(0.25 + 0.629)/2 = 0.4395, a fraction → Bernoulli(0.4395)",
    "transmittedDataManipulation.md": "1 - 0.34167 = 0.65833, a fraction → Bernoulli(0.65833)",
    "[Mitigation] networkSegmentation.md": "(17%+19%)/2 = 18% → Bernoulli(0.18)",
    "[Mitigation] encryptSensitiveInformation.md": "Result: (30 + 44 + 28.5)/3 = 34.1666...% → Bernoulli(0.34167)",
    "[Mitigation] dataBackup.md": "(28/7=4) + (20/30=2/3) + 41 = ~45.67% → Bernoulli(0.4567)",
    "componentFirmware.md": "1% of 0.934% is 0.00934% → Bernoulli(0.0000934)",
    "queryRegistry.md": "the average (3.96 + 6.492) / 2, written without its value → Bernoulli(0.05226)",
    "dataEncrypted.md": "the mean of the findings 52.835% and 576/951 → Bernoulli(0.567)",
    "obfuscatedFilesOrInformation.md": "the mean of the findings 84.39% and 604/951 → Bernoulli(0.7395)",
    "systemInformationDiscovery.md": "the mean of the findings 72.31% and 669/951 → Bernoulli(0.7133)",
    "softwarePacking.md": "the mean of the five percentages of its one paragraph, 56.784 → Bernoulli(0.56784)",
    "virtualizationOrSandboxEvasion.md": "'hovered around 18%', the paragraph's second figure → Bernoulli(0.18)",
    "systemTimeDiscovery.md": "(0.44+6.492+52.3) / 3 = 19.744 → Bernoulli(0.19744) (52.3 is flagged, see below)",
    "defacement.md": "((1-0.4567) + 7.647)/2 = 0.309885 holds with 7.647 read as 7.647% → Bernoulli(0.31)",
}

# Notes that really are inconsistent, and what is wrong with each.
INCONSISTENT = {
    "[Mitigation] VulnerabilityScanning.md": "'100-37 = 73%' does not hold",
    "[Mitigation] updateSoftware.md": "is on a 0–100 percentage scale",
    "standardCryptographicProtocol.md": "is on a 0–100 percentage scale",
    "controlPanelItems.md": "the result Bernoulli(0.83) follows from none of the stated figures (the last: 0.006%",
    "nonStandardPort.md": "the result Bernoulli(0.1198) follows from none of the stated figures",
    "securitydMemory.md": "the result Bernoulli(0.0158) follows from none of the stated figures (the last: 1/57",
}


@pytest.mark.parametrize("name", sorted(CONSISTENT))
def test_a_result_that_is_the_stated_computation_or_mean_is_consistent(notes, name):
    checked = check_note(read_note(notes / name))
    assert checked["consistent"] is True, (CONSISTENT[name], checked["problems"])
    assert not [p for p in checked["problems"] if "follows from none" in p or "does not hold" in p]
    assert checked["recomputed"] == checked["stated"]


def test_credential_dumping_follows_from_its_stated_mean(notes):
    checked = check_note(read_note(notes / "credentialDumping.md"))
    assert checked == {
        "note": "credentialDumping.md",
        "stated": "Bernoulli(0.08785)",
        "recomputed": "Bernoulli(0.08785)",
        "consistent": True,
        "problems": [p for p in checked["problems"] if p.startswith("the findings measure different things")],
    }


@pytest.mark.parametrize("name", sorted(INCONSISTENT))
def test_notes_that_really_are_inconsistent_stay_flagged(notes, name):
    checked = check_note(read_note(notes / name))
    assert checked["consistent"] is False
    assert any(INCONSISTENT[name] in p for p in checked["problems"]), checked["problems"]


def test_exactly_the_wrong_notes_are_called_inconsistent(notes):
    rows = check_directory(notes)
    assert len(rows) == 171
    assert sorted(r["note"] for r in rows if r["consistent"] is False) == sorted(INCONSISTENT)
    assert sum(r["consistent"] is True for r in rows) == 49 + len(CONSISTENT)


def test_a_wrong_figure_is_carried_into_the_recomputed_result(notes):
    # 100 - 37 is 63, not 73; the Result's mean (59+73+75+78+80+44+48)/7 = 65.3% becomes 447/7 = 63.86%.
    checked = check_note(read_note(notes / "[Mitigation] VulnerabilityScanning.md"))
    assert checked["recomputed"] == "Bernoulli(0.638571)"


def test_mixed_scales_and_a_transposed_figure_are_reported_without_failing_the_note(notes):
    defacement = check_note(read_note(notes / "defacement.md"))
    assert any("mixes fractions and percentages: it holds when 7.647 is read as a percentage" in p
               for p in defacement["problems"])  # fmt: skip
    time_discovery = check_note(read_note(notes / "systemTimeDiscovery.md"))
    # The SoK finding is 506/951 = 53.2%; the average uses 52.3.
    assert any("uses 52.3, which the note states nowhere else (a slip: 52.3 for 53.2?)" in p
               for p in time_discovery["problems"])  # fmt: skip


def test_the_check_command_reports_the_new_counts(notes):
    result = run_cli("evidence", "check", str(notes), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["note"] for r in rows if r["consistent"] is False) == sorted(INCONSISTENT)


def test_the_check_table_counts_and_names_notes_as_written(notes):
    result = run_cli("evidence", "check", str(notes), env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    assert "171 notes: 72 consistent, 6 not, 93 unchecked" in result.stdout  # before: 49 consistent, 29 not
    # "[Mitigation]" in a note's name is text, not Rich markup that would swallow it.
    assert "[Mitigation] VulnerabilityScanning.md" in result.stdout


# -- 2. figures that cannot be shares ----------------------------------------------------------------------------


def _edited_note(notes: Path, tmp_path: Path, old: str, new: str) -> Path:
    """The real webService.md note with one figure changed."""
    text = (notes / "webService.md").read_text()
    assert old in text
    path = tmp_path / "webService.md"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("3.96% of all attack lifecycles", "149% of all attack lifecycles",
         "finding of 149% is not a share (outside 0–100%)"),
        ("47 out of 951 malware samples", "1470 out of 951 malware samples",
         "finding of 1470 out of 951 is not a share (count above its denominator)"),
        ("3.96% of all attack lifecycles", "fell by -5% of all attack lifecycles",
         "finding of -5% is not a share (outside 0–100%)"),
    ],
)  # fmt: skip
def test_a_finding_that_is_not_a_share_is_kept_visible(notes, tmp_path, old, new, problem):
    note = read_note(_edited_note(notes, tmp_path, old, new))
    checked = check_note(note)
    assert problem in checked["problems"]
    assert checked["consistent"] is False
    assert problem in estimate_of(note).problems  # the imported estimate carries it too


def test_shares_and_ranges_are_not_mistaken_for_bad_figures(notes):
    # "10-12% of malware" is a range, not -12%; the real notes state no finding outside 0–100%.
    for path in sorted(notes.glob("*.md")):
        assert not read_note(path).figure_problems, path.name


# -- 3 and 4. estimate files are untrusted; only http(s) URLs are links ---------------------------------------------

VALID = "name: Web Service\nresult: Bernoulli(0.0445)\n"
FINDING = "findings:\n  - source: M-Trends\n    measure: share of attack lifecycles\n    percent: 3.96\n"


BAD_ESTIMATES = {
    # YAML that must not cost memory or time: a billion laughs in a field that is read, deep nesting.
    "alias-bomb": (
        "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
        + VALID
        + "problems: *l9\n",
        "aliases expand to more than",
    ),
    "deep-nesting": (VALID + "context: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
    "duplicate-key": (VALID + "name: Other\n", "duplicate key 'name'"),
    "list-key": ("[a]: 1\n" + VALID, "a key must be a name or number"),
    "not-utf8": (VALID.encode() + b"context: \xff\xfe\n", "not UTF-8"),
    # Wrong types: one line naming the field.
    "name-list": ("name: [1]\nresult: Bernoulli(0.5)\n", "name: required text"),
    "findings-mapping": (VALID + "findings: {a: 1}\n", "findings: expected a list, not a mapping"),
    "finding-url-list": (VALID + FINDING + "    url: [https://example.com]\n", "findings[0]: url must be an http"),
    "finding-note-mapping": (VALID + FINDING + "    note: {a: 1}\n", "findings[0]: note must be text, not a mapping"),
    "finding-unknown-field": (VALID + FINDING + "    sauce: x\n", "findings[0]: 'sauce' is not a field of a finding"),
    "finding-year-text": (VALID + FINDING + "    year: soon\n", "findings[0]: year must be a whole number"),
    "finding-count-bool": (
        VALID + "findings:\n  - {source: s, measure: m, count: true, denominator: 2}\n",
        "findings[0]: count/denominator must be whole numbers",
    ),
    "problems-text": (VALID + "problems: all fine\n", "problems: expected a list of text"),
    "sample-size-infinite": (VALID + "effective_sample_size: .inf\n", "effective_sample_size: a positive number"),
    "context-mapping": (VALID + "context: {a: 1}\n", "context: expected text, not a mapping"),
    "combine-list": (VALID + "combine: [mean]\n", "combine: one of mean, beta-pooled"),
    # Sizes the file controls.
    "too-many-findings": (
        VALID + "findings:\n" + "  - {source: s, measure: m, percent: 1}\n" * 1001,
        "findings: more than 1,000 findings",
    ),
    "long-name": ("name: " + "x" * 2000 + "\nresult: Bernoulli(0.5)\n", "name: longer than 1,000 characters"),
    # URLs that must never become links.
    "javascript-url": (
        VALID + FINDING + "    url: 'javascript:alert(1)'\n",
        "findings[0]: url must be an http:// or https:// address, not 'javascript:alert(1)'",
    ),
    "data-url": (VALID + FINDING + "    url: 'data:text/html,<script>alert(1)</script>'\n", "findings[0]: url must"),
    "protocol-relative-url": (VALID + FINDING + "    url: //evil.example/x\n", "findings[0]: url must"),
    "url-with-newline": (VALID + FINDING + '    url: "https://ok.example/\\njavascript:x"\n', "findings[0]: url must"),
}


def _limited_memory() -> None:
    """Run a bomb under 2 GiB of address space: a blow-up fails instead of taking the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _run_limited(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "breachpath.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails the test instead of stalling the suite
        preexec_fn=_limited_memory,
    )


def _assert_one_line(result: subprocess.CompletedProcess, path: Path | str, expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {path}"), result.stderr
    assert expected in result.stderr, result.stderr


@pytest.mark.parametrize("case", sorted(BAD_ESTIMATES))
def test_a_bad_estimate_file_gets_one_line_naming_file_and_field(tmp_path, case):
    content, expected = BAD_ESTIMATES[case]
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    path = catalog / f"{case}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    _assert_one_line(_run_limited("evidence", "list", "--catalog", str(catalog)), path, expected)
    with pytest.raises(InputError, match="^" + str(path).replace("[", r"\[")):
        read_estimate(path)


def test_a_valid_estimate_with_every_field_still_loads(tmp_path):
    path = tmp_path / "T1102.yaml"
    path.write_text(
        VALID
        + "attack_id: T1102\nkind: technique\ncontext: c\ncombine: beta-pooled\ncomputation: '(3.96 + 4.94) / 2'\n"
        + "ttc_rationale: instant\neffective_sample_size: 50\nderived_from: a note\nproblems: [a remark]\n"
        + FINDING
        + "    url: HTTPS://www.fireeye.com/mtrends.html\n    year: 2020\n    note: n\n    effective_sample_size: 10\n"
        + "  - {source: SoK, measure: share of malware samples, count: 47, denominator: 951, url: 'http://krisk.io'}\n"
    )
    estimate = read_estimate(path)
    assert [f.url for f in estimate.findings] == ["HTTPS://www.fireeye.com/mtrends.html", "http://krisk.io"]
    assert estimate.problems == ("a remark",) and estimate.effective_sample_size == 50


def test_evidence_show_renders_other_urls_as_text_not_links():
    estimate = Estimate(
        name="Web Service",
        result="Bernoulli(0.0445)",
        attack_id="T1102",
        context="See [the page](https://attack.mitre.org/techniques/T1102/) or [click](javascript:alert(1)).",
        ttc_rationale="Instant: <javascript:alert(2)> ![img](data:image/svg+xml,x)\n[ref]: javascript:alert(3)",
        findings=(
            Finding(source="Evil](javascript:alert(1))", measure="m", percent=3.96, url="javascript:alert(1)"),
            Finding(source="SoK", measure="m", count=47, denominator=951, url="https://krisk.io/sok.pdf"),
        ),
    )
    markdown = render_estimate(estimate_page(estimate))
    assert not re.search(r"(?<!\\)\]\(javascript:", markdown)  # no link; the source's own "](" is escaped
    assert r"- Evil\](javascript:alert(1)) (not a web address: `javascript:alert(1)`) — m: 3.96%" in markdown
    assert "- [SoK](https://krisk.io/sok.pdf) — m: 47 out of 951" in markdown
    # Free text keeps its web links; every other link becomes text.
    assert "> See [the page](https://attack.mitre.org/techniques/T1102/) or click (javascript:alert(1))." in markdown
    assert r"Instant: \<javascript:alert(2)\> img (data:image/svg+xml,x)" in markdown
    assert r"\[ref\]: javascript:alert(3)" in markdown


def test_the_report_links_only_http_urls():
    from breachpath.demo import example_path, technique_names
    from breachpath.graph import scenario_graph
    from breachpath.lang.compiler import compile_file
    from breachpath.langs import ATTACKLANG, ESTIMATES_DIR
    from breachpath.report import estimate_summaries, render_html, report_data
    from breachpath.scenario import read_scenario
    from breachpath.sim import simulate

    spec = compile_file(ATTACKLANG)
    graph, entries, targets, _ = scenario_graph(spec, read_scenario(example_path("web-service-c2")))
    sim = simulate(graph, entries, targets, samples=200, seed=8, path_targets=len(targets))
    summaries = estimate_summaries(load_catalog(ESTIMATES_DIR))
    # Estimates that reach the report without the file checks (a library caller, an old knowledge base).
    for summary in summaries.values():
        summary["sources"] = [
            {"source": "Evil source", "url": "javascript:alert(1)"},
            {"source": "Data source", "url": "data:text/html,<b>x</b>"},
            {"source": "Good source", "url": "https://example.org/report"},
        ]
    data = report_data(graph, sim, "t", technique_names(spec, None), entries, estimates=summaries)
    html = render_html(data)
    assert "Evil source" in html and "Good source" in html  # the estimates are shown
    assert 'href="javascript' not in html and 'href="data:' not in html
    assert '<a href="https://example.org/report">Good source</a>' in html
    assert 'Evil source <span class="muted">javascript:alert(1)</span>' in html


# -- 5. the catalog directory ----------------------------------------------------------------------------------------


def _catalog_with(tmp_path: Path, make) -> tuple[Path, Path]:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "a-good.yaml").write_text(VALID)
    entry = catalog / "bad.yaml"
    make(entry)
    return catalog, entry


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (os.mkfifo, "not a regular file"),  # a FIFO would block a plain read forever
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),  # a device would be read until memory runs out
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["fifo", "device-symlink", "directory"],
)
def test_a_non_file_named_yaml_in_the_catalog_gets_one_line(tmp_path, make, expected):
    catalog, entry = _catalog_with(tmp_path, make)
    _assert_one_line(_run_limited("evidence", "list", "--catalog", str(catalog)), entry, expected)
    _assert_one_line(_run_limited("evidence", "show", "T1102", "--catalog", str(catalog)), entry, expected)


def test_a_catalog_that_is_missing_or_a_file_gets_one_line(tmp_path):
    missing = tmp_path / "nowhere"
    _assert_one_line(run_cli("evidence", "list", "--catalog", str(missing)), missing, "no evidence catalog here")
    a_file = tmp_path / "catalog.yaml"
    a_file.write_text(VALID)
    _assert_one_line(run_cli("evidence", "list", "--catalog", str(a_file)), a_file, "not a directory")
    _assert_one_line(run_cli("evidence", "show", "T1102", "--catalog", str(a_file)), a_file, "not a directory")


def test_import_never_writes_into_a_file_or_a_missing_parent(tmp_path, notes):
    a_file = tmp_path / "catalog"
    a_file.write_text("keep me")
    result = run_cli("evidence", "import-enterpriselang", str(notes), "--catalog", str(a_file))
    _assert_one_line(result, a_file, "not a directory")
    assert a_file.read_text() == "keep me"
    deep = tmp_path / "no" / "such" / "catalog"
    result = run_cli("evidence", "import-enterpriselang", str(notes), "--catalog", str(deep))
    _assert_one_line(result, deep, "does not exist")
    assert not (tmp_path / "no").exists()  # no parent directories made up


def test_import_writes_all_estimate_files_or_none(tmp_path, notes):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    os.mkfifo(catalog / "T1102.yaml")  # where the Web Service estimate would go
    result = _run_limited("evidence", "import-enterpriselang", str(notes), "--catalog", str(catalog))
    _assert_one_line(result, catalog / "T1102.yaml", "not a regular file")
    assert sorted(p.name for p in catalog.iterdir()) == ["T1102.yaml"]  # no other estimate, no temporary file


def test_the_notes_directory_and_its_notes_get_one_line_each(tmp_path):
    missing = tmp_path / "nowhere"
    _assert_one_line(run_cli("evidence", "check", str(missing)), missing, "does not exist")
    a_file = tmp_path / "note.md"
    a_file.write_text("# x\n")
    _assert_one_line(run_cli("evidence", "check", str(a_file)), a_file, "is not a directory")
    directory = tmp_path / "notes"
    directory.mkdir()
    os.mkfifo(directory / "fifo.md")
    _assert_one_line(_run_limited("evidence", "check", str(directory)), directory / "fifo.md", "not a regular file")
    result = _run_limited("evidence", "import-enterpriselang", str(directory), "--catalog", str(tmp_path / "c"))
    _assert_one_line(result, directory / "fifo.md", "not a regular file")


# -- crafted notes: the audit's patterns stay linear ------------------------------------------------------------------


def test_crafted_notes_of_a_megabyte_are_checked_without_hanging(tmp_path):
    """Each body once made a pattern backtrack for hours (the stated-arithmetic pattern was cubic in a run of
    "1+1+…", the link pattern quadratic in unclosed links)."""
    directory = tmp_path / "notes"
    directory.mkdir()
    head = "# [X](https://attack.mitre.org/techniques/T1000/)\n\n## Findings\n[s](https://example.org) "
    size = (1 << 20) - 200
    bodies = {"sums": "1+", "spaced-sums": "1 + ", "links": "[a](http://", "equals": "=", "digits": "1",
              "unbalanced": "1 1 1 1 1 1 1 1 1 1 1 1 1 1+1 1=1 ", "percent-of": "1% of "}  # fmt: skip
    for name, unit in bodies.items():
        body = (unit * (size // len(unit)))[:size]
        (directory / f"{name}.md").write_text(head + body + "\n\n## Result\n```Bernoulli(0.5)```\n")
    result = _run_limited("evidence", "check", str(directory), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert sorted(r["note"] for r in json.loads(result.stdout)) == sorted(f"{name}.md" for name in bodies)
