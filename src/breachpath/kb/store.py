"""The knowledge base's SQLite file: schema, atomic rebuild, read-only open.

A rebuild writes a complete new database next to the old one and swaps it in with ``os.replace``; a load
that fails or is interrupted leaves the previous file untouched (DESIGN.md, "Conventions").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

import orjson
import platformdirs

from breachpath.errors import InputError
from breachpath.kb.stix import Catalog

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
CREATE VIRTUAL TABLE objects_fts USING fts5(
    name, aliases, description, content='objects', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
"""

# Indexes are created after the bulk insert: building them once is faster than maintaining them.
INDEXES = """
CREATE INDEX objects_attack_id ON objects(attack_id COLLATE NOCASE);
CREATE INDEX objects_kind ON objects(kind);
CREATE INDEX links_src ON links(src, rel);
CREATE INDEX links_dst ON links(dst, rel);
INSERT INTO objects_fts(objects_fts) VALUES('rebuild');
"""


def default_db_path() -> Path:
    """``$BREACHPATH_HOME/kb.sqlite``, else ``kb.sqlite`` in the platform's user data directory."""
    home = os.environ.get("BREACHPATH_HOME")
    base = Path(home) if home else Path(platformdirs.user_data_dir("breachpath", appauthor=False))
    return base / "kb.sqlite"


def write_database(catalog: Catalog, db_path: Path, meta: dict[str, object]) -> None:
    """Write ``catalog`` as a new database and atomically replace ``db_path`` with it."""
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
            _insert(con, catalog, meta)
            con.executescript(INDEXES)
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


def _insert(con: sqlite3.Connection, catalog: Catalog, meta: dict[str, object]) -> None:
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
    meta = {**meta, "schema_version": SCHEMA_VERSION, "domains": catalog.domains}
    con.executemany("INSERT INTO meta VALUES (?, ?)", ((k, dumps(v).decode()) for k, v in meta.items()))


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
