"""Files: bounded reads of untrusted input, safe YAML/JSON documents, and atomic writes that never clobber.

Reads open only regular files (a FIFO or a device is refused at once, before any byte is read) and never read
more than the limit the caller gives, whatever ``stat`` says. YAML is parsed safely with duplicate keys, unhashable
keys, deep nesting and alias bombs ("billion laughs") refused; JSON with duplicate keys and deep nesting refused.
Writes go to a temporary file beside the target and are renamed over it: a reader sees the old file or the whole
new one. A symlink is written through to the regular file it names; a device, FIFO or directory is never replaced,
and a missing parent directory is an error, not created.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import yaml

from breachpath.errors import InputError

try:  # rapidyaml: a C++ parser, the fast path for large documents (see _fast_yaml)
    import ryml as _ryml
except ImportError:  # pragma: no cover - a hard dependency, but the checked loader alone is still correct
    _ryml = None

#: Documents nest far less than this (a model: assets → asset → associated_assets → field → targets).
MAX_DEPTH = 64
#: Nodes that YAML aliases may add when expanded (a real model uses none; a merge key or two is fine).
MAX_ALIAS_NODES = 10_000


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:g} MiB"
    return f"{n / 1024:g} KiB" if n >= 1024 else f"{n} bytes"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


#: ``BREACHPATH_CACHE`` set to this (any case) turns every cache off (downloads, compiled languages).
CACHE_OFF = "off"


def cache_dir() -> Path | None:
    """Where breachpath keeps what it can rebuild (downloaded bundles, compiled languages): ``$BREACHPATH_CACHE``,
    else the platform's user cache directory for breachpath; None when the variable says ``off``."""
    env = os.environ.get("BREACHPATH_CACHE")
    if env and env.strip().lower() == CACHE_OFF:
        return None
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("breachpath", appauthor=False))


def open_regular(path: Path | str) -> BinaryIO:
    """Open a regular file for reading (a symlink to one is fine); a FIFO, device, socket or directory is refused
    at once, without blocking or reading a byte. Failures are :class:`InputError` naming ``path``."""
    shown = str(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise block forever before we could look at it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{shown}: cannot read ({_reason(exc)})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{shown}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise InputError(f"{shown}: not a regular file (a device, FIFO or socket is never read)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`) of at most ``limit`` bytes, read without trusting
    ``stat``. Failures are :class:`InputError` naming ``path``."""
    with open_regular(path) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({_reason(exc)})") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {_size(limit)}")
    return data


def read_text(path: Path | str, limit: int, errors: str = "strict") -> str:
    """A UTF-8 text file of at most ``limit`` bytes (see :func:`read_bytes`), a leading byte-order mark dropped;
    any failure is an :class:`InputError` of one line naming the file."""
    data = read_bytes(path, limit)
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read (not UTF-8 text: byte {exc.start}, {exc.reason})") from None
    return text.removeprefix("\ufeff")


# -- YAML and JSON ------------------------------------------------------------------------------------------


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with limits: nesting depth, alias expansion, duplicate and unhashable keys."""

    def __init__(self, stream: str, origin: str):
        super().__init__(stream)
        self.origin = origin
        self._depth = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}

    def _fail(self, mark, message: str) -> InputError:
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return InputError(f"{self.origin}: {where}{message}")

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._expanded += self._expanded_size(node)
                if self._expanded > MAX_ALIAS_NODES:
                    raise self._fail(
                        event.start_mark, f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (refused)"
                    )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._fail(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _expanded_size(self, node: yaml.Node) -> int:
        """Nodes ``node`` stands for once every alias inside it is expanded (memoised, so linear in the document)."""
        stack = [(node, False)]
        while stack:
            current, children_done = stack.pop()
            key = id(current)
            if key in self._sizes:
                continue
            children = _children(current)
            if children_done:
                self._sizes[key] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
            else:
                stack.append((current, True))
                stack.extend((c, False) for c in children if id(c) not in self._sizes)
        return self._sizes[id(node)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _construct_mapping(loader: _SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)  # merge keys (<<)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise loader._fail(key_node.start_mark, "a key must be a name or number, not a list or mapping") from None
        if key in mapping:
            raise loader._fail(key_node.start_mark, f"duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_SafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, origin: str) -> object:
    """One YAML document, safely (no tags that run code) and within limits; errors name ``origin`` and the
    line and column.

    A plain document (no anchors, aliases, tags, merge keys, duplicate keys, tabs or control characters…) is read
    by :func:`_fast_yaml`, about 100 times faster, to exactly what the checked loader returns; anything else, and
    every error, is left to the checked PyYAML loader below."""
    data = _fast_yaml(text)
    if data is not _UNSURE:
        return data
    return _load_yaml_checked(text, origin)


def _load_yaml_checked(text: str, origin: str) -> object:
    """:func:`load_yaml` by PyYAML's pure-Python composer with every check (alias expansion, depth, keys)."""
    loader = None
    try:
        loader = _SafeLoader(text, origin)  # the reader refuses control characters here, before any parsing
        return loader.get_single_data()
    except yaml.reader.ReaderError as exc:  # a control character or a binary file: say where, on one line
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise InputError(
            f"{origin}: line {line}, column {column}: invalid YAML (control character #x{exc.character:04x})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{origin}: {where}invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:  # deep flow collections recurse in the parser before composing
        raise InputError(f"{origin}: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


# -- the fast path: rapidyaml's tree, typed by PyYAML's own YAML 1.1 resolver and constructors ---------------

#: What _fast_yaml returns when the checked loader must decide (an error to report, or something it alone reads).
_UNSURE = object()

#: Characters the fast path never reads: line breaks and whitespace that PyYAML treats otherwise than rapidyaml
#: (a tab, CR, NEL, LS, PS) and a byte-order mark; control characters (PyYAML's reader refuses them) and directives
#: (``%YAML``) are looked for too.
_NOT_FAST_CHARS = "\t\r\x85\u2028\u2029\ufeff"
_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
#: Lines no longer than this hold no key that PyYAML finds too long (it allows 1024 characters).
_MAX_LINE = 1000
#: A document marker at the start of a line.
_MARKER = re.compile(r"^[ ]*(?:---|\.\.\.)(?=[ \n]|\Z)", re.MULTILINE)
#: ``?`` as the explicit key indicator (rapidyaml reads ``? k\n:v`` as k: v, PyYAML as two keys).
_EXPLICIT_KEY = re.compile(r"(?:^|(?<=[ \[{,]))\?(?=[ \n]|\Z)", re.MULTILINE)
#: A quoted scalar (its quote at a line's start, after a space or an indicator) not closed on its line, or followed
#: on its line by anything but a comment, ``:``, ``,``, ``]`` or ``}``: rapidyaml takes ``- 'a' - b`` and a quoted
#: key broken over lines in a block mapping, PyYAML refuses them.
_ODD_QUOTED = re.compile(
    r"""(?<![^ \n\-?:,\[{])(?:'(?:[^'\n]|'')*+(?:$|'(?!{ok}))|"(?:[^"\\\n]|\\.)*+(?:\\?$|"(?!{ok})))""".replace(
        "{ok}", r"[ ]*$|[ ]+#|[ ]*:(?:[ ]|$)|[ ]*[,\]}]"
    ),
    re.MULTILINE,
)
#: Blank and comment lines only (what may stand before a leading ``---``).
_PREAMBLE = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*")
#: ``|`` or ``>`` after a space or at a line's start whose header PyYAML would refuse (rapidyaml skips junk there).
_BAD_BLOCK_HEADER = re.compile(
    r"(?:^|(?<=[ ]))[|>](?!(?:[-+][1-9]?|[1-9][-+]?)?[ ]*(?:(?<=[ ])#[^\n]*)?(?:\n|\Z))", re.M
)


def _fast_text(text: str) -> bool:
    """Whether the fast path may read ``text`` at all: no character that PyYAML reads otherwise than rapidyaml
    or refuses, no directive, at most a leading ``---`` for a document marker, and block scalar headers that
    PyYAML reads."""
    if any(ch in text for ch in _NOT_FAST_CHARS) or ("%" in text and _DIRECTIVE.search(text)):
        return False
    if ("---" in text or "..." in text) and (markers := _MARKER.findall(text)):
        first = _MARKER.search(text)
        if (
            len(markers) > 1
            or markers[0] != "---"
            or first.start() != first.end() - 3
            or _PREAMBLE.fullmatch(text, 0, first.start()) is None
        ):
            return False
    if ("'" in text or '"' in text) and _ODD_QUOTED.search(text):
        return False
    if "?" in text and _EXPLICIT_KEY.search(text):
        return False
    if ("|" in text or ">" in text) and _BAD_BLOCK_HEADER.search(text):
        return False
    if len(text) > _MAX_LINE and max(map(len, text.split("\n"))) > _MAX_LINE:
        return False  # PyYAML refuses a key longer than 1024 characters; rapidyaml takes it
    return yaml.reader.Reader.NON_PRINTABLE.search(text) is None


#: Indicators a plain scalar cannot start with (YAML 1.1, as PyYAML's scanner reads it).
_NOT_PLAIN_START = frozenset(",[]{}#&*!|>'\"%@`")
#: What PyYAML reads otherwise in a plain scalar inside a flow collection (``[a?b]``: rapidyaml one scalar, PyYAML
#: an error).
_FLOW_UNSURE = re.compile(rb"[,?\[\]{}#]|:\Z|\A:")
_STR = "tag:yaml.org,2002:str"
#: The implicit tags the fast path types itself (merge keys ``<<`` and ``=`` are left to the checked loader).
_SCALAR_TAGS = frozenset({_STR, *(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "timestamp"))})
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _plain(text: str) -> object:
    """A plain scalar as PyYAML's SafeLoader types it (YAML 1.1: yes/no/on/off, 0x1F, 1:30, .inf, ~, dates…);
    :data:`_UNSURE` for a tag it leaves to the checked loader, a value its constructor refuses, or a scalar that
    PyYAML would not read as plain (rapidyaml takes ``@x``, a lone ``]``…)."""
    if text and (
        text[0] in _NOT_PLAIN_START
        or (text[0] in "-?:" and text[1:2] in ("", " "))
        or text[0] == " "
        or text[-1] == " "
    ):
        return _UNSURE
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    if tag not in _SCALAR_TAGS:
        return _UNSURE
    try:
        return _SafeLoader.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except Exception:  # e.g. "0x_": PyYAML's int() fails; the checked loader reports it as it always has
        return _UNSURE


class _Unsure(Exception):
    """The fast path met something it leaves to the checked loader."""


@contextlib.contextmanager
def _quiet_stderr():
    """rapidyaml prints a parse error on the C stderr before raising it; the checked loader reports it instead."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _fast_yaml(text: str) -> object:
    """``text`` read by rapidyaml to exactly what :func:`_load_yaml_checked` returns, or :data:`_UNSURE` when
    the text has anything that loader alone reads or refuses: an anchor, alias or tag, a merge key, a duplicate or
    non-scalar key, a directive, several documents, nesting deeper than :data:`MAX_DEPTH`, a tab, a control
    character, a parse error. Plain scalars are typed by PyYAML's resolver and constructors; quoted and block
    scalars are strings."""
    if _ryml is None or not _fast_text(text):
        return _UNSURE
    try:
        with _quiet_stderr():
            tree = _ryml.parse_in_arena(text.encode("utf-8"))
    except Exception:  # any rapidyaml error: the checked loader says what is wrong, with line and column
        return _UNSURE
    try:
        return _from_tree(tree, text)
    except _Unsure:
        return _UNSURE


#: Node flags the fast path leaves to the checked loader: anchors, aliases, tags, and a flow collection over several
#: lines (rapidyaml takes a key broken over lines there, PyYAML does not).
_REFUSED = (
    (_ryml.KEYREF | _ryml.VALREF | _ryml.KEYANCH | _ryml.VALANCH | _ryml.KEYTAG | _ryml.VALTAG | _ryml.FLOW_ML)
    if _ryml
    else 0
)
_KEY_QUOTED = (_ryml.KEY_SQUO | _ryml.KEY_DQUO) if _ryml else 0
_VAL_QUOTED = (_ryml.VAL_SQUO | _ryml.VAL_DQUO) if _ryml else 0
_VAL_BLOCK = (_ryml.VAL_LITERAL | _ryml.VAL_FOLDED) if _ryml else 0


def _from_tree(tree, text: str) -> object:  # noqa: ANN001 - a ryml.Tree
    """The Python value of a rapidyaml tree (iteratively, depth bounded); raises :class:`_Unsure`.
    ``text`` is what was parsed. Literal and folded scalars (``|``, ``>``) are read only when it ends in a line break
    (else PyYAML ends the last one without it, rapidyaml with it)."""
    r = _ryml
    # The extension's functions, called on the SWIG object itself (``tree.this``): through the proxy's methods,
    # SWIG looks the object up again on every call, and the walk takes five times as long.
    c, tree = r._ryml, tree.this
    type_of, key_of, val_of = c.Tree_type, c.Tree_key, c.Tree_val
    first_child, next_sibling, none = c.Tree_first_child, c.Tree_next_sibling, r.NONE
    map_bit, seq_bit, flow_bit, refused = r.MAP, r.SEQ, r.FLOW_SL, _REFUSED
    val_plain, key_plain, key_quoted = r.VAL_PLAIN, r.KEY_PLAIN, _KEY_QUOTED
    val_string = _VAL_QUOTED | (_VAL_BLOCK if text.endswith("\n") else 0)
    plain_cache: dict[bytes, object] = {}

    def scalar(view, ty: int, plain: int, quoted: int, in_flow: int) -> object:
        if view is None:  # an empty value ("key:"): a plain empty scalar, null
            if ty & (plain | quoted):
                raise _Unsure
            raw = b""
        elif ty & quoted:
            return str(view, "utf-8")
        elif ty & plain:
            raw = bytes(view)
            if in_flow and _FLOW_UNSURE.search(raw):
                raise _Unsure
        else:
            raise _Unsure
        value = plain_cache.get(raw, _UNSURE)
        if value is _UNSURE:
            value = plain_cache[raw] = _plain(raw.decode("utf-8"))
            if value is _UNSURE:
                raise _Unsure
        return value

    root = c.Tree_root_id(tree)
    ty = type_of(tree, root)
    if ty & r.STREAM == r.STREAM:
        if c.Tree_num_children(tree, root) != 1:
            raise _Unsure  # no document (PyYAML: None) or several (an error): the checked loader decides
        root = first_child(tree, root)
        ty = type_of(tree, root)
    if ty & refused:
        raise _Unsure
    if ty & map_bit:
        result: object = {}
    elif ty & seq_bit:
        result = []
    elif ty & r.VAL:  # a document that is one scalar: not a block scalar (PyYAML indents it; rapidyaml need not)
        return scalar(val_of(tree, root), ty, val_plain, _VAL_QUOTED, 0)
    else:
        raise _Unsure  # an empty stream
    stack = [(root, ty, result, 1)]
    while stack:
        node, node_ty, container, depth = stack.pop()
        child = first_child(tree, node)
        if child == none:
            continue
        if depth >= MAX_DEPTH:
            raise _Unsure  # the checked loader refuses it, or loads it: it decides
        in_flow = node_ty & flow_bit
        is_map = isinstance(container, dict)
        while child != none:
            ty = type_of(tree, child)
            if ty & refused:
                raise _Unsure
            if ty & map_bit:
                value: object = {}
                stack.append((child, ty, value, depth + 1))
            elif ty & seq_bit:
                value = []
                stack.append((child, ty, value, depth + 1))
            else:
                view = val_of(tree, child)
                if view is not None and ty & val_string:
                    value = str(view, "utf-8")
                else:
                    value = scalar(view, ty, val_plain, val_string, in_flow)
            if is_map:
                view = key_of(tree, child)
                if view is None:
                    raise _Unsure  # a null key ("? " or ": v"): rare, and rapidyaml takes some PyYAML refuses
                key = str(view, "utf-8") if ty & key_quoted else scalar(view, ty, key_plain, key_quoted, in_flow)
                if key in container:
                    raise _Unsure  # a duplicate key: the checked loader names its line and column
                container[key] = value
            else:
                container.append(value)
            child = next_sibling(tree, child)
    return result


def _unique_pairs(origin: str):
    def hook(pairs: list[tuple[str, object]]) -> dict:
        mapping: dict = {}
        for key, value in pairs:
            if key in mapping:
                raise InputError(f"{origin}: duplicate key {key!r}")
            mapping[key] = value
        return mapping

    return hook


def load_json(text: str, origin: str) -> object:
    """One JSON document with duplicate keys refused and nesting bounded; errors name ``origin``, line and column."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs(origin))
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(f"{origin}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # an integer of thousands of digits (Python's int-string limit)
        raise InputError(f"{origin}: invalid JSON ({exc})") from None
    check_depth(data, origin)
    return data


def check_depth(data: object, origin: str, limit: int = MAX_DEPTH) -> None:
    """Refuse documents nested more than ``limit`` levels (iteratively: the check itself cannot overflow)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            raise InputError(f"{origin}: nested more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)


def load_document(path: Path | str, limit: int) -> object:
    """A YAML or JSON file (by suffix; YAML otherwise) of at most ``limit`` bytes."""
    text = read_text(path, limit)
    if Path(path).suffix.lower() == ".json":
        return load_json(text, str(path))
    return load_yaml(text, str(path))


# -- writing ------------------------------------------------------------------------------------------------


def check_output(path: Path | str) -> Path:
    """The file to write for the output ``path`` a user gave: ``path`` itself, or the regular file a symlink names.
    Refuses a device, FIFO, socket or directory, and a missing parent directory, with one line naming ``path``."""
    shown = str(path)
    target = Path(path)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(f"{shown}: cannot write ({_reason(exc)})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(f"{shown}: is a directory; name a file to write")
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"{shown}: not a regular file; refusing to replace a device, FIFO or socket")
    parent = target.parent
    if not parent.is_dir():
        raise InputError(f"{shown}: directory {parent} does not exist")
    return target


def _identity(path: Path | str) -> tuple:
    """What ``path`` is on disk: its device and inode when it exists (hard links and symlinks included), else the
    absolute path it would be created at."""
    try:
        st = os.stat(path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def check_distinct_outputs(outputs: list[Path | str], inputs: list[Path | str] = ()) -> None:
    """Refuse two outputs that are one file (the second would silently replace the first) and an output that is
    one of the command's inputs (``simulate s.yml --save s.yml`` replaced the scenario with the results)."""
    seen: dict[tuple, Path | str] = {}
    for out in outputs:
        key = _identity(out)
        if key in seen:
            raise InputError(f"{out}: named twice as an output (also as {seen[key]}); give each output its own file")
        seen[key] = out
    for source in inputs:
        key = _identity(source)
        if key in seen:
            raise InputError(f"{seen[key]}: is also this command's input ({source}); refusing to overwrite it")


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _stage(path: Path | str, data: bytes) -> tuple[Path, str]:
    """Write ``data`` to a temporary file beside the output's real target; returns (target, temporary)."""
    target = check_output(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({_reason(exc)})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would: the old file's, else the
        # umask's, so a report written for sharing can be shared.
        os.chmod(tmp, _mode_for(target))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write ({_reason(exc)})") from None
        raise
    return target, tmp


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part (see
    :func:`check_output` for what is refused)."""
    write_outputs({path: data})


def write_outputs(outputs: Mapping[Path | str, bytes]) -> None:
    """Write several outputs all or none: every target is checked and staged first, then all are renamed into
    place; if staging any fails, nothing is written."""
    check_distinct_outputs(list(outputs))
    staged: list[tuple[Path | str, Path, str]] = []
    try:
        for path, data in outputs.items():
            target, tmp = _stage(path, data)
            staged.append((path, target, tmp))
        for path, target, tmp in staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise InputError(f"{path}: cannot write ({_reason(exc)})") from None
    finally:
        for _, _, tmp in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
