"""MAL syntax: a tokenizer, a recursive-descent parser, and the syntax tree, with file:line:column everywhere.

The grammar is the MAL reference grammar (mal-lang's ``mal.g4``)::

    file        := (include | define | category | associations)*
    define      := '#' ID ':' STRING              include := 'include' STRING
    category    := 'category' ID meta* '{' asset* '}'
    asset       := 'abstract'? 'asset' ID ('extends' ID)? meta* '{' (step | variable)* '}'
    step        := ('|' | '&' | '#' | 'E' | '!E') ID ('@' ID)* cias? ttc? meta* detector* ('<-' exprs)? (('->' | '+>') exprs)?
    variable    := 'let' ID '=' expr
    expr        := parts (('\\/' | '/\\' | '-') parts)*
    parts       := part ('.' part)*
    part        := ('(' expr ')' | ID '(' ')' | ID) '*'? ('[' ID ']')*
    association := ID '[' ID ']' mult '<--' ID '-->' mult '[' ID ']' ID meta*
    meta        := ID 'info' ':' STRING

It is parsed by hand rather than with a parser generator: MAL's keywords are contextual (``E``, ``C``, ``info``
are also valid names) and a hand-written parser over one compiled token regex is about twice as fast as a
generated LALR parser here, with errors that say what was expected. TTC expressions are kept as text and parsed by
:mod:`breachpath.dist`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from breachpath.errors import InputError

#: Step expressions nest far less than this in real languages (coreLang and enterpriseLang: 6 levels); the limit
#: keeps every recursive walk of an expression (checks, langspec output, graph building) far from Python's stack
#: limit, and a langspec of such expressions within the JSON depth limit of :mod:`breachpath.fileio`.
MAX_DEPTH = 50
#: Tokens in one file (enterpriseLang, the largest real language: 15,000). Tokens cost ~130 bytes each while a
#: file is parsed, so this bounds memory, whatever the file holds.
MAX_TOKENS = 1_000_000


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
    detector_type: str | None
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
    causal_mode: str | None = None  # action or effect (newer MAL)
    append_reaches: list[Expr] | None = None  # A> / +A>
    append_overrides: bool = True
    remove_reaches: list[Expr] | None = None  # R> / +R>
    remove_overrides: bool = True


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
_REACHING = frozenset({"->", "+>", "A>", "+A>", "R>", "+R>"})

# Blanks and comments. Every repetition is possessive or atomic (Python 3.11 re): a comment never gives characters
# back, so a file ending in "// note" is not re-read as tokens, and no input makes the engine backtrack (each scan
# is linear). A "/*" that no "*/" closes is not skipped: it is matched as the token kind "unclosed" and reported.
_SKIP = r"(?:\s++|//[^\n]*+|/\*(?>.*?\*/))*+"
_SKIP_RE = re.compile(_SKIP, re.S)
# Each match is a token with the whitespace and comments before it, so blanks cost no match of their own.
_TOKEN = re.compile(
    _SKIP
    + r"""
    (?:(?P<string>"(?>[^"\\\n]++|\\.)*+")
    |(?P<unclosed>/\*)
    |(?P<op><--|-->|->|\+A>|\+R>|A>|R>|\+>|<-|!E(?![A-Za-z0-9_])|\\/|/\\|\.\.|[{}()\[\],.:=*|&#@!+\-/^])
    |(?P<id>[A-Za-z0-9_]++))
    """,
    re.S | re.X,
)


class _Tok(tuple):
    """(kind, text, start): kind is id, string, op or eof. A tuple: tokens are made by the ten thousand."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def text(self) -> str:
        return self[1]

    @property
    def start(self) -> int:
        return self[2]


class _Parser:
    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.tokens = self._tokenize()
        self.texts = [t[1] for t in self.tokens]
        self.kinds = [t[0] for t in self.tokens]
        self.i = 0
        self.depth = 0

    # -- tokens ---------------------------------------------------------------------------------------

    def _tokenize(self) -> list[_Tok]:
        text, end = self.text, len(self.text)
        tokens: list[_Tok] = []
        append = tokens.append
        # A scanner matches token after token, each where the last ended, and stops at the first place no token
        # starts (finditer would search on past it, which can rescan the rest of the file from every position).
        match = _TOKEN.scanner(text).match
        expected = 0
        while (m := match()) is not None:
            kind = m.lastgroup
            if kind == "unclosed":
                raise LangError(self.pos_at(m.start(kind)), "unclosed /* comment", "syntax")
            expected = m.end()
            append(_Tok((kind, m.group(kind), m.start(kind))))
            if len(tokens) > MAX_TOKENS:
                raise LangError(self.pos_at(m.start(kind)), f"more than {MAX_TOKENS:,} tokens in one file", "file")
        if expected != end:
            stop = _SKIP_RE.match(text, expected).end()
            if stop != end:  # not just blanks and comments after the last token
                self.tokens = tokens
                self._bad_character(stop)
        # Padding lets the parser look two tokens ahead without bounds checks.
        tokens.extend([_Tok(("eof", "", end))] * 3)
        return tokens

    def _bad_character(self, pos: int) -> None:
        if self.text[pos] == '"':
            raise LangError(self.pos_at(pos), "unterminated string", "syntax")
        # The character itself is shown only in a file that looks like MAL (see looks_like_mal).
        what = (
            f"unexpected character {self.text[pos]!r}"
            if self.looks_like_mal()
            else "not a MAL file: unexpected character"
        )
        raise LangError(self.pos_at(pos), what, "syntax")

    def looks_like_mal(self) -> bool:
        """Whether the file begins with a well-formed MAL declaration. Until it does, errors do not quote its
        text: an ``include`` of a file that is not MAL (/etc/passwd) must not echo what the file holds."""
        t = [(tok[0], tok[1]) for tok in self.tokens[:6]]
        t += [("eof", "")] * (6 - len(t))
        kinds, texts = [k for k, _ in t], [x for _, x in t]
        if texts[0] == "category":
            return kinds[1] == "id" and (texts[2] == "{" or (kinds[2] == "id" and texts[3] == "info"))
        if texts[0] == "associations":
            return texts[1] == "{"
        if texts[0] == "include":
            return kinds[1] == "string"
        if texts[0] == "#":  # "#id: "…"" followed by another declaration
            return (
                kinds[1] == "id"
                and texts[2] == ":"
                and kinds[3] == "string"
                and (texts[4] in ("#", "include", "category", "associations") or kinds[4] == "eof")
            )
        return False

    def pos_at(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset)
        return Pos(self.path, line, offset - self.line_starts[line - 1] + 1)

    def pos(self, tok: _Tok) -> Pos:
        return self.pos_at(tok.start)

    def peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[self.i + ahead]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        if tok[0] != "eof":
            self.i += 1
        return tok

    def at(self, text: str, ahead: int = 0) -> bool:
        # Strings never equal a keyword or operator: their text keeps its quotes.
        return self.texts[self.i + ahead] == text

    def error(self, expected: str, tok: _Tok | None = None) -> LangError:
        tok = tok or self.peek()
        if tok.kind == "eof":
            found = "end of file"
        elif tok.kind == "op" or self.looks_like_mal():
            found = repr(tok.text)
        else:  # say what kind of token, not its text (see looks_like_mal)
            found = "a name" if tok.kind == "id" else "a string"
            return LangError(self.pos(tok), f"not a MAL file: expected {expected}, found {found}", "syntax")
        return LangError(self.pos(tok), f"expected {expected}, found {found}", "syntax")

    def expect(self, text: str) -> _Tok:
        if not self.at(text):
            raise self.error(repr(text))
        return self.take()

    def ident(self, what: str = "a name") -> _Tok:
        tok = self.peek()
        if tok.kind != "id":
            raise self.error(what)
        return self.take()

    def string(self) -> str:
        tok = self.peek()
        if tok.kind != "string":
            raise self.error("a string")
        self.take()
        return tok.text[1:-1].replace('\\"', '"').replace("\\\\", "\\")

    # -- declarations ---------------------------------------------------------------------------------

    def file(self) -> FileDecl:
        decl = FileDecl(self.path)
        while self.peek().kind != "eof":
            if self.at("#"):
                self.take()
                key = self.ident("a define name such as id or version")
                self.expect(":")
                value = self.string()
                if key.text in decl.defines:
                    raise LangError(self.pos(key), f"#{key.text} is defined twice", "duplicate define")
                decl.defines[key.text] = (value, self.pos(key))
            elif self.at("include"):
                self.take()
                tok = self.peek()
                decl.includes.append((self.string(), self.pos(tok)))
            elif self.at("category"):
                decl.categories.append(self.category())
            elif self.at("associations"):
                decl.associations.extend(self.associations())
            else:
                raise self.error("'category', 'associations', 'include' or '#'")
        return decl

    def metas(self) -> list[Meta]:
        out = []
        while self.peek().kind == "id" and self.at("info", 1):
            key = self.take()
            self.take()
            self.expect(":")
            out.append(Meta(key.text, self.string(), self.pos(key)))
        return out

    def category(self) -> CategoryDecl:
        self.take()
        name = self.ident("a category name")
        meta = self.metas()
        self.expect("{")
        assets = []
        while not self.at("}"):
            if self.at("asset") or self.at("abstract"):
                asset = self.asset()
                asset.category = name.text
                assets.append(asset)
            else:
                raise self.error("'asset', 'abstract asset' or '}'")
        self.take()
        return CategoryDecl(name.text, self.pos(name), meta, assets)

    def asset(self) -> AssetDecl:
        abstract = False
        if self.at("abstract"):
            self.take()
            abstract = True
        self.expect("asset")
        name = self.ident("an asset name")
        asset = AssetDecl(name.text, "", self.pos(name), abstract=abstract)
        if self.at("extends"):
            self.take()
            parent = self.ident("the asset it extends")
            asset.extends, asset.extends_pos = parent.text, self.pos(parent)
        asset.meta = self.metas()
        self.expect("{")
        while not self.at("}"):
            if self.at("let"):
                asset.variables.append(self.variable())
            elif self.peek().text in _STEP_KINDS and self.peek().kind in ("op", "id"):
                asset.steps.append(self.step())
            else:
                raise self.error("an attack step (| & # E !E), 'let' or '}'")
        self.take()
        return asset

    def variable(self) -> VariableDecl:
        self.take()
        name = self.ident("a variable name")
        self.expect("=")
        return VariableDecl(name.text, self.expr(), self.pos(name))

    def step(self) -> StepDecl:
        kind = self.take()
        mode = None
        if self.peek().kind == "id" and self.peek().text in ("action", "effect") and self.peek(1).kind == "id":
            mode = self.take().text
        name = self.ident("an attack step name")
        step = StepDecl(_STEP_KINDS[kind.text], name.text, self.pos(kind))
        step.causal_mode = mode
        while self.at("@"):
            self.take()
            step.tags.append(self.ident("a tag").text)
        if self.at("{"):
            self.take()
            step.cia = []
            while not self.at("}"):
                tok = self.ident("C, I or A")
                if tok.text not in ("C", "I", "A"):
                    raise self.error("C, I or A", tok)
                step.cia.append(tok.text)
                if not self.at("}"):
                    self.expect(",")
            self.take()
        if self.at("["):
            step.ttc, step.ttc_pos = self.ttc_body()
        step.meta = self.metas()
        while self.at("!") and not self.at("!E"):
            step.detectors.append(self.detector())
        if self.at("<-"):
            self.take()
            step.requires = self.exprs()
        while self.peek().text in _REACHING:
            op = self.take().text
            exprs = self.exprs()
            if op in ("->", "+>"):
                step.reaches_overrides, step.reaches = op == "->", exprs
            elif op in ("A>", "+A>"):
                step.append_overrides, step.append_reaches = op == "A>", exprs
            else:
                step.remove_overrides, step.remove_reaches = op == "R>", exprs
        return step

    def ttc_body(self) -> tuple[str, Pos]:
        """The raw text between ``[`` and ``]``, re-synchronising the token stream after it."""
        open_tok = self.take()
        start = open_tok.start + 1
        close = self.text.find("]", start)
        if close < 0:
            raise LangError(self.pos(open_tok), "unclosed '[' of a TTC", "syntax")
        while self.peek().kind != "eof" and self.peek().start < close:
            self.take()
        self.expect("]")
        body = self.text[start:close]
        lead = len(body) - len(body.lstrip())
        return body.strip(), self.pos_at(start + lead)

    def detector(self) -> Detector:
        """``! name? ('(' asset label (',' asset label)* ')')? type? [rate]?``"""
        bang = self.take()
        name = self.take().text if self.peek().kind == "id" and not self.at("info", 1) else None
        context = []
        if self.at("("):
            self.take()
            while True:
                asset = self.ident("a context asset")
                label = self.ident("a context label")
                context.append((asset.text, label.text))
                if not self.at(","):
                    break
                self.take()
            self.expect(")")
        detector_type = None
        if self.peek().kind == "id" and not self.at("info", 1):
            detector_type = self.take().text
        tprate = self.ttc_body()[0] if self.at("[") else None
        return Detector(name, context, detector_type, tprate, self.pos(bang))

    def exprs(self) -> list[Expr]:
        out = [self.expr()]
        while self.at(","):
            self.take()
            out.append(self.expr())
        return out

    # -- step expressions -----------------------------------------------------------------------------

    # Each method returns the expression and the depth of its tree. The tree is what later stages walk
    # recursively, so its depth is bounded here (a.b.c… of 1,000 parts is 1,000 levels deep), as is the nesting
    # of parentheses, which this parser walks recursively itself.

    def expr(self) -> Expr:
        return self._expr()[0]

    def _deeper(self, depth: int, tok: _Tok) -> int:
        if depth > MAX_DEPTH:
            raise LangError(self.pos(tok), f"step expression nested deeper than {MAX_DEPTH} levels", "syntax")
        return depth

    def _expr(self) -> tuple[Expr, int]:
        self.depth += 1
        self._deeper(self.depth, self.peek())
        node, depth = self._parts()
        while self.peek().kind == "op" and self.peek().text in _SETOPS:
            op = self.take()
            rhs, rhs_depth = self._parts()
            node, depth = SetOp(self.pos(op), _SETOPS[op.text], node, rhs), self._deeper(max(depth, rhs_depth) + 1, op)
        self.depth -= 1
        return node, depth

    def _parts(self) -> tuple[Expr, int]:
        node, depth = self._part()
        while self.at("."):
            dot = self.take()
            rhs, rhs_depth = self._part()
            node, depth = Collect(node.pos, node, rhs), self._deeper(max(depth, rhs_depth) + 1, dot)
        return node, depth

    def _part(self) -> tuple[Expr, int]:
        tok = self.peek()
        depth = 1
        if self.at("("):
            self.take()
            node, depth = self._expr()
            self.expect(")")
        elif tok.kind == "id":
            self.take()
            if self.at("(") and self.at(")", 1):
                self.take()
                self.take()
                node = VarRef(self.pos(tok), tok.text)
            else:
                node = Name(self.pos(tok), tok.text)
        else:
            raise self.error("a field, a step, a variable() or '('")
        if self.at("*"):
            star = self.take()
            node, depth = Transitive(node.pos, node), self._deeper(depth + 1, star)
        while self.at("["):
            bracket = self.take()
            sub = self.ident("an asset name")
            self.expect("]")
            node, depth = SubType(node.pos, node, sub.text, self.pos(sub)), self._deeper(depth + 1, bracket)
        return node, depth

    # -- associations ---------------------------------------------------------------------------------

    def associations(self) -> list[AssociationDecl]:
        self.take()
        self.expect("{")
        out: list[AssociationDecl] = []
        while not self.at("}"):
            if self.peek().kind == "id" and self.at("info", 1):
                if not out:
                    raise LangError(self.pos(self.peek()), "association meta before any association", "syntax")
                out[-1].meta.extend(self.metas())
                continue
            out.append(self.association())
        self.take()
        return out

    def multiplicity(self) -> tuple[tuple[int, int | None], Pos]:
        first = self.peek()

        def atom() -> int | None:
            tok = self.take()
            if tok.text == "*":
                return None
            if tok.kind != "id" or not tok.text.isdigit():
                raise self.error("a multiplicity (0..1, 1, *, 1..*)", tok)
            return int(tok.text)

        low = atom()
        if self.at(".."):
            self.take()
            return ((low or 0), atom()), self.pos(first)
        return ((0, None) if low is None else (low, low)), self.pos(first)

    def association(self) -> AssociationDecl:
        left = self.ident("an asset name")
        self.expect("[")
        left_field = self.ident("a field name")
        self.expect("]")
        left_mult, left_mult_pos = self.multiplicity()
        self.expect("<--")
        name = self.ident("an association name")
        self.expect("-->")
        right_mult, right_mult_pos = self.multiplicity()
        self.expect("[")
        right_field = self.ident("a field name")
        self.expect("]")
        right = self.ident("an asset name")
        decl = AssociationDecl(
            left.text,
            left_field.text,
            left_mult,
            name.text,
            right_mult,
            right_field.text,
            right.text,
            self.pos(name),
            self.pos(left),
            self.pos(right),
            self.pos(left_field),
            self.pos(right_field),
            left_mult_pos,
            right_mult_pos,
        )
        decl.meta = self.metas()
        return decl


def parse_text(text: str, path: str) -> FileDecl:
    """Parse one MAL file's text; syntax errors raise :class:`LangError` with file:line:column and the text."""
    # A byte-order mark is not part of the first line: dropped, columns count from the first real character.
    return _Parser(text.removeprefix("\ufeff"), path).file()
