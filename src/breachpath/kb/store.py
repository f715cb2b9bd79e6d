"""The knowledge base's SQLite file: schema, atomic rebuild, read-only open.

The file holds *parts* (ATT&CK, D3FEND). A rebuild writes a complete new database next to the old one:
the parts being loaded are written anew, the others are copied over from the old file, and the new file is
swapped in with ``os.replace``. A load that fails or is interrupted leaves the previous file untouched
(DESIGN.md, "Conventions").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import platformdirs

from breachpath import __version__
from breachpath.errors import InputError
from breachpath.kb.stix import Catalog

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- ATT&CK
CREATE TABLE objects(
    id INTEGER PRIMARY KEY,
    stix_id TEXT NOT NULL UNIQUE,
    attack_id TEXT,
    kind TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL,          -- JSON list
    description TEXT NOT NULL,      -- ATT&CK markdown, as published
    domains TEXT NOT NULL,          -- JSON list
    platforms TEXT NOT NULL,        -- JSON list
    url TEXT,
    revoked INTEGER NOT NULL,
    deprecated INTEGER NOT NULL,
    extra TEXT NOT NULL             -- JSON: every other STIX field, references included
);
CREATE TABLE links(
    rel TEXT NOT NULL,              -- STIX relationship type, or a derived one (in-tactic, has-analytic, ...)
    src INTEGER NOT NULL REFERENCES objects(id),
    dst INTEGER NOT NULL REFERENCES objects(id),
    description TEXT,
    extra TEXT,                     -- JSON, for derived links that carry data (log source name, channel)
    live INTEGER NOT NULL           -- 0 for revoked or deprecated relationships
);

-- D3FEND
CREATE TABLE d3f_classes(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,      -- local name, e.g. NetworkTrafficAnalysis or T1102
    uri TEXT NOT NULL,
    label TEXT NOT NULL,
    d3fend_id TEXT,
    attack_id TEXT,
    kind TEXT NOT NULL,             -- defensive-technique, offensive-technique, digital-artifact, defensive-tactic, ...
    tactic TEXT,                    -- for defensive techniques
    definition TEXT NOT NULL,
    deprecated INTEGER NOT NULL,
    parents TEXT NOT NULL,          -- JSON list of named superclasses
    data TEXT NOT NULL              -- JSON: synonyms, examples, kb_article, references, comments, see_also
);
CREATE TABLE d3f_relations(         -- restrictions [property some Class] on a class itself
    cls TEXT NOT NULL,
    property TEXT NOT NULL,
    target TEXT NOT NULL,
    artifact INTEGER NOT NULL       -- 1 when it is an artifact relation (used by the inference)
);
CREATE TABLE d3f_properties(name TEXT PRIMARY KEY, label TEXT NOT NULL, definition TEXT NOT NULL, parents TEXT NOT NULL);
CREATE TABLE d3f_countermeasures(
    attack_id TEXT NOT NULL,        -- the ATT&CK technique asked about
    defensive_technique TEXT NOT NULL,
    d3fend_id TEXT,
    tactic TEXT,
    defensive_relation TEXT NOT NULL,
    defensive_artifact TEXT NOT NULL,
    offensive_relation TEXT NOT NULL,
    offensive_artifact TEXT NOT NULL,
    offensive_technique TEXT        -- the ATT&CK id whose relation matched (itself, its parent or a child)
);
CREATE TABLE d3f_offensive(         -- per ATT&CK technique in the ontology: the classes consulted
    attack_id TEXT PRIMARY KEY,
    cls TEXT NOT NULL,
    sources TEXT NOT NULL           -- JSON: [{"class", "attack_id", "relations": [[property, artifact]]}]
);

-- Evidence: estimates loaded from a catalog directory (breachpath.evidence)
CREATE TABLE estimates(
    key TEXT NOT NULL,
    attack_id TEXT,
    step TEXT,
    name TEXT NOT NULL,
    result TEXT NOT NULL,           -- MAL text
    data TEXT NOT NULL              -- JSON: the whole estimate
);
"""

#: The tables of each part: a load replaces the parts it names and copies the others.
PART_TABLES = {
    "attack": ("objects", "links"),
    "d3fend": ("d3f_classes", "d3f_relations", "d3f_properties", "d3f_countermeasures", "d3f_offensive"),
    "evidence": ("estimates",),
}

# Built after the bulk inserts: building an index once is faster than maintaining it row by row.
INDEXES = """
CREATE INDEX objects_attack_id ON objects(attack_id COLLATE NOCASE);
CREATE INDEX objects_kind ON objects(kind);
CREATE INDEX links_src ON links(src, rel);
CREATE INDEX links_dst ON links(dst, rel);
CREATE VIRTUAL TABLE objects_fts USING fts5(
    name, aliases, description, content='objects', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
INSERT INTO objects_fts(objects_fts) VALUES('rebuild');
CREATE INDEX d3f_classes_name ON d3f_classes(name COLLATE NOCASE);
CREATE INDEX d3f_classes_d3fend_id ON d3f_classes(d3fend_id COLLATE NOCASE);
CREATE INDEX d3f_classes_attack_id ON d3f_classes(attack_id COLLATE NOCASE);
CREATE INDEX d3f_relations_cls ON d3f_relations(cls);
CREATE INDEX d3f_countermeasures_attack_id ON d3f_countermeasures(attack_id);
CREATE INDEX d3f_countermeasures_defensive ON d3f_countermeasures(defensive_technique);
CREATE INDEX estimates_attack_id ON estimates(attack_id COLLATE NOCASE);
CREATE VIRTUAL TABLE d3f_fts USING fts5(label, synonyms, definition, tokenize='unicode61 remove_diacritics 2');
INSERT INTO d3f_fts(rowid, label, synonyms, definition)
    SELECT id, label, json_extract(data, '$.synonyms'), definition FROM d3f_classes;
"""

#: Writes one part's rows into a new database; returns that part's metadata (sources, versions, counts).
PartWriter = Callable[[sqlite3.Connection], dict]


def default_db_path() -> Path:
    """``$BREACHPATH_HOME/kb.sqlite``, else ``kb.sqlite`` in the platform's user data directory."""
    home = os.environ.get("BREACHPATH_HOME")
    base = Path(home) if home else Path(platformdirs.user_data_dir("breachpath", appauthor=False))
    return base / "kb.sqlite"


def rebuild(db_path: Path, writers: dict[str, PartWriter], notify: Callable[[str], None] | None = None) -> None:
    """Write a new database with the parts in ``writers`` and the other parts of the old one; swap it in."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".kb-", suffix=".sqlite.tmp", dir=db_path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp_name)
        try:
            # The file is private until renamed, so durability per statement buys nothing.
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.executescript(SCHEMA)
            meta: dict[str, object] = {"schema_version": SCHEMA_VERSION, "breachpath_version": __version__}
            kept = _carry_over(con, db_path, [p for p in PART_TABLES if p not in writers], notify)
            meta.update(kept)
            for part, write in writers.items():
                meta[part] = {"loaded_at": datetime.now(UTC).isoformat(timespec="seconds"), **write(con)}
            con.executescript(INDEXES)
            con.executemany("INSERT INTO meta VALUES (?, ?)", ((k, orjson.dumps(v).decode()) for k, v in meta.items()))
            con.commit()
        finally:
            con.close()
        with open(tmp_name, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_name, db_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _carry_over(con: sqlite3.Connection, old: Path, parts: list[str], notify) -> dict[str, object]:
    """Copy ``parts`` from the old database, when it has them in this schema; return their metadata."""
    if not parts or not old.is_file():
        return {}
    try:
        con.execute("ATTACH DATABASE ? AS old", (str(old),))
    except sqlite3.DatabaseError:
        return {}
    try:
        old_meta = {k: orjson.loads(v) for k, v in con.execute("SELECT key, value FROM old.meta")}
        if old_meta.get("schema_version") != SCHEMA_VERSION:
            raise sqlite3.DatabaseError("older schema")
        kept: dict[str, object] = {}
        for part in parts:
            if part not in old_meta:
                continue
            for table in PART_TABLES[part]:
                con.execute(f"INSERT INTO main.{table} SELECT * FROM old.{table}")
            kept[part] = old_meta[part]
        con.commit()
        return kept
    except sqlite3.DatabaseError:
        if notify:
            notify(f"{old}: from another breachpath version; its other parts are not kept (load them again)")
        return {}
    finally:
        con.execute("DETACH DATABASE old")


def write_attack(catalog: Catalog, sources: list[str]) -> PartWriter:
    """A part writer for ATT&CK objects and links."""

    def write(con: sqlite3.Connection) -> dict:
        dumps = orjson.dumps
        rowid: dict[str, int] = {}
        rows = []
        for n, (stix_id, r) in enumerate(catalog.objects.items(), start=1):
            rowid[stix_id] = n
            rows.append(
                (
                    n,
                    stix_id,
                    r["attack_id"],
                    r["kind"],
                    r["stix_type"],
                    r["name"],
                    dumps(r["aliases"]).decode(),
                    r["description"],
                    dumps(r["domains"]).decode(),
                    dumps(r["platforms"]).decode(),
                    r["url"],
                    r["revoked"],
                    r["deprecated"],
                    dumps(r["extra"]).decode(),
                )
            )
        con.executemany("INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.executemany(
            "INSERT INTO links VALUES (?,?,?,?,?,?)",
            (
                (rel, rowid[src], rowid[dst], desc, dumps(extra).decode() if extra else None, live)
                for rel, src, dst, desc, extra, live in catalog.links
            ),
        )
        return {"sources": sources, "domains": catalog.domains}

    return write


def open_database(db_path: Path) -> sqlite3.Connection:
    """Open an existing knowledge base read-only; a missing or foreign file is a clear error."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise InputError(f"{db_path}: no knowledge base here; build one with `breachpath kb load`")
    try:
        con = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        # Reading through a memory map saves a copy per page: most queries touch a few dozen pages.
        con.execute("PRAGMA mmap_size = 268435456")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{db_path}: not a breachpath knowledge base ({exc})") from None
    if row is None or orjson.loads(row[0]) != SCHEMA_VERSION:
        raise InputError(
            f"{db_path}: knowledge base from another breachpath version; rebuild it with `breachpath kb load`"
        )
    return con
