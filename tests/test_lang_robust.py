"""The MAL front end under bad and hostile input (issue 13): valid files that were rejected are accepted, and every
bad file, include, language archive or name gets one line that says where and what, never a traceback, a hang or
unbounded memory. Limits sit far above what real languages (coreLang, enterpriseLang) reach; the tests show both."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from breachpath.errors import InputError
from breachpath.lang import LangError, compile_file, compile_text, from_langspec, read_langspec
from breachpath.lang.compiler import MAX_INCLUDE_DEPTH, MAX_INCLUDES
from breachpath.lang.spec import MAX_EXPANDED_DEPTH, MAX_EXTENDS_DEPTH
from breachpath.lang.syntax import MAX_DEPTH
from conftest import require_shared, run_cli

SMALL = "category C {\n  asset A {\n    | a -> b\n    | b\n  }\n}\n"


@pytest.fixture(scope="module")
def data() -> Path:
    return require_shared("data")


def run_limited(*args: str, memory_gib: int = 1) -> subprocess.CompletedProcess:
    """`breachpath ARGS` in a subprocess with its address space capped, so a bomb fails the test instead of the
    machine, and a timeout, so a hang does too."""
    limit = memory_gib * 2**30
    return subprocess.run(
        [sys.executable, "-m", "breachpath.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *names: str) -> str:
    """Exit 2, a single `error: …` line on stderr that names each of ``names``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    for name in names:
        assert name in result.stderr, (name, result.stderr)
    return result.stderr


def langspec_of(spec) -> str:
    return json.dumps(spec.to_langspec(), sort_keys=True)


# -- comments, blanks and the byte-order mark ----------------------------------------------------------------


@pytest.mark.parametrize("ending", ["// the last line is a comment", "/* a block comment */", "//", "\n\n// x"])
def test_a_file_may_end_in_a_comment_without_a_newline(tmp_path, ending):
    """The comment pattern used to give characters back ("// en" + "d") and the file was rejected."""
    path = tmp_path / "lang.mal"
    path.write_text(SMALL + ending)
    assert langspec_of(compile_file(path)) == langspec_of(compile_text(SMALL))


def test_a_file_ending_in_many_blank_lines_compiles_at_once(tmp_path):
    """Nested repetition of blanks backtracked exponentially: 24 trailing blanks took 5 s, 30 would take minutes.
    Run as a user would, with a timeout that catches the hang."""
    path = tmp_path / "lang.mal"
    path.write_text(SMALL + "\n" * 200 + " " * 200)
    result = run_cli("lang", "compile", str(path))
    assert result.returncode == 0, result.stderr
    assert "assets: 1" in result.stdout


@pytest.mark.parametrize(
    ("tail", "line", "column", "message"),
    [
        ("/* never closed", 7, 1, "unclosed /* comment"),
        ("/* x */ /* never closed *", 7, 9, "unclosed /* comment"),
        ("/* " * 50_000, 7, 1, "unclosed /* comment"),  # each used to be scanned to the end of the file
        (" " * 100_000 + "$", 7, 100_001, "unexpected character '$'"),
        ("\n" * 50_000 + "$", 50_007, 1, "unexpected character '$'"),
        ("*" * 100_000, 7, 1, "expected 'category', 'associations', 'include' or '#', found '*'"),
        ('"' + "\\" * 100_000, 7, 1, "unterminated string"),
    ],
    ids=["unclosed", "unclosed-after-comment", "many-unclosed", "blanks-then-bad", "lines-then-bad", "stars", "string"],
)
def test_hostile_text_gets_a_position_and_no_backtracking(tmp_path, tail, line, column, message):
    """Every repetition in the token pattern is possessive or atomic, and the scanner stops at the first place no
    token starts, so each of these is one linear pass (the blank ones hung before)."""
    path = tmp_path / "bad.mal"
    path.write_text(SMALL + tail)
    result = run_cli("lang", "compile", str(path))
    stderr = assert_one_line_error(result, f"{path}:{line}:{column}: ")
    assert message in stderr


def test_a_megabyte_comment_line_and_a_comment_of_slashes_are_comments(tmp_path):
    path = tmp_path / "lang.mal"
    path.write_text(SMALL + "//" + "x" * 2**20 + "\n" + "/" * 100_000)
    assert langspec_of(compile_file(path)) == langspec_of(compile_text(SMALL))


def test_a_byte_order_mark_is_ignored_and_columns_stay_right(tmp_path):
    path = tmp_path / "bom.mal"
    path.write_bytes(b"\xef\xbb\xbf" + SMALL.encode())
    assert langspec_of(compile_file(path)) == langspec_of(compile_text(SMALL))
    assert langspec_of(compile_text("\ufeff" + SMALL)) == langspec_of(compile_text(SMALL))
    # An error on the first line is reported at the column an editor shows, not one further right.
    path.write_bytes(b"\xef\xbb\xbfcategory C { asset A { | a -> nope } }\n")
    with pytest.raises(LangError, match=r"bom\.mal:1:31: A has no attack step nope"):
        compile_file(path)


# -- deep nesting --------------------------------------------------------------------------------------------


def _depth(expr: dict) -> int:
    children = [v for k, v in expr.items() if k in ("lhs", "rhs", "stepExpression")]
    return 1 + max((_depth(c) for c in children), default=0)


def test_the_nesting_limits_are_far_above_real_languages(data):
    """coreLang and enterpriseLang: step expressions at most 6 levels deep, extends chains 3 long, includes
    2 deep; the limits are 50, 256 and 64."""
    for entry in ("corelang/main.mal", "enterpriselang/enterpriselang.mal"):
        spec = compile_file(data / entry)
        exprs = [e for a in spec.assets.values() for s in a.steps.values() for e in (s.reaches or [])]
        exprs += [e for a in spec.assets.values() for e in a.variables.values()]
        assert max(map(_depth, exprs)) * 5 <= MAX_DEPTH
        assert max(len(spec.ancestors(a)) for a in spec.assets) * 50 <= MAX_EXTENDS_DEPTH


@pytest.mark.parametrize(
    ("reach", "column"),
    [
        (".".join(["f"] * 1000) + ".a", 130),  # a.b.c… of 1,000 parts: the 50th "." is one level too many
        ("(" * 1000 + "f" + ")" * 1000 + ".a", 81),  # 1,000 nested parentheses
        ("f" + "[A]" * 1000 + ".a", 179),  # 1,000 subtype filters
    ],
    ids=["parts", "parentheses", "subtypes"],
)
def test_deep_step_expressions_are_a_clean_error(tmp_path, reach, column):
    """They raised RecursionError in the checks (and would have in graph building)."""
    path = tmp_path / "deep.mal"
    path.write_text(f"category C {{ asset A {{ | a -> {reach} }} }}\nassociations {{ A [g] * <-- L --> * [f] A }}\n")
    result = run_cli("lang", "compile", str(path))
    stderr = assert_one_line_error(result, f"{path}:1:{column}: ")
    assert f"step expression nested deeper than {MAX_DEPTH} levels" in stderr


def test_a_long_chain_of_variables_is_a_clean_error():
    """Each variable is shallow, but expanded one inside the next they are 600 levels deep."""
    chain = "\n".join(f"    let v{i} = f.v{i + 1}()" for i in range(300)) + "\n    let v300 = f"
    text = f"category C {{\n  asset A {{\n{chain}\n    | a -> v0().a\n  }}\n}}\n"
    text += "associations { A [g] * <-- L --> * [f] A }\n"
    with pytest.raises(LangError, match=f"nested deeper than {MAX_EXPANDED_DEPTH} levels with its variables"):
        compile_text(text, "vars.mal")
    twenty = "\n".join(f"    let v{i} = f.v{i + 1}()" for i in range(20)) + "\n    let v20 = f"
    compile_text(text.replace(chain, twenty), "vars.mal")  # a chain of 20 is fine


@pytest.mark.parametrize(
    "ttc",
    [
        " + ".join(["1"] * 1000),  # short text, a tree 1,000 deep: RecursionError when printed
        "1" + "^1" * 1000,  # the TTC parser recurses once per ^
    ],
    ids=["sum", "power"],
)
def test_deep_ttc_expressions_are_a_clean_error(ttc):
    # The MAL front end or the distribution parser (breachpath.dist) refuses it, at the TTC, whichever is first.
    with pytest.raises(LangError, match=r"ttc\.mal:1:\d+: invalid TTC: expression nested deeper than \d+ levels"):
        compile_text(f"category C {{ asset A {{ | a [{ttc}] }} }}", "ttc.mal")


def test_deep_ttcs_in_comments_are_skipped_not_a_crash(tmp_path):
    """enterpriseLang-style TTCs in comments are read only when they parse; a hostile one is not a traceback."""
    path = tmp_path / "comments.mal"
    path.write_text("category C {\n  asset A {\n    | a //" + "1" + "^1" * 1000 + "\n  }\n}\n")
    spec = compile_file(path, ttc_from_comments=True)
    assert spec.assets["A"].steps["a"].ttc is None


def test_a_long_step_line_with_ttcs_from_comments_is_read_in_one_pass(tmp_path):
    """ "| " and 200,000 word characters without "//": the comment-TTC pattern retried every split of the name."""
    path = tmp_path / "long.mal"
    path.write_text("category C {\n  asset A {\n    | " + "a" * 200_000 + "\n  }\n}\n")
    result = run_cli("lang", "compile", str(path), "--ttc-from-comments")
    assert result.returncode == 0, result.stderr


# -- includes ------------------------------------------------------------------------------------------------


def test_an_include_chain_of_950_files_is_a_clean_error(tmp_path):
    """Includes were followed recursively: RecursionError. Now an explicit stack and a depth limit of 64."""
    for i in range(950):
        include = f'include "f{i + 1}.mal"\n' if i < 949 else ""
        (tmp_path / f"f{i}.mal").write_text(f"{include}category C{i} {{ asset A{i} {{ | a }} }}\n")
    result = run_cli("lang", "compile", str(tmp_path / "f0.mal"))
    last = MAX_INCLUDE_DEPTH - 1
    stderr = assert_one_line_error(result, f"{tmp_path / f'f{last}.mal'}:1:9: ", f'include "f{last + 1}.mal"')
    assert f"more than {MAX_INCLUDE_DEPTH} deep" in stderr


def test_an_include_chain_within_the_limit_compiles(tmp_path):
    for i in range(MAX_INCLUDE_DEPTH):
        include = f'include "f{i + 1}.mal"\n' if i < MAX_INCLUDE_DEPTH - 1 else ""
        (tmp_path / f"f{i}.mal").write_text(f"{include}category C{i} {{ asset A{i} {{ | a }} }}\n")
    assert len(compile_file(tmp_path / "f0.mal").assets) == MAX_INCLUDE_DEPTH


def test_more_than_a_thousand_included_files_is_a_clean_error(tmp_path):
    (tmp_path / "main.mal").write_text("".join(f'include "f{i}.mal"\n' for i in range(MAX_INCLUDES + 1)))
    for i in range(MAX_INCLUDES + 1):
        (tmp_path / f"f{i}.mal").write_text(f"category C{i} {{ asset A{i} {{ | a }} }}\n")
    with pytest.raises(LangError, match=rf'main\.mal:{MAX_INCLUDES}:9: include "f{MAX_INCLUDES - 1}\.mal": more than'):
        compile_file(tmp_path / "main.mal")


def test_includes_stay_in_the_entry_files_directory(tmp_path):
    lang = tmp_path / "lang"
    (lang / "sub").mkdir(parents=True)
    (tmp_path / "outside.mal").write_text("category O { asset Outside { | o } }\n")
    (lang / "sub" / "inside.mal").write_text("category I { asset Inside { | i } }\n")
    (lang / "escape").symlink_to(tmp_path)  # a symlink inside the tree that leads out of it
    cases = {
        'include "../outside.mal"': "../outside.mal",
        f'include "{tmp_path / "outside.mal"}"': str(tmp_path / "outside.mal"),
        'include "escape/outside.mal"': "escape/outside.mal",
        'include "/etc/passwd"': "/etc/passwd",
    }
    for line, shown in cases.items():
        (lang / "main.mal").write_text(f"{line}\n{SMALL}")
        result = run_cli("lang", "compile", str(lang / "main.mal"))
        stderr = assert_one_line_error(
            result, f"{lang / 'main.mal'}:1:9: ", f'include "{shown}"', "--allow-outside-includes"
        )
        assert "found" not in stderr  # nothing of /etc/passwd, not even its first token
    # Inside the tree, relative or absolute, is fine; outside is fine when allowed.
    (lang / "main.mal").write_text(f'include "sub/inside.mal"\ninclude "{lang / "sub" / "inside.mal"}"\n{SMALL}')
    assert set(compile_file(lang / "main.mal").assets) == {"Inside", "A"}
    (lang / "main.mal").write_text(f'include "../outside.mal"\n{SMALL}')
    assert set(compile_file(lang / "main.mal", allow_outside_includes=True).assets) == {"Outside", "A"}
    result = run_cli("lang", "compile", str(lang / "main.mal"), "--allow-outside-includes")
    assert result.returncode == 0 and "assets: 2" in result.stdout, result.stderr


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("root:x:0:0:root:/root:/bin/bash\n", "root"),  # /etc/passwd's first token
        ("hunter2 is the password\n", "hunter2"),
        ('"token-1234" is a string\n', "token-1234"),
        ("\x01secret\n", "\\x01"),
        ('#id: "x"\npassword: swordfish\n', "swordfish"),  # a YAML file whose first line passes for a #define
    ],
)
def test_an_included_file_that_is_not_mal_is_not_quoted(tmp_path, text, secret):
    (tmp_path / "main.mal").write_text(f'include "other.txt"\n{SMALL}')
    (tmp_path / "other.txt").write_text(text)
    with pytest.raises(LangError) as caught:
        compile_file(tmp_path / "main.mal")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'other.txt'}:") and "not a MAL file" in message, message
    assert f"(included at {tmp_path / 'main.mal'}:1:9)" in message
    assert secret not in message.replace(str(tmp_path), "")


def test_mal_errors_still_quote_the_text():
    with pytest.raises(LangError, match=r"expected an attack step \(\| & # E !E\), 'let' or '\}', found 'oops'"):
        compile_text("category C { asset A { oops } }")


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "fifo"])
def test_an_include_of_a_device_or_fifo_fails_at_once(tmp_path, target):
    """/dev/zero was read until memory ran out and a FIFO blocked forever; also through a symlink in the tree."""
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo.mal")
        include = "fifo.mal"
    else:
        (tmp_path / "dev.mal").symlink_to(target)
        include = "dev.mal"
    (tmp_path / "main.mal").write_text(f'include "{include}"\n{SMALL}')
    result = run_limited("lang", "compile", str(tmp_path / "main.mal"), "--allow-outside-includes")
    stderr = assert_one_line_error(result, f"{tmp_path / 'main.mal'}:1:9: ", f'include "{include}"')
    assert "not a regular file" in stderr


def test_an_include_of_dev_zero_by_its_absolute_path(tmp_path):
    (tmp_path / "main.mal").write_text('include "/dev/zero"\n')
    result = run_limited("lang", "compile", str(tmp_path / "main.mal"))
    assert_one_line_error(result, 'include "/dev/zero"', "outside")
    result = run_limited("lang", "compile", str(tmp_path / "main.mal"), "--allow-outside-includes")
    assert_one_line_error(result, 'include "/dev/zero"', "not a regular file")


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ("loop.mal", 'include "loop.mal" cannot be followed (Symlink loop'),
        ("a\x00b", 'include "a\\x00b" cannot be followed (embedded null byte)'),
        ("a\\\nb", "include not found: "),  # a string may hold a backslash-newline; the message stays one line
        ("x" * 5000, "cannot be read (File name too long)"),
        ("sub", 'include "sub": '),  # a directory
    ],
    ids=["symlink-loop", "nul", "newline", "long-name", "directory"],
)
def test_an_include_that_cannot_be_followed_is_one_line(tmp_path, include, message):
    (tmp_path / "loop.mal").symlink_to("loop2.mal")
    (tmp_path / "loop2.mal").symlink_to("loop.mal")
    (tmp_path / "sub").mkdir()
    (tmp_path / "main.mal").write_text(f'include "{include}"\n')
    result = run_cli("lang", "compile", str(tmp_path / "main.mal"))
    assert message in assert_one_line_error(result, f"{tmp_path / 'main.mal'}:1:9: ")


def test_a_huge_included_file_is_refused_by_its_size_not_read(tmp_path):
    (tmp_path / "main.mal").write_text('include "big.mal"\n')
    (tmp_path / "big.mal").write_text("// " + "x" * (5 * 2**20))
    with pytest.raises(LangError, match=r'main\.mal:1:9: include "big\.mal": .*big\.mal: larger than 4 MiB'):
        compile_file(tmp_path / "main.mal")


def test_a_file_of_a_million_tokens_is_refused(tmp_path):
    path = tmp_path / "tokens.mal"
    path.write_text(SMALL + "(" * 1_100_000)
    with pytest.raises(LangError, match=r"more than 1,000,000 tokens in one file"):
        compile_file(path)


# -- extends ------------------------------------------------------------------------------------------------


def _chain_language(length: int, chains: int = 1) -> str:
    lines = ["category C {"]
    for c in range(chains):
        for i in range(length):
            extends = f" extends A{c}_{i - 1}" if i else ""
            appended = f" | s{i - 1} +> s{i}" if i else ""
            lines.append(f"  asset A{c}_{i}{extends} {{ | s{i}{appended} }}")
    return "\n".join([*lines, "}"])


def test_a_chain_of_2000_extends_is_a_clean_error():
    """It took 59 s before (ancestors, steps and fields resolved again for every asset)."""
    with pytest.raises(LangError) as caught:
        compile_text(_chain_language(2000), "chain.mal")
    message = str(caught.value)
    assert message.startswith(f"chain.mal:{MAX_EXTENDS_DEPTH + 2}:")
    assert f"asset A0_{MAX_EXTENDS_DEPTH} extends a chain of more than {MAX_EXTENDS_DEPTH} assets" in message


def test_long_extends_chains_within_the_limit_resolve_inheritance_right():
    """2,000 assets in 8 chains of 250: each resolved once from its parent (cached), not from the top each time."""
    spec = compile_text(_chain_language(250, chains=8), "chains.mal")
    assert len(spec.assets) == 2000
    leaf = spec.steps("A7_249")
    assert list(leaf) == [f"s{i}" for i in range(250)]
    assert [e["name"] for e in leaf["s10"].reaches] == ["s11"]  # +> in A7_11 appended to A7_10's s10
    assert spec.ancestors("A7_249")[-1] == "A7_0" and len(spec.subtypes("A7_0")) == 250
    assert spec.counts()["steps"] == 8 * 250 * 251 // 2


def test_extends_cycles_still_error():
    with pytest.raises(LangError, match=r"cyclic inheritance: A → B → C → A"):
        compile_text("category K { asset A extends B {} asset B extends C {} asset C extends A {} }")


def test_inheritance_queries_match_their_definitions(data):
    """The cached answers equal the definitions: ancestors by walking extends, subtypes by asking every asset."""
    spec = compile_file(data / "corelang" / "main.mal")
    for asset in spec.assets:
        chain = [asset]
        while spec.assets[chain[-1]].extends:
            chain.append(spec.assets[chain[-1]].extends)
        assert spec.ancestors(asset) == chain
        assert spec.subtypes(asset) == [a for a in spec.assets if asset in spec.ancestors(a)]
    # A caller's changes to a returned dict do not leak into the next answer.
    spec.steps("Application").clear()
    spec.fields("Application").clear()
    assert spec.steps("Application") and spec.fields("Application")


# -- lang show ----------------------------------------------------------------------------------------------


def test_lang_show_without_an_asset_lists_the_assets(data):
    result = run_cli("lang", "show", "--lang", str(data / "examplelang" / "exampleLang.mal"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Assets of ") and "- Host (" in result.stdout
    page = json.loads(run_cli("lang", "show", "--lang", "attacklang", "--format", "json").stdout)
    assert page["type"] == "assets" and any(a["name"] == "Host" and a["abstract"] for a in page["assets"])


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("Host.acess", "Host has no attack step 'acess'; did you mean access?"),
        ("Hots", "Hots: no such asset in the language; did you mean Host?"),
        ("host", "host: no such asset in the language; did you mean Host?"),
        ("Host.zzzz", "Host has no attack step 'zzzz'; valid attack steps: access, authenticate, connect,"),
        ("Zzzz", "Zzzz: no such asset in the language; valid assets: Host, Network, Password, User"),
    ],
)
def test_lang_show_suggests_the_nearest_name_or_lists_the_valid_ones(data, target, expected):
    result = run_cli("lang", "show", target, "--lang", str(data / "examplelang" / "exampleLang.mal"))
    assert expected in assert_one_line_error(result)


def test_lang_help_names_the_builtin_languages():
    for command in (["lang", "show"], ["lang", "compile"], ["graph", "build"], ["simulate"]):
        result = run_cli(*command, "--help", env={"COLUMNS": "200"})
        assert "built-in: attacklang" in result.stdout, (command, result.stdout)
    result = run_cli("lang", "show", "--lang", "no-such-language")
    assert_one_line_error(result, "no-such-language", "built-in: attacklang")


# -- langspec.json and .mar ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_langspec(data) -> dict:
    return compile_file(data / "examplelang" / "exampleLang.mal").to_langspec()


def _mar(langspec: dict, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr("langspec.json", json.dumps(langspec))
    return buffer.getvalue()


def _central_header(archive: bytes) -> int:
    return archive.rindex(b"PK\x01\x02")


def _damaged_archives(good: bytes) -> dict[str, bytes]:
    """Archives as a broken download or a hostile sender makes them."""
    damaged = {f"cut at {n}": good[:n] for n in (0, 10, 40, len(good) // 2, len(good) - 30, len(good) - 1)}
    central = _central_header(good)
    encrypted = bytearray(good)
    encrypted[central + 8] |= 1  # general-purpose flag: encrypted
    damaged["encrypted"] = bytes(encrypted)
    unknown = bytearray(good)
    unknown[central + 10 : central + 12] = struct.pack("<H", 99)  # compression method 99
    damaged["unknown compression"] = bytes(unknown)
    garbled = bytearray(good)
    garbled[40:80] = b"\xff" * 40  # inside the deflate stream
    damaged["garbled data"] = bytes(garbled)
    return damaged


def test_damaged_mar_archives_are_one_line_errors(tmp_path, example_langspec):
    """zlib.error, EOFError, NotImplementedError and RuntimeError escaped before."""
    path = tmp_path / "lang.mar"
    good = _mar(example_langspec)
    path.write_bytes(good)
    assert read_langspec(path).to_langspec() == example_langspec
    for what, archive in _damaged_archives(good).items():
        path.write_bytes(archive)
        with pytest.raises(InputError) as caught:
            read_langspec(path)
        assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value), what


def test_a_mar_zip_bomb_is_refused_within_a_memory_limit(tmp_path):
    """200 MiB of langspec.json in 0.2 MiB: inflated in chunks and stopped at 64 MiB, whatever the header says."""
    path = tmp_path / "bomb.mar"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("langspec.json", b" " * (200 * 2**20))
    result = run_limited("lang", "compile", str(path))
    assert "larger than 64 MiB when inflated" in assert_one_line_error(result, str(path))


@pytest.mark.parametrize("kind", ["device.mar", "device.json", "fifo.json"])
def test_a_langspec_that_is_a_device_or_fifo_fails_at_once(tmp_path, kind):
    """zipfile.is_zipfile and read_text followed a symlink to /dev/zero without bound, and a FIFO blocked."""
    path = tmp_path / kind
    if kind.startswith("fifo"):
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    result = run_limited("lang", "show", "--lang", str(path))
    assert "not a regular file" in assert_one_line_error(result, str(path))


def test_deep_json_is_a_one_line_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 50_000 + "]" * 50_000)  # RecursionError in json before
    result = run_cli("lang", "compile", str(path))
    assert "nested more than" in assert_one_line_error(result, str(path))


def test_an_integer_of_5000_digits_is_a_one_line_error(tmp_path):
    path = tmp_path / "langspec.json"
    path.write_text('{"assets": [], "defines": {"id": ' + "9" * 5000 + "}}")  # ValueError from int() before
    result = run_cli("lang", "compile", str(path))
    assert "invalid JSON" in assert_one_line_error(result, str(path))


def _with(langspec: dict, path: tuple, value: object) -> dict:
    changed = json.loads(json.dumps(langspec))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


BAD_LANGSPECS = [
    # (where, the value put there, what the message says). Each raised a traceback, or was accepted and broke later.
    (("associations",), 1, "associations must be a list"),
    (("defines",), ["x"], "defines must be an object"),
    (("categories",), [{"meta": {}}], "a category's name must be a string"),
    (("assets", 0, "meta"), "text", "meta must be an object"),
    (("assets", 0, "variables"), [{"name": "v"}], "not a step expression"),
    (("assets", 0, "attackSteps", 0, "tags"), 5, "tags must be a list"),
    (("assets", 0, "attackSteps", 0, "ttc"), {"type": "number"}, "a TTC number needs a numeric value"),
    (
        ("assets", 0, "attackSteps", 0, "ttc"),
        {"type": "function", "name": "Exponential", "arguments": ["x"]},
        "arguments of TTC function Exponential must be numbers",
    ),
    (
        ("assets", 0, "attackSteps", 0, "ttc"),
        {"type": "function", "name": "Exponential", "arguments": [10**400]},  # OverflowError when printed
        "arguments of TTC function Exponential must be numbers",
    ),
    (("assets", 0, "attackSteps", 0, "reaches"), {"stepExpressions": [{"type": "nope"}]}, "not a step expression"),
    (("assets", 0, "attackSteps", 0, "reaches"), {"stepExpressions": [{"type": "collect"}]}, "not a step expression"),
    (("assets", 0, "attackSteps", 0, "reaches"), {"overrides": "yes", "stepExpressions": []}, "true or false"),
    (("assets", 1, "name"), "Network", "asset Network is defined twice"),
    (("assets", 0, "superAsset"), "Nowhere", "extends unknown asset Nowhere"),
    (("associations", 0, "leftAsset"), "Nowhere", "names unknown asset Nowhere"),
    (("associations", 0, "leftMultiplicity"), {"min": True}, "multiplicity needs an integer min"),
    (("associations", 0, "leftMultiplicity"), {"min": 2, "max": 1}, "max must be an integer ≥ min"),
]


@pytest.mark.parametrize(("where", "value", "message"), BAD_LANGSPECS)
def test_a_langspec_with_wrong_types_is_a_one_line_error(tmp_path, example_langspec, where, value, message):
    path = tmp_path / "langspec.json"
    path.write_text(json.dumps(_with(example_langspec, where, value)))
    result = run_cli("lang", "compile", str(path))
    assert message in assert_one_line_error(result, str(path))


def test_a_langspec_with_an_extends_cycle_or_a_deep_expression_is_refused(example_langspec):
    names = [a["name"] for a in example_langspec["assets"]]
    cyclic = _with(
        _with(example_langspec, ("assets", 0, "superAsset"), names[1]), ("assets", 1, "superAsset"), names[0]
    )
    with pytest.raises(InputError, match="cyclic inheritance"):
        from_langspec(cyclic, "memory")
    deep: dict = {"type": "field", "name": "f"}
    for _ in range(MAX_DEPTH):
        deep = {"type": "transitive", "stepExpression": deep}
    deep_reach = {"type": "collect", "lhs": deep, "rhs": {"type": "attackStep", "name": "a"}}
    with pytest.raises(InputError, match=f"step expression nested deeper than {MAX_DEPTH} levels"):
        from_langspec(
            _with(example_langspec, ("assets", 0, "attackSteps", 0, "reaches"), {"stepExpressions": [deep_reach]}),
            "memory",
        )


def test_real_languages_round_trip_through_the_checked_reader(data, tmp_path):
    for entry in ("corelang/main.mal", "enterpriselang/enterpriselang.mal"):
        langspec = compile_file(data / entry, ttc_from_comments=True).to_langspec()
        path = tmp_path / "lang.mar"
        path.write_bytes(_mar(langspec))
        assert read_langspec(path).to_langspec() == langspec
