"""Compile MAL: resolve includes, check the language, and build a :class:`~breachpath.lang.spec.LanguageSpec`.

Checks, each reported as ``file:line:column: message`` (:class:`~breachpath.lang.syntax.LangError`): include not
found, include cycles, duplicate ``#id``/``#version``, duplicate assets, unknown or cyclic ``extends``,
associations naming unknown assets, bad multiplicities, duplicate fields, duplicate steps, steps overriding a
step of another type, ``+>`` with nothing to extend, ``<-`` on steps other than E/!E and E/!E without ``<-``,
unknown fields, steps and variables in step expressions, subtypes that are not subtypes, set operations and
transitive steps over unrelated assets, and malformed or invalid TTC expressions.
"""

from __future__ import annotations

import re
from pathlib import Path

from breachpath.dist import DistributionError, parse
from breachpath.kb.text import attack_id_from_url
from breachpath.lang.spec import Asset, Association, LanguageSpec, Step
from breachpath.lang.syntax import (
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

MAX_FILE_BYTES = 16 * 2**20
MAX_INCLUDES = 1000

_ATTACK_URL = re.compile(r"https?://attack\.mitre\.org/(?:techniques|mitigations)/[A-Z]+\d+(?:/\d{3})?/?")
_ATTACK_ID = re.compile(r"(?<![A-Za-z0-9])(T\d{4}(?:\.\d{3})?)(?![0-9])")
# enterpriseLang keeps TTCs in comments after the step name: "& maliciousLink //(0.712)*Exponential(1)]"
_COMMENT_TTC = re.compile(r"^\s*[|&#]\s*(\w+)[^/\n]*//\s*(.+?)\]?\s*$")


def _read(path: Path, pos: Pos | None) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LangError(pos, f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB", "file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LangError(pos, f"include not found: {path}", "include not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LangError(pos, f"cannot read {path} ({exc})", "file") from None


def _load(entry: Path) -> list[tuple[FileDecl, str]]:
    """Parse ``entry`` and, depth first, every file it includes (relative to the including file)."""
    files: list[tuple[FileDecl, str]] = []
    done: set[Path] = set()

    def visit(path: Path, stack: list[Path], pos: Pos | None) -> None:
        resolved = path.resolve()
        if resolved in stack:
            cycle = " → ".join(p.name for p in [*stack[stack.index(resolved) :], resolved])
            raise LangError(pos, f"include cycle: {cycle}", "include cycle")
        if resolved in done:
            return
        if len(done) >= MAX_INCLUDES:
            raise LangError(pos, f"more than {MAX_INCLUDES} included files", "include")
        text = _read(path, pos)
        decl = parse_text(text, str(path))
        done.add(resolved)
        for include, include_pos in decl.includes:
            visit(path.parent / include, [*stack, resolved], include_pos)
        files.append((decl, text))

    if not entry.is_file():
        raise LangError(None, f"{entry}: no such MAL file", "include not found")
    visit(entry, [], None)
    return files


def _comment_ttcs(text: str, path: str) -> dict[tuple[str, int], str]:
    """TTCs written in comments on step lines: {(file, line): MAL text}."""
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _COMMENT_TTC.match(line)
        if not match:
            continue
        body = match.group(2).strip().rstrip("]").strip()
        body = re.sub(r"^\((\d*\.?\d+)\)", r"Bernoulli(\1)", body)  # "(0.712)*Exponential(1)"
        try:
            found[(path, number)] = str(parse(body))
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
        for decl in self.decls.values():
            self._check_cycle(decl)
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
        for decl in sorted(self.decls.values(), key=lambda d: len(self.spec.ancestors(d.name))):
            self._steps(decl, comment_ttcs)
        for decl in self.decls.values():
            self._variables(decl)
        for decl in self.decls.values():
            self._check_expressions(decl)
        return self.spec

    def _check_cycle(self, decl: AssetDecl) -> None:
        seen = [decl.name]
        current = decl
        while current.extends:
            if current.extends in seen:
                chain = " → ".join([*seen[seen.index(current.extends) :], current.extends])
                raise LangError(decl.extends_pos, f"cyclic inheritance: {chain}", "cyclic inheritance")
            seen.append(current.extends)
            current = self.decls[current.extends]

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
        # A field name must be unique on each asset, counting inherited fields.
        for asset in self.decls:
            seen: dict[str, str] = {}
            lineage = set(self.spec.ancestors(asset))
            for assoc, a in zip(
                self.spec.associations, (x for d, _ in self.files for x in d.associations), strict=True
            ):
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
                    ttc = str(parse(ttc))
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

    def _type_of(self, expr: Expr, asset: str, variables: set[str]) -> str:
        """The asset type an expression leads to from ``asset``."""
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
            return self._type_of(decl.expr, asset, variables | {(asset, expr.name)})
        if isinstance(expr, Collect):
            return self._type_of(expr.rhs, self._type_of(expr.lhs, asset, variables), variables)
        if isinstance(expr, SetOp):
            left = self._type_of(expr.lhs, asset, variables)
            right = self._type_of(expr.rhs, asset, variables)
            common = self._common(left, right)
            if common is None:
                raise LangError(
                    expr.pos, f"{expr.op} of unrelated assets {left} and {right}", "unrelated set operation"
                )
            return common
        if isinstance(expr, Transitive):
            target = self._type_of(expr.inner, asset, variables)
            if not (self.spec.is_subtype(target, asset) or self.spec.is_subtype(asset, target)):
                raise LangError(expr.pos, f"transitive step from {asset} leads to unrelated {target}", "bad transitive")
            return self._common(asset, target) or asset
        if isinstance(expr, SubType):
            inner = self._type_of(expr.inner, asset, variables)
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


def _attack_ids(meta: dict[str, str]) -> list[str]:
    found: list[str] = []
    for value in meta.values():
        for url in _ATTACK_URL.findall(value):
            attack_id = attack_id_from_url(url)
            if attack_id and attack_id not in found:
                found.append(attack_id)
        # Ids written in the text; those inside URLs are the URLs' (T1078/002 is T1078.002, not also T1078).
        for attack_id in _ATTACK_ID.findall(_ATTACK_URL.sub(" ", value)):
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


def compile_file(path: Path | str, ttc_from_comments: bool = False) -> LanguageSpec:
    """Compile a MAL language from its entry file (``include`` resolved relative to each file)."""
    return _Compiler(_load(Path(path)), ttc_from_comments).run()


def compile_text(text: str, path: str = "<text>") -> LanguageSpec:
    """Compile one MAL file given as text (no includes)."""
    decl = parse_text(text, path)
    if decl.includes:
        raise LangError(decl.includes[0][1], "include needs a file on disk: use compile_file", "include")
    return _Compiler([(decl, text)], False).run()
