"""Compile MAL: resolve includes, check the language, and build a :class:`~breachpath.lang.spec.LanguageSpec`.

Checks, each reported as ``file:line:column: message`` (:class:`~breachpath.lang.syntax.LangError`): include not
found, include cycles, duplicate ``#id``/``#version``, duplicate assets, unknown or cyclic ``extends``,
associations naming unknown assets, bad multiplicities, duplicate fields, duplicate steps, steps overriding a
step of another type, ``+>`` with nothing to extend, ``<-`` on steps other than E/!E and E/!E without ``<-``,
unknown fields, steps and variables in step expressions, subtypes that are not subtypes, set operations and
transitive steps over unrelated assets, and malformed or invalid TTC expressions.

Untrusted input is bounded: includes stay in the entry file's directory tree (``allow_outside_includes`` lifts
that) and must be regular files of at most :data:`MAX_FILE_BYTES`; includes nest at most
:data:`MAX_INCLUDE_DEPTH` deep (followed with an explicit stack) and a language has at most :data:`MAX_INCLUDES`
files; ``extends`` chains, step expressions and TTC trees have depth limits far above real languages, and
inheritance is resolved once per asset, so long chains cost linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from breachpath.dist import BinaryOp, DistributionError, parse
from breachpath.errors import InputError
from breachpath.fileio import read_text
from breachpath.kb.text import attack_id_from_url
from breachpath.lang.spec import (
    MAX_EXPANDED_DEPTH,
    MAX_EXTENDS_DEPTH,
    Asset,
    Association,
    LanguageSpec,
    Step,
    check_expanded_depth,
)
from breachpath.lang.syntax import (
    MAX_DEPTH,
    AssetDecl,
    Collect,
    Expr,
    FileDecl,
    LangError,
    Name,
    Pos,
    SetOp,
    StepDecl,
    SubType,
    Transitive,
    VarRef,
    parse_text,
)

#: One MAL file (enterpriseLang, the largest real one: 0.4 MiB) and all files of a language together.
MAX_FILE_BYTES = 4 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
#: Files in a language and include nesting (coreLang: 8 files, 2 levels deep).
MAX_INCLUDES = 1000
MAX_INCLUDE_DEPTH = 64

_ATTACK_URL = re.compile(r"https?://attack\.mitre\.org/(?:techniques|mitigations)/[A-Z]+\d+(?:/\d{3})?/?")
_FILE_NAME = re.compile(r"[\w./-]+\.ya?ml\b")
_ATTACK_ID = re.compile(r"(?<![A-Za-z0-9])(T\d{4}(?:\.\d{3})?)(?![0-9])")
# enterpriseLang keeps TTCs in comments after the step name: "& maliciousLink //(0.712)*Exponential(1)]".
# Possessive: a long line without "//" is rejected in one pass, not retried at every split of its name.
_COMMENT_TTC = re.compile(r"^\s*+[|&#]\s*+(\w++)[^/\n]*+//\s*+(.+)$")


@dataclass
class _Open:
    """A file being loaded: its includes are visited one by one (an explicit stack, not recursion)."""

    path: Path
    resolved: Path
    decl: FileDecl
    text: str
    next_include: int = 0


def _shown(include: str) -> str:
    """An include's name for a one-line message: control characters escaped, a long one cut."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in include[:300])
    return shown + ("…" if len(include) > 300 else "")


def _resolve(path: Path, pos: Pos, include: str) -> Path:
    """Where an include leads, symlinks resolved; a symlink loop or a name no file can have is an error."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise LangError(pos, f'include "{_shown(include)}" cannot be followed ({exc})', "include") from None


def _read(path: Path, pos: Pos | None, include: str | None) -> str:
    """A MAL file's text: a regular file of bounded size (a device or FIFO fails at once), BOM dropped."""
    if include is not None:
        try:
            found = path.exists()
        except (OSError, ValueError) as exc:  # a name too long for the file system
            reason = getattr(exc, "strerror", None) or exc
            raise LangError(pos, f'include "{_shown(include)}" cannot be read ({reason})', "include") from None
        if not found:
            raise LangError(pos, f"include not found: {_shown(str(path))}", "include not found")
    try:
        return read_text(path, MAX_FILE_BYTES)
    except InputError as exc:
        message = f'include "{_shown(include)}": {exc}' if include is not None else str(exc)
        raise LangError(pos, message, "file") from None


def _load(entry: Path, allow_outside_includes: bool = False) -> list[tuple[FileDecl, str]]:
    """Parse ``entry`` and, depth first, every file it includes (relative to the including file).

    Includes stay inside the entry file's directory tree (after symlinks are resolved) unless
    ``allow_outside_includes``: a language cannot make the compiler read /etc/passwd or /dev/zero.
    """
    if not entry.exists():
        raise LangError(None, f"{entry}: no such MAL file", "include not found")
    root = entry.absolute().parent.resolve()
    files: list[tuple[FileDecl, str]] = []
    done: set[Path] = set()
    total = 0

    def open_file(path: Path, resolved: Path, pos: Pos | None, include: str | None) -> _Open:
        nonlocal total
        text = _read(path, pos, include)
        total += len(text)
        if total > MAX_TOTAL_BYTES:
            raise LangError(
                pos, f"the language's files are larger than {MAX_TOTAL_BYTES // 2**20} MiB together", "file"
            )
        try:
            decl = parse_text(text, str(path))
        except LangError as exc:
            if include is None:
                raise
            wrapped = LangError(None, f"{exc} (included at {pos})", exc.kind)
            wrapped.pos = exc.pos
            raise wrapped from None
        done.add(resolved)
        return _Open(path, resolved, decl, text)

    stack = [open_file(entry, entry.resolve(), None, None)]
    while stack:
        top = stack[-1]
        if top.next_include == len(top.decl.includes):
            stack.pop()
            files.append((top.decl, top.text))
            continue
        include, pos = top.decl.includes[top.next_include]
        top.next_include += 1
        path = top.path.parent / include
        resolved = _resolve(path, pos, include)
        if not allow_outside_includes and not resolved.is_relative_to(root):
            raise LangError(
                pos,
                f'include "{_shown(include)}" is outside {root}, the entry file\'s directory: '
                "allow it with --allow-outside-includes (allow_outside_includes=True)",
                "include outside",
            )
        chain = [f.resolved for f in stack]
        if resolved in chain:
            cycle = " → ".join(p.name for p in [*chain[chain.index(resolved) :], resolved])
            raise LangError(pos, f"include cycle: {cycle}", "include cycle")
        if resolved in done:
            continue
        if len(stack) >= MAX_INCLUDE_DEPTH:
            message = f'include "{_shown(include)}" nests includes more than {MAX_INCLUDE_DEPTH} deep'
            raise LangError(pos, message, "include")
        if len(done) >= MAX_INCLUDES:
            message = f'include "{_shown(include)}": more than {MAX_INCLUDES} files in the language'
            raise LangError(pos, message, "include")
        stack.append(open_file(path, resolved, pos, include))
    return files


def _comment_ttcs(text: str, path: str) -> dict[tuple[str, int], str]:
    """TTCs written in comments on step lines: {(file, line): MAL text}."""
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _COMMENT_TTC.match(line)
        if not match:
            continue
        # The text after "//" less trailing blanks and one "]" before them (the old pattern's "(.+?)\]?\s*$").
        body = match.group(2).rstrip()
        body = body.removesuffix("]") if len(body) > 1 else body
        body = body.strip().rstrip("]").strip()
        body = re.sub(r"^\((\d*\.?\d+)\)", r"Bernoulli(\1)", body)  # "(0.712)*Exponential(1)"
        try:
            found[(path, number)] = str(_parse_ttc(body))
        except DistributionError:
            continue
    return found


class _Compiler:
    def __init__(self, files: list[tuple[FileDecl, str]], ttc_from_comments: bool):
        self.files = files
        self.ttc_from_comments = ttc_from_comments
        self.spec = LanguageSpec({}, {}, {}, [], files=[d.path for d, _ in files])
        self.decls: dict[str, AssetDecl] = {}
        self.step_decls: dict[tuple[str, str], StepDecl] = {}
        self.warned: set[str] = set()
        self._steps_cache: dict[str, set[str]] = {}
        self._fields_cache: dict[str, dict] = {}

    def warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.spec.warnings.append(message)

    def run(self) -> LanguageSpec:
        comment_ttcs: dict[tuple[str, int], str] = {}
        define_pos: dict[str, Pos] = {}
        for decl, text in self.files:
            for key, (value, pos) in decl.defines.items():
                if key in self.spec.defines:
                    raise LangError(pos, f"#{key} is defined twice (first at {define_pos[key]})", "duplicate define")
                self.spec.defines[key], define_pos[key] = value, pos
            if self.ttc_from_comments:
                comment_ttcs.update(_comment_ttcs(text, decl.path))
        for decl, _ in self.files:
            for category in decl.categories:
                meta = self.spec.categories.setdefault(category.name, {})
                meta.update({m.key: m.value for m in category.meta})
                for asset in category.assets:
                    if asset.name in self.decls:
                        first = self.decls[asset.name].pos
                        raise LangError(
                            asset.pos, f"asset {asset.name} is defined twice (first at {first})", "duplicate asset"
                        )
                    self.decls[asset.name] = asset
        for decl in self.decls.values():
            if decl.extends and decl.extends not in self.decls:
                raise LangError(
                    decl.extends_pos, f"asset {decl.name} extends undefined asset {decl.extends}", "undefined asset"
                )
        self._check_extends()
        for decl in self.decls.values():
            self.spec.assets[decl.name] = Asset(
                decl.name,
                decl.category,
                abstract=decl.abstract,
                extends=decl.extends,
                meta={m.key: m.value for m in decl.meta},
                location=str(decl.pos),
            )
        self._associations()
        # Parents first, so that overrides and +> see the steps they inherit.
        for decl in sorted(self.decls.values(), key=lambda d: self.depth[d.name]):
            self._steps(decl, comment_ttcs)  # steps(parent) is complete here, and cached as such
        for decl in self.decls.values():
            self._variables(decl)
        for decl in self.decls.values():
            self._check_expressions(decl)
        self.spec.clear_caches()  # requires and reaches were filled in after steps were first resolved
        too_deep = check_expanded_depth(self.spec)
        if too_deep:  # graph building expands variables by name, across assets: bound that walk too
            asset, what, depth = too_deep
            raise LangError(
                self.decls[asset].pos,
                f"{asset} {what}: step expression {depth} levels deep with its variables expanded "
                f"(more than {MAX_EXPANDED_DEPTH})",
                "too deep",
            )
        return self.spec

    def _check_extends(self) -> None:
        """Cycles and over-long chains of ``extends``, each asset's depth computed once (linear time)."""
        self.depth: dict[str, int] = {}
        for decl in self.decls.values():
            chain: list[str] = []  # assets whose depth is not known yet, from decl upwards
            on_chain: set[str] = set()
            name: str | None = decl.name
            while name is not None and name not in self.depth:
                if name in on_chain:
                    cycle = [*chain[chain.index(name) :], name]
                    start = self.decls[cycle[0]]
                    raise LangError(start.extends_pos, f"cyclic inheritance: {' → '.join(cycle)}", "cyclic inheritance")
                chain.append(name)
                on_chain.add(name)
                name = self.decls[name].extends
            depth = 0 if name is None else self.depth[name]
            for member in reversed(chain):
                depth += 1
                if depth > MAX_EXTENDS_DEPTH:
                    raise LangError(
                        self.decls[member].extends_pos,
                        f"asset {member} extends a chain of more than {MAX_EXTENDS_DEPTH} assets",
                        "extends too deep",
                    )
                self.depth[member] = depth

    def _associations(self) -> None:
        for decl, _ in self.files:
            for a in decl.associations:
                for asset, pos in ((a.left_asset, a.left_pos), (a.right_asset, a.right_pos)):
                    if asset not in self.decls:
                        raise LangError(pos, f"association {a.name} names undefined asset {asset}", "undefined asset")
                for (low, high), pos in ((a.left_mult, a.left_mult_pos), (a.right_mult, a.right_mult_pos)):
                    if high is not None and (low > high or high == 0):
                        raise LangError(
                            pos, f"association {a.name} has a bad multiplicity {low}..{high}", "bad multiplicity"
                        )
                self.spec.associations.append(
                    Association(
                        a.name,
                        a.left_asset,
                        a.left_field,
                        a.left_mult,
                        a.right_asset,
                        a.right_field,
                        a.right_mult,
                        {m.key: m.value for m in a.meta},
                    )
                )
        # A field name must be unique on each asset, counting inherited fields. Only the associations that touch
        # the asset's lineage are looked at (in declaration order), so this is not assets × associations.
        pairs = list(zip(self.spec.associations, (x for d, _ in self.files for x in d.associations), strict=True))
        touching: dict[str, list[int]] = {}
        for i, (assoc, _) in enumerate(pairs):
            touching.setdefault(assoc.left_asset, []).append(i)
            if assoc.right_asset != assoc.left_asset:
                touching.setdefault(assoc.right_asset, []).append(i)
        for asset in self.decls:
            seen: dict[str, str] = {}
            lineage = set(self.spec.ancestors(asset))
            indices = sorted({i for member in lineage for i in touching.get(member, ())})
            for assoc, a in (pairs[i] for i in indices):
                for owner, field_name, pos in (
                    (assoc.left_asset, assoc.right_field, a.right_field_pos),
                    (assoc.right_asset, assoc.left_field, a.left_field_pos),
                ):
                    if owner in lineage:
                        if field_name in seen and seen[field_name] != assoc.name + owner:
                            raise LangError(pos, f"field {field_name} is defined twice on {asset}", "duplicate field")
                        seen[field_name] = assoc.name + owner

    def _steps(self, decl: AssetDecl, comment_ttcs: dict) -> None:
        asset = self.spec.assets[decl.name]
        parent_steps = self.spec.steps(decl.extends) if decl.extends else {}
        for s in decl.steps:
            if s.name in asset.steps:
                first = self.step_decls[(decl.name, s.name)].pos
                raise LangError(
                    s.pos, f"attack step {decl.name}.{s.name} is defined twice (first at {first})", "duplicate step"
                )
            inherited = parent_steps.get(s.name)
            if inherited is not None and inherited.kind != s.kind:
                raise LangError(
                    s.pos,
                    f"{decl.name}.{s.name} ({s.kind}) overrides {inherited.asset}.{s.name} of another type ({inherited.kind})",
                    "override type",
                )
            appends = [op for op, given, overrides in (
                ("+>", s.reaches, s.reaches_overrides),
                ("+A>", s.append_reaches, s.append_overrides),
                ("+R>", s.remove_reaches, s.remove_overrides),
            ) if given is not None and not overrides]  # fmt: skip
            if appends and inherited is None:
                raise LangError(
                    s.pos,
                    f"{decl.name}.{s.name} uses {appends[0]} but no super-asset has a step {s.name} to extend",
                    "nothing to extend",
                )
            if s.causal_mode or s.append_reaches is not None or s.remove_reaches is not None:
                self.warn_once(
                    "effects",
                    "action/effect step modes and A>/R> effects are parsed and kept; the engine does not act on them yet",
                )
            if s.requires is not None and s.kind not in ("exist", "notExist"):
                raise LangError(
                    s.pos,
                    f"{decl.name}.{s.name}: only E and !E steps take requirements (<-)",
                    "requires on non-existence",
                )
            if s.kind in ("exist", "notExist") and not s.requires:
                raise LangError(
                    s.pos,
                    f"{decl.name}.{s.name}: an existence step needs requirements (<-)",
                    "existence without requires",
                )
            ttc, from_comment = s.ttc, False
            if ttc is not None:
                if not ttc:
                    raise LangError(s.pos, f"{decl.name}.{s.name}: empty TTC []", "ttc")
                try:
                    ttc = str(_parse_ttc(ttc))
                except DistributionError as exc:
                    column = s.ttc_pos.column + (exc.column or 1) - 1
                    message = str(exc).split(": ", 1)[-1]
                    raise LangError(
                        Pos(s.ttc_pos.file, s.ttc_pos.line, column), f"invalid TTC: {message}", "ttc"
                    ) from None
            elif (s.pos.file, s.pos.line) in comment_ttcs:
                ttc, from_comment = comment_ttcs[(s.pos.file, s.pos.line)], True
            if s.detectors:
                self.warn_once(
                    "detectors", "detectors (!name(...)) are parsed and kept; the engine does not act on them yet"
                )
            meta = {m.key: m.value for m in s.meta}
            asset.steps[s.name] = Step(
                name=s.name,
                kind=s.kind,
                asset=decl.name,
                tags=s.tags,
                cia=s.cia,
                ttc=ttc,
                ttc_from_comment=from_comment,
                meta=meta,
                requires=None,
                reaches=None,
                reaches_overrides=s.reaches_overrides,
                attack_ids=_attack_ids(meta),
                detectors=[
                    {
                        "name": d.name,
                        "context": [list(c) for c in d.context],
                        "type": d.detector_type,
                        "tprate": d.tprate,
                    }
                    for d in s.detectors
                ],
                location=str(s.pos),
                causal_mode=s.causal_mode,
            )
            self.step_decls[(decl.name, s.name)] = s
        if any(st.ttc_from_comment for st in asset.steps.values()):
            self.warn_once(
                "comment-ttc",
                "some TTCs were read from comments (--ttc-from-comments); they are marked ttc_from_comment",
            )

    def _variables(self, decl: AssetDecl) -> None:
        asset = self.spec.assets[decl.name]
        for v in decl.variables:
            if v.name in asset.variables:
                raise LangError(v.pos, f"variable {v.name} is defined twice in {decl.name}", "duplicate variable")
            asset.variables[v.name] = _expr_json(v.expr, last_is_step=False)

    # -- step expressions ---------------------------------------------------------------------------

    def _check_expressions(self, decl: AssetDecl) -> None:
        asset = self.spec.assets[decl.name]
        for v in decl.variables:
            self._type_of(v.expr, decl.name, set())
        for s in decl.steps:
            step = asset.steps[s.name]
            if s.requires is not None:
                for e in s.requires:
                    self._type_of(e, decl.name, set())
                step.requires = [_expr_json(e, last_is_step=False) for e in s.requires]
            if s.reaches is not None:
                for e in s.reaches:
                    self._check_reach(e, decl.name)
                step.reaches = [_expr_json(e, last_is_step=True) for e in s.reaches]
            for exprs, overrides, attr in (
                (s.append_reaches, s.append_overrides, "append_reaches"),
                (s.remove_reaches, s.remove_overrides, "remove_reaches"),
            ):
                if exprs is not None:
                    for e in exprs:
                        self._check_reach(e, decl.name)
                    expressions = [_expr_json(e, last_is_step=True) for e in exprs]
                    setattr(step, attr, {"overrides": overrides, "stepExpressions": expressions})

    def _check_reach(self, expr: Expr, asset: str) -> None:
        """A reach ends in an attack step of the asset its path leads to."""
        if isinstance(expr, Name):
            self._step_in(expr, asset)
        elif isinstance(expr, Collect):
            target = self._type_of(expr.lhs, asset, set())
            if isinstance(expr.rhs, Name):
                self._step_in(expr.rhs, target)
            else:
                self._check_reach(expr.rhs, target)
        else:
            raise LangError(expr.pos, "a reach must end in an attack step (asset.path.step)", "reach without step")

    def _step_in(self, name: Name, asset: str) -> None:
        if name.name not in self._visible_steps(asset):
            on_subtype = any(name.name in self._visible_steps(sub) for sub in self.spec.subtypes(asset))
            hint = " (it exists only on a subtype: use a subtype filter [Type])" if on_subtype else ""
            raise LangError(name.pos, f"{asset} has no attack step {name.name}{hint}", "unknown step")

    def _visible_steps(self, asset: str) -> set[str]:
        """Step names an asset has, its own and inherited (cached: asked once per reach)."""
        found = self._steps_cache.get(asset)
        if found is None:
            found = {s.name for a in self.spec.ancestors(asset) for s in self.decls[a].steps}
            self._steps_cache[asset] = found
        return found

    def _fields(self, asset: str):
        found = self._fields_cache.get(asset)
        if found is None:
            found = self._fields_cache[asset] = self.spec.fields(asset)
        return found

    def _type_of(self, expr: Expr, asset: str, variables: set[str], depth: int = 0) -> str:
        """The asset type an expression leads to from ``asset`` (``depth``: levels walked, variables expanded)."""
        if depth > MAX_EXPANDED_DEPTH:
            raise LangError(
                expr.pos,
                f"step expression nested deeper than {MAX_EXPANDED_DEPTH} levels with its variables expanded",
                "too deep",
            )
        depth += 1
        if isinstance(expr, Name):
            fields = self._fields(asset)
            if expr.name not in fields:
                raise LangError(expr.pos, f"{asset} has no field {expr.name}", "unknown field")
            return fields[expr.name].target
        if isinstance(expr, VarRef):
            found = self.spec.variable(asset, expr.name)
            if found is None:
                raise LangError(expr.pos, f"{asset} has no variable {expr.name}", "unknown variable")
            if (asset, expr.name) in variables:
                raise LangError(expr.pos, f"variable {expr.name} refers to itself", "recursive variable")
            owner = found[0]
            decl = next(v for v in self.decls[owner].variables if v.name == expr.name)
            return self._type_of(decl.expr, asset, variables | {(asset, expr.name)}, depth)
        if isinstance(expr, Collect):
            return self._type_of(expr.rhs, self._type_of(expr.lhs, asset, variables, depth), variables, depth)
        if isinstance(expr, SetOp):
            left = self._type_of(expr.lhs, asset, variables, depth)
            right = self._type_of(expr.rhs, asset, variables, depth)
            common = self._common(left, right)
            if common is None:
                raise LangError(
                    expr.pos, f"{expr.op} of unrelated assets {left} and {right}", "unrelated set operation"
                )
            return common
        if isinstance(expr, Transitive):
            target = self._type_of(expr.inner, asset, variables, depth)
            if not (self.spec.is_subtype(target, asset) or self.spec.is_subtype(asset, target)):
                raise LangError(expr.pos, f"transitive step from {asset} leads to unrelated {target}", "bad transitive")
            return self._common(asset, target) or asset
        if isinstance(expr, SubType):
            inner = self._type_of(expr.inner, asset, variables, depth)
            if expr.subtype not in self.decls:
                raise LangError(
                    expr.subtype_pos, f"undefined asset {expr.subtype} in subtype filter", "undefined asset"
                )
            if not self.spec.is_subtype(expr.subtype, inner):
                raise LangError(expr.subtype_pos, f"{expr.subtype} is not a subtype of {inner}", "not a subtype")
            return expr.subtype
        raise AssertionError(expr)

    def _common(self, a: str, b: str) -> str | None:
        ancestors_b = set(self.spec.ancestors(b))
        return next((x for x in self.spec.ancestors(a) if x in ancestors_b), None)


def _parse_ttc(text: str) -> object:
    """A TTC expression whose operator tree is at most :data:`MAX_DEPTH` deep (real TTCs: 2), else a
    DistributionError: 1+1+…+1 of a thousand terms is short text but a tree too deep to print, sample or write as
    a langspec. ``^`` chains are refused before parsing (the parser recurses once per ``^``)."""
    if text.count("^") > MAX_DEPTH:
        raise DistributionError(f"expression nested deeper than {MAX_DEPTH} levels (too many ^)")
    node = parse(text)
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DistributionError(f"expression nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, BinaryOp):
            stack += [(item.left, depth + 1), (item.right, depth + 1)]
    return node


def _attack_ids(meta: dict[str, str]) -> list[str]:
    found: list[str] = []
    for value in meta.values():
        for url in _ATTACK_URL.findall(value):
            attack_id = attack_id_from_url(url)
            if attack_id and attack_id not in found:
                found.append(attack_id)
        # Ids written in the text; those inside URLs are the URLs' (T1078/002 is T1078.002, not also T1078), and
        # a file an info names is no tag ("TTC: estimate estimates/T1566.yaml" says where a time comes from).
        for attack_id in _ATTACK_ID.findall(_FILE_NAME.sub(" ", _ATTACK_URL.sub(" ", value))):
            if attack_id not in found:
                found.append(attack_id)
    return found


def _expr_json(expr: Expr, last_is_step: bool) -> dict:
    """An expression in the langspec layout; in a reach, the final name is an attack step."""
    if isinstance(expr, Name):
        return {"type": "attackStep" if last_is_step else "field", "name": expr.name}
    if isinstance(expr, VarRef):
        return {"type": "variable", "name": expr.name}
    if isinstance(expr, Collect):
        return {"type": "collect", "lhs": _expr_json(expr.lhs, False), "rhs": _expr_json(expr.rhs, last_is_step)}
    if isinstance(expr, SetOp):
        return {"type": expr.op, "lhs": _expr_json(expr.lhs, False), "rhs": _expr_json(expr.rhs, False)}
    if isinstance(expr, Transitive):
        return {"type": "transitive", "stepExpression": _expr_json(expr.inner, False)}
    if isinstance(expr, SubType):
        return {"type": "subType", "subType": expr.subtype, "stepExpression": _expr_json(expr.inner, False)}
    raise AssertionError(expr)


def compile_file(
    path: Path | str, ttc_from_comments: bool = False, allow_outside_includes: bool = False
) -> LanguageSpec:
    """Compile a MAL language from its entry file (``include`` resolved relative to each file, and kept inside
    the entry file's directory tree unless ``allow_outside_includes``).

    A language compiled before whose files are unchanged is loaded from the cache (:mod:`breachpath.lang.cache`;
    ``BREACHPATH_CACHE=off`` turns it off); what is loaded equals what the compile gives, warnings included."""
    from breachpath.lang import cache

    path = Path(path)
    options = {"ttc_from_comments": ttc_from_comments, "allow_outside_includes": allow_outside_includes}
    cached = cache.load(path, options)
    if cached is not None:
        return cached
    files = _load(path, allow_outside_includes)
    spec = _Compiler(files, ttc_from_comments).run()
    cache.store(path, options, [(decl.path, text) for decl, text in files], spec)
    return spec


def compile_text(text: str, path: str = "<text>") -> LanguageSpec:
    """Compile one MAL file given as text (no includes)."""
    decl = parse_text(text, path)
    if decl.includes:
        raise LangError(decl.includes[0][1], "include needs a file on disk: use compile_file", "include")
    return _Compiler([(decl, text)], False).run()
