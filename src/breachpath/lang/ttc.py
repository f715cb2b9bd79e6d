"""TTC expressions between MAL text (:mod:`breachpath.dist`) and the ``langspec.json`` TTC layout."""

from __future__ import annotations

import math

from breachpath.dist import BinaryOp, Call, DistributionError, Named, Number, parse
from breachpath.errors import InputError

_OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division", "^": "exponentiation"}
_OPS = {v: k for k, v in _OP_NAMES.items()}


def _node_json(node) -> dict:
    if isinstance(node, Named):
        return {"type": "function", "name": node.name, "arguments": []}
    if isinstance(node, Number):
        return {"type": "number", "value": node.value}
    if isinstance(node, Call):
        return {"type": "function", "name": node.name, "arguments": list(node.params)}
    if isinstance(node, BinaryOp):
        return {"type": _OP_NAMES[node.op], "lhs": _node_json(node.left), "rhs": _node_json(node.right)}
    raise AssertionError(node)


def ttc_json(text: str) -> dict:
    """``Exponential(0.1) * Bernoulli(0.5)`` → the langspec TTC tree."""
    return _node_json(parse(text))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


#: Operator nesting of a TTC tree (real ones: 2); the same bound as for TTCs written in MAL.
MAX_TTC_DEPTH = 50


def _is_number(value: object) -> bool:
    """A JSON number a float can hold (an integer of 400 digits cannot: it would overflow when printed)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _text(data: dict, where: str, depth: int = 1) -> str:
    """The MAL text of a langspec TTC tree; wrong node types, names or values are one-line InputErrors."""
    if depth > MAX_TTC_DEPTH:
        raise InputError(f"{where}: TTC nested deeper than {MAX_TTC_DEPTH} levels")
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "number":
        if not _is_number(data.get("value")):
            raise InputError(f"{where}: a TTC number needs a numeric value")
        return _number(data["value"])
    if kind == "function":
        name, args = data.get("name"), data.get("arguments") or []
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"{where}: a TTC function needs a name")
        if not isinstance(args, list) or not all(_is_number(a) for a in args):
            raise InputError(f"{where}: the arguments of TTC function {name} must be numbers")
        return f"{name}({', '.join(_number(a) for a in args)})" if args else name
    if kind in _OPS:
        return f"({_text(data.get('lhs'), where, depth + 1)} {_OPS[kind]} {_text(data.get('rhs'), where, depth + 1)})"
    shown = repr(kind) if isinstance(kind, str) and len(kind) <= 40 else "missing or not a string"
    raise InputError(f"{where}: unknown TTC node (type {shown})")


def ttc_text(data: dict, where: str) -> str:
    """The langspec TTC tree → MAL text (validated by :func:`breachpath.dist.parse`)."""
    text = _text(data, where)
    try:
        return str(parse(text))
    except DistributionError as exc:
        raise InputError(f"{where}: invalid TTC {text!r} ({exc})") from None
