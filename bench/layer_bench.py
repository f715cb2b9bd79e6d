"""Benchmark ATT&CK Navigator layers against mitreattack-python, and have its layer reader check ours.

What is measured
----------------
Input: the ATT&CK Enterprise bundle (by default ``<shared>/data/attack/enterprise-attack.json.gz``; ``--bundle``
overrides it) and a group (``--group``, default G0010).

breachpath ("ours"): the bundle is loaded into a temporary knowledge base (untimed), then the wall time of the
whole process ``breachpath kb layer --group G --db DB --out FILE`` is taken, the median of ``--runs`` runs, with
its peak RSS. Then ``breachpath simulate EXAMPLE --samples 300 --navigator FILE`` writes a simulation layer for
each example scenario (untimed).

mitreattack-python ("peer", in the throwaway venv that ``kb_bench.py`` uses, never a project dependency), in one
child process: ``UsageLayerGenerator(source="local", resource=BUNDLE.json)`` (reads the bundle and builds the
matrix) and ``generate_layer(G)``; both timed, the sum being what one peer process pays for a group layer.
The same child then reads each of our layer files with ``navlayers.Layer().from_file`` (the peer's own reader
of the layer format, which warns on properties it does not know) and writes it back with ``to_dict``.

Checks printed with the figures:

* the techniques our group layer marks "used: directly" equal the peer layer's techniques with score 1 (the peer
  follows only the group's own ``uses`` relationships; ours adds those through the group's campaigns, listed
  separately);
* for each of our layers: anything the peer's reader printed, and every property it dropped or changed on the
  way back (the peer stores scores as integers, so fractional scores come back truncated: reported as a count,
  not as a difference — format 4.5 gives ``score`` the type Number).

Usage: ``python bench/layer_bench.py [--bundle PATH] [--group G0010] [--runs 5] [--no-peer] [--format json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    Row,
    breachpath_script,
    default_venv,
    ensure_venv,
    log,
    metrics_table,
    print_json,
    run_child,
    time_process,
)
from kb_bench import PEER_DISTRIBUTION, PEER_REQUIREMENT, PEER_VENV, default_bundle, plain_json

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "src" / "breachpath" / "examples"
EXAMPLES = ("small-office", "dmz-company", "web-service-c2")

_PEER_CHILD = r"""
import contextlib, io, json, sys, time
from mitreattack.navlayers import Layer
from mitreattack.navlayers.generators.usage_generator import UsageLayerGenerator

bundle, group, *ours = sys.argv[1:]
t = time.perf_counter()
generator = UsageLayerGenerator(source="local", resource=bundle)
setup = time.perf_counter() - t
t = time.perf_counter()
layer = generator.generate_layer(group).to_dict()
generate = time.perf_counter() - t
used = sorted({x["techniqueID"] for x in layer["techniques"] if x.get("score") == 1})


def differences(a, b, path=""):
    if isinstance(a, dict):
        for k, v in a.items():
            if not isinstance(b, dict) or k not in b:
                yield f"dropped {path}/{k}"
            else:
                yield from differences(v, b[k], f"{path}/{k}")
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            yield f"changed length of {path}"
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield f"changed {path}: {a!r} -> {b!r}"


readback = {}
for path in ours:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        reader = Layer()
        reader.from_file(path)
        back = reader.to_dict()
    with open(path) as f:
        original = json.load(f)
    found = list(differences(original, back))
    truncated = [d for d in found if "/score:" in d and d.startswith("changed")]
    readback[path] = {
        "printed": printed.getvalue().strip(),
        "differences": [d for d in found if d not in truncated],
        "scores_truncated": len(truncated),
    }
print(json.dumps({"setup_s": setup, "generate_s": generate, "used": used, "readback": readback}))
"""


@dataclass
class Results:
    bundle: str
    group: str
    rows: list[Row] = field(default_factory=list)
    direct_equal: bool | None = None
    ours_direct: int = 0
    ours_campaigns: int = 0
    peer_used: int = 0
    only_ours: list[str] = field(default_factory=list)
    only_peer: list[str] = field(default_factory=list)
    readback: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--bundle", type=Path, default=None, help="ATT&CK bundle (.json or .json.gz)")
    parser.add_argument("--group", default="G0010", help="group id (default G0010)")
    parser.add_argument("--runs", type=int, default=5, help="runs of `kb layer` (default 5)")
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mitreattack-python")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    return parser.parse_args(argv)


def _cli(script: Path, *args: str, env: dict[str, str]) -> None:
    done = subprocess.run([str(script), *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"breachpath {' '.join(args[:2])} failed: {done.stderr.strip()[-400:]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = (args.bundle or default_bundle()).resolve()
    script = breachpath_script()
    if not bundle.is_file() or script is None:
        log(f"need the bundle ({bundle}; --bundle or BREACHPATH_SHARED) and the `breachpath` console script")
        return 2
    res = Results(str(bundle), args.group)
    with tempfile.TemporaryDirectory(prefix="layer-bench-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "BREACHPATH_HOME": str(workdir)}
        db = workdir / "kb.sqlite"
        log("breachpath: loading the knowledge base (untimed) ...")
        _cli(script, "kb", "load", "--attack", str(bundle), "--db", str(db), env=env)
        group_file = workdir / f"{args.group}.json"
        argv_layer = [str(script), "kb", "layer", "--group", args.group, "--db", str(db), "--out", str(group_file)]
        log(f"breachpath: `kb layer --group {args.group}` x {args.runs} ...")
        times, rss, error = time_process(argv_layer, args.runs, workdir)
        if error:
            log(f"`kb layer` failed: {error}")
            return 1
        ours_layer = json.loads(group_file.read_text())
        direct = {t["techniqueID"] for t in ours_layer["techniques"] if _used(t) == "directly"}
        res.ours_direct = len(direct)
        res.ours_campaigns = sum(_used(t) == "through campaigns" for t in ours_layer["techniques"])
        layers = [group_file]
        for name in EXAMPLES:
            log(f"breachpath: simulation layer of {name} (untimed) ...")
            path = workdir / f"{name}.json"
            scenario = str(EXAMPLES_DIR / f"{name}.yml")
            _cli(script, "simulate", scenario, "--samples", "300", "--db", str(db), "--navigator", str(path), env=env)
            layers.append(path)

        peer: dict[str, Any] | None = None
        if args.no_peer:
            res.notes.append("peer skipped (--no-peer)")
        else:
            python, why = ensure_venv(args.peer_venv or default_venv(PEER_VENV), PEER_REQUIREMENT, PEER_DISTRIBUTION)
            if python is None:
                res.notes.append(f"peer skipped: {why}")
            else:
                log("mitreattack-python: UsageLayerGenerator and the layer reader in a child process (slow) ...")
                plain = plain_json(bundle, workdir)
                try:
                    peer = run_child(
                        [str(python), "-c", _PEER_CHILD, str(plain), args.group, *map(str, layers)],
                        "mitreattack-python",
                    )
                except RuntimeError as exc:
                    log(str(exc))
                    res.notes.append("peer skipped: its child failed (see stderr)")

    ours_s = sorted(times)[len(times) // 2]
    peer_s = peer["setup_s"] + peer["generate_s"] if peer else None
    res.rows.append(Row(f"group layer {args.group} (one process)", "s", ours_s, peer_s, note="peer: generator + layer"))
    res.rows.append(Row("peak RSS of `kb layer`", "MB", rss))
    if peer:
        res.rows.append(Row("peer: UsageLayerGenerator set-up", "s", None, peer["setup_s"], note="reads the bundle"))
        res.rows.append(Row("peer: generate_layer", "s", None, peer["generate_s"]))
        used = set(peer["used"])
        res.peer_used = len(used)
        res.direct_equal = used == direct
        res.only_ours, res.only_peer = sorted(direct - used), sorted(used - direct)
        res.readback = {Path(k).name: v for k, v in peer["readback"].items()}
    if args.format == "json":
        print_json(res)
    else:
        print_report(res)
    return 0


def _used(technique: dict) -> str | None:
    return next((m["value"] for m in technique.get("metadata", []) if m.get("name") == "used"), None)


def print_report(res: Results) -> None:
    from rich.console import Console

    console = Console()
    console.print(metrics_table(res.rows, f"Navigator layers — {res.bundle}", "mitreattack-python"))
    if res.direct_equal is not None:
        verdict = "equal" if res.direct_equal else f"differ (only ours {res.only_ours}, only peer {res.only_peer})"
        console.print(
            f"{res.group}: {res.ours_direct} techniques used directly (ours) vs {res.peer_used} with score 1 (peer): "
            f"{verdict}; ours adds {res.ours_campaigns} through campaigns."
        )
    for name, check in res.readback.items():
        problems = check["differences"] + ([f"printed: {check['printed']}"] if check["printed"] else [])
        verdict = "read back whole" if not problems else "; ".join(problems[:5])
        console.print(f"peer reader, {name}: {verdict} ({check['scores_truncated']} fractional scores truncated)")
    for note in res.notes:
        console.print(f"note: {note}")


if __name__ == "__main__":
    sys.exit(main())
