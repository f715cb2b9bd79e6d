"""The knowledge base's SQLite file: schema, atomic rebuild, read-only open.

The file holds *parts* (ATT&CK, D3FEND). A rebuild writes a complete new database next to the old one:
the parts being loaded are written anew, the others are copied over from the old file, and the new file is
swapped in with ``os.replace``. A load that fails or is interrupted leaves the previous file untouched
(DESIGN.md, "Conventions").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import platformdirs

from breachpath import __version__
from breachpath.errors import InputError
from breachpath.kb.stix import Catalog

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

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
    """Write a new database with the parts in ``writers`` and the other parts of the old one; swap it in.

    Loads of one file are serialised by a lock beside it (:func:`load_lock`), taken here and not while the
    inputs are parsed, so a second load waits only for the first one's write, then keeps what it wrote.
    A ``db_path`` that is a symlink is written through: the regular file it names is replaced.
    """
    shown = Path(db_path)
    target = writable_target(shown)
    try:
        with load_lock(target, shown, notify):
            remove_stale_temporaries(target)
            tmp_name = _create_temporary(target)
            try:
                _build(tmp_name, target, shown, writers, notify)
                _check_replaceable(target, shown)
                os.replace(tmp_name, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)
                raise
    except OSError as exc:
        # Name the file the user gave, never our temporary one.
        raise InputError(f"{shown}: cannot write the knowledge base ({exc.strerror or exc})") from None
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _ENVIRONMENT_ERRORS:  # primary code of an extended one
            raise
        raise InputError(f"{shown}: cannot write the knowledge base ({exc})") from None


# SQLite errors that say the disk or directory refused the write (full, I/O error, no permission), not a bug.
_ENVIRONMENT_ERRORS = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_PERM,
}


def _build(
    tmp_name: str, old: Path, shown: Path, writers: dict[str, PartWriter], notify: Callable[[str], None] | None
) -> None:
    con = sqlite3.connect(tmp_name)
    try:
        # The file is private until renamed, so durability per statement buys nothing.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(SCHEMA)
        meta: dict[str, object] = {"schema_version": SCHEMA_VERSION, "breachpath_version": __version__}
        kept = _carry_over(con, old, shown, [p for p in PART_TABLES if p not in writers], notify)
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
    with contextlib.suppress(OSError):
        # A replaced file keeps its permissions (a knowledge base shared read-only stays shared).
        os.chmod(tmp_name, stat.S_IMODE(os.stat(old).st_mode))


def writable_target(db_path: Path) -> Path:
    """The regular file a rebuild of ``db_path`` replaces: ``db_path`` itself, or the file its symlink names.

    Refused (one line naming ``db_path``): a directory, device, FIFO or socket, and a missing directory, which
    is created only for the default location (:func:`default_db_path`), never for a path the user typed.
    """
    from breachpath.fileio import check_output  # here: queries (`kb show`) need not import YAML

    db_path = Path(db_path)
    if db_path == default_db_path() and not db_path.parent.is_dir():
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{db_path}: cannot create {db_path.parent} ({exc.strerror or exc})") from None
    return check_output(db_path)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check_replaceable(target: Path, shown: Path) -> None:
    """Right before the swap: what ``os.replace`` would replace is absent or a regular file (it may have
    changed since :func:`writable_target` looked)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise InputError(f"{shown}: became {_file_kind(mode)} during the load; not replaced")


# -- temporary files and the load lock ----------------------------------------------------------------------------

#: A load holding the lock longer than this is taken to be stuck; the waiting load gives up with a message.
LOCK_WAIT_S = 300.0
_LOCK_POLL_S = 0.1
#: Temporary files of the naming used before the lock existed (``mkstemp``): any database's, so removed only
#: when no load can still be writing them.
_LEGACY_TEMPORARY = re.compile(r"^\.kb-[a-z0-9_]{8}\.sqlite\.tmp$")
_LEGACY_STALE_S = 3600.0


def _temporary_prefix(target: Path) -> str:
    # Per database file (several may share a directory), of fixed length whatever the file's name.
    return f".kb-{hashlib.sha256(target.name.encode()).hexdigest()[:12]}-"


def _create_temporary(target: Path) -> str:
    """A new empty file beside ``target``, ``.kb-<name hash>-<random>.sqlite.tmp``, private until swapped in."""
    name = str(target.parent / f"{_temporary_prefix(target)}{secrets.token_hex(8)}.sqlite.tmp")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)
    return name


def remove_stale_temporaries(target: Path) -> list[str]:
    """Delete temporary files that interrupted (killed) loads of ``target`` left beside it; returns their names.

    Call only while holding :func:`load_lock`: then no live load of this file is writing one. Only regular
    files named as :func:`_create_temporary` names them are touched (and old-style ``.kb-XXXXXXXX.sqlite.tmp``
    files more than an hour old).
    """
    ours = re.compile(re.escape(_temporary_prefix(target)) + r"[0-9a-f]{16}\.sqlite\.tmp$")
    removed = []
    now = time.time()
    with os.scandir(target.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(".kb-") or not entry.is_file(follow_symlinks=False):
                continue
            legacy = _LEGACY_TEMPORARY.match(entry.name)
            if ours.match(entry.name) or (
                legacy and now - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_STALE_S
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


@contextlib.contextmanager
def load_lock(target: Path, shown: Path | None = None, notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``<target>.lock`` (``flock``; the file is created if needed, never replaced,
    never followed if a symlink, and left in place afterwards).

    Another holder is waited for, with a message naming its pid, for at most :data:`LOCK_WAIT_S`: loads hold the
    lock only while writing (seconds), so a longer wait means a stuck load, and failing with a message beats
    hanging. Without ``fcntl`` (Windows) loads are not serialised.
    """
    shown = shown or target
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path = target.with_name(target.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise InputError(f"{shown}: cannot open the lock file {lock_path} ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"{shown}: the lock file {lock_path} is {_file_kind(mode)}; remove it")
        deadline = time.monotonic() + LOCK_WAIT_S
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _lock_holder(fd)
                if time.monotonic() > deadline:
                    raise InputError(
                        f"{shown}: another kb load (pid {holder}) has held {lock_path} for over "
                        f"{LOCK_WAIT_S:g} s; is it stuck? Try again when it ends"
                    ) from None
                if not waiting and notify:
                    notify(f"waiting for another kb load (pid {holder}) to finish")
                waiting = True
                time.sleep(_LOCK_POLL_S)
        # Who holds the lock, for the message of whoever waits for it.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock_holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return text if text.isdigit() else "unknown"


def _carry_over(con: sqlite3.Connection, old: Path, shown: Path, parts: list[str], notify) -> dict[str, object]:
    """Copy ``parts`` from the old database (``old``, the file the user calls ``shown``), when it has them in this
    schema; return their metadata. An old file of another version or kind, or a damaged one, gives nothing."""
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
    except (sqlite3.DatabaseError, orjson.JSONDecodeError):
        # No half-copied part (with journal_mode=OFF a rollback cannot undo the rows: delete them).
        for part in parts:
            for table in PART_TABLES[part]:
                con.execute(f"DELETE FROM main.{table}")
        con.commit()
        if notify:
            notify(f"{shown}: from another breachpath version; its other parts are not kept (load them again)")
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
    """Open an existing knowledge base read-only (it is never created or modified) and check its schema.

    A missing file, another kind of file or SQLite database, and a damaged one are one-line errors naming
    ``db_path``; so is any SQLite error in later queries on the connection (:class:`StoreConnection`).
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise InputError(f"{db_path}: no knowledge base here; build one with `breachpath kb load`")
    try:
        # mode=ro: SQLite neither creates the file nor writes to it.
        con = sqlite3.connect(
            f"{db_path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, factory=StoreConnection
        )
    except sqlite3.DatabaseError as exc:
        raise InputError(not_a_knowledge_base(db_path, str(exc))) from None
    con.path = db_path
    try:
        # Reading through a memory map saves a copy per page: most queries touch a few dozen pages.
        con.execute("PRAGMA mmap_size = 268435456")
        problem = _schema_problem(con)
    except BaseException:
        con.close()
        raise
    if problem:
        con.close()
        if problem == "other-version":
            raise InputError(
                f"{db_path}: knowledge base from another breachpath version; rebuild it with `breachpath kb load`"
            )
        raise InputError(not_a_knowledge_base(db_path, problem))
    return con


def not_a_knowledge_base(db_path: Path, why: str) -> str:
    return f"{db_path}: not a breachpath knowledge base ({why}); rebuild it with `breachpath kb load`"


def _schema_problem(con: sqlite3.Connection) -> str | None:
    """What makes ``con`` not a knowledge base of this schema (``"other-version"`` for an older one), or None."""
    tables = _table_columns(con, set(expected_tables()))
    if tables.get("meta") != ["key", "value"]:
        return "no meta table" if "meta" not in tables else "meta table of other columns"
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    try:
        version = orjson.loads(meta.get("schema_version") or "null")
        parts = {part: orjson.loads(meta[part]) for part in PART_TABLES if part in meta}
    except (orjson.JSONDecodeError, TypeError):
        return "meta values are not JSON"
    if version is None:
        return "no schema version"
    if version != SCHEMA_VERSION:
        return "other-version"
    if not all(isinstance(v, dict) for v in parts.values()):
        return "meta values of the wrong type"
    for table, columns in expected_tables().items():
        if table not in tables:
            return f"no table {table}"
        if tables[table] != columns:
            shown = ", ".join(tables[table][:6]) + (", …" if len(tables[table]) > 6 else "")
            return f"table {table} has other columns ({shown})"
    return None


def _table_columns(con: sqlite3.Connection, wanted: set[str] | None = None) -> dict[str, list[str]]:
    """Column names of the tables (all, or those ``wanted`` only: a crafted file may hold very many), in one query."""
    tables: dict[str, list[str]] = {}
    rows = con.execute(
        "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
        "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid"
    ).fetchall()
    for table, column in rows:
        if wanted is None or table in wanted:
            tables.setdefault(table, []).append(column)
    return tables


@functools.cache
def expected_tables() -> dict[str, list[str]]:
    """Table → column names of a knowledge base built by this version: the tables of :data:`SCHEMA` and the
    full-text tables of :data:`INDEXES` (their internal shadow tables are SQLite's business)."""
    # The full-text tables alone of INDEXES: the rest (indexes, filling) would only cost time here.
    fts_tables = ";\n".join(re.findall(r"^CREATE VIRTUAL TABLE [^;]*", INDEXES, flags=re.MULTILINE))
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(f"{SCHEMA};\n{fts_tables};")
        tables = _table_columns(con)
    finally:
        con.close()
    shadow = ("_data", "_idx", "_content", "_docsize", "_config")
    fts = [name for name in tables if name.endswith("_fts")]
    return {k: v for k, v in tables.items() if not any(k == f + s for f in fts for s in shadow)}


class StoreConnection(sqlite3.Connection):
    """A read-only knowledge base connection whose SQLite errors (a damaged or crafted file) are
    :class:`InputError` lines naming the file, wherever a query meets them."""

    path: Path

    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        return self.cursor(_StoreCursor).execute(sql, parameters)

    def broken(self, exc: sqlite3.DatabaseError) -> InputError:
        return InputError(not_a_knowledge_base(self.path, str(exc)))


class _StoreCursor(sqlite3.Cursor):
    # Each step that runs SQLite can meet a damaged page: execution and every way of fetching rows.
    def execute(self, sql: str, parameters=(), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise self.connection.broken(exc) from None

    def fetchone(self):
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.connection.broken(exc) from None

    def fetchmany(self, size: int = 1) -> list:
        try:
            return super().fetchmany(size)
        except sqlite3.DatabaseError as exc:
            raise self.connection.broken(exc) from None

    def fetchall(self) -> list:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.connection.broken(exc) from None

    def __next__(self):
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self.connection.broken(exc) from None
