"""Write exported pages as JSON (a list) or CSV, to stdout or atomically to a file."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable
from pathlib import Path

import orjson

from breachpath.fileio import atomic_write_bytes
from breachpath.kb.render import ref


def _cell(value: object) -> str:
    """One CSV cell: references read ``Name (ID)``, lists are joined with ``; ``, the rest is JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dict) and "name" in value and "id" in value:
        return ref(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)
    if isinstance(value, list) and all(isinstance(v, dict) and "name" in v and "id" in v for v in value):
        return "; ".join(ref(v) for v in value)
    return orjson.dumps(value).decode()


def to_csv(pages: list[dict]) -> str:
    """CSV with one row per page and the union of the pages' fields as columns (first-seen order)."""
    columns: dict[str, None] = {}
    for page in pages:
        columns.update(dict.fromkeys(page))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for page in pages:
        writer.writerow([_cell(page.get(c)) for c in columns])
    return buffer.getvalue()


def write_export(pages: Iterable[dict], fmt: str, out: Path | None = None) -> int:
    """Write ``pages`` as ``json`` or ``csv`` to ``out`` (atomically) or stdout; return how many."""
    items = list(pages)
    if fmt == "json":
        data = orjson.dumps(items, option=orjson.OPT_INDENT_2) + b"\n"
    elif fmt == "csv":
        data = to_csv(items).encode()
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    if out is None:
        sys.stdout.buffer.write(data)
        return len(items)
    atomic_write_bytes(out, data)
    return len(items)
