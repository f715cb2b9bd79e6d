"""Where each attack step's TTC comes from: the `modeler info` convention read by ttc_provenance, shown by
`lang show` (text and JSON) and by the HTML report's table of techniques."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest

from breachpath.graph import apply_overrides, build_graph
from breachpath.lang import compile_file, compile_text
from breachpath.lang.provenance import provenance_label, ttc_provenance
from breachpath.model import model_from_dict
from breachpath.report import report_data
from breachpath.sim import simulate
from conftest import run_cli

ESTIMATE = (
    "TTC: estimate estimates/T1190.yaml (Exploit Public-Facing Application): "
    "Exponential(24)+Bernoulli(0.5)*Exponential(2)."
)
DEFAULT = "TTC: default for credential access, HardAndUncertain: the catalog's figures for T1003 are prevalences."
GATE_ESTIMATE = "estimates/M1032.yaml (Beta-pooled findings). Effectiveness 99.46%; defeated otherwise."
GATE_DEFAULT = (
    "No evidence in the catalog: the uninformed Beta(1, 1) prior's 50%. Effectiveness 50.00%; defeated otherwise."
)

LANG = f"""\
#id: "org.example.provenance"
#version: "1.0.0"

category Test {{
  asset Internet {{
    | presence
      -> servers.exploit
  }}

  asset Server {{
    | exploit [Exponential(24) + Bernoulli(0.5) * Exponential(2)]
      user info: "Exploit Public-Facing Application, https://attack.mitre.org/techniques/T1190/"
      modeler info: "Calibrated for internet-facing services. {ESTIMATE} Reviewed yearly."
      -> dumpCredentials, discover, defeatMfa, defeatAudit

    | dumpCredentials [HardAndUncertain]
      user info: "OS Credential Dumping, https://attack.mitre.org/techniques/T1003/"
      modeler info: "{DEFAULT} Replace it when a study measures it."
      -> access

    | discover [Exponential(3)]
      user info: "Network Service Discovery, https://attack.mitre.org/techniques/T1046/"
      modeler info: "A guess."
      -> access

    # mfa
      -> mfaBypassed

    | defeatMfa [Bernoulli(0.0054)]
      modeler info: "{GATE_ESTIMATE}"
      -> mfaBypassed

    | defeatAudit [Bernoulli(0.5)]
      modeler info: "{GATE_DEFAULT}"

    | mfaBypassed

    & access
      user info: "Valid Accounts, https://attack.mitre.org/techniques/T1078/"
  }}
}}

associations {{
  Internet [internet] * <-- Exposure --> * [servers] Server
}}
"""

SCENARIO = """\
lang: provenance.mal
samples: 300
seed: 7
entry_points: ["internet:presence"]
targets: ["web:access"]
ttc: {"Server.discover": "Exponential(5)"}
model:
  assets:
    0: {name: internet, type: Internet, associated_assets: {servers: [web]}}
    1: {name: web, type: Server}
"""


@pytest.fixture(scope="module")
def steps():
    return compile_text(LANG).steps("Server")


@pytest.fixture
def lang_file(tmp_path):
    path = tmp_path / "provenance.mal"
    path.write_text(LANG)
    return path


def test_an_estimate_names_its_file_and_quotes_its_sentence(steps):
    found = ttc_provenance(steps["exploit"])
    assert found["kind"] == "estimate" and found["source"] == "estimates/T1190.yaml"
    assert found["text"] == ESTIMATE  # the sentence alone: not the text before it, nor "Reviewed yearly."
    assert found["reason"] is None
    assert provenance_label(found) == "estimate (estimates/T1190.yaml)"


def test_a_default_gives_its_tactic_and_reason(steps):
    found = ttc_provenance(steps["dumpCredentials"])
    assert found["kind"] == "default" and found["source"] is None
    assert found["tactic"] == "credential access"
    assert found["reason"] == "HardAndUncertain: the catalog's figures for T1003 are prevalences"
    assert found["text"] == DEFAULT
    assert provenance_label(found) == "default — HardAndUncertain: the catalog's figures for T1003 are prevalences"


def test_gates_say_estimate_or_default(steps):
    gate = ttc_provenance(steps["defeatMfa"])
    assert (gate["kind"], gate["source"], gate["text"]) == ("estimate", "estimates/M1032.yaml", GATE_ESTIMATE)
    default = ttc_provenance(steps["defeatAudit"])
    assert (default["kind"], default["source"]) == ("default", None)
    assert default["reason"] == "No evidence in the catalog: the uninformed Beta(1, 1) prior's 50%"
    assert default["text"] == GATE_DEFAULT


def test_unstated_and_none(steps):
    unstated = ttc_provenance(steps["discover"])
    assert unstated == {"kind": "unstated", "source": None, "reason": None, "tactic": None, "text": None}
    assert ttc_provenance(steps["access"]) is None  # no TTC: it takes no time
    assert ttc_provenance(steps["mfaBypassed"]) is None
    assert ttc_provenance(steps["mfa"]) is None  # a defense


def test_a_prefix_must_start_a_sentence():
    spec = compile_text(
        '#id: "x"\n#version: "1.0.0"\ncategory C {\n  asset A {\n    | s [Exponential(1)]\n'
        '      modeler info: "NOTTC: estimate estimates/T1.yaml (x): Exponential(1)."\n  }\n}\n'
    )
    assert ttc_provenance(spec.steps("A")["s"])["kind"] == "unstated"


def test_lang_show_step_text_and_json(lang_file):
    done = run_cli("lang", "show", "Server.exploit", "--lang", str(lang_file))
    assert done.returncode == 0, done.stderr
    assert "TTC source: estimate (estimates/T1190.yaml)" in done.stdout.splitlines()

    done = run_cli("lang", "show", "Server.dumpCredentials", "--lang", str(lang_file))
    assert done.returncode == 0, done.stderr
    expected = "TTC source: default — HardAndUncertain: the catalog's figures for T1003 are prevalences"
    assert expected in done.stdout.splitlines()

    done = run_cli("lang", "show", "Server.exploit", "--lang", str(lang_file), "--format", "json")
    assert done.returncode == 0, done.stderr
    source = json.loads(done.stdout)["ttc_source"]
    assert (source["kind"], source["source"], source["text"]) == ("estimate", "estimates/T1190.yaml", ESTIMATE)

    done = run_cli("lang", "show", "Server.access", "--lang", str(lang_file), "--format", "json")
    assert json.loads(done.stdout)["ttc_source"] is None
    done = run_cli("lang", "show", "Server.access", "--lang", str(lang_file))
    assert "TTC source" not in done.stdout


def test_lang_show_asset_marks_each_timed_step(lang_file):
    done = run_cli("lang", "show", "Server", "--lang", str(lang_file))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "TTC Exponential(24) + Bernoulli(0.5) * Exponential(2) (estimate)" in text
    assert "TTC HardAndUncertain (default)" in text
    assert "TTC Exponential(3) (unstated)" in text
    assert "TTC Bernoulli(0.0054) (estimate)" in text and "TTC Bernoulli(0.5) (default)" in text

    done = run_cli("lang", "show", "Server", "--lang", str(lang_file), "--format", "json")
    kinds = {s["name"]: (s["ttc_source"] or {}).get("kind") for s in json.loads(done.stdout)["steps"]}
    assert kinds == {
        "exploit": "estimate",
        "dumpCredentials": "default",
        "discover": "unstated",
        "mfa": None,
        "defeatMfa": "estimate",
        "defeatAudit": "default",
        "mfaBypassed": None,
        "access": None,
    }


def _technique_row(page: str, attack_id: str) -> str:
    """The table row of a technique in the report's "Techniques on the paths" table."""
    table = page.split('id="techniques"', 1)[1]
    rows = [r for r in table.split("<tr>") if f'<span class="muted">{attack_id}</span>' in r]
    assert len(rows) == 1, f"one row for {attack_id}"
    return rows[0]


def test_the_report_says_where_each_ttc_comes_from(tmp_path, lang_file):
    scenario = tmp_path / "scenario.yml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out.html"
    done = run_cli("simulate", str(scenario), "--report", str(out), env={"BREACHPATH_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "<th>TTC source</th>" in page
    assert "<script" not in page and "default-src 'none'" in page

    def cell(attack_id: str) -> str:
        found = re.findall(r"<td>(.*?)</td>", _technique_row(page, attack_id), re.S)
        return html_lib.unescape(re.sub(r"<[^>]+>", "", found[3]))  # the "TTC source" column

    assert cell("T1190") == "estimate estimates/T1190.yaml Server.exploit"
    assert cell("T1003") == (
        "default for credential access — HardAndUncertain: the catalog's figures for T1003 are prevalences "
        "Server.dumpCredentials"
    )
    # The scenario's ttc replaced the language's (unstated) one: the language's word no longer holds.
    assert cell("T1046") == "scenario (its ttc replaced the language's) Server.discover"
    assert cell("T1078") == "no TTC (takes no time) Server.access"


def test_report_data_lists_sources_per_step(lang_file):
    spec = compile_file(lang_file)
    model = model_from_dict(
        {
            "assets": {
                0: {"name": "internet", "type": "Internet", "associated_assets": {"servers": ["web"]}},
                1: {"name": "web", "type": "Server"},
            }
        },
        "test model",
    )
    graph = build_graph(spec, model)
    apply_overrides(graph, {}, {})
    entries, targets = [graph.find("internet:presence")], [graph.find("web:access")]
    sim = simulate(graph, entries, targets, samples=100, seed=1, path_targets=1)
    data = report_data(graph, sim, "t", {}, entries, spec=spec)
    by_id = {t["id"]: t for t in data["techniques"]}
    (row,) = by_id["T1046"]["ttc_sources"]
    assert row["step"] == "Server.discover" and row["provenance"]["kind"] == "unstated"  # no scenario override here
    (row,) = by_id["T1190"]["ttc_sources"]
    assert row["provenance"]["source"] == "estimates/T1190.yaml"
    assert report_data(graph, sim, "t", {}, entries)["techniques"][0]["ttc_sources"] is None  # without the language
