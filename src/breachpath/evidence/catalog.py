"""A catalog of estimates: a directory of YAML files, one per attack step."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from breachpath.errors import InputError, NotFoundError
from breachpath.evidence.model import Estimate, estimate_yaml, file_name, read_estimate
from breachpath.fileio import write_outputs

MAX_FILES = 10_000


def default_catalog_dir() -> Path:
    """``$BREACHPATH_HOME/evidence``, else ``evidence`` in the platform's user data directory."""
    home = os.environ.get("BREACHPATH_HOME")
    base = Path(home) if home else Path(platformdirs.user_data_dir("breachpath", appauthor=False))
    return base / "evidence"


def load_catalog(directory: Path | None = None) -> list[Estimate]:
    """Every estimate in ``directory`` (``*.yaml``/``*.yml``), in file-name order; the first bad file is an error
    (a FIFO, device or directory named ``*.yaml`` included: :func:`~breachpath.fileio.read_text` refuses it)."""
    directory = Path(directory) if directory else default_catalog_dir()
    return [read_estimate(path) for path in estimate_files(directory)]


def estimate_files(directory: Path) -> list[Path]:
    """The ``*.yaml``/``*.yml`` entries of a catalog directory, sorted; one-line errors for a missing directory, a
    file given as one, or a directory that cannot be listed."""
    if not directory.exists():
        raise InputError(
            f"{directory}: no evidence catalog here; create one with `breachpath evidence import-enterpriselang DIR`"
        )
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory (an evidence catalog is a directory of estimate files)")
    files: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith((".yaml", ".yml")) and not entry.name.startswith("."):  # as glob("*.yaml")
                    files.append(directory / entry.name)
                    if len(files) > MAX_FILES:
                        raise InputError(f"{directory}: more than {MAX_FILES} estimate files")
    except OSError as exc:
        raise InputError(f"{directory}: cannot list the catalog ({exc.strerror or exc})") from None
    return sorted(files)


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


def save_catalog(estimates: list[Estimate], directory: Path, create_parents: bool = False) -> list[Path]:
    """Write each estimate to its own file in ``directory``, all or none; estimates sharing a key get numbered
    files. The directory is created when missing, its parents only with ``create_parents`` (the default catalog's
    location): a mistyped ``--catalog`` path is an error, not a new tree."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: not a directory (an evidence catalog is a directory of estimate files)")
    try:
        directory.mkdir(parents=create_parents, exist_ok=True)
    except FileNotFoundError:
        raise InputError(f"{directory}: cannot create the catalog: {directory.parent} does not exist") from None
    except OSError as exc:
        raise InputError(f"{directory}: cannot create the catalog ({exc.strerror or exc})") from None
    outputs, used = {}, set()
    for estimate in estimates:
        name = file_name(estimate)
        stem, n = name.removesuffix(".yaml"), 2
        while name in used:
            name = f"{stem}-{n}.yaml"
            n += 1
        used.add(name)
        outputs[directory / name] = estimate_yaml(estimate).encode()
    write_outputs(outputs)
    return list(outputs)
