"""Benchmark the ATT&CK knowledge base against mitreattack-python on the same bundle, in the same run.

What is measured
----------------
Input: the ATT&CK Enterprise bundle (by default ``<shared>/data/attack/enterprise-attack.json.gz``, where
``<shared>`` is ``$BREACHPATH_SHARED`` or the ``shared`` directory beside the repository; ``--bundle``
overrides it).

breachpath ("ours"), in one fresh child process of this interpreter:

* build: ``load_attack([bundle], db)`` into a temporary SQLite file (this includes the gunzip and the JSON
  parse); seconds, and the child's peak RSS (``ru_maxrss``) right after the build;
* open: ``KnowledgeBase.open(db)``;
* queries, each timed on its first call and as the median of up to ``--repeat`` further calls (stopped
  early after ``--budget`` seconds per query): ``page("T1584.006")``, ``group_techniques("G0010")``,
  ``technique_groups("T1584.006")`` and ``search("web service", limit=20)``; then the child's peak RSS
  again.

Then, from this process, the end-to-end wall time of ``breachpath kb show T1584.006 --db DB`` with
``--format md`` and ``--format json`` (the console script beside ``sys.executable``, stdout piped), the
median of ``--cli-runs`` runs.

mitreattack-python ("peer", ``MitreAttackData`` from ``mitreattack.stix20``), installed into a throwaway
venv (``--peer-venv``, by default ``<user cache>/breachpath-bench/peer-venv``; created on first use, never a
project dependency). The bundle is decompressed to a temporary ``.json`` first (untimed: the peer reads only
plain JSON). In one child process of the peer venv's interpreter:

* load: ``MitreAttackData(stix_filepath=path)``; seconds and peak RSS;
* the same questions, first call and repeated median: ``get_object_by_attack_id("T1584.006",
  "attack-pattern")`` (the object only, where our page also gathers its relations),
  ``get_techniques_used_by_group(<stix id of G0010>)``, ``get_groups_using_technique(<stix id of
  T1584.006>)`` (both include what groups do through attributed campaigns, as ours do), and, as a loose
  counterpart of search, ``get_objects_by_content("web service")`` (a case-insensitive substring scan of
  descriptions, unranked and unlimited: not the same question);
* a one-shot process (``--peer-oneshot-runs``, default 1) that loads the bundle, looks up T1584.006 and
  prints it as JSON: what a command-line lookup built on the peer costs, set beside ``kb show --format
  json``.

Each child prints its figures as one JSON line on stdout. Peak memory is each child's own ``ru_maxrss``,
so the two sides never share a process. The answers' sizes (and, where both sides give ATT&CK ids, the ids)
are compared so a speed-up cannot hide a different answer.

The output is a table (metric, breachpath, the brief's target, mitreattack-python, peer/ours), or JSON with
``--format json``. Nothing is asserted: this prints figures, it is not a test. Run it with the project's venv:

    .venv/bin/python bench/kb_bench.py [--bundle PATH] [--format table|json] [--no-peer]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    CHILD_RSS,
    Row,
    Timed,
    breachpath_script,
    default_venv,
    ensure_venv,
    log,
    metrics_table,
    print_json,
    run_child,
    shared_dir,
    time_process,
)

PEER_REQUIREMENT = "mitreattack-python==6.3.1"
PEER_DISTRIBUTION = "mitreattack-python"
PEER_VENV = "peer-venv"
TECHNIQUE = "T1584.006"
GROUP = "G0010"
SEARCH = "web service"

TARGET_BUILD_S = 1.5
TARGET_SHOW_S = 0.3
TARGET_QUERY_MS = 1.0

# Code shared by both children: peak RSS in MB and a first-call / repeated-median timer.
_CHILD_PRELUDE = (
    CHILD_RSS
    + r"""
import json, resource, statistics, sys, time

def measure(fn, repeat, budget):
    t = time.perf_counter()
    result = fn()
    first = (time.perf_counter() - t) * 1000
    times = []
    stop = time.perf_counter() + budget
    while len(times) < repeat and (len(times) < 5 or time.perf_counter() < stop):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"first_ms": first, "median_ms": statistics.median(times), "runs": len(times)}, result
"""
)

_OURS_CHILD = (
    _CHILD_PRELUDE
    + r"""
bundle, db, repeat, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out = {"rss_start_mb": rss_mb()}
from breachpath.kb import KnowledgeBase, load_attack

t = time.perf_counter()
report = load_attack([bundle], db)
out["build_s"] = time.perf_counter() - t
out["build_rss_mb"] = rss_mb()
out["objects"] = report["objects"]
out["links"] = report["links"]

t = time.perf_counter()
kb = KnowledgeBase.open(db)
out["open_ms"] = (time.perf_counter() - t) * 1000

out["page"], page = measure(lambda: kb.page(sys.argv[5]), repeat, budget)
out["page"]["answer"] = {"id": page["id"], "name": page["name"], "fields": len(page)}
out["group_techniques"], gt = measure(lambda: kb.group_techniques(sys.argv[6]), repeat, budget)
out["group_techniques"]["answer"] = {"ids": [t["id"] for t in gt["techniques"]]}
out["technique_groups"], tg = measure(lambda: kb.technique_groups(sys.argv[5]), repeat, budget)
out["technique_groups"]["answer"] = {"ids": [g["id"] for g in tg]}
out["search"], hits = measure(lambda: kb.search(sys.argv[7], limit=20), repeat, budget)
out["search"]["answer"] = {"count": len(hits), "top": [h["id"] for h in hits[:5]]}
out["end_rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

_PEER_CHILD = (
    _CHILD_PRELUDE
    + r"""
path, repeat, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
technique_id, group_id, text = sys.argv[4], sys.argv[5], sys.argv[6]
out = {"rss_start_mb": rss_mb()}
t = time.perf_counter()
from mitreattack.stix20 import MitreAttackData
out["import_s"] = time.perf_counter() - t

def attack_id(obj):
    for ref in obj.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None

t = time.perf_counter()
data = MitreAttackData(stix_filepath=path)
out["load_s"] = time.perf_counter() - t
out["load_rss_mb"] = rss_mb()

lookup = lambda: data.get_object_by_attack_id(technique_id, "attack-pattern")
out["page"], tech = measure(lookup, repeat, budget)
out["page"]["answer"] = {"id": attack_id(tech), "name": tech["name"], "fields": len(list(tech.keys()))}
group = data.get_object_by_attack_id(group_id, "intrusion-set")
out["group_techniques"], gt = measure(lambda: data.get_techniques_used_by_group(group.id), repeat, budget)
out["group_techniques"]["answer"] = {"ids": [attack_id(e["object"]) for e in gt]}
out["technique_groups"], tg = measure(lambda: data.get_groups_using_technique(tech.id), repeat, budget)
out["technique_groups"]["answer"] = {"ids": [attack_id(e["object"]) for e in tg]}
out["search"], hits = measure(lambda: data.get_objects_by_content(text), repeat, budget)
out["search"]["answer"] = {"count": len(hits), "top": [attack_id(h) or h["type"] for h in hits[:5]]}
out["end_rss_mb"] = rss_mb()
print(json.dumps(out))
"""
)

# One command-line lookup on the peer: load, find the technique, print it as JSON.
_PEER_ONESHOT = r"""
import sys
from mitreattack.stix20 import MitreAttackData
data = MitreAttackData(stix_filepath=sys.argv[1])
print(data.get_object_by_attack_id(sys.argv[2], "attack-pattern").serialize(pretty=True))
"""


@dataclass
class Results:
    """Everything the run measured, ready to print as a table or JSON."""

    bundle: str
    rows: list[Row] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ours_raw: dict[str, Any] = field(default_factory=dict)
    peer_raw: dict[str, Any] | None = None


# -- locating inputs ---------------------------------------------------------------------------------


def default_bundle() -> Path:
    return shared_dir() / "data" / "attack" / "enterprise-attack.json.gz"


def plain_json(bundle: Path, workdir: Path) -> Path:
    """The bundle as an uncompressed .json file (the peer cannot read .gz)."""
    if bundle.suffix != ".gz":
        return bundle
    target = workdir / bundle.name.removesuffix(".gz")
    with gzip.open(bundle, "rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


# -- assembling the figures ----------------------------------------------------------------------------

_QUERIES: list[tuple[str, str, str]] = [
    ("page", f"page {TECHNIQUE}", "peer: get_object_by_attack_id, the object only"),
    ("group_techniques", f"group_techniques {GROUP}", "peer: get_techniques_used_by_group"),
    ("technique_groups", f"technique_groups {TECHNIQUE}", "peer: get_groups_using_technique"),
    ("search", f"search {SEARCH!r}", "peer: get_objects_by_content, a substring scan (not the same)"),
]


def _answer_rows(ours: dict[str, Any], peer: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key, label in (
        ("group_techniques", f"techniques of {GROUP}"),
        ("technique_groups", f"groups of {TECHNIQUE}"),
    ):
        mine = ours[key]["answer"]["ids"]
        theirs = peer[key]["answer"]["ids"] if peer else None
        row: dict[str, Any] = {
            "answer": label,
            "breachpath": len(mine),
            "mitreattack-python": None,
            "same": None,
        }
        if theirs is not None:
            row["mitreattack-python"] = len(theirs)
            only_ours = sorted(set(mine) - set(theirs))
            only_peer = sorted({str(i) for i in theirs} - set(mine))
            row["same"] = not only_ours and not only_peer and len(mine) == len(theirs)
            row["only_breachpath"] = only_ours
            row["only_peer"] = only_peer
        rows.append(row)
    page = ours["page"]["answer"]
    peer_page = peer["page"]["answer"] if peer else None
    rows.append(
        {
            "answer": f"{TECHNIQUE} found",
            "breachpath": f"{page['id']} {page['name']} ({page['fields']} fields)",
            "mitreattack-python": (
                f"{peer_page['id']} {peer_page['name']} ({peer_page['fields']} STIX fields)" if peer_page else None
            ),
            "same": (peer_page["id"] == page["id"]) if peer_page else None,
        }
    )
    rows.append(
        {
            "answer": f"hits for {SEARCH!r}",
            "breachpath": f"{ours['search']['answer']['count']} (limit 20, ranked)",
            "mitreattack-python": (
                f"{peer['search']['answer']['count']} (all objects, relationships too)" if peer else None
            ),
            "same": None,
        }
    )
    return rows


def build_results(
    bundle: Path,
    ours: dict[str, Any],
    peer: dict[str, Any] | None,
    cli: dict[str, Timed],
    peer_oneshot: Timed | None,
    notes: list[str],
) -> Results:
    res = Results(bundle=str(bundle), ours_raw=ours, peer_raw=peer, notes=notes)
    rows = res.rows
    rows.append(
        Row(
            "build / load",
            "s",
            ours["build_s"],
            peer["load_s"] if peer else None,
            TARGET_BUILD_S,
            "ours: .json.gz to SQLite; peer: MitreAttackData(.json)",
        )
    )
    rows.append(Row("peak RSS, build / load", "MB", ours["build_rss_mb"], peer["load_rss_mb"] if peer else None))
    rows.append(Row("peak RSS, after queries", "MB", ours["end_rss_mb"], peer["end_rss_mb"] if peer else None))
    rows.append(Row("KnowledgeBase.open", "ms", ours["open_ms"]))
    for key, label, note in _QUERIES:
        p = peer[key] if peer else None
        rows.append(
            Row(
                f"{label}, first",
                "ms",
                ours[key]["first_ms"],
                p["first_ms"] if p else None,
                TARGET_QUERY_MS,
                note,
            )
        )
        runs = f"runs: {ours[key]['runs']}" + (f" / {p['runs']}" if p else "")
        rows.append(
            Row(
                f"{label}, median",
                "ms",
                ours[key]["median_ms"],
                p["median_ms"] if p else None,
                TARGET_QUERY_MS,
                runs,
            )
        )
    for fmt, timed in cli.items():
        if not timed.times:
            continue
        peer_value = None
        note = f"median of {len(timed.times)}, min {min(timed.times):.3f} s"
        if fmt == "json" and peer_oneshot:
            peer_value = peer_oneshot.median
            note += f"; peer: load + look up + print ({len(peer_oneshot.times)} run)"
        rows.append(Row(f"kb show --format {fmt}", "s", timed.median, peer_value, TARGET_SHOW_S, note))
        if fmt == "json":
            rows.append(
                Row(
                    "peak RSS, kb show process",
                    "MB",
                    timed.rss_mb,
                    peer_oneshot.rss_mb if peer_oneshot else None,
                    note="os.wait4 of the process",
                )
            )
    res.answers = _answer_rows(ours, peer)
    return res


# -- printing ------------------------------------------------------------------------------------------


def print_table(res: Results) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    peer_label = "mitreattack-python" + ("" if res.peer_raw else " (skipped)")
    console.print(metrics_table(res.rows, f"breachpath kb vs mitreattack-python on {res.bundle}", peer_label))

    answers = Table(title="answers compared", title_justify="left")
    for name in ("answer", "breachpath", "mitreattack-python", "same"):
        answers.add_column(name)
    for a in res.answers:
        same = {True: "yes", False: "NO", None: "—"}[a["same"]]
        if a["same"] is False:
            same += f" (only ours: {a.get('only_breachpath')}, only peer: {a.get('only_peer')})"
        peer_answer = a["mitreattack-python"]
        answers.add_row(a["answer"], str(a["breachpath"]), "—" if peer_answer is None else str(peer_answer), same)
    console.print(answers)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--bundle", type=Path, default=None, help="ATT&CK bundle (.json or .json.gz)")
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument("--repeat", type=int, default=200, help="repeated calls per query (default 200)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of repeats per query at most (default 3)")
    parser.add_argument("--cli-runs", type=int, default=10, help="runs of each `kb show` (default 10)")
    parser.add_argument("--peer-oneshot-runs", type=int, default=1, help="runs of the peer one-shot (default 1)")
    parser.add_argument("--peer-venv", type=Path, default=None, help="throwaway venv for mitreattack-python")
    parser.add_argument("--no-peer", action="store_true", help="measure breachpath only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = (args.bundle or default_bundle()).resolve()
    if not bundle.is_file():
        log(f"no bundle at {bundle}; pass --bundle PATH or set BREACHPATH_SHARED")
        return 2
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        workdir = Path(tmp)
        db = workdir / "kb.sqlite"

        log("breachpath: building and querying in a child process ...")
        argv_ours = [sys.executable, "-c", _OURS_CHILD, str(bundle), str(db), str(args.repeat), str(args.budget)]
        try:
            ours = run_child([*argv_ours, TECHNIQUE, GROUP, SEARCH], "breachpath")
        except RuntimeError as exc:
            log(str(exc))
            return 1

        cli: dict[str, Timed] = {}
        script = breachpath_script()
        if script is None:
            notes.append("no `breachpath` console script beside this interpreter: `kb show` not timed")
        else:
            for fmt in ("md", "json"):
                log(f"breachpath: `kb show --format {fmt}` x {args.cli_runs} ...")
                argv_show = [str(script), "kb", "show", TECHNIQUE, "--db", str(db), "--format", fmt]
                times, rss, error = time_process(argv_show, args.cli_runs, workdir)
                if error:
                    notes.append(f"`kb show --format {fmt}` failed: {error}")
                    times = []
                cli[fmt] = Timed(times, rss)

        peer: dict[str, Any] | None = None
        peer_oneshot: Timed | None = None
        if args.no_peer:
            notes.append("peer skipped (--no-peer)")
        else:
            python, why = ensure_venv(args.peer_venv or default_venv(PEER_VENV), PEER_REQUIREMENT, PEER_DISTRIBUTION)
            if python is None:
                log(f"skipping the peer: {why}")
                notes.append(f"peer skipped: {why}")
            else:
                plain = plain_json(bundle, workdir)
                log("mitreattack-python: loading and querying in a child process (slow) ...")
                argv_peer = [str(python), "-c", _PEER_CHILD, str(plain), str(args.repeat), str(args.budget)]
                try:
                    peer = run_child([*argv_peer, TECHNIQUE, GROUP, SEARCH], "mitreattack-python")
                except RuntimeError as exc:
                    log(str(exc))
                    notes.append("peer skipped: its child failed (see stderr)")
                if args.peer_oneshot_runs > 0:
                    log(f"mitreattack-python: one-shot lookup process x {args.peer_oneshot_runs} ...")
                    argv_oneshot = [str(python), "-c", _PEER_ONESHOT, str(plain), TECHNIQUE]
                    times, rss, error = time_process(argv_oneshot, args.peer_oneshot_runs, workdir)
                    if error:
                        notes.append(f"peer one-shot failed: {error}")
                    peer_oneshot = Timed(times, rss) if times else None

    notes.append(
        "query medians stop early after --budget seconds per query (at least 5 runs)"
        + ("; the peer caches its relationship maps after the first call, hence its fast repeats" if peer else "")
    )
    res = build_results(bundle, ours, peer, cli, peer_oneshot, notes)
    if args.format == "json":
        print_json(res)
    else:
        print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
