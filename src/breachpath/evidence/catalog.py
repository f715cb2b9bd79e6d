"""A catalog of estimates: a directory of YAML files, one per attack step."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from breachpath.errors import InputError, NotFoundError
from breachpath.evidence.model import Estimate, file_name, read_estimate, write_estimate

MAX_FILES = 10_000


def default_catalog_dir() -> Path:
    """``$BREACHPATH_HOME/evidence``, else ``evidence`` in the platform's user data directory."""
    home = os.environ.get("BREACHPATH_HOME")
    base = Path(home) if home else Path(platformdirs.user_data_dir("breachpath", appauthor=False))
    return base / "evidence"


def load_catalog(directory: Path | None = None) -> list[Estimate]:
    """Every estimate in ``directory`` (``*.yaml``/``*.yml``), in file-name order; the first bad file is an error."""
    directory = Path(directory) if directory else default_catalog_dir()
    if not directory.is_dir():
        raise InputError(
            f"{directory}: no evidence catalog here; create one with `breachpath evidence import-enterpriselang DIR`"
        )
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if len(files) > MAX_FILES:
        raise InputError(f"{directory}: more than {MAX_FILES} estimate files")
    return [read_estimate(path) for path in files]


def find_estimate(estimates: list[Estimate], key: str) -> Estimate:
    """The estimate for an ATT&CK id, a MAL step or a name (case-insensitive)."""
    wanted = key.strip().lower()
    for match in (
        lambda e: (e.attack_id or "").lower() == wanted,
        lambda e: (e.step or "").lower() == wanted,
        lambda e: e.name.lower() == wanted,
    ):
        found = [e for e in estimates if match(e)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(f"{e.name} ({e.derived_from or e.key})" for e in found)
            raise InputError(f"{key} names several estimates: {names}")
    raise NotFoundError(f"{key}: no estimate for this ATT&CK id, step or name in the catalog")


def save_catalog(estimates: list[Estimate], directory: Path) -> list[Path]:
    """Write each estimate to its own file in ``directory``; estimates sharing a key get numbered files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)  # the catalog is a directory of files; `import` makes it
    written, used = [], set()
    for estimate in estimates:
        name = file_name(estimate)
        stem, n = name.removesuffix(".yaml"), 2
        while name in used:
            name = f"{stem}-{n}.yaml"
            n += 1
        used.add(name)
        write_estimate(estimate, directory / name)
        written.append(directory / name)
    return written
