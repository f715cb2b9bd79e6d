"""Pages for `breachpath lang show`: the assets of a compiled language, an asset, or a step, inheritance resolved.

A name that is not in the language gets the nearest names (:func:`difflib.get_close_matches`, Ratcliff/Obershelp
similarity) or, when none is close, the list of valid ones.
"""

from __future__ import annotations

import difflib

from breachpath.errors import NotFoundError
from breachpath.lang.provenance import provenance_label, ttc_provenance
from breachpath.lang.spec import LanguageSpec, Step


def expr_text(expr: dict) -> str:
    """A langspec step expression back in MAL syntax."""
    kind = expr["type"]
    if kind in ("field", "attackStep"):
        return expr["name"]
    if kind == "variable":
        return f"{expr['name']}()"
    if kind == "collect":
        return f"{expr_text(expr['lhs'])}.{expr_text(expr['rhs'])}"
    if kind in ("union", "intersection", "difference"):
        op = {"union": "\\/", "intersection": "/\\", "difference": "-"}[kind]
        return f"({expr_text(expr['lhs'])} {op} {expr_text(expr['rhs'])})"
    if kind == "transitive":
        return f"({expr_text(expr['stepExpression'])})*"
    if kind == "subType":
        return f"{expr_text(expr['stepExpression'])}[{expr['subType']}]"
    return str(expr)


#: Valid names listed in an error when none is close to the one given (more are summarised by their count).
_LISTED = 40


def suggest(name: str, valid: list[str], what: str = "names") -> str:
    """``did you mean X?`` for the nearest valid names (a different case first), else the valid names."""
    same_case = [v for v in valid if v.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(close)}?"
    if not valid:
        return f"it has no {what}"
    shown = ", ".join(sorted(valid)[:_LISTED])
    return f"valid {what}: {shown}" + (f" (and {len(valid) - _LISTED} more)" if len(valid) > _LISTED else "")


def _asset(spec: LanguageSpec, name: str):
    if name not in spec.assets:
        hint = suggest(name, list(spec.assets), "assets")
        raise NotFoundError(f"{name}: no such asset in the language; {hint}")
    return spec.assets[name]


def assets_page(spec: LanguageSpec) -> dict:
    """Every asset of the language: category, abstract, what it extends, its attack steps with inherited ones."""
    return {
        "type": "assets",
        "language": {"id": spec.defines.get("id"), "version": spec.defines.get("version")},
        "assets": [
            {
                "name": asset.name,
                "category": asset.category,
                "abstract": asset.abstract,
                "extends": asset.extends,
                "steps": len(spec.steps(asset.name)),
            }
            for asset in spec.assets.values()
        ],
    }


def _step_dict(step: Step) -> dict:
    return {
        "name": step.name,
        "type": step.kind,
        "declared_in": step.asset,
        "tags": step.tags,
        "cia": step.cia,
        "ttc": step.ttc,
        "ttc_from_comment": step.ttc_from_comment,
        "ttc_source": ttc_provenance(step),
        "meta": step.meta,
        "attack_ids": step.attack_ids,
        "requires": [expr_text(e) for e in step.requires or []],
        "reaches": [expr_text(e) for e in step.reaches or []],
        "location": step.location,
    }


def asset_page(spec: LanguageSpec, name: str) -> dict:
    asset = _asset(spec, name)
    return {
        "type": "asset",
        "name": asset.name,
        "category": asset.category,
        "abstract": asset.abstract,
        "extends": spec.ancestors(name)[1:],
        "subtypes": [a for a in spec.subtypes(name) if a != name],
        "meta": asset.meta,
        "fields": {
            f.name: {"target": f.target, "multiplicity": list(f.multiplicity), "association": f.association}
            for f in spec.fields(name).values()
        },
        "variables": {
            n: expr_text(e) for a in reversed(spec.ancestors(name)) for n, e in spec.assets[a].variables.items()
        },
        "steps": [_step_dict(s) for s in spec.steps(name).values()],
        "location": asset.location,
    }


def step_page(spec: LanguageSpec, asset_name: str, step_name: str) -> dict:
    _asset(spec, asset_name)
    steps = spec.steps(asset_name)
    if step_name not in steps:
        hint = suggest(step_name, list(steps), "attack steps")
        raise NotFoundError(f"{asset_name} has no attack step {step_name!r}; {hint}")
    page = _step_dict(steps[step_name])
    page["type_of_page"] = "step"
    page["asset"] = asset_name
    return page


def render_lang_page(page: dict) -> str:
    if page.get("type_of_page") == "step":
        return _render_step(page, f"# {page['asset']}.{page['name']}") + "\n"
    if page.get("type") == "assets":
        title = " ".join(str(v) for v in page["language"].values() if v) or "the language"
        lines = [f"# Assets of {title} ({len(page['assets'])})", ""]
        for a in page["assets"]:
            notes = (
                [a["category"]]
                + (["abstract"] if a["abstract"] else [])
                + ([f"extends {a['extends']}"] if a["extends"] else [])
            )
            steps = f"{a['steps']} attack step" + ("" if a["steps"] == 1 else "s")
            lines.append(f"- {a['name']} ({'; '.join(n for n in notes if n)}): {steps}")
        return "\n".join(lines) + "\n"
    lines = [f"# {page['name']}" + (" (abstract)" if page["abstract"] else ""), ""]
    if page["extends"]:
        lines.append(f"Extends: {' → '.join(page['extends'])}")
    if page["subtypes"]:
        lines.append(f"Subtypes: {', '.join(page['subtypes'])}")
    lines.append(f"Category: {page['category']}")
    lines += [f"{k}: {v}" for k, v in page["meta"].items()]
    lines += ["", "## Fields"]
    for name, f in page["fields"].items():
        low, high = f["multiplicity"]
        lines.append(f"- {name} → {f['target']} [{low}..{'*' if high is None else high}] ({f['association']})")
    if page["variables"]:
        lines += ["", "## Variables", *(f"- let {n} = {e}" for n, e in page["variables"].items())]
    lines += ["", f"## Attack steps ({len(page['steps'])})"]
    for step in page["steps"]:
        lines.append(_render_step(step, "###"))
    return "\n".join(lines) + "\n"


_SYMBOLS = {"or": "|", "and": "&", "defense": "#", "exist": "E", "notExist": "!E"}


def _render_step(step: dict, heading: str) -> str:
    title = heading if heading.startswith("# ") else f"{heading} {_SYMBOLS[step['type']]} {step['name']}"
    if heading.startswith("# "):
        title += f" ({_SYMBOLS[step['type']]} {step['type']})"
    parts = [title]
    extras = []
    if step["declared_in"]:
        extras.append(f"declared in {step['declared_in']}")
    source = step.get("ttc_source")
    if step["ttc"]:
        notes = (["from a comment"] if step["ttc_from_comment"] else []) + ([source["kind"]] if source else [])
        extras.append(f"TTC {step['ttc']}" + (f" ({'; '.join(notes)})" if notes else ""))
    if step["tags"]:
        extras.append(" ".join(f"@{t}" for t in step["tags"]))
    if step["cia"]:
        extras.append("{" + ",".join(step["cia"]) + "}")
    if step["attack_ids"]:
        extras.append("ATT&CK " + ", ".join(step["attack_ids"]))
    parts.append("; ".join(extras))
    if source and heading.startswith("# "):  # a step's own page: where its TTC comes from, in full
        parts.append(f"TTC source: {provenance_label(source)}")
    parts += [f"{k}: {v}" for k, v in step["meta"].items()]
    parts += [f"<- {e}" for e in step["requires"]]
    parts += [f"-> {e}" for e in step["reaches"]]
    return "\n".join(parts) + "\n"
