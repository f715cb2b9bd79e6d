"""The page of an estimate (JSON-ready dict and markdown), in the sections of enterpriseLang's notes:
context, findings, computation, result, time to compromise — plus the Beta-pooled interval and the flags."""

from __future__ import annotations

import re

from breachpath.evidence.model import Estimate, duration_text, is_link
from breachpath.evidence.pool import beta_pooled, mean_of, measure_warnings


def estimate_page(estimate: Estimate, kb=None) -> dict:
    """Everything about one estimate; ``kb`` (a KnowledgeBase) adds ATT&CK's context when given."""
    dist = estimate.distribution()
    page = estimate.to_dict()
    page["findings"] = [
        {**f, "proportion": estimate.findings[i].proportion, "serves_as": serves_as(estimate, estimate.findings[i])}
        for i, f in enumerate(page.get("findings", []))
    ]
    page["mean_of_findings"] = mean_of(estimate.findings)
    page["pooled"] = beta_pooled(estimate.findings, estimate.effective_sample_size)
    page["flags"] = measure_warnings(estimate.findings)
    page["distribution"] = {
        "mal": str(dist),
        "success_probability": dist.success_probability(),
        "mean_days": dist.mean(),
        "median_days": dist.quantile(0.5),
    }
    page["attack"] = None
    if kb is not None and estimate.attack_id:
        try:
            attack = kb.page(
                estimate.attack_id, kind=estimate.kind if estimate.kind in ("technique", "mitigation") else None
            )
        except Exception:  # an id the knowledge base does not hold: the note's own context stands
            attack = None
        if attack:
            page["attack"] = {
                "id": attack["id"],
                "name": attack["name"],
                "description": attack["description"],
                "url": attack["url"],
                "subtechniques": attack.get("subtechniques", []),
                "redirected_from": attack.get("redirected_from"),
                "attack_version": attack.get("attack_version"),
            }
    return page


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _text(value: str) -> str:
    """Text from an estimate file as markdown text: its brackets and backticks cannot open a link or code span."""
    return value.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")


# Markdown links in free text from an estimate file (context, rationale, audit): inline, autolinks, definitions.
_MD_LINK = re.compile(
    r"!?\[([^\[\]\n]{0,1000})\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]{0,200}\)){0,4096})>?(?:\s+\"[^\"\n]{0,500}\")?\s*\)"
)
_MD_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\s]{0,4096})>")
_MD_DEFINITION = re.compile(r"^( {0,3})\[([^\]\n]{1,1000})\]:", re.MULTILINE)


def _inert_links(text: str) -> str:
    """Free markdown text with its http(s) links kept and every other link (``javascript:``, ``data:``, …) made
    plain text, whatever the renderer would allow; reference definitions are never links."""
    text = _MD_LINK.sub(
        lambda m: m.group(0) if is_link(m.group(2)) else f"{_text(m.group(1))} ({_text(m.group(2))})", text
    )
    text = _MD_AUTOLINK.sub(lambda m: m.group(0) if is_link(m.group(1)) else f"\\<{m.group(1)}\\>", text)
    return _MD_DEFINITION.sub(lambda m: f"{m.group(1)}\\[{m.group(2)}\\]:", text)


def _stated_intervals(page: dict) -> list[str]:
    """How unsure the result is, as the estimate states it (``simulate --uncertainty`` draws from these)."""
    lines = []
    if page.get("probability_interval"):
        low, high = page["probability_interval"]
        lines.append(f"Success probability, 90% interval: [{_percent(low)}, {_percent(high)}] (stated).")
    if page.get("time_interval"):
        low, high = page["time_interval"]
        lines.append(f"Mean time, 90% interval: [{duration_text(low)}, {duration_text(high)}] (stated).")
    return lines


def serves_as(estimate: Estimate, finding) -> str:
    """What a finding can serve as in this estimate, and why (DESIGN.md: prevalence is not success)."""
    if finding.days is not None:
        return f"a time (the {finding.statistic} of what it measures): it sets the TTC, never a probability"
    if estimate.combine == "beta-pooled":
        what = "an effectiveness" if estimate.kind in ("mitigation", "countermeasure") else "a success probability"
        return f"{what}: pooled, with the others, into the Beta posterior of the result"
    if estimate.combine == "derived":
        return "an input of the stated computation (a model), not pooled as it stands"
    if estimate.distribution().success_probability() == 1.0:
        return "context only: a share of what it measures (prevalence), not used as a success probability"
    return "averaged with the others (enterpriseLang's mean): see the audit for what it measures"


def render_estimate(page: dict) -> str:
    """Markdown for an estimate page."""
    attack = page.get("attack")
    ident = page.get("attack_id") or page.get("step")
    title = f"{page['name']} ({ident})" if ident else page["name"]
    url = (attack or {}).get("url")
    lines = [f"# [{_text(title)}]({url})" if is_link(url) else f"# {_text(title)}", ""]
    lines.append("## Context")
    if attack:
        lines += [f"> {line}" if line else ">" for line in attack["description"].splitlines()]
        if attack.get("redirected_from"):
            lines += ["", f"(ATT&CK has since revoked {attack['redirected_from']['id']}; this is {attack['id']}.)"]
        subs = attack.get("subtechniques") or []
        if subs:
            lines += ["", f"There are {len(subs)} sub-techniques:", ""]
            lines += [f"* {s['name']} ({s['id']})" for s in subs]
    elif page.get("context"):
        lines += [f"> {line}" if line else ">" for line in _inert_links(page["context"]).splitlines()]
    else:
        lines.append("Not given.")
    lines += ["", "## Findings"]
    for f in page.get("findings", []):
        if f.get("days") is not None:
            value = f"{duration_text(f['days'])} ({f.get('statistic')})"
        elif f.get("count") is not None:
            value = f"{f['count']} out of {f['denominator']} = {_percent(f['proportion'])}"
        else:
            value = f"{f.get('percent'):g}%"
        year = f" ({f['year']})" if f.get("year") else ""
        # Only http(s) URLs become links; any other (javascript:, data:, …) is shown as inert text.
        if is_link(f.get("url")):
            link = f"[{_text(f['source'])}]({f['url']})"
        elif f.get("url"):
            link = f"{_text(f['source'])} (not a web address: `{f['url'].replace('`', '')}`)"
        else:
            link = _text(f["source"])
        lines.append(f"- {link}{year} — {_text(f['measure'])}: {value}")
        if f.get("serves_as"):
            lines.append(f"  Serves as {f['serves_as']}.")
    if not page.get("findings"):
        lines.append("None recorded.")
    lines += ["", "## Computation"]
    if page.get("computation"):
        lines += [f"Stated: `{line.replace('`', '')}`" for line in page["computation"].splitlines()]
    lines.append(f"Mean of the findings (how enterpriseLang combines them): {_percent(page['mean_of_findings'])}")
    pooled = page.get("pooled")
    if pooled:
        low, high = pooled["interval"]
        lines.append(
            f"Beta-pooled (Beta(1, 1) prior; counts as observed, percentages weighing "
            f"{page.get('effective_sample_size', 100):g} observations): {_percent(pooled['mean'])}, "
            f"{int(pooled['level'] * 100)}% credible interval [{_percent(low)}, {_percent(high)}]"
        )
    for flag in page.get("flags", []):
        lines.append(f"Flag: {flag}")
    dist = page["distribution"]
    lines += [
        "",
        "## Result",
        f"```{page['result']}```",
        "",
        f"Success probability {_percent(dist['success_probability'])}; mean time when it succeeds "
        f"{dist['mean_days']:.4g} days.",
        *_stated_intervals(page),
        "",
        "## Time to compromise",
        _inert_links(page.get("ttc_rationale") or "Not given."),
    ]
    problems = page.get("problems") or []
    if problems:
        lines += ["", "## Audit"]
        lines += [f"- {_inert_links(p)}" for p in problems]
    if page.get("derived_from"):
        lines += ["", f"Derived from {_text(page['derived_from'])}."]
    return "\n".join(lines) + "\n"
