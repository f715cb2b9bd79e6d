"""MAL for attacklang's technique layer: attacker states whose doors are ATT&CK techniques, gated by mitigations.

For one asset type, :func:`render_states` writes, per state, an attempt step (what hand-written steps lead to) whose
children are the state's doors, one AND step per technique with the attempt and every gating mitigation's
"bypassed" step as parents, each leading to the state. :func:`render_mitigations` writes each gating mitigation
once per asset type: the defense (off unless a model switches it on), ``defeat… [Bernoulli(1 − effectiveness)]``
reached from every attempt it gates, and the bypassed step.

The doors take no time: the state keeps its own calibrated TTC (written by hand beside it), so a state reached
through 30 doors is no faster than through 3 (DESIGN.md, "time lives in the state; techniques are the doors").
Closing a door is a mitigation that holds; closing them all makes the state unreachable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from breachpath.langs.techniques import Door


@dataclass(frozen=True)
class Effectiveness:
    """A mitigation's effectiveness and where it comes from (an estimate file, or the stated default)."""

    value: float
    source: str


#: A mitigation without evidence: the uninformed Beta(1, 1) prior's mean, said as such.
DEFAULT_EFFECTIVENESS = Effectiveness(0.5, "No evidence in the catalog: the uninformed Beta(1, 1) prior's 50%.")


def camel(text: str) -> str:
    """A MAL identifier in lower camel case from a technique or mitigation name ("OS Credential Dumping" →
    "osCredentialDumping", "Command and Scripting Interpreter: PowerShell" → "commandAndScriptingInterpreterPowerShell")."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    if not words:
        raise ValueError(f"no identifier in {text!r}")
    ident = words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])
    return ident if ident[0].isalpha() else f"t{ident}"


def attack_url(attack_id: str) -> str:
    kind = "mitigations" if attack_id.startswith("M") else "techniques"
    return f"https://attack.mitre.org/{kind}/{attack_id.replace('.', '/')}/"


def attempt_step(state: str) -> str:
    return f"{state}Attempt"


def door_step(state: str, door: Door, full_name: str) -> str:
    """``credentialAccessViaOsCredentialDumpingLsassMemory``: a technique can open several states on one asset
    (Scheduled Task: execution, persistence, privilege escalation), so the state is part of the name."""
    name = camel(full_name)
    return f"{state}Via{name[0].upper()}{name[1:]}"


def gate_steps(gate: str, name: str) -> tuple[str, str, str]:
    """A gate's defense, defeat step and bypassed step, e.g. ``m1032MultiFactorAuthentication`` for an ATT&CK
    mitigation, ``d3NTANetworkTrafficAnalysis`` for a D3FEND technique."""
    words = camel(name)
    base = f"{camel(gate)}{words[0].upper()}{words[1:]}"
    return base, f"defeat{base[0].upper()}{base[1:]}", f"{base}Bypassed"


def gate_url(gate: str, d3fend_classes: dict[str, str]) -> str:
    """ATT&CK's page of a mitigation; D3FEND's of a defensive technique (by its class name, which `lang coverage`
    resolves to the id)."""
    if gate.startswith("D3-"):
        return f"https://d3fend.mitre.org/technique/d3f:{d3fend_classes[gate]}/"
    return attack_url(gate)


def render_states(
    states: dict[str, list[Door]],
    names: dict[str, str],
    gate_names: dict[str, str],
    indent: str = "    ",
    preferred: dict[str, str] | None = None,
) -> str:
    """Attempt and door steps for ``{state: doors}`` on one asset type. ``names`` gives each technique's full name
    ("Command and Scripting Interpreter: PowerShell"), ``gate_names`` each gate's (mitigation or D3FEND).

    Doors take no time, so when several are open they tie, and an attack path names the one the engine takes
    first: the attack graph lists a step's children in declaration order and zero-time steps are taken last in,
    first out, so the door declared last. Doors are declared from least to most representative, so that a path
    names the technique of the state's TTC estimate (``preferred``: state → technique id) or else the first in
    ATT&CK order (a technique before its sub-techniques: T1021 Remote Services, not T1570 Lateral Tool Transfer)."""
    preferred = preferred or {}
    lines: list[str] = []
    for state, doors in states.items():
        door_names = [door_step(state, d, names[d.id]) for d in doors]
        defeats = sorted({gate_steps(g, gate_names[g])[1] for d in doors for g in d.gates})
        lines += [f"{indent}| {attempt_step(state)}", f'{indent}  user info: "The adversary tries to reach {state}."']
        children = door_names + defeats
        if children:
            lines.append(f"{indent}  ->  " + f",\n{indent}      ".join(children))
        lines.append("")
        rank = {d.id: (d.id != preferred.get(state), i) for i, d in enumerate(doors)}
        by_preference = sorted(zip(doors, door_names, strict=True), key=lambda pair: rank[pair[0].id])
        for door, step in reversed(by_preference):
            kind = "&" if door.gates else "|"
            lines += [
                f"{indent}{kind} {step}",
                f'{indent}  user info: "{names[door.id]}, {attack_url(door.id)}"',
            ]
            if door.gates:
                gates = ", ".join(door.gates)
                lines.append(f'{indent}  developer info: "A door to {state}; gated by {gates}."')
            lines += [f"{indent}  ->  {state}", ""]
    return "\n".join(lines)


def render_mitigations(
    states: dict[str, list[Door]],
    names: dict[str, str],
    gate_names: dict[str, str],
    effectiveness: dict[str, Effectiveness],
    indent: str = "    ",
    d3fend_classes: dict[str, str] | None = None,
    inherited: frozenset[str] = frozenset(),
) -> str:
    """Each gate (ATT&CK mitigation or D3FEND technique) of any door in ``states``, once: defense, defeat step,
    bypassed step. ``d3fend_classes`` gives each D3FEND id's class name (for its URL). A gate in ``inherited``
    already exists on a supertype: only its bypassed step is extended (``+>``), so the supertype's doors keep it."""
    gated: dict[str, list[str]] = {}
    for state, doors in states.items():
        for door in doors:
            for g in door.gates:
                gated.setdefault(g, []).append(door_step(state, door, names[door.id]))
    lines: list[str] = []
    for m in sorted(gated):
        defense, defeat, bypassed = gate_steps(m, gate_names[m])
        if m in inherited:
            lines += [f"{indent}| {bypassed}", f"{indent}  +>  " + f",\n{indent}      ".join(gated[m]), ""]
            continue
        found = effectiveness.get(m, DEFAULT_EFFECTIVENESS)
        lines += [
            f"{indent}# {defense}",
            f'{indent}  user info: "{gate_names[m]}, {gate_url(m, d3fend_classes or {})}"',
            f"{indent}  ->  {bypassed}",
            "",
            f"{indent}| {defeat} [Bernoulli({1 - found.value:.4f})]",
            f'{indent}  modeler info: "{found.source} Effectiveness {found.value:.2%}; defeated otherwise."',
            f"{indent}  ->  {bypassed}",
            "",
            f"{indent}| {bypassed}",
            f"{indent}  ->  " + f",\n{indent}      ".join(gated[m]),
            "",
        ]
    return "\n".join(lines)


def full_names(techniques: list[dict]) -> dict[str, str]:
    """Each technique's full name: a sub-technique's is its parent's name, a colon and its own."""
    by_id = {t["id"]: t["name"] for t in techniques}
    out = {}
    for attack_id, name in by_id.items():
        parent = attack_id.split(".")[0]
        out[attack_id] = f"{by_id[parent]}: {name}" if "." in attack_id and parent in by_id else name
    return out


# -- a whole language from a template ------------------------------------------------------------------------

#: In a template, ``//@doors`` inside a concrete asset's body becomes its states' attempt and door steps and its
#: mitigations; ``//@attempts`` inside an abstract asset's body declares the attempt steps its subtypes fill in.
_MARKER = re.compile(r"^(?P<indent>[ \t]*)//@(?P<what>doors|attempts)[ \t]*$", re.MULTILINE)
_ASSET = re.compile(
    r"^[ \t]*(?:abstract[ \t]+)?asset[ \t]+(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:[ \t]+extends[ \t]+(?P<parent>\w+))?",
    re.MULTILINE,
)
#: A state's TTC in a template: ``| initialAccess [@estimate:T1190]`` or ``| discovery [@default:discovery]``.
_TTC_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)(?P<head>[|&][ \t]*\w+)[ \t]*\[@(?P<kind>estimate|default):(?P<key>[\w.-]+)\][ \t]*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class StateTTC:
    """The TTC a template marker stands for and the sentence that says where it comes from."""

    ttc: str
    provenance: str


def ttc_sources(estimates, defaults) -> dict[tuple[str, str], StateTTC]:
    """``{("estimate", "T1190"): …, ("default", "discovery"): …}`` from the catalog's technique estimates and the
    mapping table's defaults. The sentence starts ``TTC: estimate`` or ``TTC: default`` (what `lang show` and the
    report read back)."""
    out: dict[tuple[str, str], StateTTC] = {}
    for estimate in estimates:
        if estimate.attack_id and estimate.kind == "technique" and estimate.result:
            where = f"estimates/{estimate.attack_id}.yaml"
            out[("estimate", estimate.attack_id)] = StateTTC(
                estimate.result, f"TTC: estimate {where} ({estimate.name}): {estimate.result}."
            )
    for name, default in defaults.items():
        out[("default", name)] = StateTTC(
            default.ttc, f"TTC: default for {name.replace('-', ' ')}, {default.ttc}: {default.reason}."
        )
    return out


def expand_ttcs(template: str, sources: dict[tuple[str, str], StateTTC]) -> str:
    """The template with every ``[@estimate:ID]`` / ``[@default:NAME]`` replaced by its distribution, and a
    ``modeler info`` line after the step saying where the number comes from."""

    def one(match: re.Match) -> str:
        found = sources.get((match["kind"], match["key"]))
        if found is None:
            raise ValueError(f"[@{match['kind']}:{match['key']}]: no such {match['kind']} in the catalog or table")
        return f'{match["indent"]}{match["head"]} [{found.ttc}]\n{match["indent"]}  modeler info: "{found.provenance}"'

    return _TTC_MARKER.sub(one, template)


def _estimated_states(template: str) -> dict[tuple[str, str], str]:
    """``{(asset, state): technique id}`` for each state whose TTC is a technique's estimate in the template."""
    out = {}
    owners = [(m.start(), m["name"]) for m in _ASSET.finditer(template)]
    for marker in _TTC_MARKER.finditer(template):
        if marker["kind"] == "estimate":
            asset = next((name for start, name in reversed(owners) if start < marker.start()), None)
            state = marker["head"].lstrip("|&").strip()
            if asset:
                out[(asset, state)] = marker["key"]
    return out


def _ancestors(template: str) -> dict[str, list[str]]:
    """Each asset's supertypes in the template, nearest first."""
    parent = {m["name"]: m["parent"] for m in _ASSET.finditer(template)}
    out = {}
    for name in parent:
        chain, seen = [], {name}
        up = parent.get(name)
        while up and up not in seen:
            chain.append(up)
            seen.add(up)
            up = parent.get(up)
        out[name] = chain
    return out


def generate_language(
    template: str,
    doors: dict[tuple[str, str], list[Door]],
    names: dict[str, str],
    gate_names: dict[str, str],
    effectiveness: dict[str, Effectiveness] | None = None,
    abstract_states: dict[str, list[str]] | None = None,
    header: str = "",
    d3fend_classes: dict[str, str] | None = None,
    ttcs: dict[tuple[str, str], StateTTC] | None = None,
    prefer: dict[tuple[str, str], str] | None = None,
) -> str:
    """The template with every marker expanded, in order (the same inputs give the same text). ``doors`` is
    :func:`~breachpath.langs.techniques.select_doors`' result; ``abstract_states`` names, per abstract asset, the
    states whose attempt steps it declares (its subtypes redefine them with their doors); ``ttcs`` what the TTC
    markers stand for (default: :func:`ttc_sources` of the built-in catalog and mapping table); ``prefer`` the
    technique each ``(asset, state)`` names on attack paths (default: its TTC estimate's, else ATT&CK order)."""
    effectiveness = effectiveness or {}
    abstract_states = abstract_states or {}
    preferred = {**_estimated_states(template), **(prefer or {})}
    if _TTC_MARKER.search(template):
        if ttcs is None:
            from breachpath.evidence.catalog import load_catalog
            from breachpath.langs import ESTIMATES_DIR
            from breachpath.langs.techniques import read_mapping

            ttcs = ttc_sources(load_catalog(ESTIMATES_DIR), read_mapping().defaults)
        template = expand_ttcs(template, ttcs)
    ancestors = _ancestors(template)
    gates_of: dict[str, set[str]] = {}
    for (owner, _state), found in doors.items():
        gates_of.setdefault(owner, set()).update(g for d in found for g in d.gates)
    out: list[str] = [header] if header else []
    position = 0
    for marker in _MARKER.finditer(template):
        out.append(template[position : marker.start()])
        owners = list(_ASSET.finditer(template, 0, marker.start()))
        if not owners:
            raise ValueError(f"//@{marker['what']} at offset {marker.start()} is not inside an asset")
        asset = owners[-1]["name"]
        indent = marker["indent"]
        if marker["what"] == "attempts":
            states = abstract_states.get(asset, [])
            out.append("\n\n".join(f"{indent}| {attempt_step(s)}" for s in states))
        else:
            states = {state: found for (owner, state), found in doors.items() if owner == asset}
            own = {s: i for (owner, s), i in preferred.items() if owner in (asset, *ancestors.get(asset, []))}
            out.append(render_states(states, names, gate_names, indent, own).rstrip("\n"))
            inherited = frozenset(g for up in ancestors.get(asset, []) for g in gates_of.get(up, ()))
            mitigations = render_mitigations(
                states, names, gate_names, effectiveness, indent, d3fend_classes, inherited
            ).rstrip("\n")
            if mitigations:
                out.append("\n\n" + mitigations)
        position = marker.end()
    out.append(template[position:])
    return "".join(out)


def abstract_states_of(mapping) -> dict[str, list[str]]:
    """Per abstract asset of the mapping table, the states declared on it (in table order)."""
    from breachpath.langs.techniques import SUBTYPES

    out: dict[str, list[str]] = {}
    for state in mapping.states:
        if state.asset in SUBTYPES:
            out.setdefault(state.asset, []).append(state.state)
    return out


def generate_attacklang(kb, template_path=None, catalog_dir=None) -> str:
    """attacklang from its template (``attacklang.mal.in``), the mapping table and a knowledge base: doors from
    ATT&CK, D3FEND gates when D3FEND is loaded, gate effectiveness from the evidence catalog (``estimates/``)."""
    from breachpath.evidence.catalog import load_catalog
    from breachpath.evidence.pool import beta_pooled
    from breachpath.langs import ESTIMATES_DIR, LANGS_DIR
    from breachpath.langs.techniques import add_d3fend, countermeasures_for, door_summary, read_mapping, select_doors

    mapping = read_mapping()
    table = kb.technique_table(mapping.domain)
    doors = select_doors(mapping, table)
    gate_names = {row["id"]: row["name"] for row in kb.export("mitigation")}
    classes: dict[str, str] = {}
    if kb.has_d3fend():
        rows = countermeasures_for(kb, door_summary(doors)["techniques"])
        doors = add_d3fend(doors, rows)
        classes = {r["d3fend_id"]: r["defensive_technique"] for found in rows.values() for r in found}
        labels = kb.d3fend_labels([r for found in rows.values() for r in found])
        gate_names.update({i: labels.get(c, c) for i, c in classes.items()})
    effectiveness = {}
    catalog = load_catalog(catalog_dir or ESTIMATES_DIR)
    for estimate in catalog:
        pooled = beta_pooled(estimate.findings, estimate.effective_sample_size)
        if estimate.attack_id and estimate.kind in ("mitigation", "countermeasure") and pooled is not None:
            effectiveness[estimate.attack_id] = Effectiveness(
                round(pooled["mean"], 4), f"estimates/{estimate.attack_id}.yaml (Beta-pooled findings)."
            )
    template = (template_path or LANGS_DIR / "attacklang.mal.in").read_text(encoding="utf-8")
    header = (
        f"// GENERATED by breachpath.langs.generate from attacklang.mal.in, mapping.yaml and ATT&CK "
        f"{kb.attack_version(mapping.domain) or '?'}: edit those, not this file.\n"
    )
    return generate_language(
        template,
        doors,
        full_names(table),
        gate_names,
        effectiveness,
        abstract_states_of(mapping),
        header,
        classes,
        ttc_sources(catalog, mapping.defaults),
        {(s.asset, s.state): s.prefer for s in mapping.states if s.prefer},
    )


#: The generated language is committed as these files (each under 1 MiB): the main file includes one file per
#: concrete host type, whose technique layers are the largest.
SPLIT_ASSETS = {"Windows": "attacklang-windows.mal", "Linux": "attacklang-linux.mal", "MacOS": "attacklang-macos.mal"}
MAIN_FILE = "attacklang.mal"


def split_language(text: str, split: dict[str, str] | None = None) -> dict[str, str]:
    """``{file name: text}``: the generated language with each asset of ``split`` (default :data:`SPLIT_ASSETS`)
    moved to its own file, in its category, and included from the main file. The template closes every asset with
    a ``}`` two spaces in, which no generated line has, so the cut is exact."""
    split = SPLIT_ASSETS if split is None else split
    lines = text.splitlines(keepends=True)
    files: dict[str, str] = {}
    header = lines[0] if lines and lines[0].startswith("// GENERATED") else ""
    for asset, name in split.items():
        start = next((i for i, line in enumerate(lines) if re.match(rf"^  (?:abstract )?asset {asset}\b", line)), None)
        if start is None:
            raise ValueError(f"asset {asset} not in the generated language")
        end = next(i for i in range(start, len(lines)) if lines[i] == "  }\n")
        category = next(m[1] for line in reversed(lines[:start]) if (m := re.match(r"^category (\w+)", line)))
        body = "".join(lines[start : end + 1])
        files[name] = (
            f"{header}// The {asset} asset of {MAIN_FILE} (included from it).\n\ncategory {category} {{\n\n{body}}}\n"
        )
        lines[start : end + 1] = []
    main = "".join(lines)
    includes = "".join(f'include "{name}"\n' for name in split.values())
    anchor = main.index("\ncategory ")
    return {MAIN_FILE: main[:anchor] + "\n" + includes + main[anchor:], **files}


def attacklang_files(kb) -> dict[str, str]:
    """The built-in language's files, as the generator writes them from ``kb`` (what ``langs/`` must hold)."""
    return split_language(generate_attacklang(kb))


def main(argv: list[str] | None = None) -> int:
    """``python -m breachpath.langs.generate [--db KB] [--out-dir DIR] [--check]``: write attacklang's files, generated
    from its template, the mapping table and a knowledge base (ATT&CK v18.1 and D3FEND for the committed ones)."""
    import argparse
    import sys

    from breachpath.errors import InputError
    from breachpath.fileio import write_outputs
    from breachpath.kb.pages import KnowledgeBase
    from breachpath.langs import LANGS_DIR

    parser = argparse.ArgumentParser(prog="python -m breachpath.langs.generate", description=main.__doc__)
    parser.add_argument("--db", help="knowledge base (default: the user's)")
    parser.add_argument("--out-dir", help="where to write the files (default: the package's langs/ directory)")
    parser.add_argument(
        "--check", action="store_true", help="compare with the files there instead; exit 1 if any differ"
    )
    args = parser.parse_args(argv)
    directory = Path(args.out_dir) if args.out_dir else LANGS_DIR
    try:
        with KnowledgeBase.open(args.db) as kb:
            files = attacklang_files(kb)
        if args.check:
            stale = [
                n
                for n, text in files.items()
                if not (directory / n).is_file() or (directory / n).read_text(encoding="utf-8") != text
            ]
            for name in stale:
                print(f"{directory / name}: differs from what the generator writes", file=sys.stderr)
            return 1 if stale else 0
        write_outputs({directory / n: text.encode("utf-8") for n, text in files.items()})
        for name, text in files.items():
            print(f"{directory / name}: {len(text.encode('utf-8')):,} bytes")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
