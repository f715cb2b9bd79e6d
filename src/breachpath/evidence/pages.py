"""The page of an estimate (JSON-ready dict and markdown), in the sections of enterpriseLang's notes:
context, findings, computation, result, time to compromise — plus the Beta-pooled interval and the flags."""

from __future__ import annotations

from breachpath.evidence.model import Estimate
from breachpath.evidence.pool import beta_pooled, mean_of, measure_warnings


def estimate_page(estimate: Estimate, kb=None) -> dict:
    """Everything about one estimate; ``kb`` (a KnowledgeBase) adds ATT&CK's context when given."""
    dist = estimate.distribution()
    page = estimate.to_dict()
    page["findings"] = [
        {**f, "proportion": estimate.findings[i].proportion} for i, f in enumerate(page.get("findings", []))
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


def render_estimate(page: dict) -> str:
    """Markdown for an estimate page."""
    attack = page.get("attack")
    ident = page.get("attack_id") or page.get("step")
    title = f"{page['name']} ({ident})" if ident else page["name"]
    url = (attack or {}).get("url")
    lines = [f"# [{title}]({url})" if url else f"# {title}", ""]
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
        lines += [f"> {line}" if line else ">" for line in page["context"].splitlines()]
    else:
        lines.append("Not given.")
    lines += ["", "## Findings"]
    for f in page.get("findings", []):
        if f.get("count") is not None:
            value = f"{f['count']} out of {f['denominator']} = {_percent(f['proportion'])}"
        else:
            value = f"{f.get('percent'):g}%"
        year = f" ({f['year']})" if f.get("year") else ""
        link = f"[{f['source']}]({f['url']})" if f.get("url") else f["source"]
        lines.append(f"- {link}{year} — {f['measure']}: {value}")
    if not page.get("findings"):
        lines.append("None recorded.")
    lines += ["", "## Computation"]
    if page.get("computation"):
        lines += [f"Stated: `{line}`" for line in page["computation"].splitlines()]
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
        "",
        "## Time to compromise",
        page.get("ttc_rationale") or "Not given.",
    ]
    problems = page.get("problems") or []
    if problems:
        lines += ["", "## Audit"]
        lines += [f"- {p}" for p in problems]
    if page.get("derived_from"):
        lines += ["", f"Derived from {page['derived_from']}."]
    return "\n".join(lines) + "\n"
