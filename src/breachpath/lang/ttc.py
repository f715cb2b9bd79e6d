"""TTC expressions between MAL text (:mod:`breachpath.dist`) and the ``langspec.json`` TTC layout."""

from __future__ import annotations

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


def _text(data: dict, where: str) -> str:
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "number":
        return _number(data["value"])
    if kind == "function":
        args = data.get("arguments") or []
        return f"{data['name']}({', '.join(_number(a) for a in args)})" if args else data["name"]
    if kind in _OPS:
        return f"({_text(data['lhs'], where)} {_OPS[kind]} {_text(data['rhs'], where)})"
    raise InputError(f"{where}: unknown TTC node {kind!r}")


def ttc_text(data: dict, where: str) -> str:
    """The langspec TTC tree → MAL text (validated by :func:`breachpath.dist.parse`)."""
    text = _text(data, where)
    try:
        return str(parse(text))
    except DistributionError as exc:
        raise InputError(f"{where}: invalid TTC {text!r} ({exc})") from None
