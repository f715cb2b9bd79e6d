"""Saved simulation results (``simulate --save``) and the one bounded, validating reader of ``.npz`` files.

A results or graph ``.npz`` file is untrusted input: it may be truncated, not a zip at all, a zip bomb, or hold
arrays of the wrong shape, type or range. :func:`read_npz` opens the zip with :mod:`zipfile` itself (never
``numpy.load``), bounds the number of members and the bytes each may decompress to, parses every ``.npy`` header
with :mod:`numpy.lib.format` and checks the dtype and shape against a schema *before* allocating, refuses object
dtypes (no pickle), and reads the data in bounded chunks, never trusting a declared size it has not checked.
:func:`load_results` then validates every array against the others (shapes, ranges, CSR offsets) so that a report
is never built from nonsense: any failure is one line, ``<path>: not a breachpath results file (<what is wrong>)``.

Results format 2 stores attack paths ragged (see :class:`breachpath.sim.Simulation`) and the scenario's path
relative to the results file; format 1 files (dense paths, an absolute scenario path) still load when they
validate.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from breachpath.errors import InputError
from breachpath.fileio import load_json, open_regular
from breachpath.sim import Simulation

FORMAT = "breachpath-results/2"
#: Results saved before paths were stored ragged: (samples, targets, 4096) int64 paths.
FORMAT_DENSE_PATHS = "breachpath-results/1"
#: What the scenario stored in a results file may be (it is read again to rebuild the graph).
SCENARIO_SUFFIXES = (".yml", ".yaml", ".json")
#: Members of a breachpath .npz (a results file has at most 11, a graph 17).
MAX_MEMBERS = 32
#: Bytes all arrays of one .npz may decompress to: 60,000 samples of three targets with their paths take ~20 MB.
MAX_NPZ_BYTES = 2 * 2**30
#: A .npy header is a short Python literal; numpy's own default limit.
MAX_HEADER_BYTES = 10_000
_CHUNK = 1 << 20


class _Refused(Exception):
    """Why a file is not what it claims to be; becomes one InputError line naming the user's path."""


class _TooLarge(_Refused):
    def __init__(self, member: str, message: str):
        super().__init__(message)
        self.member = member


# -- reading any .npz --------------------------------------------------------------------------------------


class Member(NamedTuple):
    """What one array of a .npz may be: dtype kinds (numpy ``dtype.kind`` letters) and numbers of dimensions."""

    kinds: str
    ndims: tuple[int, ...]


def read_npz(
    path: Path | str, schema: Mapping[str, Member], what: str, limit: int = MAX_NPZ_BYTES,
    too_large: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The arrays of a ``.npz`` file whose members all appear in ``schema``, each with an allowed dtype kind and
    number of dimensions, at most ``limit`` bytes in all (``too_large`` adds a hint per member to that refusal).
    Failures: ``InputError("<path>: not a <what> (…)")``.

    The checks follow the ``.npy`` format (NEP 1, numpy.lib.format): magic and version, then the header literal
    (``descr``, ``fortran_order``, ``shape``), then exactly ``prod(shape) * itemsize`` bytes of data, which must
    also be the member's size in the zip directory. Nothing is allocated before the header has passed."""
    with open_regular(path) as fh:
        try:
            return _read_members(fh, schema, limit)
        except _TooLarge as exc:
            hint = (too_large or {}).get(exc.member, "")
            raise InputError(f"{path}: not a {what} ({exc})" + (f"; {hint}" if hint else "")) from None
        except _Refused as exc:
            raise InputError(f"{path}: not a {what} ({exc})") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
                RuntimeError, UnicodeDecodeError) as exc:  # fmt: skip
            # BadZipFile: not a zip, truncated, bad CRC; RuntimeError: an encrypted member; NotImplementedError:
            # an unknown compression method; ValueError: a bad .npy magic or header.
            raise InputError(f"{path}: not a {what} ({_first_line(exc)})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_members(fh: BinaryIO, schema: Mapping[str, Member], limit: int) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
        if not infos:
            raise _Refused("an empty archive")
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"{len(infos)} members, more than {MAX_MEMBERS}")
        arrays: dict[str, np.ndarray] = {}
        budget = limit
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or name not in schema:
                raise _Refused(f"unexpected member {info.filename!r}")
            if name in arrays:
                raise _Refused(f"member {info.filename!r} twice")
            if info.file_size > budget + MAX_HEADER_BYTES:
                raise _TooLarge(
                    name, f"{name} would take {info.file_size:,} bytes, more than the {_size(limit)} allowed"
                )
            with archive.open(info) as member:
                arrays[name] = _read_array(member, info.file_size, name, Member(*schema[name]), budget)
            budget -= arrays[name].nbytes
        return arrays


def _read_array(member: BinaryIO, member_size: int, name: str, allowed: Member, budget: int) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = fmt.read_array_header_1_0(member, max_header_size=MAX_HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran_order, dtype = fmt.read_array_header_2_0(member, max_header_size=MAX_HEADER_BYTES)
    else:
        raise _Refused(f"{name}: .npy version {version[0]}.{version[1]} is not one numpy writes for plain arrays")
    if dtype.hasobject or dtype.kind not in allowed.kinds or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"{name} holds {dtype}, expected {_kinds(allowed.kinds)}")
    if dtype.itemsize == 0 or any(d < 0 for d in shape):
        raise _Refused(f"{name}: a {dtype} array of shape {shape} cannot hold data")
    if len(shape) not in allowed.ndims:
        expected = " or ".join(str(n) for n in allowed.ndims)
        raise _Refused(f"{name} has {len(shape)} dimensions, expected {expected}")
    # Python integers: a header declaring a 7 TiB shape is a number to compare, not an allocation.
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > budget:
        raise _TooLarge(name, f"{name} declares {nbytes:,} bytes, more than the {_size(budget)} left")
    header_bytes = member.tell()
    if member_size != header_bytes + nbytes:
        raise _Refused(f"{name}: its header declares {nbytes:,} bytes of data, the archive holds "
                       f"{member_size - header_bytes:,}")  # fmt: skip
    raw = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(raw)
    got = 0
    while got < nbytes:
        n = member.readinto(view[got : got + _CHUNK])
        if not n:
            raise _Refused(f"{name} is truncated ({got:,} of {nbytes:,} bytes)")
        got += n
    if member.read(1):  # also where zipfile checks the CRC
        raise _Refused(f"{name} has data after its end")
    array = raw.view(dtype)
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def _kinds(kinds: str) -> str:
    words = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats", "U": "text"}
    return " or ".join(dict.fromkeys(words[k] for k in kinds))


def _size(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n:,} bytes"


def scalar_int(arrays: Mapping[str, np.ndarray], name: str, low: int, high: int | None = None) -> int:
    """A 0-d integer member within [low, high] (raises :class:`_Refused`)."""
    value = arrays[name]
    if value.ndim != 0 or value.dtype.kind not in "iu":
        raise _Refused(f"{name} is not a whole number")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise _Refused(f"{name} = {number} is outside [{low}, {'∞' if high is None else high}]")
    return number


def scalar_text(arrays: Mapping[str, np.ndarray], name: str) -> str:
    value = arrays[name]
    if value.ndim != 0 or value.dtype.kind != "U":
        raise _Refused(f"{name} is not a text")
    return str(value)


def has_control_characters(texts: np.ndarray) -> bool:
    """Whether any text of a unicode array holds a control character (a newline…): no name breachpath writes has
    one, and printed in a message it would break the message's one line. (NUL is numpy's padding.)"""
    codes = np.ascontiguousarray(texts, dtype=texts.dtype.newbyteorder("=")).view(np.uint32)
    return bool(np.any(((codes < 32) & (codes != 0)) | (codes == 127)))


def check_csr(ptr: np.ndarray, idx: np.ndarray, rows: int, columns: int, name: str) -> None:
    """CSR pointers of ``rows`` rows: from 0, non-decreasing, ending at ``len(idx)``; every index in
    [0, columns)."""
    if ptr.shape != (rows + 1,):
        raise _Refused(f"{name} pointers: {ptr.shape[0]} entries for {rows} rows")
    if ptr[0] != 0 or ptr[-1] != len(idx) or np.any(np.diff(ptr) < 0):
        raise _Refused(f"{name} pointers are not non-decreasing from 0 to {len(idx)}")
    if len(idx) and (idx.min() < 0 or idx.max() >= columns):
        raise _Refused(f"{name} refers to node {int(idx.min() if idx.min() < 0 else idx.max())} of {columns}")


@contextlib.contextmanager
def refused(path: Path | str, what: str) -> Iterator[None]:
    """Turn a :class:`_Refused` inside into ``InputError("<path>: not a <what> (…)")``."""
    try:
        yield
    except _Refused as exc:
        raise InputError(f"{path}: not a {what} ({exc})") from None


# -- results files -----------------------------------------------------------------------------------------

_INT, _TEXT = Member("iu", (0,)), Member("U", (0,))
RESULTS_SCHEMA = {
    "format": _TEXT,
    "times": Member("f", (2,)),
    "names": Member("U", (1,)),
    "targets": _INT,
    "seed": _INT,
    "scenario": _TEXT,
    "scenario_absolute": _TEXT,
    "actor": _TEXT,  # JSON: the actor the graph was conditioned on (breachpath.actor.saved_actor)
    "node_count": _INT,
    "path_nodes": Member("iu", (1,)),
    "path_offsets": Member("iu", (1,)),
    "path_len": Member("iu", (2,)),
    "paths": Member("iu", (3,)),  # format 1: dense (samples, targets, width)
}
WHAT = "breachpath results file"


@dataclass
class SavedResults:
    """A validated results file: per-sample times, and (when saved with them) attack paths and the scenario."""

    origin: str  # the path the user gave
    times: np.ndarray  # (samples, columns) float32
    names: list[str]
    targets: int
    seed: int | None
    node_count: int | None = None
    scenario: str | None = None  # as stored: relative to the results file (format 2) or absolute (format 1)
    scenario_absolute: str | None = None
    actor: dict | None = None  # as recorded by breachpath.actor.apply_actor, checked (breachpath.actor.saved_actor)
    path_nodes: np.ndarray | None = None
    path_offsets: np.ndarray | None = None
    path_len: np.ndarray | None = None

    @property
    def samples(self) -> int:
        return int(self.times.shape[0])

    def simulation(self, nodes: np.ndarray) -> Simulation:
        """The results as a :class:`Simulation` over a graph rebuilt from the scenario, where ``nodes`` are the
        node ids of the first ``len(nodes)`` columns; every stored path must start at its target's node there."""
        sim = Simulation(
            self.times, np.asarray(nodes, dtype=np.int64), self.names, self.seed, self.samples, self.path_nodes,
            self.path_offsets, self.path_len,
        )  # fmt: skip
        if self.path_len is not None:
            k = self.path_len.shape[1]
            starts = self.path_offsets[:-1].reshape(self.samples, k)
            stored = np.diff(self.path_offsets).reshape(self.samples, k)
            for j in range(min(k, len(nodes))):
                firsts = self.path_nodes[starts[stored[:, j] > 0, j]]
                if np.any(firsts != nodes[j]):
                    raise InputError(f"{self.origin}: its paths to {self.names[j]} do not end at that step of the "
                                     "scenario's graph (the scenario has changed since they were saved)")  # fmt: skip
        return sim


def results_bytes(sim: Simulation, targets: int, node_count: int, save_path: Path | str,
                  scenario: Path | str | None = None, actor: dict | None = None) -> bytes:  # fmt: skip
    """The ``.npz`` bytes of results: times, names, seed, attack paths when recorded, the graph's node count, the
    scenario's path relative to the directory ``save_path`` will be in (and absolute, for information), and the
    actor the graph was conditioned on (``graph.info["actor"]``), if any.

    Compressed: attack paths repeat from sample to sample, and zip's deflate stores a repeat in a few bytes."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "times": sim.times,
        "names": np.array(sim.names, dtype=np.str_),
        "targets": np.array(targets, dtype=np.int64),
        "seed": np.array(-1 if sim.seed is None else sim.seed),
        "node_count": np.array(node_count, dtype=np.int64),
    }
    if sim.path_len is not None:
        arrays |= {
            "path_nodes": sim.path_nodes.astype(np.int32),
            "path_offsets": sim.path_offsets.astype(np.int64),
            "path_len": sim.path_len.astype(np.int64),
        }
    if scenario is not None:
        absolute = Path(scenario).resolve()
        arrays["scenario_absolute"] = np.array(str(absolute))
        try:
            arrays["scenario"] = np.array(os.path.relpath(absolute, Path(save_path).resolve().parent))
        except ValueError:  # another drive (Windows): only an absolute path can say where it is
            arrays["scenario"] = np.array(str(absolute))
    if actor is not None:
        arrays["actor"] = np.array(json.dumps(actor))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def save_results(path: Path | str, sim: Simulation, targets: int, node_count: int,
                 scenario: Path | str | None = None) -> None:  # fmt: skip
    """Write :func:`results_bytes` to ``path`` atomically (:func:`breachpath.fileio.atomic_write_bytes`)."""
    from breachpath.fileio import atomic_write_bytes

    atomic_write_bytes(path, results_bytes(sim, targets, node_count, path, scenario))


def load_results(path: Path | str, limit: int = MAX_NPZ_BYTES) -> SavedResults:
    """Read and validate a results file written by :func:`save_results` (format 2) or by an older breachpath
    (format 1: dense paths, converted to ragged ones)."""
    # Format 1 kept 4,096 entries per sample and target: 60,000 samples of three targets made 5.9 GB.
    resave = "results saved by an older breachpath with many samples must be simulated and saved again"
    arrays = read_npz(path, RESULTS_SCHEMA, WHAT, limit, too_large={"paths": resave})
    with refused(path, WHAT):
        return _validated(str(path), arrays)


def _validated(origin: str, arrays: dict[str, np.ndarray]) -> SavedResults:
    missing = [k for k in ("format", "times", "names", "targets", "seed") if k not in arrays]
    if missing:
        raise _Refused(f"no {', '.join(missing)}")
    fmt = scalar_text(arrays, "format")
    if fmt not in (FORMAT, FORMAT_DENSE_PATHS):
        raise _Refused(f"format {fmt[:40]!r}, expected {FORMAT!r}")
    times = arrays["times"]
    samples, columns = times.shape
    if samples < 1 or columns < 1:
        raise _Refused(f"times has shape {times.shape}: no samples or no columns")
    if times.dtype.itemsize not in (4, 8):
        raise _Refused(f"times holds {times.dtype}, expected float32 or float64")
    if np.isnan(times).any() or (times < 0).any():
        raise _Refused("times holds NaN or negative times")
    names = arrays["names"]
    if names.shape != (columns,):
        raise _Refused(f"{len(names)} names for {columns} columns of times")
    if has_control_characters(names):
        raise _Refused("names hold control characters")
    targets = scalar_int(arrays, "targets", 1, columns)
    seed = scalar_int(arrays, "seed", -1)
    saved = SavedResults(
        origin, times.astype(np.float32, copy=False), [str(n) for n in names], targets, None if seed < 0 else seed
    )
    if "node_count" in arrays:
        saved.node_count = scalar_int(arrays, "node_count", 1)
    if "scenario" in arrays:
        saved.scenario = scalar_text(arrays, "scenario")
        if "scenario_absolute" in arrays:
            saved.scenario_absolute = scalar_text(arrays, "scenario_absolute")
        if _has_control(saved.scenario) or _has_control(saved.scenario_absolute or ""):
            raise _Refused("the scenario's path holds control characters")
    if "actor" in arrays:
        from breachpath.actor import saved_actor

        try:
            saved.actor = load_json(scalar_text(arrays, "actor"), "actor")
            saved_actor(saved.actor, "results")
        except InputError as exc:
            raise _Refused(str(exc).removeprefix("results: ")) from None
    path_keys = {"paths", "path_nodes", "path_offsets", "path_len"} & set(arrays)
    layout = {"paths", "path_len"} if fmt == FORMAT_DENSE_PATHS else {"path_nodes", "path_offsets", "path_len"}
    if path_keys - layout:
        raise _Refused(f"{', '.join(sorted(path_keys - layout))} in a {fmt!r} file")
    if not path_keys:
        return saved
    if path_keys != layout:
        raise _Refused(f"attack paths without {', '.join(sorted(layout - path_keys))}")
    if saved.node_count is None:
        if fmt == FORMAT_DENSE_PATHS:
            return saved  # saved from a bare model by an older version: only the times can be used
        raise _Refused("attack paths without node_count")
    path_len = _path_lengths(arrays["path_len"], samples, targets, times)
    if fmt == FORMAT:
        saved.path_nodes, saved.path_offsets = _ragged_paths(arrays, path_len, saved.node_count)
    else:
        saved.path_nodes, saved.path_offsets = _dense_to_ragged(arrays["paths"], path_len, saved.node_count)
    saved.path_len = path_len.astype(np.int64)
    return saved


def _has_control(text: str) -> bool:
    """Control characters (a newline, NUL…): no name or path breachpath writes has them, and printed in a message
    they would break its one line."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _path_lengths(path_len: np.ndarray, samples: int, targets: int, times: np.ndarray) -> np.ndarray:
    if path_len.shape[0] != samples or not 1 <= path_len.shape[1] <= targets:
        raise _Refused(f"path_len has shape {path_len.shape}, expected ({samples}, 1…{targets})")
    if path_len.min() < 0:
        raise _Refused("path_len holds a negative length")
    # A sample that reached a target recorded a path to it (the target itself at least). Not the converse: a time
    # beyond float32's range is saved as ∞ although the step was reached.
    reached = np.isfinite(times[:, : path_len.shape[1]])
    if np.any(reached & (path_len == 0)):
        raise _Refused("a sample reached a target but has no path to it")
    return path_len


def _ragged_paths(arrays: dict[str, np.ndarray], path_len: np.ndarray, node_count: int):
    if "path_nodes" not in arrays or "path_offsets" not in arrays:
        raise _Refused("attack paths without path_nodes and path_offsets")
    nodes, offsets = arrays["path_nodes"], arrays["path_offsets"]
    check_csr(offsets, nodes, path_len.size, node_count, "path")
    if np.any(np.diff(offsets) > path_len.ravel()):
        raise _Refused("a stored path is longer than its path_len")
    return nodes.astype(np.int32), offsets.astype(np.int64)


def _dense_to_ragged(paths: np.ndarray, path_len: np.ndarray, node_count: int) -> tuple[np.ndarray, np.ndarray]:
    if paths.shape[:2] != path_len.shape:
        raise _Refused(f"paths has shape {paths.shape}, path_len {path_len.shape}")
    stored = np.minimum(path_len, paths.shape[2])
    nodes = paths[np.arange(paths.shape[2]) < stored[:, :, None]]
    if len(nodes) and (nodes.min() < 0 or nodes.max() >= node_count):
        raise _Refused(f"paths refer to nodes outside [0, {node_count})")
    offsets = np.zeros(path_len.size + 1, dtype=np.int64)
    np.cumsum(stored.ravel(), out=offsets[1:])
    return nodes.astype(np.int32), offsets


def saved_scenario(results_path: Path | str, saved: SavedResults) -> Path:
    """The scenario file a results file was saved from: its stored path resolved against the results file's
    directory (then, if that names no file, the absolute path stored beside it). It must be a regular file with a
    scenario suffix that names a language: a results file must not make ``report`` read /etc/passwd or
    /dev/zero."""
    from breachpath.scenario import looks_like_scenario

    if saved.scenario is None:
        raise InputError(f"{results_path}: these results carry no scenario; save them with "
                         "`breachpath simulate SCENARIO --save FILE`")  # fmt: skip
    base = Path(results_path).resolve().parent
    candidates = [base / saved.scenario]
    if saved.scenario_absolute and Path(saved.scenario_absolute).is_absolute():
        candidates.append(Path(saved.scenario_absolute))
    scenario = next((c for c in candidates if _exists(c)), candidates[0])
    shown = _shown(str(scenario))
    if scenario.suffix.lower() not in SCENARIO_SUFFIXES:
        raise InputError(f"{results_path}: its scenario {shown} is not a scenario file "
                         f"({', '.join(SCENARIO_SUFFIXES)})")  # fmt: skip
    try:
        mode = scenario.stat().st_mode
    except OSError as exc:
        raise InputError(f"{results_path}: its scenario {shown} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise InputError(f"{results_path}: its scenario {shown} is not a regular file")
    if not looks_like_scenario(scenario):
        raise InputError(f"{results_path}: its scenario {shown} is not a scenario (it names no language)")
    return scenario


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, say: it names nothing we can read
        return False


def _shown(text: str) -> str:
    """A stored path for a message: one line, not too long."""
    return text if len(text) <= 200 else text[:200] + "…"
