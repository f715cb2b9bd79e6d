"""The `breachpath kb` commands, run as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from conftest import require_shared, run_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A BREACHPATH_HOME with the v18.1 knowledge base built by `breachpath kb load`."""
    directory = require_shared("data", "attack")
    home = tmp_path_factory.mktemp("home")
    result = run_cli("kb", "load", "--attack", str(directory), "--format", "json", env={"BREACHPATH_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["path"] == str(home / "kb.sqlite")
    assert report["attack"]["domains"]["enterprise-attack"]["version"] == "18.1"
    return {"BREACHPATH_HOME": str(home)}


def test_show_piped_is_markdown(home):
    result = run_cli("kb", "show", "T1584.006", env=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Web Services (T1584.006)\n")
    for line in ("- Compromise Infrastructure (T1584)", "- Resource Development (TA0042)", "- Turla (G0010)",
                 "- Pre-compromise (M1056)", "#### Detection of Web Services (DET0882)"):  # fmt: skip
        assert line in result.stdout


def test_show_json(home):
    result = run_cli("kb", "show", "T1584.006", "--format", "json", env=home)
    page = json.loads(result.stdout)
    assert page["id"] == "T1584.006" and page["parent"]["id"] == "T1584"
    assert [g["id"] for g in page["groups"]] == ["G0010", "G1006", "G1012", "G1035"]


@pytest.mark.parametrize("bad_id", ["T9999", "G9999", "nonsense"])
def test_unknown_id_is_one_line_and_exit_2(home, bad_id):
    result = run_cli("kb", "show", bad_id, env=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and bad_id in result.stderr
    assert "Traceback" not in result.stderr


def test_type_selects_among_objects_sharing_an_id(home):
    result = run_cli("kb", "show", "T1113", "--type", "mitigation", "--format", "json", env=home)
    assert json.loads(result.stdout)["type"] == "mitigation"


def test_bad_bundle_leaves_previous_database(home, tmp_path):
    db = tmp_path.parent / "unused"
    kb = f"{home['BREACHPATH_HOME']}/kb.sqlite"
    before = Path(kb).read_bytes()
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    result = run_cli("kb", "load", "--attack", str(bad), env=home)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert Path(kb).read_bytes() == before
    assert not db.exists()


def test_unreachable_url_exit_2(home, tmp_path):
    env = {**home, "BREACHPATH_CACHE": str(tmp_path)}
    result = run_cli("kb", "load", "--attack", "https://127.0.0.1:9/enterprise-attack.json", env=env)
    assert result.returncode == 2
    assert "unreachable" in result.stderr and result.stderr.count("\n") == 1


def test_missing_database_is_one_line(tmp_path):
    result = run_cli("kb", "show", "T1059", "--db", str(tmp_path / "none.sqlite"))
    assert result.returncode == 2 and "kb load" in result.stderr and "Traceback" not in result.stderr


def test_search_is_ranked_and_filtered(home):
    result = run_cli("kb", "search", "web service", "--type", "technique", "--limit", "5", "--format", "json", env=home)
    hits = json.loads(result.stdout)
    assert len(hits) == 5 and all(h["type"] == "technique" for h in hits)
    assert {"T1102", "T1567", "T1584.006"} <= {h["id"] for h in hits}
    exact = [h for h in hits if h["name"].lower() == "web service"]  # exact names first, then by score
    assert exact and hits[: len(exact)] == exact
    scores = [h["score"] for h in hits[len(exact) :]]
    assert scores == sorted(scores, reverse=True)


def test_search_finds_aliases(home):
    hits = json.loads(run_cli("kb", "search", "Venomous Bear", "--format", "json", env=home).stdout)
    assert hits[0]["id"] == "G0010"


def test_group_lists_techniques(home):
    result = run_cli("kb", "group", "G0010", "--format", "json", env=home)
    data = json.loads(result.stdout)
    assert data["group"] == {"id": "G0010", "name": "Turla"}
    assert "T1584.006" in {t["id"] for t in data["techniques"]}
    markdown = run_cli("kb", "group", "G0010", env=home).stdout
    assert markdown.startswith("# Techniques used by Turla (G0010)")


def test_export_json_and_csv_have_the_fields_of_show(home, tmp_path):
    out = tmp_path / "techniques.json"
    result = run_cli("kb", "export", "--type", "technique", "--out", str(out), env=home)
    assert result.returncode == 0, result.stderr
    pages = json.loads(out.read_text())
    shown = json.loads(run_cli("kb", "show", "T1584.006", "--format", "json", env=home).stdout)
    exported = next(p for p in pages if p["id"] == "T1584.006")
    assert set(exported) == set(shown) - {"same_id_elsewhere", "redirected_from"}
    assert exported["groups"] == shown["groups"]
    assert all(not p["revoked"] and not p["deprecated"] for p in pages)
    every = json.loads(run_cli("kb", "export", "--type", "technique", "--all", env=home).stdout)
    info = json.loads(run_cli("kb", "info", "--format", "json", env=home).stdout)
    assert len(every) == info["objects"]["technique"] > len(pages) > 800  # live only by default

    result = run_cli("kb", "export", "--type", "group", "--format", "csv", env=home)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    turla = next(r for r in rows if r["id"] == "G0010")
    assert turla["name"] == "Turla" and "Web Services (T1584.006)" in turla["techniques"]


@pytest.mark.parametrize("command", [["export", "--type", "group"], ["layer", "--group", "G0010"]])
def test_an_output_over_the_knowledge_base_is_refused_and_the_store_kept(home, command):
    """`kb export -o ~/.../kb.sqlite` wrote JSON over the knowledge base it had just read."""
    kb = Path(home["BREACHPATH_HOME"]) / "kb.sqlite"
    before = kb.read_bytes()
    result = run_cli("kb", *command, "--out", str(kb), env=home)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and f"{kb}: is also this command's input" in result.stderr
    assert kb.read_bytes() == before


def test_info_reports_versions(home):
    info = json.loads(run_cli("kb", "info", "--format", "json", env=home).stdout)
    assert info["domains"]["enterprise-attack"]["version"] == "18.1"
    assert info["objects"]["technique"] > 1000


def test_usage_error_exit_code(home):
    result = run_cli("kb", "show", env=home)
    assert result.returncode == 2 and "Traceback" not in result.stderr
