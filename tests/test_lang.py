"""The MAL compiler: the three real languages, the langspec.json layout, and errors that say where and what."""

from __future__ import annotations

import json
import zipfile

import pytest

from breachpath.lang import LangError, compile_file, compile_text, from_langspec, read_langspec
from conftest import require_shared, run_cli


@pytest.fixture(scope="module")
def data():
    return require_shared("data")


@pytest.mark.parametrize(
    ("entry", "assets", "steps", "associations"),
    [
        ("corelang/main.mal", 19, 530, 48),
        ("enterpriselang/enterpriselang.mal", 24, 2360, 13),
        ("examplelang/exampleLang.mal", 4, 9, 3),
    ],
)
def test_real_languages_compile_with_mal_toolbox_counts(data, entry, assets, steps, associations):
    """Counts as mal-toolbox 2.11 gives them: steps per asset with inherited ones included."""
    spec = compile_file(data / entry)
    counts = spec.counts()
    assert (counts["assets"], counts["steps"], counts["associations"]) == (assets, steps, associations)


def test_corelang_follows_its_includes(data):
    spec = compile_file(data / "corelang" / "main.mal")
    assert len(spec.files) == 8 and spec.defines == {"id": "org.mal-lang.coreLang", "version": "1.0.0"}
    # +> appends to inherited children; a sub-asset sees its parent's steps.
    application = spec.steps("Application")
    assert "fullAccess" in application and application["fullAccess"].cia == ["C", "I", "A"]


def test_inheritance_override_and_append():
    spec = compile_text(
        """
        category C {
          asset Base {
            | a -> b, c
            | b
            | c
            | d -> b
          }
          asset Sub extends Base {
            | a [Exponential(2)] -> c
            | d +> c
          }
        }
        """
    )
    sub = spec.steps("Sub")
    assert [e["name"] for e in sub["a"].reaches] == ["c"] and sub["a"].ttc == "Exponential(2)"
    assert [e["name"] for e in sub["d"].reaches] == ["b", "c"]
    assert [e["name"] for e in spec.steps("Base")["a"].reaches] == ["b", "c"]


def test_step_expressions_are_typed_and_kept_in_langspec_layout(data):
    spec = compile_file(data / "corelang" / "main.mal")
    reaches = spec.assets["Hardware"].steps["spreadWormThroughRemovableMedia"].reaches
    assert reaches[0]["type"] == "collect" and reaches[0]["lhs"]["type"] == "union"
    assert reaches[0]["rhs"] == {"type": "attackStep", "name": "attemptDeliverMaliciousRemovableMedia"}


def test_langspec_round_trip_and_mar_archives(data, tmp_path):
    spec = compile_file(data / "enterpriselang" / "enterpriselang.mal")
    langspec = spec.to_langspec()
    assert {"formatVersion", "defines", "categories", "assets", "associations"} <= set(langspec)
    again = from_langspec(json.loads(json.dumps(langspec)), "memory")
    assert again.counts() == spec.counts()
    assert again.to_langspec() == langspec
    mar = tmp_path / "enterprise.mar"
    with zipfile.ZipFile(mar, "w") as archive:
        archive.writestr("langspec.json", json.dumps(langspec))
    assert read_langspec(mar).counts() == spec.counts()


def test_ttcs_kept_in_comments_are_read_on_request(data):
    path = data / "enterpriselang" / "enterpriselang.mal"
    plain = compile_file(path)
    with_comments = compile_file(path, ttc_from_comments=True)
    read = [s for a in with_comments.assets.values() for s in a.steps.values() if s.ttc_from_comment]
    assert len(read) > 200
    assert not any(s.ttc_from_comment for a in plain.assets.values() for s in a.steps.values())
    malicious_link = next(s for s in read if s.name == "maliciousLink")
    assert malicious_link.ttc == "Bernoulli(0.712) * Exponential(1)"
    assert any("comments" in w for w in with_comments.warnings)


def test_steps_know_their_attack_ids():
    spec = compile_text(
        """
        category C {
          asset Web {
            | c2 user info: "Web service C2, https://attack.mitre.org/techniques/T1102/ and T1567.002"
          }
        }
        """
    )
    assert spec.assets["Web"].steps["c2"].attack_ids == ["T1102", "T1567.002"]


# -- errors: file:line:column and the offending text ---------------------------------------------------

BASE = """category C {
  asset A {
    | a -> b
    | b
  }
  asset B extends A {
    | c
  }
}
associations {
  A [as] * <-- Link --> * [bs] B
}
"""

ERRORS = [
    # (source, line, column, message fragment)
    (
        "category C {\n  asset A {\n    | a -> \n  }\n}",
        4,
        3,
        "expected a field, a step, a variable() or '(', found '}'",
    ),
    ("category C {\n  asset A {\n    | a $\n  }\n}", 3, 9, "unexpected character '$'"),
    ('#id: "x"\n#id: "y"\n', 2, 2, "#id is defined twice"),
    ("category C { asset A {} }\ncategory D { asset A {} }\n", 2, 20, "asset A is defined twice"),
    ("category C { asset A extends Nope {} }\n", 1, 30, "extends undefined asset Nope"),
    ("category C { asset A extends B {}\n asset B extends A {} }\n", 1, 30, "cyclic inheritance"),
    ("category C { asset A {} }\nassociations {\n  A [x] * <-- L --> * [y] Ghost\n}\n", 3, 27, "undefined asset Ghost"),
    (
        "category C { asset A {} asset B {} }\nassociations {\n  A [x] 3..1 <-- L --> * [y] B\n}\n",
        3,
        9,
        "bad multiplicity 3..1",
    ),
    (
        "category C { asset A {} asset B {} }\nassociations {\n  A [x] * <-- L --> * [y] B\n  A [z] * <-- M --> * [y] B\n}\n",
        4,
        24,
        "field y is defined twice on A",
    ),
    ("category C {\n  asset A {\n    | a\n    | a\n  }\n}", 4, 5, "attack step A.a is defined twice"),
    ("category C {\n asset A { | a }\n asset B extends A {\n    & a\n  }\n}", 4, 5, "overrides A.a of another type"),
    ("category C {\n  asset A {\n    | a <- b\n  }\n}", 3, 5, "only E and !E steps take requirements"),
    ("category C {\n  asset A {\n    E a\n  }\n}", 3, 5, "existence step needs requirements"),
    (BASE.replace("| a -> b", "| a -> nope.b"), 3, 12, "A has no field nope"),
    (BASE.replace("| a -> b", "| a -> bs.zzz"), 3, 15, "B has no attack step zzz"),
    (BASE.replace("| c", "| c -> as.c"), 7, 15, "A has no attack step c (it exists only on a subtype"),
    (BASE.replace("| a -> b", "| a -> v().b"), 3, 12, "A has no variable v"),
    (BASE.replace("| a -> b", "| a -> bs[A].b"), 3, 15, "A is not a subtype of B"),
    (BASE.replace("| a -> b", "| a -> bs[Nope].b"), 3, 15, "undefined asset Nope in subtype filter"),
    (BASE.replace("| a -> b", "| a [Bernoulli(1.5)] -> b"), 3, 20, "invalid TTC: Bernoulli parameter p=1.5"),
    (BASE.replace("| a -> b", "| a [Foo(1)] -> b"), 3, 10, "unknown distribution 'Foo'"),
    (BASE.replace("| a -> b", "let v = bs\n    let v = bs\n    | a -> b"), 4, 9, "variable v is defined twice"),
    (BASE.replace("| a -> b", "| a -> (b \\/ b)"), 3, 15, "a reach must end in an attack step"),
]


@pytest.mark.parametrize(("source", "line", "column", "fragment"), ERRORS)
def test_errors_name_file_line_column_and_the_text(tmp_path, source, line, column, fragment):
    path = tmp_path / "bad.mal"
    path.write_text(source)
    with pytest.raises(LangError) as caught:
        compile_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:{column}: "), message
    assert fragment in message, message
    assert "\n" not in message


def test_unrelated_union_is_an_error(tmp_path):
    path = tmp_path / "bad.mal"
    path.write_text(
        "category C {\n  asset A { | a -> (xs \\/ ys).s }\n  asset X { | s }\n  asset Y { | s }\n}\n"
        "associations {\n  A [a1] * <-- L --> * [xs] X\n  A [a2] * <-- M --> * [ys] Y\n}\n"
    )
    with pytest.raises(LangError, match=r"bad\.mal:2:24: union of unrelated assets X and Y"):
        compile_file(path)


def test_include_errors(tmp_path):
    (tmp_path / "main.mal").write_text('include "a.mal"\n')
    (tmp_path / "a.mal").write_text('include "main.mal"\n')
    with pytest.raises(LangError, match=r"a\.mal:1:9: include cycle: main\.mal → a\.mal → main\.mal"):
        compile_file(tmp_path / "main.mal")
    (tmp_path / "lost.mal").write_text('\n  include "nowhere.mal"\n')
    with pytest.raises(LangError, match=r"lost\.mal:2:11: include not found: .*nowhere\.mal"):
        compile_file(tmp_path / "lost.mal")


def test_error_kinds_cover_at_least_fifteen(tmp_path):
    kinds = set()
    for i, (source, *_rest) in enumerate(ERRORS):
        path = tmp_path / f"e{i}.mal"
        path.write_text(source)
        with pytest.raises(LangError) as caught:
            compile_file(path)
        kinds.add(caught.value.kind)
    assert len(kinds) >= 15, sorted(kinds)


def test_cli_compile_and_show(data, tmp_path):
    out = tmp_path / "spec.json"
    result = run_cli("lang", "compile", str(data / "examplelang" / "exampleLang.mal"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "assets: 4" in result.stdout and json.loads(out.read_text())["formatVersion"]
    shown = json.loads(run_cli("lang", "show", "Host.authenticate", "--lang", str(out), "--format", "json").stdout)
    assert shown["reaches"] == ["access"] and shown["type"] == "or"
    bad = tmp_path / "bad.mal"
    bad.write_text("category C {\n  asset A {\n    | a -> nope.b\n  }\n}\n")
    result = run_cli("lang", "compile", str(bad))
    assert result.returncode == 2 and f"{bad}:3:12: A has no field nope" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("category C {\n  /* never closed\n  asset A {}\n}\n", r":2:3: unclosed /\* comment"),
        ('#id: "unterminated\n', r":1:6: unterminated string"),
        ("category C { asset A { | a [Exponential(1) } }\n", r":1:28: unclosed '\[' of a TTC"),
    ],
)
def test_lexical_errors(tmp_path, source, message):
    path = tmp_path / "bad.mal"
    path.write_text(source)
    with pytest.raises(LangError, match=message):
        compile_file(path)


def test_newer_constructs_are_parsed_kept_and_flagged_once():
    spec = compile_text(
        """
        category C {
          asset A {
            | action exploit @hidden
              !detectExploit (A host, B target) ProcessCreation [Bernoulli(0.9)]
              -> b.compromise
              A> b.compromised
              R> b.patched
            | effect tamper
              A> b.compromised
          }
          asset B {
            | compromise
            | compromised
            | patched
          }
        }
        associations {
          A [a] * <-- L --> * [b] B
        }
        """
    )
    exploit = spec.assets["A"].steps["exploit"]
    assert exploit.causal_mode == "action" and exploit.tags == ["hidden"]
    assert exploit.append_reaches["stepExpressions"][0]["rhs"] == {"type": "attackStep", "name": "compromised"}
    assert exploit.remove_reaches["overrides"] is True
    assert exploit.detectors[0] == {
        "name": "detectExploit",
        "context": [["A", "host"], ["B", "target"]],
        "type": "ProcessCreation",
        "tprate": "Bernoulli(0.9)",
    }
    assert [w for w in spec.warnings if "A>/R>" in w] and [w for w in spec.warnings if "detectors" in w]
    assert len(spec.warnings) == 2  # each said once
    langspec = spec.to_langspec()
    step = next(s for a in langspec["assets"] if a["name"] == "A" for s in a["attackSteps"] if s["name"] == "exploit")
    assert step["causal_mode"] == "action" and step["append_reaches"] and step["remove_reaches"]
    assert from_langspec(langspec, "memory").to_langspec() == langspec


def test_append_with_nothing_to_extend_is_an_error(tmp_path):
    path = tmp_path / "bad.mal"
    path.write_text("category C {\n  asset A {\n    | a +> b\n    | b\n  }\n}\n")
    with pytest.raises(LangError, match=r"bad\.mal:3:5: A\.a uses \+> but no super-asset has a step a to extend"):
        compile_file(path)
