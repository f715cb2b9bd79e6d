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

import hashlib
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
) -> str:
    """Attempt and door steps for ``{state: doors}`` on one asset type. ``names`` gives each technique's full name
    ("Command and Scripting Interpreter: PowerShell"), ``gate_names`` each gate's (mitigation or D3FEND)."""
    lines: list[str] = []
    for state, doors in states.items():
        door_names = [door_step(state, d, names[d.id]) for d in doors]
        defeats = sorted({gate_steps(g, gate_names[g])[1] for d in doors for g in d.gates})
        lines += [f"{indent}| {attempt_step(state)}", f'{indent}  user info: "The adversary tries to reach {state}."']
        children = door_names + defeats
        if children:
            lines.append(f"{indent}  ->  " + f",\n{indent}      ".join(children))
        lines.append("")
        for door, step in zip(doors, door_names, strict=True):
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
) -> str:
    """Each gate (ATT&CK mitigation or D3FEND technique) of any door in ``states``, once: defense, defeat step,
    bypassed step. ``d3fend_classes`` gives each D3FEND id's class name (for its URL)."""
    gated: dict[str, list[str]] = {}
    for state, doors in states.items():
        for door in doors:
            for g in door.gates:
                gated.setdefault(g, []).append(door_step(state, door, names[door.id]))
    lines: list[str] = []
    for m in sorted(gated):
        defense, defeat, bypassed = gate_steps(m, gate_names[m])
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
_ASSET = re.compile(r"^[ \t]*(?:abstract[ \t]+)?asset[ \t]+(?P<name>[A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def generate_language(
    template: str,
    doors: dict[tuple[str, str], list[Door]],
    names: dict[str, str],
    gate_names: dict[str, str],
    effectiveness: dict[str, Effectiveness] | None = None,
    abstract_states: dict[str, list[str]] | None = None,
    header: str = "",
    d3fend_classes: dict[str, str] | None = None,
) -> str:
    """The template with every marker expanded, in order (the same inputs give the same text). ``doors`` is
    :func:`~breachpath.langs.techniques.select_doors`' result; ``abstract_states`` names, per abstract asset, the
    states whose attempt steps it declares (its subtypes redefine them with their doors)."""
    effectiveness = effectiveness or {}
    abstract_states = abstract_states or {}
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
            out.append(render_states(states, names, gate_names, indent).rstrip("\n"))
            mitigations = render_mitigations(states, names, gate_names, effectiveness, indent, d3fend_classes).rstrip(
                "\n"
            )
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
        if state.asset in SUBTYPES and state.only is None:
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
    for estimate in load_catalog(catalog_dir or ESTIMATES_DIR):
        pooled = beta_pooled(estimate.findings, estimate.effective_sample_size)
        if estimate.attack_id and estimate.kind == "mitigation" and pooled is not None:
            effectiveness[estimate.attack_id] = Effectiveness(
                round(pooled["mean"], 4), f"estimates/{estimate.attack_id}.yaml (Beta-pooled findings)."
            )
    template = (template_path or LANGS_DIR / "attacklang.mal.in").read_text(encoding="utf-8")
    header = (
        f"// GENERATED by breachpath.langs.generate from attacklang.mal.in, mapping.yaml and ATT&CK "
        f"{kb.attack_version(mapping.domain) or '?'}: edit those, not this file.\n"
    )
    return generate_language(
        template, doors, full_names(table), gate_names, effectiveness, abstract_states_of(mapping), header, classes
    )


#: The SHA-256 of the generated draft: the 1.4 MB text is generated, not committed; the digest pins it.
DRAFT_DIGEST = Path(__file__).resolve().parent / "attacklang-1.0-draft.sha256"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m breachpath.langs.generate [--db KB] [--out FILE]``: write attacklang generated from its template."""
    import argparse

    from breachpath.errors import InputError
    from breachpath.fileio import atomic_write_bytes
    from breachpath.kb.pages import KnowledgeBase

    parser = argparse.ArgumentParser(prog="python -m breachpath.langs.generate", description=main.__doc__)
    parser.add_argument("--db", help="knowledge base (default: the user's)")
    parser.add_argument("--out", help="where to write the language (default: standard output)")
    parser.add_argument("--digest", action="store_true", help="print the SHA-256 of the language instead")
    args = parser.parse_args(argv)
    try:
        with KnowledgeBase.open(args.db) as kb:
            text = generate_attacklang(kb)
        if args.digest:
            print(digest(text))
        elif args.out:
            atomic_write_bytes(args.out, text.encode())
        else:
            print(text, end="")
    except InputError as exc:
        print(f"error: {exc}", file=__import__("sys").stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
