"""Untrusted files in, outputs out: what breachpath.fileio promises.

Reads take regular files only and never read past their limit; YAML and JSON documents are parsed with limits on
nesting and alias expansion; writes never replace a device, write through symlinks, and are all-or-none.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from breachpath.errors import InputError
from breachpath.fileio import (
    MAX_DEPTH,
    atomic_write_bytes,
    check_distinct_outputs,
    load_json,
    load_yaml,
    read_bytes,
    read_text,
    write_outputs,
)


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: ~500 bytes that expand to 9**levels strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# -- reading ---------------------------------------------------------------------------------------------------


def test_a_device_is_refused_before_any_byte_is_read():
    with pytest.raises(InputError, match=r"^/dev/zero: not a regular file"):
        read_bytes("/dev/zero", 1 << 30)


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "model.yml"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"model\.yml: not a regular file"):
        read_text(link, 1 << 20)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scenario.yml"
    os.mkfifo(fifo)
    outcome: list[object] = []
    reader = threading.Thread(target=lambda: outcome.append(_error_of(read_text, fifo, 1024)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert "not a regular file" in str(outcome[0])


def _error_of(function, *args) -> object:
    try:
        return function(*args)
    except InputError as exc:
        return exc


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_bytes(tmp_path, 1024)


def test_the_limit_bounds_the_bytes_read(tmp_path):
    path = tmp_path / "big.yml"
    path.write_bytes(b"x" * 2049)
    with pytest.raises(InputError, match=r"big\.yml: larger than 2 KiB"):
        read_bytes(path, 2048)
    assert read_bytes(path, 2049) == b"x" * 2049


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.yml"
    path.write_bytes("\ufeffa: 1\n".encode())
    assert read_text(path, 1024) == "a: 1\n"


# -- YAML and JSON ---------------------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_quickly():
    with pytest.raises(InputError, match=r"bomb\.yml: line \d+, column \d+: aliases expand to more than"):
        load_yaml(billion_laughs(), "bomb.yml")


def test_ordinary_aliases_and_merge_keys_still_load():
    text = "base: &base {type: Host, defenses: {patch: 1}}\nweb: {<<: *base, name: web}\nalso: *base\n"
    data = load_yaml(text, "ok.yml")
    assert data["web"] == {"type": "Host", "defenses": {"patch": 1}, "name": "web"}
    assert data["also"] == data["base"]


@pytest.mark.parametrize("text", ["[" * 50_000 + "]" * 50_000, "a:\n" + "".join(" " * i + "- \n" for i in range(200))])
def test_deep_yaml_is_refused(text):
    with pytest.raises(InputError, match=r"deep\.yml: .*nested"):
        load_yaml(text, "deep.yml")


def test_yaml_nesting_within_the_limit_loads():
    depth = MAX_DEPTH - 1
    assert load_yaml("[" * depth + "]" * depth, "ok.yml") is not None


def test_a_yaml_key_that_is_a_list_is_refused():
    with pytest.raises(InputError, match=r"keys\.yml: line 1, column 1: a key must be a name or number"):
        load_yaml("[a]: 1\n", "keys.yml")


@pytest.mark.parametrize(
    "text, message",
    [
        ("\x89PNG\r\n\x1a\n\x00", "s.yml: line 1, column 1: invalid YAML (control character #x0089)"),
        ("a: b\nc: \x01\n", "s.yml: line 2, column 4: invalid YAML (control character #x0001)"),
    ],
)
def test_a_binary_file_or_control_character_is_one_line_with_its_place(text, message):
    """PyYAML's reader refuses these while the loader is built (outside the old try), in two lines."""
    with pytest.raises(InputError) as caught:
        load_yaml(text, "s.yml")
    assert str(caught.value) == message


def test_a_duplicate_yaml_key_names_line_and_column():
    with pytest.raises(InputError, match=r"m\.yml: line 3, column 3: duplicate key 0"):
        load_yaml("assets:\n  0: {name: a}\n  0: {name: b}\n", "m.yml")


def test_a_duplicate_json_key_is_refused():
    with pytest.raises(InputError, match=r"m\.json: duplicate key '0'"):
        load_json('{"assets": {"0": {"name": "a"}, "0": {"name": "b"}}}', "m.json")


def test_deep_json_is_refused():
    with pytest.raises(InputError, match=r"deep\.json: nested more than"):
        load_json("[" * 50_000 + "]" * 50_000, "deep.json")
    with pytest.raises(InputError, match=r"deep\.json: nested more than"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "deep.json")


def test_no_yaml_tag_constructs_python_objects():
    with pytest.raises(InputError, match="invalid YAML"):
        load_yaml("!!python/object/apply:os.system ['true']\n", "tag.yml")


# -- writing ---------------------------------------------------------------------------------------------------


def test_a_device_is_never_replaced():
    before = os.stat("/dev/null")
    with pytest.raises(InputError, match=r"^/dev/null: not a regular file; refusing to replace"):
        atomic_write_bytes("/dev/null", b"report")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_text() == "new"


def test_a_symlink_to_a_device_is_not_replaced(tmp_path):
    link = tmp_path / "out.json"
    link.symlink_to("/dev/null")
    with pytest.raises(InputError, match=r"out\.json: not a regular file"):
        atomic_write_bytes(link, b"{}")
    assert link.is_symlink()


def test_a_missing_directory_is_not_created(tmp_path):
    with pytest.raises(InputError, match=r"no/such/out\.json: directory .* does not exist"):
        atomic_write_bytes(tmp_path / "no" / "such" / "out.json", b"{}")
    assert not (tmp_path / "no").exists()


def test_errors_name_the_given_path_not_a_temporary_file(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        # root writes anywhere: then use a directory no one can create files in
        target = "/proc/version.json" if os.access(readonly, os.W_OK) else str(readonly / "out.json")
        with pytest.raises(InputError) as caught:
            atomic_write_bytes(target, b"{}")
        message = str(caught.value)
        assert message.startswith(f"{target}: ") and ".tmp" not in message
    finally:
        readonly.chmod(0o700)


def test_outputs_are_written_all_or_none(tmp_path):
    first = tmp_path / "layer.json"
    with pytest.raises(InputError, match="does not exist"):
        write_outputs({first: b"{}", tmp_path / "missing" / "report.html": b"<html>"})
    assert not first.exists()
    assert [p.name for p in tmp_path.iterdir()] == [], "no temporary file is left behind"
    write_outputs({first: b"{}", tmp_path / "report.html": b"<html>"})
    assert first.read_bytes() == b"{}" and (tmp_path / "report.html").read_bytes() == b"<html>"


def test_two_outputs_that_are_one_file_are_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "link.json").symlink_to("layer.json")
    with pytest.raises(InputError, match="link.json: named twice as an output"):
        write_outputs({tmp_path / "layer.json": b"{}", tmp_path / "link.json": b"[]"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json"]


def test_an_output_that_is_an_input_is_refused(tmp_path):
    scenario = tmp_path / "s.yml"
    scenario.write_text("lang: attacklang\n")
    (tmp_path / "hard.npz").hardlink_to(scenario)
    for out in (scenario, tmp_path / "." / "s.yml", tmp_path / "hard.npz"):
        with pytest.raises(InputError, match=r"is also this command's input \(.*s\.yml\)"):
            check_distinct_outputs([out], [scenario])
    check_distinct_outputs([tmp_path / "r.npz", tmp_path / "r.html"], [scenario])
