"""The fast YAML path (rapidyaml's tree typed by PyYAML's resolver) returns exactly what the checked PyYAML loader
returns, or hands the document to it: same values, same Python types, same key order, same errors."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breachpath import fileio
from breachpath.errors import InputError
from breachpath.fileio import MAX_DEPTH, load_yaml
from breachpath.model import write_model
from breachpath.samples import corelang_enterprise
from conftest import REPO, shared_dir

UNSURE = fileio._UNSURE


def canon(value: object) -> object:
    """``value`` with every type spelt out (1, 1.0 and True differ; so do key orders; nan equals nan)."""
    if isinstance(value, dict):
        return ("dict", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canon(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


def checked(text: str) -> object:
    """What the checked loader does with ``text``: its value, or its one-line error."""
    try:
        return canon(fileio._load_yaml_checked(text, "x.yml"))
    except InputError as exc:
        return ("error", str(exc))


def same_as_checked(text: str) -> bool:
    """The fast path either hands ``text`` on or returns exactly what the checked loader returns; returns whether
    it took the document itself."""
    fast = fileio._fast_yaml(text)
    if fast is UNSURE:
        return False
    assert canon(fast) == checked(text), text
    return True


def yaml_files() -> list[Path]:
    roots = [REPO / "src" / "breachpath", REPO / "tests" / "fixtures", shared_dir() / "data"]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*") if p.suffix in (".yml", ".yaml"))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.name)
def test_every_yaml_file_loads_as_the_checked_loader_reads_it(path):
    text = path.read_text(encoding="utf-8")
    assert canon(load_yaml(text, str(path))) == checked(text)
    same_as_checked(text)


def test_the_shipped_examples_and_a_generated_model_take_the_fast_path(tmp_path):
    model = tmp_path / "m.yml"
    write_model(corelang_enterprise(20), model)
    files = [model, *sorted((REPO / "src" / "breachpath" / "examples").glob("*.yml"))]
    for path in files:
        assert same_as_checked(path.read_text(encoding="utf-8")), path


SCALARS = [
    "yes", "No", "on", "OFF", "y", "n", "true", "False", "1e3", "1.0e+3", "6.8523015e+5", "1.", ".5", "0x1F", "0o17",
    "012", "08", "0b101", "1_000", "+1", "-0", "1:30", "190:20:30.15", "1:61", ".inf", "-.Inf", "+.INF", ".nan", ".NaN",
    "~", "null", "Null", "NULL", "nULL", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10",
    "2001-12-14T21:59:43Z", "2002-12-14 5:3:2", "2001-1-1", "'123'", '"yes"', "'it''s'", '"\\x41\\u00e9\\t\\"q\\""',
    "''", '""', "é日本😀", "http://x.y/z?q=1#f", "a b", "x#y", "-1", "-x", ":x", "a:b", "=", "<<", "0x_", "2001-13-01",
]  # fmt: skip
ACCEPTED = {"yes", "No", "on", "1e3", "1.0e+3", "0x1F", "0o17", "012", "1:30", ".inf", "-.Inf", ".nan", "~", "null"}
ACCEPTED |= {"2001-12-14", "2001-12-14t21:59:43.10-05:00", "'123'", '"yes"', "é日本😀"}


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_tricky_scalar_is_typed_as_pyyaml_types_it(scalar):
    docs = [
        f"k: {scalar}\n",
        f"- {scalar}\n",
        f"{scalar}: v\n",
        f"[{scalar}]\n",
        f"{{k: {scalar}}}\n",
        f"a:\n  - {scalar}\n",
    ]
    taken = [same_as_checked(doc) for doc in docs]
    if scalar in ACCEPTED:
        assert taken[0] and taken[1], scalar


DOCUMENTS = [
    "a: plain\n  more\n   most\n",
    "a: plain\n\n  after a blank line\n",
    "- plain\n  continued\n",
    "a: 'single\n  quoted\n\n  folded'\n",
    'a: "double\\\n  escaped break"\n',
    "a: |\n  literal\n   indented\n\n",
    "a: |-\n  strip\n",
    "a: |+\n  keep\n\n\nb: 1\n",
    "a: >\n  folded\n  text\n\n  para\n",
    "a: >2\n   indent indicator\n",
    "a: |\n x\nb: 1\n",
    "a:\nb: ''\nc: \"\"\nd: ~\n",
    "a:\n  -\n  - 2\n",
    "# comment\na: 1 # trailing\n# between\nb: 2\n",
    "a: [1, 2, [3, {b: c}]]\nd: {e: f, g: [h]}\ni: []\nj: {}\n",
    "[a, b: c, {d: e}]\n",
    "---\na: 1\n",
    "# preamble\n---\na: 1\n",
    "a: 1\n...\n",
    "--- a\n",
    "a: 1\n---\nb: 2\n",
    "",
    "# only a comment\n",
    "---\n",
    "a: 1",
    "a: |\n  no final newline",
    "x",
    "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1),
    "[" * MAX_DEPTH + "]" * MAX_DEPTH,
    "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH,
    "a:\n" + "".join(" " * i + "- \n" for i in range(1, MAX_DEPTH + 3)),
    "k" * 1100 + ": v\n",
    "[" + "k" * 1030 + ": v]\n",
    '{"a\n b": 1}\n',
    "[a\n b: 1]\n",
    "[1:? ~30]\n",
    "? a\n:b\n",
    "@x\n",
    "a: `x\n",
    "]\n",
    "a: >+1]\n",
    "|\nx\n",
    "a: 1\n\tb: 2\n",
    "a: 1\r\nb: 2\r\n",
    "a: 1\n%YAML 1.1\n",
]


@pytest.mark.parametrize("text", DOCUMENTS, ids=lambda text: repr(text[:24]))
def test_a_document_reads_as_the_checked_loader_reads_it(text):
    same_as_checked(text)
    try:
        loaded = canon(load_yaml(text, "x.yml"))
    except InputError as exc:
        loaded = ("error", str(exc))
    assert loaded == checked(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "<<: {a: 1}\n",
        "a: 1\nb: 2\na: 3\n",
        "1: a\ntrue: b\nyes: c\n",
        "[a]: 1\n",
        "a: [1, 2\n",
        "a: b: c\n",
        "\x89PNG\r\n\x1a\n\x00",
        "a: b\nc: \x01\n",
        "a: 1\n---\nb: 2\n",
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "? [a]\n: b\n",
        "a: {b,\n c}\n",
    ],
    ids=lambda text: repr(text[:24]),
)
def test_what_only_the_checked_loader_reads_is_handed_to_it(text):
    assert fileio._fast_yaml(text) is UNSURE


def test_a_parse_error_prints_nothing_and_reads_as_before(capfd):
    with pytest.raises(InputError, match=r"^x\.yml: line 1, column 5: invalid YAML \(mapping values are not allowed"):
        load_yaml("a: b: c\n", "x.yml")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_without_rapidyaml_the_checked_loader_reads_everything(monkeypatch):
    text = "a: yes\nb: [1, 0x1F, '2']\n"
    monkeypatch.setattr(fileio, "_ryml", None)
    assert fileio._fast_yaml(text) is UNSURE
    assert load_yaml(text, "x.yml") == {"a": True, "b": [1, 31, "2"]}


def test_types_match_pyyaml_1_1_exactly():
    data = load_yaml("a: yes\nb: 1e3\nc: 1.0e+3\nd: 012\ne: 1:30\nf: 2001-12-14\ng: '1'\nh: ~\n", "x.yml")
    assert data == {
        "a": True,
        "b": "1e3",
        "c": 1000.0,
        "d": 10,
        "e": 90,
        "f": datetime.date(2001, 12, 14),
        "g": "1",
        "h": None,
    }
    assert type(data["c"]) is float and type(data["d"]) is int


TOKENS = [
    "a", "b", "yes", "No", "1", "0x1F", "012", "1:30", "1e3", "1.5", ".inf", "~", "null", "2001-12-14", "<<", "=",
    ": ", ":", " ", "  ", "\n", "\n  ", "\n    ", "- ", "-", "[", "]", "{", "}", ", ", ",", "'", '"', "#", " # c",
    "?", "? ", "|", ">", "|-", ">+", "|2", "\\", "\\n", "&x ", "*x", "!!str ", "---", "...", "\n---\n", "é", "@",
    "`", "%", "''", '""', "-1", "true", "off", "k: v\n", "\nk: |\n", "\n- |\n  ", "x: |\n  a\n\n  b\n", "[1, 2]",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map("".join))
def test_random_token_soup_reads_as_the_checked_loader_reads_it(text):
    same_as_checked(text)


values = st.recursive(
    st.one_of(
        st.sampled_from(SCALARS + ["line\nbreak", "two\n\nbreaks", "tail\n", " lead", "trail ", "x: y", "- x", "@x"]),
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, width=32),
        st.booleans(),
        st.none(),
        st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)),
        st.text(alphabet="ab :#-\n'\"\\é", max_size=8),
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(SCALARS), st.integers(0, 99)), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values,
    st.sampled_from([False, True, None]),
    st.sampled_from([20, 80, 1000]),
    st.sampled_from([None, None, None, "'", '"', "|", ">"]),
    st.booleans(),
)
def test_dumped_documents_read_as_the_checked_loader_reads_them(data, flow, width, style, start):
    text = yaml.safe_dump(data, default_flow_style=flow, width=width, default_style=style, explicit_start=start)
    same_as_checked(text)
