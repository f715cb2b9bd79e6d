"""ATT&CK text and ids as a reader sees them."""

from __future__ import annotations

import pytest

from breachpath.kb import kind_of_id
from breachpath.kb.text import attack_id_from_url, clean


def test_citations_are_dropped_and_links_read_name_and_id():
    text = (
        "such as during Command and Control ([Web Service](https://attack.mitre.org/techniques/T1102)), "
        "or [Phishing](https://attack.mitre.org/techniques/T1566/001).(Citation: Recorded Future Turla Infra 2020)"
    )
    assert clean(text) == ("such as during Command and Control (Web Service (T1102)), or Phishing (T1566.001).")


def test_other_links_stay_markdown_links_and_code_becomes_backticks():
    assert (
        clean("[docs](https://example.com/x) run <code>cmd.exe</code>") == "[docs](https://example.com/x) run `cmd.exe`"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://attack.mitre.org/techniques/T1584/006", "T1584.006"),
        ("https://attack.mitre.org/groups/G0010", "G0010"),
        ("https://attack.mitre.org/detectionstrategies/DET0882#AN2014", "DET0882"),
        ("https://attack.mitre.org/resources/", None),
    ],
)
def test_attack_id_from_url(url, expected):
    assert attack_id_from_url(url) == expected


@pytest.mark.parametrize(
    ("attack_id", "kind"),
    [
        ("T1059", "technique"), ("T1059.001", "technique"), ("TA0042", "tactic"), ("G0010", "group"),
        ("S0154", "software"), ("C0048", "campaign"), ("M1056", "mitigation"), ("DS0035", "data-source"),
        ("DC0104", "data-component"), ("DET0882", "detection-strategy"), ("AN2014", "analytic"),
        ("A0001", "asset"), ("X1", None),
    ],
)  # fmt: skip
def test_id_prefix_names_a_kind(attack_id, kind):
    assert kind_of_id(attack_id) == kind
