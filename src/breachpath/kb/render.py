"""Render knowledge-base pages (dicts from :mod:`breachpath.kb.pages`) as markdown.

The technique layout follows the ATT&CK website and the seed page: Description, Parent Technique,
Sub-techniques, Tactics, Platforms, Related Groups, Software, Campaigns, Mitigations, Detection (text,
"Detailed Detection by Data Source/Component", and v18 detection strategies with their analytics).
"""

from __future__ import annotations

import re


def ref(item: dict | None) -> str:
    """``{"id": "G0010", "name": "Turla"}`` → ``Turla (G0010)``."""
    if not item:
        return ""
    return f"{item['name']} ({item['id']})" if item.get("id") else item["name"]


def _bullets(items: list, fmt=ref) -> list[str]:
    return [f"- {fmt(item)}" for item in items]


def _section(lines: list[str], title: str, body: list[str]) -> None:
    while body and not body[-1]:
        body = body[:-1]
    if body:
        lines += [f"## {title}", *body, ""]


def _indented(text: str) -> list[str]:
    return [f"  {line}" if line else "" for line in text.splitlines()]


def _with_how(item: dict) -> list[str]:
    lines = [f"- {ref(item)}"]
    if item.get("how"):
        lines += _indented(item["how"])
    return lines


def _group_line(item: dict) -> str:
    via = f" — via {', '.join(item['via'])}" if item.get("via") else ""
    return f"{ref(item)}{via}"


def _technique_line(item: dict) -> str:
    if item.get("direct", True):
        via = f" (also via {', '.join(item['via'])})" if item.get("via") else ""
    else:
        via = f" — via {', '.join(item['via'])}"
    return f"{ref(item)}{via}"


def _status(page: dict) -> list[str]:
    lines = []
    redirect = page.get("redirected_from")
    if redirect:
        lines.append(f"> {redirect['id']} ({redirect['name']}) was {redirect['reason']}; showing its replacement.")
    if page.get("revoked"):
        by = ", ".join(ref(r) for r in page.get("revoked_by", [])) or "unknown"
        lines.append(f"> **Revoked** — replaced by {by}.")
    if page.get("deprecated"):
        lines.append("> **Deprecated** — no longer maintained by ATT&CK.")
    return lines + [""] if lines else []


def _detection(detection: dict) -> list[str]:
    lines: list[str] = []
    if detection.get("text"):
        lines += [detection["text"], ""]
    components = detection.get("data_components") or []
    if components:
        lines.append("### Detailed Detection by Data Source/Component")
        for c in components:
            source = c.get("data_source")
            head = (
                f"{source['name']}: {c['data_component']['name']} ({source['id']})"
                if source
                else ref(c["data_component"])
            )
            lines.append(f"#### {head}: ")
            if c.get("description"):
                lines.append(c["description"])
            lines.append("")
    strategies = detection.get("strategies") or []
    if strategies:
        lines.append("### Detection Strategies")
        for strategy in strategies:
            lines.append(f"#### {ref(strategy)}")
            for analytic in strategy.get("analytics", []):
                lines += _analytic(analytic, "#####")
    return lines


def _analytic(analytic: dict, level: str) -> list[str]:
    lines = [f"{level} {ref(analytic)}"]
    if analytic.get("platforms"):
        lines.append(f"Platforms: {', '.join(analytic['platforms'])}")
    if analytic.get("description"):
        lines += ["", analytic["description"]]
    if analytic.get("log_sources"):
        lines += ["", "Data components and log sources:"]
        lines += [
            f"- {ref(s['data_component'])} — log source {s.get('name') or '?'} (channel: {s.get('channel') or 'None'})"
            for s in analytic["log_sources"]
        ]
    if analytic.get("mutable_elements"):
        lines += ["", "Tunable elements:"]
        lines += [f"- {m.get('field')}: {m.get('description')}" for m in analytic["mutable_elements"]]
    return lines + [""]


def render_page(page: dict) -> str:
    """The markdown page for one object (ATT&CK or D3FEND)."""
    if page.get("type") == "d3fend-class":
        return render_d3fend_page(page)
    lines = [f"# {ref(page)}", ""]
    lines += _status(page)
    kind = page["type"]
    if page.get("aliases"):
        lines += [f"Also known as: {', '.join(page['aliases'])}", ""]
    _section(lines, "Description", [page["description"]] if page.get("description") else [])
    if kind == "technique":
        _section(lines, "Parent Technique", _bullets([page["parent"]]) if page.get("parent") else [])
        _section(lines, "Sub-techniques", _bullets(page["subtechniques"]))
        _section(lines, "Tactics", _bullets(page["tactics"]))
        _section(lines, "Platforms", _bullets(page.get("platforms", []), str))
        _section(lines, "Related Groups", _bullets(page["groups"], _group_line))
        _section(lines, "Software", _bullets(page["software"]))
        _section(lines, "Campaigns", _bullets(page["campaigns"]))
        _section(lines, "Mitigations", [line for m in page["mitigations"] for line in _with_how(m)])
        _section(lines, "Targeted Assets", _bullets(page.get("targets_assets", [])))
        _section(lines, "Detection", _detection(page["detection"]))
        if "d3fend" in page:
            d3fend = page["d3fend"]
            body = _countermeasure_lines(d3fend["countermeasures"], d3fend.get("labels")) or [d3fend["note"]]
            _section(lines, "D3FEND Countermeasures", body)
        _section(
            lines,
            "Estimates",
            [
                f"- {e['result']} — {len(e.get('findings', []))} findings"
                + (f", from {e['derived_from']}" if e.get("derived_from") else "")
                + f" (`breachpath evidence show {e.get('attack_id') or e['name']}`)"
                for e in page.get("estimates", [])
            ],
        )
    elif kind == "group":
        _section(lines, "Techniques Used", _bullets(page["techniques"], _technique_line))
        _section(lines, "Software", _bullets(page["software"]))
        _section(lines, "Campaigns", _bullets(page["campaigns"]))
    elif kind == "software":
        _section(lines, "Type", [page.get("software_type") or ""])
        _section(lines, "Platforms", _bullets(page.get("platforms", []), str))
        _section(lines, "Techniques Used", _bullets(page["techniques"]))
        _section(lines, "Groups", _bullets(page["groups"]))
        _section(lines, "Campaigns", _bullets(page["campaigns"]))
    elif kind == "campaign":
        seen = " to ".join(x for x in (page.get("first_seen"), page.get("last_seen")) if x)
        _section(lines, "Seen", [seen] if seen else [])
        _section(lines, "Attributed To", _bullets(page["groups"]))
        _section(lines, "Techniques Used", _bullets(page["techniques"]))
        _section(lines, "Software", _bullets(page["software"]))
    elif kind == "mitigation":
        _section(lines, "Techniques Addressed", [line for t in page["techniques"] for line in _with_how(t)])
    elif kind == "tactic":
        _section(lines, "Techniques", _bullets(page["techniques"]))
    elif kind == "data-source":
        _section(lines, "Collection Layers", _bullets(page.get("collection_layers", []), str))
        _section(lines, "Data Components", _bullets(page["data_components"]))
    elif kind == "data-component":
        _section(lines, "Data Source", _bullets([page["data_source"]]) if page.get("data_source") else [])
        _section(
            lines, "Log Sources", [f"- {s.get('name')} (channel: {s.get('channel')})" for s in page["log_sources"]]
        )
        _section(lines, "Detects", _bullets(page["techniques"]))
        _section(lines, "Used by Analytics", _bullets(page["analytics"]))
    elif kind == "detection-strategy":
        _section(lines, "Detects", _bullets(page["techniques"]))
        _section(lines, "Analytics", [line for a in page["analytics"] for line in _analytic(a, "###")])
    elif kind == "analytic":
        _section(
            lines,
            "Detection Strategy",
            _bullets([page["detection_strategy"]]) if page.get("detection_strategy") else [],
        )
        _section(lines, "Platforms", _bullets(page.get("platforms", []), str))
        _section(lines, "Detects", _bullets(page["techniques"]))
        _section(
            lines,
            "Data Components and Log Sources",
            [
                f"- {ref(s['data_component'])} — {s.get('name')} (channel: {s.get('channel')})"
                for s in page["log_sources"]
            ],
        )
    elif kind == "asset":
        _section(lines, "Platforms", _bullets(page.get("platforms", []), str))
        _section(lines, "Techniques", _bullets(page["techniques"]))
    elif kind == "matrix":
        _section(lines, "Tactics", _bullets(page["tactics"]))
    others = page.get("same_id_elsewhere")
    if others:
        notes = "; ".join(
            f"a {o['kind']} ({o['name']}{', revoked' if o['revoked'] else ''}{', deprecated' if o['deprecated'] else ''})"
            for o in others
        )
        lines += [f"> {page['id']} also names {notes}: pass --type to see it.", ""]
    source = " ".join(
        x for x in (page.get("domain"), f"v{page['attack_version']}" if page.get("attack_version") else None) if x
    )
    lines.append(f"ATT&CK {source} · {page.get('url') or ''}".rstrip(" ·"))
    return "\n".join(lines) + "\n"


def render_group_techniques(result: dict) -> str:
    """Markdown list of a group's techniques, those reached only through campaigns marked."""
    lines = [f"# Techniques used by {ref(result['group'])}", ""]
    lines += _bullets(result["techniques"], _technique_line)
    direct = sum(1 for t in result["techniques"] if t["direct"])
    lines += [
        "",
        f"{len(result['techniques'])} techniques: {direct} direct, {len(result['techniques']) - direct} only via campaigns.",
    ]
    return "\n".join(lines) + "\n"


def _countermeasure_lines(rows: list[dict], labels: dict[str, str] | None = None) -> list[str]:
    """One bullet per defensive technique, with the artifact matches that link it."""
    labels = labels or {}
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["defensive_technique"], []).append(row)
    lines = []
    for technique, matches in grouped.items():
        head = matches[0]
        ident = f" ({head['d3fend_id']})" if head.get("d3fend_id") else ""
        lines.append(f"- {labels.get(technique, technique)}{ident} — {head.get('tactic') or 'no tactic'}")
        for m in matches:
            lines.append(
                f"  - {m['defensive_relation']} {labels.get(m['defensive_artifact'], m['defensive_artifact'])} ⟵ "
                f"{m['offensive_technique']} {m['offensive_relation']} "
                f"{labels.get(m['offensive_artifact'], m['offensive_artifact'])}"
            )
    return lines


def render_countermeasures(
    result: dict[str, list[dict]], notes: dict[str, str] | None = None, labels: dict[str, str] | None = None
) -> str:
    """Markdown for `kb countermeasures`: per ATT&CK id, rows grouped by defensive technique."""
    lines: list[str] = []
    for attack_id, rows in result.items():
        techniques = len({r["defensive_technique"] for r in rows})
        lines += [f"# D3FEND countermeasures for {attack_id}: {techniques} defensive techniques", ""]
        lines += _countermeasure_lines(rows, labels) or [(notes or {}).get(attack_id) or "None."]
        lines.append("")
    return "\n".join(lines)


def render_countered_by(result: dict) -> str:
    """Markdown for `kb countered-by`: the ATT&CK techniques a defensive technique counters."""
    d = result["defensive_technique"]
    lines = [f"# {d['label']} ({d['d3fend_id']}) — {d.get('tactic') or 'no tactic'}", ""]
    lines.append(f"Counters {len(result['techniques'])} ATT&CK techniques:")
    lines.append("")
    for t in result["techniques"]:
        via = "; ".join(
            f"{r['defensive_relation']} {r['defensive_artifact']} ⟵ {r['offensive_technique']} "
            f"{r['offensive_relation']} {r['offensive_artifact']}"
            for r in t["rows"]
        )
        lines.append(f"- {t['name'] or t['id']} ({t['id']}): {via}")
    return "\n".join(lines) + "\n"


def render_d3fend_page(page: dict) -> str:
    """Markdown for a D3FEND class, with the sections of the D3FEND site's class pages."""
    ident = page.get("d3fend_id") or page.get("attack_id")
    title = page["label"] + (f" ({ident})" if ident else "")
    lines = [f"# {title}", ""]
    if page.get("deprecated"):
        lines += ["> **Deprecated** in D3FEND.", ""]
    lines += ["## Overview", "", "### Definition", page.get("definition") or "Not defined.", ""]
    if page.get("tactic"):
        lines += ["### Tactic", page["tactic"], ""]
    if page.get("attack_id"):
        lines += ["### ATT&CK", page["attack_id"], ""]
    lines += ["### Examples", *(_bullets(page["examples"], str) or ["Not defined."]), ""]
    lines += ["### Aliases", *(_bullets(page["aliases"], str) or ["Not defined."]), ""]
    lines += ["### URI", page["uri"], ""]
    lines += ["### Subclass Of", "```mermaid", page["mermaid"], "```", ""]
    lines += [f"- {h['label']} ({h['name']})" for h in page["hierarchy"]]
    others = [s for s in page["superclasses"] if s["name"] not in {h["name"] for h in page["hierarchy"]}]
    if others:
        lines += ["", "Also a subclass of: " + ", ".join(f"{s['label']} ({s['name']})" for s in others)]
    lines += ["", "### Ontology Reference"]
    lines += [f"- [{prefix}]({uri})" for prefix, uri in page["ontology_reference"].items()]
    lines += [""]
    if page.get("kb_article"):
        # The article's own headings sit two levels below this page's sections.
        article = re.sub(r"^(#+) ", lambda m: "#" * min(len(m.group(1)) + 2, 6) + " ", page["kb_article"], flags=re.M)
        lines += ["## Knowledge Base Article", article, ""]
    lines.append("## Properties")
    relations = [f"- {p['property']}: {p['target_label']} ({p['target']})" for p in page["properties"]]
    lines += relations or ["None."]
    lines.append("")
    if "countermeasures" in page:
        lines.append("## D3FEND Countermeasures")
        body = _countermeasure_lines(page["countermeasures"], page.get("labels"))
        lines += body or [page.get("countermeasures_note") or "None."]
        lines.append("")
    if "counters" in page:
        lines.append(f"## Counters ({len(page['counters'])} ATT&CK techniques)")
        lines += [f"- {t['name'] or t['id']} ({t['id']})" for t in page["counters"]] or ["None."]
        lines.append("")
    if page.get("references"):
        lines.append("## References")
        lines += [
            f"- {r.get('title') or r['id']}" + (f" — {r['url']}" if r.get("url") else "") for r in page["references"]
        ]
        lines.append("")
    return "\n".join(lines)
