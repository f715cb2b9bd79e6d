"""Saved results and graphs are untrusted files; attack paths are stored compactly.

`simulate --save` keeps each attack path as long as it is (ragged, compressed): a results file of thousands of
samples takes kilobytes, not the hundreds of megabytes of 4,096 entries per sample and target. `results show`,
`report` and `graph show` read `.npz` files that anyone may have made: truncated, empty, not a zip, a `.npy`
renamed, wrong dtypes or shapes, indices out of range, a header declaring terabytes, a zip bomb, a pickle, a FIFO,
a device, a scenario path pointing at /etc/passwd. Each gets exit code 2 and one line naming the path the user
gave, never a traceback, a hang or a memory blow-up (the CLI runs under a 1 GiB address-space limit here).
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from breachpath.demo import example_path
from breachpath.errors import InputError
from breachpath.graph import AttackGraph, scenario_graph
from breachpath.lang.compiler import compile_file
from breachpath.langs import ATTACKLANG
from breachpath.results import load_results, read_npz, save_results
from breachpath.scenario import read_scenario
from breachpath.sim import simulate

MEMORY_LIMIT = 2**30


def run_limited(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real `breachpath` command under a memory limit and a generous timeout (a hang fails the test)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "breachpath.cli", *args], capture_output=True, text=True, timeout=120,
        preexec_fn=limit, cwd=cwd,
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess, shown: str) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and shown in lines[0], result.stderr
    return lines[0]


# -- a real results file, and bad ones made from it --------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """small-office simulated and saved by the CLI, beside a copy of its scenario."""
    directory = tmp_path_factory.mktemp("saved")
    shutil.copy(example_path("small-office"), directory / "scenario.yml")
    result = run_limited("simulate", str(directory / "scenario.yml"), "-n", "300", "--seed", "5", "--save",
                         str(directory / "r.npz"), "--navigator", str(directory / "layer.json"),
                         "--attack-flow", str(directory / "flow.json"), "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return directory / "r.npz"


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:  # our own, trusted file
        return {k: data[k] for k in data.files}


def rewritten(saved: Path, out: Path, drop: tuple[str, ...] = (), **changes) -> Path:
    arrays = {k: v for k, v in arrays_of(saved).items() if k not in drop} | changes
    np.savez(out, **arrays)
    return out


def npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def zip_bomb(out: Path, member: str, header: bytes, zero_mib: int, others: dict[str, np.ndarray]) -> Path:
    """A valid .npz whose member ``member`` inflates to ``header`` + ``zero_mib`` MiB of zeros from a few kilobytes
    (the deflate stream repeats one fully flushed block of zeros: a full flush resets the compressor's state), with
    the ``others`` beside it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = bytes(1 << 20)
    segment = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = head + segment * zero_mib + compressor.flush()
    crc = zlib.crc32(header)
    for _ in range(zero_mib):
        crc = zlib.crc32(block, crc)
    size = len(header) + zero_mib * (1 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(member), body)  # stored, then marked deflated with the inflated size
        for name, array in others.items():
            archive.writestr(f"{name}.npy", npy_bytes(array))
    raw = bytearray(buffer.getvalue())
    # The bomb is the first member: the first local header and the first central directory entry are its own.
    local, central = raw.index(b"PK\x03\x04"), raw.index(b"PK\x01\x02")
    for offset, fields in ((local + 8, local + 14), (central + 10, central + 16)):
        struct.pack_into("<H", raw, offset, zipfile.ZIP_DEFLATED)
        struct.pack_into("<III", raw, fields, crc, len(body), size)
    out.write_bytes(bytes(raw))
    return out


def huge_header(out: Path, others: dict[str, np.ndarray], member: str = "times", dtype: str = "<f8",
                shape: tuple[int, ...] = (2**40, 2)) -> Path:  # fmt: skip
    """``member`` declared 16 TiB (by default), in a file of a few kilobytes, with the ``others`` beside it."""
    with zipfile.ZipFile(out, "w") as archive:
        for name, array in others.items():
            archive.writestr(f"{name}.npy", npy_bytes(array))
        archive.writestr(f"{member}.npy", npy_header(dtype, shape) + bytes(64))
    return out


class Unpickled:
    """An object that, if ever unpickled, leaves a file behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def dense_paths(arrays: dict[str, np.ndarray], width: int) -> np.ndarray:
    """Format 1's (samples, targets, width) int64 paths from format 2's ragged ones."""
    k = arrays["path_len"].shape[1]
    stored = np.diff(arrays["path_offsets"]).reshape(-1, k)
    full = max(width, int(stored.max()))
    dense = np.zeros((arrays["times"].shape[0], k, full), dtype=np.int64)
    dense[np.arange(full) < stored[:, :, None]] = arrays["path_nodes"]
    return dense[:, :, :width]  # narrower: paths truncated, as format 1 did beyond its width


def format1(saved: Path, out: Path, width: int = 4096) -> Path:
    """``saved`` as the previous version wrote it: dense paths, the scenario's absolute path."""
    a = arrays_of(saved)
    old = {k: v for k, v in a.items() if k not in ("path_nodes", "path_offsets", "scenario_absolute")}
    old |= {"format": np.array("breachpath-results/1"), "paths": dense_paths(a, width),
            "scenario": np.array(str(saved.parent.resolve() / "scenario.yml"))}  # fmt: skip
    np.savez(out, **old)
    return out


def bad_results(saved: Path, tmp: Path) -> dict[str, Path]:
    """Each a results file that must be refused, by name. Those about the arrays every version holds are made
    from a file in the previous version's layout (format 1), so that they tell what that version let through;
    those about ragged paths from a current one."""
    a = arrays_of(saved)
    samples, columns = a["times"].shape
    node_count = int(a["node_count"])
    old_base = format1(saved, tmp / "old-base.npz", width=int(a["path_len"].max()))
    old = arrays_of(old_base)
    cases: dict[str, Path] = {}
    cases["empty"] = tmp / "empty.npz"
    cases["empty"].write_bytes(b"")
    cases["truncated"] = tmp / "truncated.npz"
    cases["truncated"].write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    cases["npy renamed"] = tmp / "renamed.npz"
    with open(cases["npy renamed"], "wb") as fh:
        np.save(fh, a["times"])
    cases["text"] = tmp / "text.npz"
    cases["text"].write_text("times: [1, 2, 3]\n")
    cases["empty zip"] = tmp / "emptyzip.npz"
    zipfile.ZipFile(cases["empty zip"], "w").close()

    def case(name: str, base: Path = old_base, **kw) -> None:
        cases[name] = rewritten(base, tmp / f"{name.replace(' ', '-')}.npz", **kw)

    case("times of integers", times=np.nan_to_num(a["times"], posinf=1e6).astype(np.int32))
    case("times of one dimension", times=a["times"][:, 0])
    case("times with NaN", times=np.where(np.arange(samples)[:, None] == 3, np.nan, a["times"]).astype(np.float32))
    case("negative times", times=-np.abs(a["times"]) - 1)
    case("no samples", times=a["times"][:0], paths=old["paths"][:0], path_len=a["path_len"][:0])
    case("names too few", names=a["names"][:-1])
    case("names as numbers", names=np.arange(columns))
    case("names with a newline", names=np.array([f"{n}\nerror: forged" for n in a["names"]]))
    case("targets zero", targets=np.array(0))
    case("targets beyond the columns", targets=np.array(columns + 1))
    case("targets a fraction", targets=np.array(1.5))
    case("targets a list", targets=np.array([1, 2]))
    case("seed a text", seed=np.array("seven"))
    case("another format", format=np.array("breachpath-results/9"))
    case("no times", drop=("times",))
    case("extra member", extra=np.arange(3))
    marker = tmp / "unpickled"
    names = np.empty(columns, dtype=object)
    names[:] = [Unpickled(marker)] * columns
    case("a pickle", names=names)
    reached = np.flatnonzero(np.isfinite(a["times"][:, 0]))[0]
    dense = old["paths"].copy()
    dense[reached, 0, 0] = node_count + 3
    case("format 1 path node out of range", paths=dense)
    case("format 1 paths of another shape", paths=old["paths"][1:])
    case("format 1 path_len negative", path_len=a["path_len"] - 1)
    no_path = a["path_len"].copy()
    no_path[reached, 0] = 0
    case("a reached target without a path", path_len=no_path)
    nodes = a["path_nodes"].copy()
    nodes[0] = node_count
    case("path node out of range", saved, path_nodes=nodes)
    case("path node negative", saved, path_nodes=np.where(np.arange(len(nodes)) == 5, -1, a["path_nodes"]))
    offsets = a["path_offsets"].copy()
    offsets[[10, 11]] = offsets[[11, 10]] + np.array([1, -1])
    case("path offsets decreasing", saved, path_offsets=offsets)
    case("path offsets past the end", saved, path_offsets=a["path_offsets"] + 1)
    case("path offsets too few", saved, path_offsets=a["path_offsets"][:-5])
    case("path_len negative", saved, path_len=a["path_len"] - 1)
    case("path_len of no target", saved, path_len=a["path_len"][:, :0])
    case("paths without node_count", saved, drop=("node_count",))
    case("paths without path_len", saved, drop=("path_len",))
    case("dense paths in a format 2 file", saved, paths=np.zeros((samples, 1, 4), dtype=np.int64))
    actor = {"name": "G0016 APT29", "mode": "soft", "outside": 10, "every": False, "techniques": ["T1566"]}
    case("actor not JSON", saved, actor=np.array("{'name': 'G0016'"))
    case("actor of shell commands", saved, actor=np.array(json.dumps({**actor, "techniques": ["$(rm -rf ~)"]})))
    case("actor mode unknown", saved, actor=np.array(json.dumps({**actor, "mode": "lenient"})))
    case("actor slower by NaN", saved, actor=np.array(json.dumps({**actor, "outside": float("nan")})))
    others = {k: v for k, v in old.items() if k != "times"}
    cases["a header declaring 16 TiB"] = huge_header(tmp / "huge.npz", others)
    bomb_header = npy_header("<f4", (1, 2100 * 2**18))
    cases["a zip bomb"] = zip_bomb(tmp / "bomb.npz", "times.npy", bomb_header, 2100, others)
    os.mkfifo(tmp / "fifo.npz")
    cases["a FIFO"] = tmp / "fifo.npz"
    (tmp / "directory.npz").mkdir()
    cases["a directory"] = tmp / "directory.npz"
    (tmp / "device.npz").symlink_to("/dev/zero")
    cases["a symlink to /dev/zero"] = tmp / "device.npz"
    cases["/dev/zero"] = Path("/dev/zero")
    cases["missing"] = tmp / "missing.npz"
    return cases


@pytest.fixture(scope="module")
def bad(saved, tmp_path_factory) -> dict[str, Path]:
    return bad_results(saved, tmp_path_factory.mktemp("bad"))


BAD_NAMES = [
    "empty", "truncated", "npy renamed", "text", "empty zip", "times of integers", "times of one dimension",
    "times with NaN", "negative times", "no samples", "names too few", "names as numbers", "names with a newline",
    "targets zero",
    "targets beyond the columns", "targets a fraction", "targets a list", "seed a text", "another format",
    "no times", "extra member", "a pickle", "format 1 path node out of range", "format 1 paths of another shape",
    "format 1 path_len negative", "a reached target without a path", "path node out of range",
    "path node negative", "path offsets decreasing", "path offsets past the end", "path offsets too few",
    "path_len negative", "path_len of no target", "paths without node_count", "paths without path_len",
    "dense paths in a format 2 file", "actor not JSON", "actor of shell commands", "actor mode unknown",
    "actor slower by NaN", "a header declaring 16 TiB",
    "a zip bomb", "a FIFO", "a directory", "a symlink to /dev/zero", "/dev/zero", "missing",
]  # fmt: skip


def test_every_bad_case_is_in_the_table(bad):
    assert sorted(bad) == sorted(BAD_NAMES)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_results_file_is_one_line_for_results_show(bad, name):
    line = assert_one_line_error(run_limited("results", "show", str(bad[name])), str(bad[name]))
    if name not in ("a FIFO", "a directory", "a symlink to /dev/zero", "/dev/zero", "missing"):
        assert "not a breachpath results file (" in line


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_results_file_is_refused_by_the_library(bad, name):
    with pytest.raises(InputError) as refused:
        load_results(bad[name])
    assert str(bad[name]) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "name", ["truncated", "npy renamed", "path node out of range", "a zip bomb", "a pickle", "a FIFO", "/dev/zero"]
)
def test_a_bad_results_file_is_one_line_for_report_and_nothing_is_written(bad, name, tmp_path):
    layer = tmp_path / "layer.json"
    result = run_limited("report", str(bad[name]), "--navigator", str(layer))
    assert_one_line_error(result, str(bad[name]))
    assert not layer.exists()


def test_a_pickle_in_a_results_file_is_never_unpickled(bad):
    load_results_refused = run_limited("results", "show", str(bad["a pickle"]))
    assert "object" in load_results_refused.stderr
    assert not (bad["a pickle"].parent / "unpickled").exists()


def test_a_bomb_is_refused_before_it_is_inflated(bad):
    with pytest.raises(InputError, match=r"more than the .* (allowed|left)"):
        load_results(bad["a zip bomb"])
    with pytest.raises(InputError, match="declares 17,592,186,044,416 bytes"):
        load_results(bad["a header declaring 16 TiB"])


# -- the scenario a results file names ---------------------------------------------------------------------


def with_scenario(saved: Path, out: Path, scenario: str) -> Path:
    return rewritten(saved, out, scenario=np.array(scenario), scenario_absolute=np.array(scenario))


@pytest.mark.parametrize(
    "scenario",
    ["/etc/passwd", "/dev/zero", "../../../../../../../etc/passwd", "fifo.yml", "model.yml", "nowhere.yml",
     "two\nlines.yml", "x" * 5000 + ".yml"],
)  # fmt: skip
def test_report_reads_only_the_scenario_a_results_file_names(saved, tmp_path, scenario):
    os.mkfifo(tmp_path / "fifo.yml")
    (tmp_path / "model.yml").write_text("metadata: {name: m}\nassets: {}\n")  # a model: it names no language
    results = with_scenario(saved, tmp_path / "r.npz", scenario)
    layer = tmp_path / "layer.json"
    line = assert_one_line_error(run_limited("report", str(results), "--navigator", str(layer)), str(results))
    assert "root:" not in line and not layer.exists()


def test_the_scenario_is_stored_relative_to_the_results_file(saved, tmp_path):
    arrays = arrays_of(saved)
    assert str(arrays["scenario"]) == "scenario.yml"
    assert str(arrays["scenario_absolute"]) == str(saved.parent.resolve() / "scenario.yml")
    # Results and scenario moved together still go together, from any working directory.
    moved = tmp_path / "elsewhere"
    shutil.copytree(saved.parent, moved)
    (saved.parent / "moved-away").mkdir(exist_ok=True)
    result = run_limited("report", str(moved / "r.npz"), "--navigator", "layer.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "layer.json").read_bytes() == (saved.parent / "layer.json").read_bytes()


def test_report_from_saved_results_equals_the_direct_outputs(saved, tmp_path):
    result = run_limited("report", str(saved), "--navigator", str(tmp_path / "layer.json"),
                         "--attack-flow", str(tmp_path / "flow.json"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "layer.json").read_bytes() == (saved.parent / "layer.json").read_bytes()
    assert (tmp_path / "flow.json").read_bytes() == (saved.parent / "flow.json").read_bytes()


def test_results_saved_by_the_previous_version_still_load(saved, tmp_path):
    """Format 1: dense (samples, targets, 4096) paths and an absolute scenario path; they are made ragged."""
    a = arrays_of(saved)
    loaded = load_results(format1(saved, tmp_path / "old.npz"))
    np.testing.assert_array_equal(loaded.path_nodes, a["path_nodes"])
    np.testing.assert_array_equal(loaded.path_offsets, a["path_offsets"])
    result = run_limited("report", str(tmp_path / "old.npz"), "--navigator", str(tmp_path / "layer.json"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "layer.json").read_bytes() == (saved.parent / "layer.json").read_bytes()
    # Saved from a bare model (no scenario, no node count): the times can still be shown.
    rewritten(tmp_path / "old.npz", tmp_path / "bare.npz", drop=("scenario", "node_count"))
    shown = run_limited("results", "show", str(tmp_path / "bare.npz"), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["samples"] == 300


def test_a_changed_scenario_is_reported(saved, tmp_path):
    shutil.copytree(saved.parent, tmp_path / "copy")
    scenario = tmp_path / "copy" / "scenario.yml"
    text = scenario.read_text()
    scenario.write_text(text.replace("  assets:\n", "  assets:\n    999: {name: extra-host, type: Linux}\n", 1))
    line = assert_one_line_error(
        run_limited("report", str(tmp_path / "copy" / "r.npz"), "--navigator", str(tmp_path / "l.json")),
        str(tmp_path / "copy" / "r.npz"),
    )
    assert "has changed" in line


# -- compact paths -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dmz():
    graph, entries, targets, _ = scenario_graph(compile_file(ATTACKLANG), read_scenario(example_path("dmz-company")))
    return graph, entries, targets


def test_paths_are_kept_as_long_as_they_are(dmz, tmp_path):
    graph, entries, targets = dmz
    sim = simulate(graph, entries, targets, samples=3000, seed=2, path_targets=len(targets))
    stored = np.diff(sim.path_offsets).reshape(3000, len(targets))
    np.testing.assert_array_equal(stored, sim.path_len)  # nothing truncated, nothing padded
    assert sim.path_nodes.dtype == np.int32 and len(sim.path_nodes) == sim.path_len.sum()
    for s in range(0, 3000, 97):
        for j, target in enumerate(targets):
            path = sim.path(s, j)
            assert len(path) == sim.path_len[s, j] and (len(path) == 0 or path[0] == target)
    # A dense array would hold 3000 × 3 × 4096 int64 (295 MB); the file holds the paths compressed.
    save_results(tmp_path / "r.npz", sim, len(targets), graph.n_nodes)
    assert (tmp_path / "r.npz").stat().st_size < 300_000
    loaded = load_results(tmp_path / "r.npz")
    again = loaded.simulation(np.array(targets))
    for name in ("times", "path_nodes", "path_offsets", "path_len"):
        np.testing.assert_array_equal(getattr(again, name), getattr(sim, name))


def test_truncated_paths_keep_their_first_steps_and_are_counted(dmz):
    from breachpath.analysis import attack_paths

    graph, entries, targets = dmz
    full = simulate(graph, entries, targets, samples=500, seed=4, path_targets=1)
    short = simulate(graph, entries, targets, samples=500, seed=4, path_targets=1, max_path=6)
    np.testing.assert_array_equal(full.path_len, short.path_len)
    for s in range(500):
        np.testing.assert_array_equal(short.path(s, 0), full.path(s, 0)[:6])
    assert attack_paths(graph, short, 0)["truncated_paths"] == int((full.path_len[:, 0] > 6).sum()) > 0


# -- graph files -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_file(saved) -> Path:
    out = saved.parent / "g.npz"
    result = run_limited("graph", "build", str(saved.parent / "scenario.yml"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def bad_graphs(graph_file: Path, tmp: Path) -> dict[str, Path]:
    a = arrays_of(graph_file)
    n = len(a["kind"])
    cases: dict[str, Path] = {}

    def case(name: str, drop: tuple[str, ...] = (), **changes) -> None:
        cases[name] = rewritten(graph_file, tmp / f"{name.replace(' ', '-')}.npz", drop=drop, **changes)

    case("kind of floats", kind=a["kind"].astype(np.float64))
    case("an unknown kind", kind=np.where(np.arange(n) == 3, 9, a["kind"]).astype(np.int8))
    case("kind too short", kind=a["kind"][:-1])
    case("a child beyond the nodes", child_idx=np.where(np.arange(len(a["child_idx"])) == 0, n, a["child_idx"]))
    ptr = a["child_ptr"].copy()
    ptr[5] = ptr[6] + 1
    case("child pointers decreasing", child_ptr=ptr)
    case("parents not the children reversed", parent_idx=np.roll(a["parent_idx"], 1))
    case("a TTC id beyond the texts", ttc=np.where(np.arange(n) == 0, len(a["ttc_texts"]), a["ttc"]))
    case("a TTC that does not parse", ttc_texts=np.array(["Exponential(" for _ in a["ttc_texts"]]))
    case("an asset beyond the assets", asset=np.where(np.arange(n) == 0, len(a["asset_ids"]), a["asset"]))
    case("asset names too few", asset_names=a["asset_names"][:-1])
    case("an asset name with a newline", asset_names=np.array([f"{n}\nerror: forged" for n in a["asset_names"]]))
    case("a defense probability of 2", defense_p=np.where(a["kind"] == 2, 2.0, a["defense_p"]))
    case("info not JSON", info=np.array("{not json"))
    case("info attack ids not lists", info=np.array(json.dumps({"attack_ids": {"Linux.x": 5}})))
    case("no child pointers", drop=("child_ptr",))
    case("another format", format=np.array("breachpath-attack-graph/7"))
    cases["truncated"] = tmp / "truncated.npz"
    cases["truncated"].write_bytes(graph_file.read_bytes()[:4000])
    others = {k: v for k, v in a.items() if k != "kind"}
    cases["a header declaring 16 TiB"] = huge_header(tmp / "huge.npz", others, "kind", "|i1", (2**44,))
    return cases


GRAPH_CASES = [
    "kind of floats", "an unknown kind", "kind too short", "a child beyond the nodes", "child pointers decreasing",
    "parents not the children reversed", "a TTC id beyond the texts", "a TTC that does not parse",
    "an asset beyond the assets", "asset names too few", "an asset name with a newline", "a defense probability of 2",
    "info not JSON",
    "info attack ids not lists", "no child pointers", "another format", "truncated", "a header declaring 16 TiB",
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_graph(graph_file, tmp_path_factory) -> dict[str, Path]:
    return bad_graphs(graph_file, tmp_path_factory.mktemp("badgraph"))


def test_a_saved_graph_loads_back_unchanged(graph_file, dmz):
    loaded = AttackGraph.load(graph_file)
    assert loaded.child_idx.dtype == np.int32 and loaded.kind.dtype == np.int8
    result = run_limited("graph", "show", str(graph_file), "internet:adversaryPresence")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", GRAPH_CASES)
def test_a_bad_graph_file_is_one_line(bad_graph, name):
    assert sorted(bad_graph) == sorted(GRAPH_CASES)
    path = bad_graph[name]
    line = assert_one_line_error(run_limited("graph", "show", str(path), "internet:adversaryPresence"), str(path))
    assert "not a breachpath attack graph (" in line


def test_read_npz_bounds_members(tmp_path):
    with zipfile.ZipFile(tmp_path / "many.npz", "w") as archive:
        for i in range(40):
            archive.writestr(f"a{i}.npy", b"")
    with pytest.raises(InputError, match="40 members"):
        read_npz(tmp_path / "many.npz", {f"a{i}": ("i", (1,)) for i in range(40)}, "test file")


def test_old_results_too_large_to_read_say_to_save_them_again(saved, tmp_path):
    """Format 1 stored 4,096 path entries per sample and target: 60,000 samples of three targets made 5.9 GB."""
    old = arrays_of(format1(saved, tmp_path / "old.npz", width=8))
    others = {k: v for k, v in old.items() if k != "paths"}
    big = huge_header(tmp_path / "big.npz", others, "paths", "<i8", (60_000, 3, 4096))
    line = assert_one_line_error(run_limited("results", "show", str(big)), str(big))
    assert "paths declares 5,898,240,000 bytes" in line and "simulated and saved again" in line
