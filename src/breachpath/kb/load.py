"""Build the knowledge base from ATT&CK bundles (``breachpath kb load``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from breachpath import __version__
from breachpath.errors import InputError
from breachpath.kb.sources import NotifyFn, ProgressFn, _quiet, fetch_attack
from breachpath.kb.stix import merge_bundles, read_bundle
from breachpath.kb.store import default_db_path, write_database


def load_attack(
    specs: list[str] | None = None,
    db_path: Path | str | None = None,
    progress: ProgressFn = _quiet,
    notify: NotifyFn = _quiet,
    stage: NotifyFn = _quiet,
) -> dict:
    """Load ATT&CK into a new knowledge base at ``db_path`` and swap it in atomically.

    ``specs`` are ``--attack`` values (see :func:`breachpath.kb.sources.fetch_attack`). Returns a report:
    path, seconds, versions and object counts per domain. On any error the previous file is untouched.
    """
    started = time.perf_counter()
    db_path = Path(db_path) if db_path else default_db_path()
    stage("fetching")
    fetched = fetch_attack(specs, progress, notify)
    stage("parsing")
    bundles = [read_bundle(f.data, f.origin, f.version_hint) for f in fetched]
    by_domain: dict[str, str] = {}
    for bundle in bundles:
        if bundle.domain in by_domain:
            raise InputError(
                f"{bundle.origin}: a second {bundle.domain} bundle (the first is {by_domain[bundle.domain]}); load one per domain"
            )
        by_domain[bundle.domain] = bundle.origin
    catalog = merge_bundles(bundles)
    del bundles, fetched
    stage("writing")
    meta = {
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "breachpath_version": __version__,
        "attack_sources": specs or ["default"],
    }
    write_database(catalog, db_path, meta)
    return {
        "path": str(db_path),
        "seconds": round(time.perf_counter() - started, 3),
        "domains": catalog.domains,
        "objects": len(catalog.objects),
        "links": len(catalog.links),
        "dropped_links": catalog.dropped_links,
    }
