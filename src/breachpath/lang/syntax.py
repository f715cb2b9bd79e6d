"""MAL syntax: a Lark LALR grammar and the syntax tree it produces, with file:line:column on every node.

The grammar follows the MAL reference grammar (mal-lang's ``mal.g4``), rearranged where LALR(1) needs it:
an association's trailing ``meta`` lines and the next association both start with an identifier, so they
are parsed as a flat list and regrouped here. TTC expressions are kept as text and parsed by
:mod:`breachpath.dist`, which reports columns of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from breachpath.errors import InputError

GRAMMAR = r"""
start: _declaration*
_declaration: include | define | category | associations

include: "include" STRING
define: "#" ID ":" STRING
category: "category" ID meta* "{" asset* "}"
meta: ID "info" ":" STRING
asset: ABSTRACT? "asset" ID (EXTENDS ID)? meta* "{" (step | variable)* "}"

step: STEPTYPE ID tag* cias? ttc? meta* detector* precondition? reaches?
tag: "@" ID
cias: "{" [CIA ("," CIA)*] "}"
ttc: "[" TTC_BODY? "]"
detector: "!" ID? "(" context_part ("," context_part)* ")" ID ttc?
context_part: ID ID
precondition: "<-" expr ("," expr)*
reaches: (LEADSTO | INHERITS) expr ("," expr)*
variable: "let" ID "=" expr

expr: parts (_setop parts)*
_setop: UNION | INTERSECT | MINUS
parts: part ("." part)*
part: atom STAR? subtype*
?atom: "(" expr ")" -> group
     | ID "(" ")"   -> varref
     | ID           -> field_or_step
subtype: "[" ID "]"

associations: "associations" "{" assoc_item* "}"
?assoc_item: association | meta
association: ID "[" ID "]" mult "<--" ID "-->" mult "[" ID "]" ID
mult: MULTATOM (".." MULTATOM)?

ABSTRACT: "abstract"
EXTENDS: "extends"
STEPTYPE: "&" | "|" | "#" | "!E" | "E"
LEADSTO.2: "->"
INHERITS.2: "+>"
UNION: "\\/"
INTERSECT: "/\\"
MINUS: "-"
STAR: "*"
MULTATOM: /[0-9]+/ | "*"
CIA: "C" | "I" | "A"
TTC_BODY: /[^\]]+/
STRING: /"(?:[^"\\\n]|\\.)*"/
ID: /[A-Za-z0-9_]+/

COMMENT: /\/\/[^\n]*/
BLOCK_COMMENT: /\/\*(.|\n)*?\*\//
%import common.WS
%ignore WS
%ignore COMMENT
%ignore BLOCK_COMMENT
"""


@dataclass(frozen=True)
class Pos:
    """Where something is written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class LangError(InputError):
    """A syntax or semantic error in a MAL file: ``file:line:column: message``."""

    def __init__(self, pos: Pos | None, message: str, kind: str = "error"):
        self.pos = pos
        self.kind = kind
        super().__init__(f"{pos}: {message}" if pos else message)


# -- expressions --------------------------------------------------------------------------------------


@dataclass
class Expr:
    pos: Pos


@dataclass
class Name(Expr):
    """A field or an attack step name (which one is decided by the analyser)."""

    name: str


@dataclass
class VarRef(Expr):
    name: str


@dataclass
class Collect(Expr):
    """``lhs.rhs``."""

    lhs: Expr
    rhs: Expr


@dataclass
class SetOp(Expr):
    op: str  # union, intersection, difference
    lhs: Expr
    rhs: Expr


@dataclass
class Transitive(Expr):
    inner: Expr


@dataclass
class SubType(Expr):
    inner: Expr
    subtype: str
    subtype_pos: Pos


# -- declarations -------------------------------------------------------------------------------------


@dataclass
class Meta:
    key: str
    value: str
    pos: Pos


@dataclass
class Detector:
    name: str | None
    context: list[tuple[str, str]]
    detector_type: str
    tprate: str | None
    pos: Pos


@dataclass
class StepDecl:
    kind: str  # or, and, defense, exist, notExist
    name: str
    pos: Pos
    tags: list[str] = field(default_factory=list)
    cia: list[str] | None = None
    ttc: str | None = None
    ttc_pos: Pos | None = None
    ttc_from_comment: bool = False
    meta: list[Meta] = field(default_factory=list)
    detectors: list[Detector] = field(default_factory=list)
    requires: list[Expr] | None = None
    reaches: list[Expr] | None = None
    reaches_overrides: bool = True  # -> overrides inherited children, +> appends


@dataclass
class VariableDecl:
    name: str
    expr: Expr
    pos: Pos


@dataclass
class AssetDecl:
    name: str
    category: str
    pos: Pos
    abstract: bool = False
    extends: str | None = None
    extends_pos: Pos | None = None
    meta: list[Meta] = field(default_factory=list)
    steps: list[StepDecl] = field(default_factory=list)
    variables: list[VariableDecl] = field(default_factory=list)


@dataclass
class CategoryDecl:
    name: str
    pos: Pos
    meta: list[Meta]
    assets: list[AssetDecl]


@dataclass
class AssociationDecl:
    left_asset: str
    left_field: str
    left_mult: tuple[int, int | None]
    name: str
    right_mult: tuple[int, int | None]
    right_field: str
    right_asset: str
    pos: Pos
    left_pos: Pos
    right_pos: Pos
    left_field_pos: Pos
    right_field_pos: Pos
    left_mult_pos: Pos
    right_mult_pos: Pos
    meta: list[Meta] = field(default_factory=list)


@dataclass
class FileDecl:
    path: str
    defines: dict[str, tuple[str, Pos]] = field(default_factory=dict)
    includes: list[tuple[str, Pos]] = field(default_factory=list)
    categories: list[CategoryDecl] = field(default_factory=list)
    associations: list[AssociationDecl] = field(default_factory=list)


_STEP_KINDS = {"|": "or", "&": "and", "#": "defense", "E": "exist", "!E": "notExist"}
_SETOPS = {"\\/": "union", "/\\": "intersection", "-": "difference"}


def _unquote(token: Token) -> str:
    return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")


class _Builder(Transformer):
    """Turns the Lark tree into the dataclasses above."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def pos(self, token) -> Pos:
        return Pos(self.path, token.line, token.column)

    # expressions
    def field_or_step(self, children):
        (token,) = children
        return Name(self.pos(token), str(token))

    def varref(self, children):
        (token,) = children
        return VarRef(self.pos(token), str(token))

    def group(self, children):
        return children[0]

    def subtype(self, children):
        (token,) = children
        return token

    def part(self, children):
        node = children[0]
        for child in children[1:]:
            if isinstance(child, Token) and child.type == "STAR":
                node = Transitive(node.pos, node)
            else:
                node = SubType(node.pos, node, str(child), self.pos(child))
        return node

    def parts(self, children):
        node = children[0]
        for child in children[1:]:
            node = Collect(node.pos, node, child)
        return node

    def expr(self, children):
        node = children[0]
        for op, rhs in zip(children[1::2], children[2::2], strict=True):
            node = SetOp(self.pos(op), _SETOPS[str(op)], node, rhs)
        return node

    # steps
    def tag(self, children):
        return ("tag", str(children[0]))

    def cias(self, children):
        return ("cia", [str(c) for c in children if c is not None])

    def ttc(self, children):
        body = children[0] if children else None
        return ("ttc", str(body).strip() if body is not None else "", self.pos(body) if body is not None else None)

    def meta(self, children):
        key, value = children
        return Meta(str(key), _unquote(value), self.pos(key))

    def context_part(self, children):
        return (str(children[0]), str(children[1]))

    def detector(self, children):
        name = None
        if isinstance(children[0], Token):
            name = str(children[0])
            children = children[1:]
        contexts = [
            c for c in children if isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str) and c[0] != "ttc"
        ]
        rest = [c for c in children if not (isinstance(c, tuple) and c in contexts)]
        detector_type = next(str(c) for c in rest if isinstance(c, Token))
        tprate = next((c[1] for c in rest if isinstance(c, tuple) and c[0] == "ttc"), None)
        return Detector(name, contexts, detector_type, tprate, Pos(self.path, 0, 0))

    def precondition(self, children):
        return ("requires", children)

    def reaches(self, children):
        return ("reaches", str(children[0]) == "->", children[1:])

    def step(self, children):
        kind_token, name_token, *rest = children
        step = StepDecl(_STEP_KINDS[str(kind_token)], str(name_token), self.pos(name_token))
        step.pos = self.pos(kind_token)
        for item in rest:
            if isinstance(item, Meta):
                step.meta.append(item)
            elif isinstance(item, Detector):
                step.detectors.append(item)
            elif item[0] == "tag":
                step.tags.append(item[1])
            elif item[0] == "cia":
                step.cia = item[1]
            elif item[0] == "ttc":
                step.ttc, step.ttc_pos = item[1], item[2]
            elif item[0] == "requires":
                step.requires = item[1]
            elif item[0] == "reaches":
                step.reaches_overrides, step.reaches = item[1], item[2]
        return step

    def variable(self, children):
        name, expr = children
        return VariableDecl(str(name), expr, self.pos(name))

    def asset(self, children):
        i = 0
        abstract = False
        if isinstance(children[i], Token) and children[i].type == "ABSTRACT":
            abstract, i = True, i + 1
        name = children[i]
        i += 1
        asset = AssetDecl(str(name), "", self.pos(name), abstract=abstract)
        if i < len(children) and isinstance(children[i], Token) and children[i].type == "EXTENDS":
            asset.extends, asset.extends_pos = str(children[i + 1]), self.pos(children[i + 1])
            i += 2
        for item in children[i:]:
            if isinstance(item, Meta):
                asset.meta.append(item)
            elif isinstance(item, StepDecl):
                asset.steps.append(item)
            elif isinstance(item, VariableDecl):
                asset.variables.append(item)
        return asset

    def category(self, children):
        name, *rest = children
        assets = [c for c in rest if isinstance(c, AssetDecl)]
        for asset in assets:
            asset.category = str(name)
        return CategoryDecl(str(name), self.pos(name), [c for c in rest if isinstance(c, Meta)], assets)

    def mult(self, children):
        def value(token) -> int | None:
            return None if str(token) == "*" else int(str(token))

        if len(children) == 1:
            v = value(children[0])
            return (0, None) if v is None else (v, v), self.pos(children[0])
        return (value(children[0]) or 0, value(children[1])), self.pos(children[0])

    def association(self, children):
        (
            left_asset,
            left_field,
            (left_mult, left_mult_pos),
            name,
            (right_mult, right_mult_pos),
            right_field,
            right_asset,
        ) = children
        return AssociationDecl(
            str(left_asset),
            str(left_field),
            left_mult,
            str(name),
            right_mult,
            str(right_field),
            str(right_asset),
            self.pos(name),
            self.pos(left_asset),
            self.pos(right_asset),
            self.pos(left_field),
            self.pos(right_field),
            left_mult_pos,
            right_mult_pos,
        )

    def associations(self, children):
        out: list[AssociationDecl] = []
        for item in children:
            if isinstance(item, AssociationDecl):
                out.append(item)
            elif out:
                out[-1].meta.append(item)
            else:
                raise LangError(item.pos, "association meta before any association", "syntax")
        return ("associations", out)

    def include(self, children):
        (token,) = children
        return ("include", _unquote(token), self.pos(token))

    def define(self, children):
        key, value = children
        return ("define", str(key), _unquote(value), self.pos(key))

    def start(self, children):
        decl = FileDecl(self.path)
        for item in children:
            if isinstance(item, CategoryDecl):
                decl.categories.append(item)
            elif item[0] == "associations":
                decl.associations.extend(item[1])
            elif item[0] == "include":
                decl.includes.append((item[1], item[2]))
            elif item[0] == "define":
                if item[1] in decl.defines:
                    raise LangError(item[3], f"#{item[1]} is defined twice", "duplicate define")
                decl.defines[item[1]] = (item[2], item[3])
        return decl


_BUILDER = _Builder("<text>")
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # The builder runs inside the LALR parser (no intermediate tree): about twice as fast as parse + transform.
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", transformer=_BUILDER, maybe_placeholders=True)


_EXPECT_NAMES = {
    "ID": "a name",
    "STRING": "a string",
    "RBRACE": "'}'",
    "LBRACE": "'{'",
    "STEPTYPE": "an attack step (| & # E !E)",
    "REACHES": "'->' or '+>'",
    "SETOP": "a set operator",
    "MULTATOM": "a multiplicity",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "AT": "'@'",
    "LEADSTO": "'->'",
    "INHERITS": "'+>'",
}


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedEOF):
        return "unexpected end of file"
    token = exc.token
    found = "end of file" if token.type == "$END" else repr(str(token).split("\n", 1)[0][:40])
    expected = sorted({_EXPECT_NAMES.get(e, e.strip("_").lower()) for e in (exc.expected or ())})
    hint = f"; expected {', '.join(expected[:6])}" if expected else ""
    return f"unexpected {found}{hint}"


def parse_text(text: str, path: str) -> FileDecl:
    """Parse one MAL file's text; syntax errors raise :class:`LangError` with file:line:column and the text."""
    try:
        with _LOCK:
            _BUILDER.path = path
            return _parser().parse(text)
    except (UnexpectedToken, UnexpectedCharacters, UnexpectedEOF) as exc:
        line = getattr(exc, "line", None) or text.count("\n") + 1
        column = getattr(exc, "column", None) or 1
        if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
            line, column = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
        raise LangError(Pos(path, line, column), _describe(exc), "syntax") from None
