"""Render knowledge-base pages (dicts from :mod:`breachpath.kb.pages`) as markdown.

The technique layout follows the ATT&CK website and the seed page: Description, Parent Technique,
Sub-techniques, Tactics, Platforms, Related Groups, Software, Campaigns, Mitigations, Detection (text,
"Detailed Detection by Data Source/Component", and v18 detection strategies with their analytics).
"""

from __future__ import annotations


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
    """The markdown page for one object."""
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
