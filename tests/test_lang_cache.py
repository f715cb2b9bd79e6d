"""The cache of compiled languages: ``compile_file`` loads a language compiled before whose files are unchanged,
and what it loads equals what a compile gives. The cache is JSON, checked on reading, and never fails a command.

Each test has a cache directory of its own (``BREACHPATH_CACHE``); ``compiles`` counts the compiles that really ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from breachpath.demo import example_path
from breachpath.graph import scenario_graph
from breachpath.lang import LangError, cache, compile_file, compile_text, compiler
from breachpath.lang.spec import Asset, Association, LanguageSpec, Step
from breachpath.langs import ATTACKLANG, ATTACKLANG_0_1
from breachpath.scenario import read_scenario
from conftest import require_shared, shared_dir

OPTIONS = {"ttc_from_comments": False, "allow_outside_includes": False}

# A small language over two files that uses most of MAL: an include, meta info, abstract assets, inheritance with
# +>, variables, set operations, transitive steps, subtype filters, E steps, TTCs, CIA, tags, multiplicities,
# detectors and A> effects (these two give warnings).
MAIN = """\
#id: "org.example.cachetest"
#version: "0.1.0"

include "parts/hosts.mal"

category People
  user info: "Who uses the systems."
{
  asset User {
    | phish [Exponential(0.5)]
      user info: "See https://attack.mitre.org/techniques/T1566/"
      -> credentials.use
  }
}

associations {
  User [users] * <-- Uses --> 0..1 [credentials] Credentials
    user info: "A user's credentials."
  Credentials [credentials] * <-- Opens --> * [hosts] Host
  Machine [neighbours] * <-- Network --> * [peers] Machine
}
"""
HOSTS = """\
category Systems {
  abstract asset Machine {
    let reachable = peers*
    | access @hidden {C, I}
      -> compromise
    | compromise
    # patched
      -> access
  }
  asset Host extends Machine {
    | access
      +> (reachable() /\\ peers).access,
         peers[Server].exploit
    | action exploit
      !detectExploit (Host h) ProcessCreation [Bernoulli(0.9)]
      A> peers.compromise
    E hasCredentials
      <- credentials
      -> access
  }
  asset Server extends Host {
    | exploit [Gamma(2, 3)]
  }
  asset Credentials {
    | use
      -> hosts.access
  }
}
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("BREACHPATH_CACHE", str(directory))
    return directory / "languages"


@pytest.fixture
def compiles(monkeypatch) -> list[int]:
    """One entry per compile that ran (parsing and checking), not loaded from the cache."""
    ran: list[int] = []
    original = compiler._Compiler.run

    def run(self):
        ran.append(1)
        return original(self)

    monkeypatch.setattr(compiler._Compiler, "run", run)
    return ran


@pytest.fixture
def small(tmp_path) -> Path:
    """The two-file language above, in a directory of its own; its entry file."""
    root = tmp_path / "lang"
    (root / "parts").mkdir(parents=True)
    (root / "main.mal").write_text(MAIN)
    (root / "parts" / "hosts.mal").write_text(HOSTS)
    return root / "main.mal"


def fresh(path: Path, monkeypatch, **options) -> LanguageSpec:
    """``path`` compiled without the cache."""
    with monkeypatch.context() as patch:
        patch.setenv("BREACHPATH_CACHE", "off")
        return compile_file(path, **options)


def languages() -> list:
    """The built-in languages and the real ones in ../shared/data (entry files; corelang both ways in)."""
    data = shared_dir() / "data"
    shared = [
        pytest.param(data / entry, id=entry)
        for entry in (
            "corelang/main.mal",
            "corelang/coreLang.mal",
            "enterpriselang/enterpriselang.mal",
            "examplelang/exampleLang.mal",
        )
    ]
    return [pytest.param(ATTACKLANG, id="attacklang"), pytest.param(ATTACKLANG_0_1, id="attacklang-0.1"), *shared]


# -- a cached language is the compiled one ------------------------------------------------------------------------


@pytest.mark.parametrize("entry", languages())
def test_a_cached_language_equals_the_compiled_one(entry, compiles):
    if not entry.exists():
        require_shared("data", *entry.parts[-2:])
    spec = compile_file(entry)
    assert cache.load_spec(cache.dump_spec(spec)) == spec  # the JSON layout loses nothing

    again = compile_file(entry)  # from the cache: no second compile
    assert len(compiles) == 1
    assert again == spec and again is not spec
    # Equal, and alike down to the types and the order of everything.
    assert list(again.assets) == list(spec.assets) and list(again.categories) == list(spec.categories)
    for name, asset in spec.assets.items():
        assert list(again.assets[name].steps) == list(asset.steps)
        assert list(again.assets[name].meta) == list(asset.meta)
    assert all(type(a.left_mult) is tuple and type(a.right_mult) is tuple for a in again.associations)
    assert again.files == spec.files and again.warnings == spec.warnings
    assert again.counts() == spec.counts()


def test_every_field_of_the_language_is_in_the_cache():
    """A field added to LanguageSpec, Asset, Step or Association must be added to the cache's layout too (until
    then no entry is ever used: the cache is off, not wrong)."""
    assert cache._layout_matches(), (
        "add the new field to _STEP_FIELDS / _ASSET_FIELDS / _ASSOCIATION_FIELDS in breachpath/lang/cache.py"
    )
    assert {f for f in LanguageSpec.__dataclass_fields__ if not f.startswith("_")} | {"expressions"} == cache._SPEC_KEYS
    for cls in (Asset, Step, Association):
        assert cls.__dataclass_fields__  # dataclasses, read by field name


def test_everything_a_compile_gives_comes_back_from_the_cache(small, compiles, monkeypatch):
    """Locations, warnings, files, detectors, effects, variables, ATT&CK ids: all of it."""
    spec = compile_file(small)
    again = compile_file(small)
    assert len(compiles) == 1 and again == spec == fresh(small, monkeypatch)
    assert len(again.warnings) == 2 and any("detectors" in w for w in again.warnings)
    assert again.files == [str(small.parent / "parts" / "hosts.mal"), str(small)]
    exploit = again.assets["Host"].steps["exploit"]
    assert exploit.location == f"{small.parent / 'parts' / 'hosts.mal'}:14:5"
    assert exploit.causal_mode == "action" and exploit.append_reaches["overrides"] is True
    assert exploit.detectors[0]["context"] == [["Host", "h"]]
    assert again.assets["User"].steps["phish"].attack_ids == ["T1566"]
    assert again.steps("Server")["exploit"].ttc == "Gamma(2, 3)"


def test_each_step_has_its_own_expressions(small):
    """The cache stores each distinct expression once, but gives every step its own copy, as a compile does."""
    compile_file(small)
    spec = compile_file(small)
    first, second = spec.assets["Machine"].steps["access"].reaches[0], spec.assets["Credentials"].steps["use"].reaches
    assert first == {"type": "attackStep", "name": "compromise"} and first is not second[0]
    nested = spec.assets["Host"].steps["access"].reaches[0]
    copy = compile_file(small).assets["Host"].steps["access"].reaches[0]
    assert nested == copy and nested["lhs"] is not copy["lhs"]


def test_ttc_from_comments_is_part_of_the_key(compiles, monkeypatch):
    enterprise = require_shared("data") / "enterpriselang" / "enterpriselang.mal"
    plain = compile_file(enterprise)
    with_comments = compile_file(enterprise, ttc_from_comments=True)
    assert len(compiles) == 2  # a different compile, not the cached one
    assert compile_file(enterprise, ttc_from_comments=True) == with_comments
    assert compile_file(enterprise) == plain and len(compiles) == 2
    assert any(s.ttc_from_comment for a in with_comments.assets.values() for s in a.steps.values())
    assert with_comments.warnings and with_comments.warnings != plain.warnings


def test_allow_outside_includes_is_part_of_the_key(tmp_path):
    """A language cached with includes outside its directory allowed is still refused without the option."""
    (tmp_path / "shared.mal").write_text("category S { asset A { | a } }\n")
    entry = tmp_path / "lang" / "main.mal"
    entry.parent.mkdir()
    entry.write_text('include "../shared.mal"\n')
    assert "A" in compile_file(entry, allow_outside_includes=True).assets
    with pytest.raises(LangError, match="outside"):
        compile_file(entry)
    assert "A" in compile_file(entry, allow_outside_includes=True).assets


def test_a_graph_built_from_a_cached_language_is_the_same(monkeypatch):
    scenario = read_scenario(example_path("web-service-c2"))
    built = [
        scenario_graph(spec, scenario)[0] for spec in (fresh(scenario.lang, monkeypatch), compile_file(scenario.lang))
    ]
    built.append(scenario_graph(compile_file(scenario.lang), scenario)[0])  # this one from the cache
    first = built[0]
    for graph in built[1:]:
        assert graph.names() == first.names()
        arrays = first._arrays()
        assert set(graph._arrays()) == set(arrays)
        for name, array in graph._arrays().items():
            nan = array.dtype.kind == "f"  # defense_p is NaN for the steps that are not defenses
            assert array.dtype == arrays[name].dtype and np.array_equal(array, arrays[name], equal_nan=nan), name
        timing = {"build_seconds"}
        assert {k: v for k, v in graph.info.items() if k not in timing} == {
            k: v for k, v in first.info.items() if k not in timing
        }


# -- when the cache is not used ----------------------------------------------------------------------------------


def test_a_changed_include_is_seen(small, compiles):
    compile_file(small)
    hosts = small.parent / "parts" / "hosts.mal"
    hosts.write_text(HOSTS.replace("    | use\n", "    | use\n    | steal\n"))
    assert "steal" in compile_file(small).assets["Credentials"].steps
    assert len(compiles) == 2
    assert "steal" in compile_file(small).assets["Credentials"].steps and len(compiles) == 2  # and cached again


def test_a_change_that_keeps_the_size_is_seen(small, compiles):
    compile_file(small)
    hosts = small.parent / "parts" / "hosts.mal"
    changed = HOSTS.replace("Gamma(2, 3)", "Gamma(3, 3)")
    assert len(changed) == len(HOSTS)
    hosts.write_text(changed)
    assert compile_file(small).steps("Server")["exploit"].ttc == "Gamma(3, 3)" and len(compiles) == 2


def test_a_changed_entry_file_is_seen_and_replaces_the_entry(small, compiles, cache_dir):
    compile_file(small)
    small.write_text(MAIN.replace('"0.1.0"', '"0.2.0"'))
    assert compile_file(small).defines["version"] == "0.2.0" and len(compiles) == 2
    assert len(list(cache_dir.iterdir())) == 1  # one entry per language, not one per edit


def test_a_removed_include_is_a_compile_error_again(small):
    compile_file(small)
    (small.parent / "parts" / "hosts.mal").unlink()
    with pytest.raises(LangError, match="include not found"):
        compile_file(small)


def test_compile_text_is_not_cached(cache_dir):
    compile_text("category C { asset A { | a } }")
    assert not cache_dir.exists()


def test_the_cache_can_be_turned_off(small, compiles, monkeypatch, tmp_path):
    monkeypatch.setenv("BREACHPATH_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    compile_file(small)
    compile_file(small)
    assert len(compiles) == 2 and sorted(tmp_path.rglob("*")) == before  # nothing written (no ./off either)
    assert cache.cache_dir() is None


def test_the_cache_directory(monkeypatch, tmp_path):
    """``$BREACHPATH_CACHE/languages``, else under the user cache directory (where downloads are cached too)."""
    monkeypatch.setenv("BREACHPATH_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "languages"
    monkeypatch.delenv("BREACHPATH_CACHE")
    assert cache.cache_dir() == Path(platformdirs.user_cache_dir("breachpath", appauthor=False)) / "languages"


# -- the entry: JSON, checked, never trusted ---------------------------------------------------------------------


def test_an_entry_is_json_listing_the_files_read(small, cache_dir):
    compile_file(small)
    (entry,) = cache_dir.iterdir()
    assert entry == cache.entry_path(small, OPTIONS)
    data = json.loads(entry.read_bytes())
    assert data["format"] == cache.CACHE_FORMAT and set(data) == {"format", "sources", "spec"}
    hosts = small.parent / "parts" / "hosts.mal"
    assert [s["resolved"] for s in data["sources"]] == [str(hosts.resolve()), str(small.resolve())]
    assert data["sources"][0]["sha256"] == hashlib.sha256(hosts.read_bytes()).hexdigest()
    assert data["sources"][0]["size"] == len(hosts.read_bytes())


def entry_of(small: Path) -> Path:
    compile_file(small)
    entry = cache.entry_path(small, OPTIONS)
    assert entry.is_file()
    return entry


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], id="truncated"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: b"\x00\xff" * 1000, id="binary"),
        pytest.param(lambda raw: b"[]", id="not-an-object"),
        pytest.param(lambda raw: raw.replace(b'"format":1', b'"format":99'), id="other-format"),
        pytest.param(lambda raw: raw.replace(b'"attackStep"', b'"attackStepX"', 1), id="bad-expression"),
        pytest.param(lambda raw: raw.replace(b'"defense"', b'"xor"', 1), id="bad-step-kind"),
        pytest.param(lambda raw: raw.replace(b'"extends":"Machine"', b'"extends":"Server"', 1), id="extends-cycle"),
        pytest.param(
            lambda raw: raw.replace(b'"left_mult":[0,null]', b'"left_mult":[0,"*"]', 1), id="bad-multiplicity"
        ),
        pytest.param(lambda raw: raw.replace(b'"phish","or","User"', b'"phish","or","Host"', 1), id="misfiled-step"),
    ],
)
def test_a_damaged_entry_is_ignored_and_rewritten(small, compiles, damage, monkeypatch):
    entry = entry_of(small)
    good = entry.read_bytes()
    damaged = damage(good)
    assert damaged != good  # the damage applies to this entry
    entry.write_bytes(damaged)
    assert compile_file(small) == fresh(small, monkeypatch)
    assert len(compiles) == 3  # compiled again (the fresh one is the third)
    assert entry.read_bytes() == good  # and the entry written anew


def test_bad_expression_indices_are_ignored(small, compiles):
    entry = entry_of(small)
    data = json.loads(entry.read_bytes())
    for indices in ([10**6], [-1], ["0"], [0.5], "0", [True, None]):
        data["spec"]["assets"]["User"]["steps"]["phish"][cache._STEP_FIELDS.index("reaches")] = indices
        entry.write_text(json.dumps(data))
        compile_file(small)
    assert len(compiles) == 7


def test_a_huge_entry_is_not_read(small, compiles, monkeypatch):
    entry = entry_of(small)
    monkeypatch.setattr(cache, "MAX_ENTRY_BYTES", entry.stat().st_size - 1)
    compile_file(small)
    assert len(compiles) == 2


def test_random_damage_never_fails_a_compile(small, monkeypatch):
    """Values swapped for others of the wrong kind anywhere in an entry: the compile runs, no exception escapes."""
    expected = fresh(small, monkeypatch)
    entry = entry_of(small)
    good = json.loads(entry.read_bytes())
    rng = random.Random(2026)
    junk = [None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"type": "collect"}, [[0]], 10**30]

    def places(node, path=()):
        yield path
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            yield from places(child, (*path, key))

    every = [p for p in places(good["spec"]) if p]
    for _ in range(150):
        data = json.loads(json.dumps(good))
        *parent, key = rng.choice(every)
        node = data["spec"]
        for part in parent:
            node = node[part]
        node[key] = rng.choice(junk)
        entry.write_text(json.dumps(data))
        spec = compile_file(small)
        assert isinstance(spec, LanguageSpec) and spec.assets.keys() == expected.assets.keys()


def test_a_symlink_in_place_of_the_entry_is_replaced_not_followed(small, tmp_path):
    entry = entry_of(small)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    entry.unlink()
    entry.symlink_to(victim)
    compile_file(small)
    assert victim.read_text() == "keep me" and entry.is_file() and not entry.is_symlink()


def test_a_fifo_in_place_of_the_entry_is_not_waited_on(small):
    entry = cache.entry_path(small, OPTIONS)
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)
    assert compile_file(small).assets  # neither reading nor writing it blocks
    assert stat.S_ISFIFO(entry.lstat().st_mode) or entry.is_file()


# -- an unwritable cache is no cache, never an error -------------------------------------------------------------


def test_a_file_in_the_way_of_the_cache_directory(small, compiles, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("BREACHPATH_CACHE", str(blocker))
    assert compile_file(small) == compile_file(small)
    assert len(compiles) == 2 and blocker.read_text() == "x"


def test_a_directory_in_the_way_of_the_entry(small, compiles):
    entry = cache.entry_path(small, OPTIONS)
    entry.mkdir(parents=True)
    compile_file(small)
    compile_file(small)
    assert len(compiles) == 2 and entry.is_dir()
    assert list(entry.parent.iterdir()) == [entry]  # no temporary file left behind
