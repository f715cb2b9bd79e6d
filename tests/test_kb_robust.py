"""The knowledge base under bad input (issue 13): one line naming the path the user gave, exit code 2, no
traceback, nothing clobbered; loads serialised by a lock; searches bounded whatever the text.

The cases failed before the fix (a traceback, a hang, a lost update, a leftover file, a replaced one), except
those marked "guard", which pin what already held (FTS5 syntax was already quoted; `kb show` never created a
file; `--evidence` already had to be a directory).
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from breachpath.errors import InputError
from breachpath.kb import KnowledgeBase, load_attack, load_knowledge_base
from breachpath.kb.pages import MAX_SEARCH_TERMS, fts_query
from breachpath.kb.stix import MAX_BUNDLE_BYTES, merge_bundles, read_bundle
from breachpath.kb.store import load_lock, rebuild, write_attack
from conftest import attack_object, require_shared, run_cli, write_bundle

#: A hang is a failure, not a stuck test run (generous: every command here answers in seconds).
HANG_S = 60


def assert_one_line_error(result: subprocess.CompletedProcess, path: object) -> None:
    """Exit code 2 and a single stderr line that names ``path`` as the user gave it; no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert str(path) in result.stderr
    assert ".tmp" not in result.stderr  # never our temporary file


@pytest.fixture
def small_bundle(tmp_path):
    """A two-technique ATT&CK bundle: a knowledge base in milliseconds."""
    parent = attack_object("attack-pattern", "T1584", "Compromise Infrastructure")
    child = attack_object("attack-pattern", "T1584.006", "Web Services", x_mitre_is_subtechnique=True)
    return write_bundle(tmp_path / "small-attack.json", [parent, child])


# -- 1. opening a store that is not a knowledge base ---------------------------------------------------------


def _crafted(path: Path, real: Path, case: str) -> Path:
    """A file named ``path`` that looks like a knowledge base to a careless reader, made as ``case`` says."""
    if case in ("other columns", "links renamed", "bad meta json", "meta part not an object"):
        shutil.copyfile(real, path)
        con = sqlite3.connect(path)
        if case == "other columns":
            con.execute("ALTER TABLE objects RENAME COLUMN name TO title")
        elif case == "links renamed":
            con.execute("ALTER TABLE links RENAME TO links_old")
        elif case == "bad meta json":
            con.execute("UPDATE meta SET value = '{' WHERE key = 'attack'")
        else:
            con.execute("UPDATE meta SET value = '5' WHERE key = 'attack'")
        con.commit()
        con.close()
    elif case == "meta table only":
        con = sqlite3.connect(path)
        con.executescript(
            "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema_version', '2');"
        )
        con.close()
    elif case == "unrelated database":
        con = sqlite3.connect(path)
        con.executescript("CREATE TABLE notes(text TEXT); INSERT INTO notes VALUES ('hello');")
        con.close()
    elif case == "not sqlite":
        path.write_text("T1059,Command and Scripting Interpreter\n")
    elif case == "empty file":
        path.write_bytes(b"")
    elif case == "truncated":
        data = real.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


CRAFTED = [
    "other columns", "links renamed", "bad meta json", "meta part not an object", "meta table only",
    "unrelated database", "not sqlite", "empty file", "truncated",
]  # fmt: skip


@pytest.mark.parametrize("case", CRAFTED)
def test_a_store_that_is_not_a_knowledge_base_is_one_line(kb_full, tmp_path, case):
    db = _crafted(tmp_path / "crafted.sqlite", kb_full.path, case)
    before = db.read_bytes()
    for command in (["show", "T1059"], ["search", "powershell"]):
        result = run_cli("kb", *command, "--db", str(db))
        assert_one_line_error(result, db)
        assert "kb load" in result.stderr
    with pytest.raises(InputError, match="kb load"):  # every other query opens the store the same way
        KnowledgeBase.open(db)
    assert db.read_bytes() == before  # opened read-only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.sqlite"]  # no journal or lock files either


def test_a_damaged_row_met_by_a_query_is_one_line(kb_full, tmp_path):
    """The schema is right, so the store opens; the error comes while reading T1059's row."""
    db = tmp_path / "damaged.sqlite"
    shutil.copyfile(kb_full.path, db)
    con = sqlite3.connect(db)
    con.execute("UPDATE objects SET description = CAST(x'c3ff' AS TEXT) WHERE attack_id = 'T1059'")
    con.commit()
    con.close()
    assert_one_line_error(run_cli("kb", "show", "T1059", "--db", str(db)), db)
    assert run_cli("kb", "show", "T1584.006", "--db", str(db)).returncode == 0  # the rest still answers


def test_a_search_on_a_table_that_is_not_full_text_is_one_line(kb_full, tmp_path):
    """A crafted objects_fts with the right columns but no FTS5 behind it: the query, not the open, fails."""
    db = tmp_path / "crafted.sqlite"
    shutil.copyfile(kb_full.path, db)
    con = sqlite3.connect(db)
    con.executescript("DROP TABLE objects_fts; CREATE TABLE objects_fts(name, aliases, description);")
    con.close()
    assert_one_line_error(run_cli("kb", "search", "powershell", "--db", str(db)), db)


def test_show_never_creates_the_file_it_is_given(tmp_path):
    """Guard."""
    missing = tmp_path / "missing.sqlite"
    result = run_cli("kb", "show", "T1059", "--db", str(missing))
    assert_one_line_error(result, missing)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_show_on_a_device_or_fifo_answers_at_once(tmp_path, special):
    """Guard."""
    if special == "fifo":
        special = tmp_path / "kb.sqlite"
        os.mkfifo(special)
    assert_one_line_error(run_cli("kb", "show", "T1059", "--db", str(special)), special)


def test_reading_a_real_store_leaves_it_as_it_was(kb_full, tmp_path):
    """Guard."""
    db = tmp_path / "kb.sqlite"
    shutil.copy2(kb_full.path, db)
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    assert run_cli("kb", "show", "T1059", "--db", str(db)).returncode == 0
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    assert [p.name for p in tmp_path.iterdir()] == ["kb.sqlite"]


# -- 2. search: bounded, and user text is never FTS5 syntax --------------------------------------------------


def test_a_repeated_word_is_one_term():
    """800 copies of a word made 800 FTS5 phrases (14 s on v18.1); each word counts once."""
    assert fts_query("powershell " * 800) == ('"powershell" "powershell"*', ["powershell"])
    assert fts_query("Web service WEB") == ('"Web" "service" "WEB"*', ["Web", "service"])
    assert fts_query("web service") == ('"web" "service"*', ["web", "service"])  # as before


def test_a_word_repeated_thousands_of_times_answers_like_the_word(kb_full):
    query = "powershell " * 5000
    result = subprocess.run(
        [sys.executable, "-m", "breachpath.cli", "kb", "search", query, "--db", str(kb_full.path), "--format", "json"],
        capture_output=True, text=True, timeout=HANG_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["id"] == "T1059.001"  # PowerShell
    assert [h["id"] for h in hits] == [h["id"] for h in kb_full.search("powershell powershell")]


def test_too_many_different_words_are_refused_with_the_limit(kb_full):
    words = " ".join(f"word{n}" for n in range(MAX_SEARCH_TERMS + 1))
    with pytest.raises(InputError, match=f"{MAX_SEARCH_TERMS + 1} different words; at most {MAX_SEARCH_TERMS}"):
        kb_full.search(words)
    assert kb_full.search(" ".join(f"word{n}" for n in range(MAX_SEARCH_TERMS))) == []


@pytest.mark.parametrize("text", ["a" * 65, "x " * 40_000], ids=["65-letter word", "80,000 characters"])
def test_huge_words_and_texts_are_refused(kb_full, text):
    with pytest.raises(InputError, match="at most"):
        kb_full.search(text)


FTS_SYNTAX = [
    '"', 'power"shell', '"unterminated', "power*", "*", "NEAR(web service)", "web NEAR/2 service", "^web",
    "name:web", "col:", "{name aliases}:web", "(web", "web)", "-", "web - service", "-web", "web OR service",
    "NOT web", "AND", "web + service", "'", "web's", "a_b", "é", "\u3000web",
]  # fmt: skip


@pytest.mark.parametrize("text", FTS_SYNTAX)
def test_fts_syntax_in_user_text_is_plain_text(kb_full, text):
    """Guard: every word is quoted, so no text is an FTS5 query of its own."""
    for kind in (None, "technique", "d3fend"):
        try:
            kb_full.search(text, kind)
        except InputError as exc:
            assert "nothing to search for" in str(exc)


def test_fts_syntax_through_the_cli(kb_full):
    """Guard."""
    result = run_cli("kb", "search", 'NEAR("web" service) ^x: -', "--db", str(kb_full.path), "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr


# -- 3. concurrent loads are serialised ------------------------------------------------------------------------


def test_concurrent_loads_of_different_parts_keep_both(tmp_path, d3fend_ttl):
    """Two `kb load`s into one home, ATT&CK and D3FEND, both waiting on a held lock, then let go at once:
    before the lock one of the two updates was lost in 8 of 10 runs, both exiting 0."""
    attack = require_shared("data", "attack")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "BREACHPATH_HOME": str(home), "COLUMNS": "200"}
    db = home / "kb.sqlite"
    for run in range(3):
        db.unlink(missing_ok=True)
        with load_lock(db):  # both loads meet a held lock, so they really overlap
            loads = [
                subprocess.Popen(
                    [sys.executable, "-m", "breachpath.cli", "kb", "load", *part, "--format", "json"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
                for part in (["--attack", str(attack)], ["--d3fend", str(d3fend_ttl)])
            ]
            for load in loads:
                # Blocks until the load says it waits (or ends, which is the failure seen before the lock).
                assert f"waiting for another kb load (pid {os.getpid()}) to finish" in load.stderr.readline()
        for load in loads:
            out, err = load.communicate(timeout=HANG_S)
            assert load.returncode == 0, err
        with KnowledgeBase.open(db) as kb:
            info = kb.info()
        assert info["domains"]["enterprise-attack"]["version"] == "18.1", f"run {run}: ATT&CK lost"
        assert info["d3fend"]["classes"] > 3000, f"run {run}: D3FEND lost"
        assert both_parts_answer(db)
    assert sorted(p.name for p in home.iterdir()) == ["kb.sqlite", "kb.sqlite.lock"]


def both_parts_answer(db: Path) -> bool:
    with KnowledgeBase.open(db) as kb:
        return kb.page("T1059.001")["name"] == "PowerShell" and bool(kb.countermeasures(["T1059.001"])["T1059.001"])


def test_a_load_that_cannot_get_the_lock_says_who_holds_it(tmp_path, small_bundle, monkeypatch):
    from breachpath.kb import store

    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.3)
    db = tmp_path / "kb.sqlite"
    messages: list[str] = []
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom pathlib import Path\nfrom breachpath.kb.store import load_lock\n"
         "with load_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(InputError, match=rf"another kb load \(pid {holder.pid}\) has held .*kb\.sqlite\.lock"):
            load_knowledge_base(db, attack=[str(small_bundle)], notify=messages.append)
    finally:
        holder.communicate("", timeout=HANG_S)
    assert messages == [f"waiting for another kb load (pid {holder.pid}) to finish"]
    assert not db.exists()


def test_a_lock_file_that_is_a_symlink_is_never_followed(tmp_path, small_bundle):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "kb.sqlite.lock").symlink_to(victim)
    with pytest.raises(InputError, match="lock file"):
        load_attack([str(small_bundle)], tmp_path / "kb.sqlite")
    assert victim.read_text() == "keep me"


# -- 4. temporaries of killed loads are cleaned --------------------------------------------------------------

KILLED_LOAD = """
import os, signal, sys
from pathlib import Path
from breachpath.kb.store import rebuild

def write(con):
    con.execute("INSERT INTO estimates VALUES ('k', NULL, NULL, 'n', 'Exponential(1)', '{}')")
    os.kill(os.getpid(), signal.SIGKILL)  # as `kill -9` in the middle of a load

rebuild(Path(sys.argv[1]), {"evidence": write})
"""


def killed_load(db: Path) -> None:
    result = subprocess.run([sys.executable, "-c", KILLED_LOAD, str(db)], timeout=HANG_S)
    assert result.returncode == -signal.SIGKILL


def temporaries(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name.startswith(".kb-") and p.name.endswith(".sqlite.tmp")}


def test_a_load_removes_the_temporary_files_of_killed_loads(tmp_path, small_bundle):
    db = tmp_path / "kb.sqlite"
    killed_load(tmp_path / "other.sqlite")  # another store in the same directory: its file is not ours to remove
    of_other = temporaries(tmp_path)
    killed_load(db)
    assert len(temporaries(tmp_path)) == 2, "a killed load leaves its temporary file (the case to clean up)"
    # An old-style temporary (before this naming) a day old is removed; a fresh one might be a live load's.
    legacy_old, legacy_new = tmp_path / ".kb-abcd1234.sqlite.tmp", tmp_path / ".kb-efgh5678.sqlite.tmp"
    for legacy in (legacy_old, legacy_new):
        legacy.write_bytes(b"x" * 1000)
    day_ago = time.time() - 86400
    os.utime(legacy_old, (day_ago, day_ago))
    unrelated = tmp_path / ".kb-notes.txt"
    unrelated.write_text("mine")

    load_attack([str(small_bundle)], db)

    assert temporaries(tmp_path) == of_other | {legacy_new.name}
    assert unrelated.read_text() == "mine"
    assert KnowledgeBase.open(db).page("T1584.006")["name"] == "Web Services"


def test_a_symlink_named_like_a_temporary_is_left_alone(tmp_path, small_bundle):
    """Guard for the clean-up: only regular files are removed."""
    db = tmp_path / "kb.sqlite"
    killed_load(db)
    (name,) = temporaries(tmp_path)
    (tmp_path / name).unlink()
    target = tmp_path / "precious"
    target.write_text("keep")
    (tmp_path / name).symlink_to(target)
    load_attack([str(small_bundle)], db)
    assert (tmp_path / name).is_symlink() and target.read_text() == "keep"


# -- 5. inputs that are not regular files, and gzip bombs ------------------------------------------------------


def _special_inputs(tmp_path: Path) -> dict[str, tuple[list[str], Path | str]]:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero_link = tmp_path / "zero.json.gz"
    zero_link.symlink_to("/dev/zero")
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    os.mkfifo(bundles / "enterprise-attack.json")
    evidence_file = tmp_path / "estimate.yaml"
    evidence_file.write_text("name: x\n")
    return {
        "attack device": (["--attack", "/dev/zero"], "/dev/zero"),
        "attack fifo": (["--attack", str(fifo)], fifo),
        "attack symlink to a device": (["--attack", str(zero_link)], zero_link),
        "attack directory holding a fifo": (["--attack", str(bundles)], bundles / "enterprise-attack.json"),
        "d3fend device": (["--d3fend", "/dev/zero"], "/dev/zero"),
        "d3fend fifo": (["--d3fend", str(fifo)], fifo),
        "evidence file": (["--evidence", str(evidence_file)], evidence_file),
        "evidence device": (["--evidence", "/dev/zero"], "/dev/zero"),
    }


SPECIAL = [
    "attack device", "attack fifo", "attack symlink to a device", "attack directory holding a fifo",
    "d3fend device", "d3fend fifo", "evidence file", "evidence device",
]  # fmt: skip


@pytest.mark.parametrize("case", SPECIAL)
def test_special_files_as_inputs_are_refused_at_once(tmp_path, case):
    """The evidence cases are guards; the others read without bound or blocked forever before."""
    args, named = _special_inputs(tmp_path)[case]
    db = tmp_path / "kb.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "breachpath.cli", "kb", "load", *args, "--db", str(db)],
        capture_output=True, text=True, timeout=HANG_S,
    )  # fmt: skip
    assert_one_line_error(result, named)
    assert not db.exists()


def _gzip_bomb(path: Path, mib: int) -> Path:
    """A valid gzip file of ``mib`` MiB of zeros, about a thousandth of that on disk.

    One MiB is deflated once, ending in a full flush (which resets the compressor's history), so that its bytes
    may be repeated to make the stream; compressing the whole gigabyte would take seconds.
    """
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    last = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    path.write_bytes(header + body * mib + last + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF))
    return path


def test_the_bomb_is_a_real_gzip_file(tmp_path):
    assert gzip.decompress(_gzip_bomb(tmp_path / "small.gz", 3).read_bytes()) == bytes(3 << 20)


def _limit_memory() -> None:
    gib = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (gib, gib))


def test_a_gzip_bomb_is_refused_within_a_memory_limit(tmp_path):
    """1 GiB of zeros in a 1 MB file. Before: inflated in one buffer to 512 MiB (a MemoryError under 1 GiB)."""
    bomb = _gzip_bomb(tmp_path / "enterprise-attack.json.gz", 1024)
    result = subprocess.run(
        [sys.executable, "-m", "breachpath.cli", "kb", "load", "--attack", str(bomb), "--db", str(tmp_path / "kb")],
        capture_output=True, text=True, timeout=HANG_S, preexec_fn=_limit_memory,
    )  # fmt: skip
    assert_one_line_error(result, bomb)
    assert "once decompressed" in result.stderr


def test_the_bundle_limit_is_above_the_real_bundles():
    largest = max(len(gzip.decompress(p.read_bytes())) for p in require_shared("data", "attack").glob("*.json.gz"))
    assert 4 * largest < MAX_BUNDLE_BYTES <= 256 * 2**20


# -- 6. the knowledge base file itself: errors name it, and only a regular file is replaced -------------------


def test_an_unwritable_directory_names_the_users_path(small_bundle):
    result = run_cli("kb", "load", "--attack", str(small_bundle), "--db", "/proc/x.sqlite")
    assert_one_line_error(result, "/proc/x.sqlite")


def _special_db(tmp_path: Path, case: str) -> Path:
    if case == "directory":
        (tmp_path / "kb.sqlite").mkdir()
    elif case == "fifo":
        os.mkfifo(tmp_path / "kb.sqlite")
    elif case == "symlink to a fifo":
        os.mkfifo(tmp_path / "fifo")
        (tmp_path / "kb.sqlite").symlink_to(tmp_path / "fifo")
    elif case == "missing directory":
        return tmp_path / "no" / "such" / "kb.sqlite"
    return tmp_path / "kb.sqlite"


@pytest.mark.parametrize("case", ["directory", "fifo", "symlink to a fifo", "missing directory"])
def test_a_db_that_is_not_a_regular_file_is_refused_before_reading(tmp_path, small_bundle, case):
    db = _special_db(tmp_path, case)
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli("kb", "load", "--attack", str(small_bundle), "--db", str(db))
    assert_one_line_error(result, db)
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing  # nothing replaced, created or left
    if case == "fifo":
        assert (tmp_path / "kb.sqlite").is_fifo()
    if case == "symlink to a fifo":
        assert (tmp_path / "kb.sqlite").is_symlink() and (tmp_path / "fifo").is_fifo()


def test_a_db_symlink_is_written_through(tmp_path, small_bundle, d3fend_ttl):
    real = tmp_path / "stores" / "kb.sqlite"
    real.parent.mkdir()
    link = tmp_path / "kb.sqlite"
    link.symlink_to(real)
    assert run_cli("kb", "load", "--attack", str(small_bundle), "--db", str(link)).returncode == 0
    assert run_cli("kb", "load", "--d3fend", str(d3fend_ttl), "--db", str(link)).returncode == 0
    assert link.is_symlink() and real.is_file()
    with KnowledgeBase.open(real) as kb:
        assert kb.page("T1584.006")["name"] == "Web Services" and kb.has_d3fend()  # both parts, one file


def test_the_swap_never_replaces_what_became_a_special_file(tmp_path, small_bundle):
    """Between the check and the swap the store is replaced by a FIFO: the FIFO stays."""
    db = tmp_path / "kb.sqlite"
    load_attack([str(small_bundle)], db)
    bundle = read_bundle(small_bundle.read_bytes(), str(small_bundle))
    write = write_attack(merge_bundles([bundle]), [str(small_bundle)])

    def write_then_swap_in_a_fifo(con):
        db.unlink()
        os.mkfifo(db)
        return write(con)

    with pytest.raises(InputError, match="FIFO"):
        rebuild(db, {"attack": write_then_swap_in_a_fifo})
    assert db.is_fifo()
    assert temporaries(tmp_path) == set()


def test_no_parent_directory_is_created_for_a_typed_path(tmp_path, small_bundle):
    with pytest.raises(InputError, match="does not exist"):
        load_attack([str(small_bundle)], tmp_path / "typo" / "kb.sqlite")
    assert not (tmp_path / "typo").exists()


def test_the_default_home_is_still_created_on_first_use(tmp_path, small_bundle, monkeypatch):
    """Guard: refusing missing directories must not break a first `kb load` (or `demo`) without --db."""
    monkeypatch.setenv("BREACHPATH_HOME", str(tmp_path / "fresh-home"))
    load_attack([str(small_bundle)])
    assert (tmp_path / "fresh-home" / "kb.sqlite").is_file()
