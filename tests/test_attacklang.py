"""The built-in ATT&CK language: every id it names is real and live, every number comes from its estimates."""

from __future__ import annotations

import re

import pytest

from breachpath.dist import parse
from breachpath.errors import NotFoundError
from breachpath.evidence.catalog import load_catalog
from breachpath.evidence.pool import beta_pooled
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG, ESTIMATES_DIR

ESTIMATE_FILE = re.compile(r"estimates/([\w.-]+)\.yaml")
ATTACK_URL = re.compile(r"https://attack\.mitre\.org/(techniques|mitigations)/([A-Z]\d{4})(?:/(\d{3}))?/")
D3FEND_URL = re.compile(r"https://d3fend\.mitre\.org/technique/d3f:(\w+)/")
REQUIRED_TECHNIQUES = [
    "T1584.006",
    "T1102",
    "T1567",
    "T1566",
    "T1190",
    "T1133",
    "T1078",
    "T1059",
    "T1204",
    "T1068",
    "T1003",
    "T1110",
    "T1021",
    "T1071",
    "T1041",
    "T1486",
]
REQUIRED_MITIGATIONS = ["M1032", "M1017", "M1051", "M1030", "M1026", "M1049", "M1021", "M1053"]


@pytest.fixture(scope="module")
def spec():
    return compile_file(ATTACKLANG)


@pytest.fixture(scope="module")
def estimates():
    return {e.attack_id: e for e in load_catalog(ESTIMATES_DIR)}


def declared_steps(spec):
    return [step for asset in spec.assets.values() for step in asset.steps.values()]


def urls(step) -> list[tuple[str, str]]:
    """(kind, id) for every ATT&CK or D3FEND URL in the step's user info."""
    text = step.meta.get("user", "")
    found = [(k, i + (f".{sub}" if sub else "")) for k, i, sub in ATTACK_URL.findall(text)]
    return found + [("d3fend", name) for name in D3FEND_URL.findall(text)]


def test_it_has_the_assets_the_issue_asks_for(spec):
    wanted = {"Internet", "Network", "FirewallRule", "Host", "Windows", "Linux", "MacOS", "Application"}
    wanted |= {"InternetFacingService", "Person", "Identity", "Credentials", "Data", "CloudAccount"}
    assert wanted | {"ExternalWebService"} <= set(spec.assets)
    assert {"Windows", "Linux", "MacOS"} <= set(spec.subtypes("Host"))


def test_it_names_the_techniques_and_mitigations_the_issue_asks_for(spec):
    named = {i for step in declared_steps(spec) for _, i in urls(step)}
    assert set(REQUIRED_TECHNIQUES) <= named
    assert set(REQUIRED_MITIGATIONS) <= named
    assert "NetworkTrafficAnalysis" in named


def test_every_attack_id_is_live_in_attack_v18(spec, kb_full):
    for step in declared_steps(spec):
        for kind, attack_id in urls(step):
            if kind == "d3fend":
                page = kb_full.d3fend_page(attack_id)
                assert page, f"{step.asset}.{step.name}: {attack_id} is not in D3FEND"
                continue
            wanted = "technique" if kind == "techniques" else "mitigation"
            row, redirect = kb_full.resolve(attack_id, kind=wanted)
            assert redirect is None, f"{step.asset}.{step.name}: {attack_id} is revoked ({redirect})"
            assert not row[10] and not row[11], f"{step.asset}.{step.name}: {attack_id} is revoked or deprecated"


def test_an_unknown_or_revoked_id_would_be_caught(kb_full):
    with pytest.raises(NotFoundError):
        kb_full.resolve("T9999", kind="technique")
    _, redirect = kb_full.resolve("T1086", kind="technique")  # PowerShell: revoked by T1059.001
    assert redirect is not None


def test_each_defense_cites_an_estimate_and_its_defeat_step_uses_it(spec, estimates):
    defenses = [s for s in declared_steps(spec) if s.kind == "defense"]
    assert len(defenses) >= 9
    for defense in defenses:
        cited = ESTIMATE_FILE.search(defense.meta.get("developer", ""))
        assert cited, f"{defense.asset}.{defense.name} names no estimate file"
        estimate = estimates[cited.group(1)]
        assert (defense.meta["user"].split(",")[0]) == estimate.name
        effectiveness = parse(estimate.result).success_probability()
        defeat = spec.assets[defense.asset].steps["defeat" + defense.name[0].upper() + defense.name[1:]]
        assert parse(defeat.ttc).success_probability() == pytest.approx(1 - effectiveness, abs=1e-4)
        # The defeat step leads where the defense does: past it.
        assert defeat.reaches[0]["name"] == defense.reaches[0]["name"]


def test_each_step_that_cites_an_estimate_uses_its_distribution(spec, estimates):
    citing = [s for s in declared_steps(spec) if s.kind != "defense" and not s.name.startswith("defeat")]
    citing = [s for s in citing if ESTIMATE_FILE.search(s.meta.get("modeler", ""))]
    assert {s.name for s in citing} >= {"exploitPublicFacingApplication", "dataEncryptedForImpact"}
    for step in citing:
        estimate = estimates[ESTIMATE_FILE.search(step.meta["modeler"]).group(1)]
        assert str(parse(step.ttc)) == str(parse(estimate.result)), f"{step.asset}.{step.name}"


def test_a_step_without_evidence_says_so(spec):
    for step in declared_steps(spec):
        if step.ttc and not ESTIMATE_FILE.search(step.meta.get("modeler", "")):
            assert "evidence" in step.meta.get("modeler", "").lower(), f"{step.asset}.{step.name}"


def test_every_estimate_file_parses_and_follows_from_its_findings(estimates):
    assert len(estimates) >= 14
    for attack_id, estimate in estimates.items():
        dist = parse(estimate.result)
        if estimate.combine == "beta-pooled":
            pooled = beta_pooled(estimate.findings)
            expected = pooled["mean"] if pooled else 0.5  # no findings: the Beta(1, 1) prior's mean
            assert dist.success_probability() == pytest.approx(expected, abs=5e-5), attack_id
            if pooled:
                low, high = pooled["interval"]
                assert low <= dist.success_probability() <= high
            else:
                assert estimate.problems, f"{attack_id}: an estimate without findings must say so"
        else:
            # A technique's time to compromise: its findings are prevalences, which it must not use as a
            # success probability; where it has none, its stated TTC rationale stands.
            assert estimate.kind == "technique"
            if any(f.proportion is not None for f in estimate.findings):
                assert dist.success_probability() == 1.0 and estimate.problems, attack_id
