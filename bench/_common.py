"""Helpers shared by the benchmarks that set breachpath beside a peer library (``kb_bench.py``,
``d3fend_bench.py``): locating inputs, the peer's throwaway venv, running and timing child processes, and
the result rows with their formatting.

The benchmarks are run as scripts (``python bench/kb_bench.py``), which puts ``bench/`` on ``sys.path``,
so they import this module as ``from _common import ...``. It is not part of the package.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


@dataclass
class Row:
    """One line of the result table; values in the unit named by ``unit``."""

    metric: str
    unit: str
    ours: float | None
    peer: float | None = None
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.peer is None or self.ours <= 0:
            return None
        return self.peer / self.ours

    @property
    def meets_target(self) -> bool | None:
        if self.target is None or self.ours is None:
            return None
        return self.ours <= self.target


@dataclass
class Timed:
    """Wall seconds of repeated runs of one process, and the largest peak RSS among them (MB)."""

    times: list[float]
    rss_mb: float | None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


# -- locating inputs ---------------------------------------------------------------------------------


def shared_dir() -> Path:
    """``$BREACHPATH_SHARED``, else the ``shared`` directory beside the repository."""
    env = os.environ.get("BREACHPATH_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


def default_venv(name: str) -> Path:
    """The throwaway venv ``name`` under ``<user cache>/breachpath-bench``."""
    try:
        from platformdirs import user_cache_path

        base = user_cache_path("breachpath-bench")
    except ImportError:  # pragma: no cover - platformdirs is a project dependency
        base = Path.home() / ".cache" / "breachpath-bench"
    return base / name


def breachpath_script() -> Path | None:
    """The ``breachpath`` console script installed beside this interpreter."""
    bindir = Path(sys.executable).parent
    for name in ("breachpath", "breachpath.exe"):
        if (bindir / name).is_file():
            return bindir / name
    found = shutil.which("breachpath")
    return Path(found) if found else None


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the peer's throwaway venv -------------------------------------------------------------------------


def installed_version(python: Path, distribution: str) -> str | None:
    """The version of ``distribution`` installed for ``python``, or None (no interpreter, not installed)."""
    if not python.is_file():
        return None
    probe = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_venv(venv: Path, requirement: str, distribution: str, takes: str = "a minute") -> tuple[Path | None, str]:
    """The venv's python, creating the venv and installing ``requirement`` (``name==version``) on first use.

    ``distribution`` is the installed distribution's name, whose version is checked; ``takes`` says in the
    set-up message how long the first run takes. Returns ``(python, "")``, or ``(None, why)`` when the venv
    cannot be made.
    """
    python = venv_python(venv)
    wanted = requirement.split("==", 1)[1]
    if installed_version(python, distribution) == wanted:
        return python, ""
    log(f"setting up the peer venv at {venv} ({requirement}); first run only, this takes {takes}")
    try:
        if not python.is_file():
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", requirement],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        tail = "\n".join(str(detail).strip().splitlines()[-5:])
        return None, f"could not create the peer venv at {venv}: {tail}"
    version = installed_version(python, distribution)
    if version != wanted:
        return None, f"the peer venv at {venv} has {distribution} {version!r}, not {wanted}"
    return python, ""


# -- running the children ------------------------------------------------------------------------------


def run_child(argv: list[str], what: str) -> dict[str, Any]:
    """Run a child that prints its figures as a JSON line last on stdout."""
    proc = subprocess.run(argv, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{what} child failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def _run_measured(
    argv: list[str],
    workdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | None = None,
) -> tuple[float, float | None, int, str]:
    """One run of ``argv``: wall seconds, its own peak RSS in MB (``os.wait4``), exit code, stderr.

    Output goes to files, not pipes, so the child is reaped by ``wait4`` with its own resource usage.
    ``env``, ``cwd`` and ``stdin`` go to ``subprocess.Popen`` as they are (None: this process's).
    """
    with (workdir / "stdout").open("wb") as out, (workdir / "stderr").open("w+b") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd, stdin=stdin)
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            scale = 1024 * 1024 if sys.platform == "darwin" else 1024
            rss: float | None = usage.ru_maxrss / scale
        else:  # pragma: no cover - Windows
            code = proc.wait()
            elapsed = time.perf_counter() - t
            rss = None
        err.seek(0)
        return elapsed, rss, code, err.read().decode(errors="replace")


def run_measured(
    argv: list[str], workdir: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float | None, int, str, str]:
    """One run of ``argv`` with no input (stdin from ``/dev/null``): wall seconds, its own peak RSS in MB, exit
    code, stdout and stderr (see ``_run_measured``; its output files in ``workdir`` are overwritten)."""
    elapsed, rss, code, stderr = _run_measured(argv, workdir, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
    stdout = (workdir / "stdout").read_bytes().decode(errors="replace")
    return elapsed, rss, code, stdout, stderr


def time_process(argv: list[str], runs: int, workdir: Path) -> tuple[list[float], float | None, str]:
    """Wall seconds of ``runs`` runs of ``argv``, their largest peak RSS (MB), a failed run's error."""
    times: list[float] = []
    peak: float | None = None
    for _ in range(runs):
        elapsed, rss, code, stderr = _run_measured(argv, workdir)
        if code != 0:
            return times, peak, f"exit {code}: {stderr.strip()[-400:]}"
        times.append(elapsed)
        if rss is not None:
            peak = max(peak or 0.0, rss)
    return times, peak, ""


# -- printing ------------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.1f} {unit}"


def _fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:,.1f}×" if ratio >= 1 else f"{ratio:.2g}×"


def metrics_table(rows: list[Row], title: str, peer_label: str) -> Table:
    """The main result table: metric, breachpath, target, the peer (headed ``peer_label``), peer/ours, note."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("breachpath", justify="right", no_wrap=True)
    table.add_column("target", justify="right", no_wrap=True)
    table.add_column(peer_label, justify="right", no_wrap=True)
    table.add_column("peer/ours", justify="right", no_wrap=True)
    table.add_column("note")
    for row in rows:
        target = ""
        if row.target is not None:
            target = f"≤ {_fmt(row.target, row.unit)} {'ok' if row.meets_target else 'MISS'}"
        ours, peer = _fmt(row.ours, row.unit), _fmt(row.peer, row.unit)
        table.add_row(row.metric, ours, target, peer, _fmt_ratio(row.ratio), row.note)
    return table


def print_json(res: Any) -> None:
    """A results dataclass (with ``rows: list[Row]``) as indented JSON; each row gets its ratio and
    whether it meets its target."""
    doc = asdict(res)
    for row, raw in zip(res.rows, doc["rows"], strict=True):
        raw["ratio"] = row.ratio
        raw["meets_target"] = row.meets_target
    print(json.dumps(doc, indent=2))


# Peak resident memory in MB, for the child processes the benches start (source text, prepended to their code).
CHILD_RSS = r"""
import resource, sys

def rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
"""


def timed_cli(args: list[str], runs: int) -> tuple[list[float], dict]:
    """Run ``breachpath ARGS`` (this interpreter's, ``python -m breachpath.cli``) ``runs`` times: the wall times
    and the last run's JSON output; a failed run stops the benchmark with its error."""
    times, out = [], {}
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "breachpath.cli", *args], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"breachpath {' '.join(args)} failed: {done.stderr.strip()}")
        out = json.loads(done.stdout)
    return times, out


def print_target_rows(rows: list[dict], fmt: str) -> None:
    """Rows of ``{"row", "seconds", "range", "target", "note"}`` against a time target: JSON, or a markdown table
    with ✓ where the median meets the target."""
    if fmt == "json":
        print(json.dumps(rows, indent=1))
        return
    print("| row | wall (median) | range | target | note |")
    print("|---|---|---|---|---|")
    for r in rows:
        ok = "✓" if r["seconds"] <= r["target"] else "✗"
        print(
            f"| {r['row']} | {r['seconds']:.1f} s | {r['range'][0]:.1f}–{r['range'][1]:.1f} s | "
            f"≤ {r['target']:.0f} s {ok} | {r['note']} |"
        )
