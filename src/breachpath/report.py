"""A self-contained HTML report of a simulation: no scripts, no external requests, charts as inline SVG.

:func:`report_data` gathers what the report shows (JSON-ready); :func:`render_html` lays it out with the Jinja2
template ``templates/report.html.j2``. A Content-Security-Policy of ``default-src 'none'`` in the page keeps a
browser from fetching anything, so the file works offline and leaks nothing when opened.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from breachpath.actor import graph_actor, in_profile
from breachpath.analysis import (
    WHATIF_RANKING,
    _path,
    chokepoints,
    curve_end,
    in_causal_order,
    technique_joins,
    technique_of,
)
from breachpath.graph import AttackGraph
from breachpath.navigator import path_shares, technique_tactics
from breachpath.sim import Simulation, summarise

TEMPLATES = Path(__file__).resolve().parent / "templates"
# One colour per ATT&CK enterprise tactic, in kill-chain order: a qualitative palette (Tableau-like) so that
# neighbouring tactics on a path differ in hue, readable on white as a border and as a 25% fill.
TACTIC_COLOURS = {
    "reconnaissance": "#9467bd", "resource-development": "#5e3c99", "initial-access": "#e6550d",
    "execution": "#e5ae00", "persistence": "#8c564b", "privilege-escalation": "#e7298a",
    "defense-evasion": "#7f7f7f", "credential-access": "#d62728", "discovery": "#6baed6",
    "lateral-movement": "#1f5fa8", "collection": "#74c476", "command-and-control": "#17becf",
    "exfiltration": "#1b7f2a", "impact": "#7b0d1e",
}  # fmt: skip
UNKNOWN_COLOUR = "#bdbdbd"


def _cdf_points(times: np.ndarray, width: float, height: float, horizon: float) -> str:
    """The empirical CDF P(compromised by t) as an SVG polyline's points, t from 0 to ``horizon`` days."""
    n = len(times)
    finite = np.sort(times[np.isfinite(times)].astype(np.float64))
    grid = np.linspace(0.0, horizon, 200)
    share = np.searchsorted(finite, grid, side="right") / max(n, 1)
    return " ".join(f"{width * t / horizon:.1f},{height * (1 - p):.1f}" for t, p in zip(grid, share, strict=True))


def _spread(target: dict | None, width: float, height: float, horizon: float) -> dict | None:
    """A target's parameter-uncertainty band (:func:`breachpath.uncertainty.second_order`) as SVG polygon points on
    the curve's axes, with its intervals; None without one. The band's grid may end before ``horizon``."""
    if target is None:
        return None
    curve = target["curve"]
    days = np.asarray(curve["days"])
    keep = days <= horizon
    x = width * days[keep] / horizon
    upper = [f"{a:.1f},{height * (1 - p):.1f}" for a, p in zip(x, np.asarray(curve["high"])[keep], strict=True)]
    lower = [f"{a:.1f},{height * (1 - p):.1f}" for a, p in zip(x, np.asarray(curve["low"])[keep], strict=True)]
    return {
        "band": " ".join(upper + lower[::-1]),
        "p": target["p_parameter_interval"],
        "median": target["median_parameter_interval"],
    }


#: Rows of a tornado chart.
TORNADO_ROWS = 8


def _tornado(result: dict | None, target: str) -> dict | None:
    """The target's largest P swings of a sensitivity analysis, as bars on a 0–100% axis (x from 0 to 1)."""
    if result is None or target not in result["targets"]:
        return None
    rows = sorted(result["parameters"], key=lambda r: -abs(r["effects"][target]["p_swing"]))
    bars = []
    for r in rows[:TORNADO_ROWS]:
        e = r["effects"][target]
        if not e["p_swing"]:
            break  # sorted by |swing|: the rest move only the median (the JSON and the CLI table show them)
        bars.append({
            "label": r["label"], "name": r["name"], "findings": r["findings"], "publishers": r["publishers"],
            "source": r["source"], "low": r["low"], "high": r["high"], "quantity": r["quantity"],
            "p_low": e["p_low"], "p_high": e["p_high"], "left": min(e["p_low"], e["p_high"]),
            "right": max(e["p_low"], e["p_high"]), "median_low": e["median_low"], "median_high": e["median_high"],
        })  # fmt: skip
    return {"baseline": result["baseline"][target]["p"], "bars": bars}


def _tick(value: float) -> str:
    return f"{value:g}"


def _tactic(kb, attack_id: str, cache: dict) -> str | None:
    """The technique's first tactic in the knowledge base (its colour in the diagram), memoised per report."""
    if attack_id not in cache:
        tactics = technique_tactics(kb, attack_id)
        cache[attack_id] = tactics[0] if tactics else None
    return cache[attack_id]


def path_diagram(graph: AttackGraph, sim: Simulation, target: int, names: dict, kb=None, top: int = 5) -> dict:
    """The most frequent paths to a target as one layered diagram of technique steps: nodes placed by causal depth,
    edges weighted by the share of successful samples whose path uses them."""
    successful = np.flatnonzero(np.isfinite(sim.times[:, target]))
    counts: Counter[frozenset[int]] = Counter()
    example: dict[frozenset[int], tuple[int, ...]] = {}
    for s in successful:
        path = _path(sim, int(s), target)
        counts[frozenset(path)] += 1
        example.setdefault(frozenset(path), path)
    n = max(1, len(successful))
    node_weight: Counter[int] = Counter()
    edge_weight: Counter[tuple[int, int]] = Counter()
    for key, k in counts.most_common(top):
        order = in_causal_order(graph, example[key])
        nearest, _ = technique_joins(graph, order)
        for v in order:
            if technique_of(graph, v):
                node_weight[v] += k
                for u in nearest[v]:
                    edge_weight[(u, v)] += k
    # Longest-path layering (the diagram's DAG is small: relax until stable).
    depth = dict.fromkeys(node_weight, 0)
    for _ in range(len(depth)):
        changed = False
        for u, v in edge_weight:
            if depth[v] <= depth[u]:
                depth[v], changed = depth[u] + 1, True
        if not changed:
            break
    layers: dict[int, list[int]] = {}
    for v in sorted(depth, key=lambda v: (depth[v], graph.name(v))):
        layers.setdefault(depth[v], []).append(v)
    box_w, box_h, gap_x, gap_y = 160, 44, 30, 16
    tallest = max((len(vs) for vs in layers.values()), default=1)
    height = tallest * (box_h + gap_y) + gap_y
    position = {}
    for d, vs in layers.items():
        offset = (height - len(vs) * (box_h + gap_y)) / 2
        for i, v in enumerate(vs):
            position[v] = (gap_x / 2 + d * (box_w + gap_x), offset + gap_y / 2 + i * (box_h + gap_y))
    cache: dict = {}
    actor = graph_actor(graph)
    nodes = []
    for v, (x, y) in position.items():
        attack_id = technique_of(graph, v)
        tactic = _tactic(kb, attack_id, cache)
        nodes.append({
            "outside_actor": actor is not None and not in_profile([attack_id], actor[0]),
            "x": x, "y": y, "w": box_w, "h": box_h, "id": attack_id, "name": names.get(attack_id, attack_id),
            "asset": str(graph.asset_names[graph.asset[v]]), "share": node_weight[v] / n,
            "colour": TACTIC_COLOURS.get(tactic or "", UNKNOWN_COLOUR), "tactic": tactic,
            "url": "https://attack.mitre.org/techniques/" + attack_id.replace(".", "/") + "/",
        })  # fmt: skip
    edges = []
    for (u, v), k in edge_weight.items():
        (x1, y1), (x2, y2) = position[u], position[v]
        edges.append({
            "x1": x1 + box_w, "y1": y1 + box_h / 2, "x2": x2, "y2": y2 + box_h / 2,
            "width": 1 + 7 * k / n, "share": k / n,
        })  # fmt: skip
    width = (max(layers, default=0) + 1) * (box_w + gap_x)
    tactics = sorted({nd["tactic"] for nd in nodes if nd["tactic"]}, key=list(TACTIC_COLOURS).index)
    return {
        "width": width, "height": height, "nodes": nodes, "edges": edges,
        "legend": [{"tactic": t, "colour": TACTIC_COLOURS[t]} for t in tactics],
        "paths_shown": min(top, len(counts)), "distinct_paths": len(counts),
        "shown_share": sum(k for _, k in counts.most_common(top)) / n,
    }  # fmt: skip


def report_data(
    graph: AttackGraph,
    sim: Simulation,
    title: str,
    names: dict[str, str],
    entries: list[int],
    targets: int | None = None,
    kb=None,
    whatif: dict | None = None,
    estimates: dict | None = None,
    summary: dict | None = None,
    spec=None,
    uncertainty: dict | None = None,
    sensitivity: dict | None = None,
    actors: dict | None = None,
) -> dict:
    """Everything the HTML report shows, as plain data. With the language (``spec``), each technique also says
    where its steps' TTCs come from (:func:`ttc_sources`). ``uncertainty`` (:func:`breachpath.uncertainty.second_order`)
    adds a band of parameter uncertainty around each curve; ``sensitivity`` (:func:`breachpath.uncertainty.sensitivity`)
    a tornado chart per target; ``actors`` (:func:`breachpath.actor_ranking.rank_actors`) the threat actors ranked
    per target. A graph conditioned on an actor (:func:`breachpath.actor.apply_actor`) names it, and marks the
    techniques outside its profile."""
    targets = sim.path_targets if targets is None else targets
    out_targets = []
    for j in range(targets):
        times = sim.times[:, j]
        stats = summarise(times)
        horizon = curve_end(times)
        out_targets.append({
            "name": sim.names[j], **stats, "horizon": horizon,
            "cdf": _cdf_points(times, 520, 180, horizon), "cdf_ticks": [_tick(horizon * k / 4) for k in range(5)],
            "diagram": path_diagram(graph, sim, j, names, kb),
            "chokepoints": chokepoints(graph, sim, j, entries)[:5],
            "spread": _spread((uncertainty or {}).get("targets", {}).get(sim.names[j]), 520, 180, horizon),
            "tornado": _tornado(sensitivity, sim.names[j]),
        })  # fmt: skip
    shares = path_shares(graph, sim, targets)
    actor = graph_actor(graph)
    countermeasures = {}
    if kb is not None and getattr(kb, "has_d3fend", lambda: False)():
        from breachpath.langs.techniques import countermeasures_for

        # Techniques the ontology does not know (newer than it, or a custom language's own ids) get none.
        countermeasures = countermeasures_for(kb, sorted(shares))
    techniques = []
    for attack_id, share in sorted(shares.items(), key=lambda item: (-item[1]["share"], item[0])):
        estimate = (estimates or {}).get(attack_id) or _kb_estimate(kb, attack_id)
        techniques.append({
            "id": attack_id, "name": names.get(attack_id, attack_id), "share": share["share"],
            "outside_actor": actor is not None and not in_profile([attack_id], actor[0]),
            "url": "https://attack.mitre.org/techniques/" + attack_id.replace(".", "/") + "/",
            "ttc": sorted({str(graph.ttc_texts[graph.ttc[v]]) if graph.ttc[v] >= 0 else "instantaneous" for v in timed_steps(graph, share["steps"])}),
            "estimate": estimate,
            "ttc_sources": ttc_sources(graph, spec, timed_steps(graph, share["steps"])) if spec is not None else None,
            "d3fend": _unique_countermeasures(countermeasures.get(attack_id, []))[:6],
        })  # fmt: skip
    defenses = []
    if whatif:
        # whatif's own order (analysis.WHATIF_RANKING), so the report ranks defenses as the CLI table does.
        for row in whatif["defenses"][:10]:
            reductions = [t["p_reduction"] for t in row["targets"].values()]
            defenses.append(
                {"name": row["name"], "attack_ids": row["attack_ids"], "mean_p_reduction": float(np.mean(reductions))}
            )
    return {
        "title": title, "summary": summary or {}, "samples": sim.samples, "seed": sim.seed,
        "actor": None if actor is None else {"name": actor[0].name, "mode": actor[1], "outside": actor[2]},
        "actors": actors,
        "targets": out_targets, "techniques": techniques, "defenses": defenses,
        "defense_ranking": (whatif or {}).get("ranking", WHATIF_RANKING),
        "d3fend_loaded": bool(countermeasures) or (kb is not None and getattr(kb, "has_d3fend", lambda: False)()),
        "kb": kb is not None, "ttc_provenance": spec is not None,
        "uncertainty": None if uncertainty is None else {k: uncertainty[k] for k in ("outer", "samples", "level")},
        "sensitivity": None if sensitivity is None else {
            "samples": sensitivity["samples"], "horizon": sensitivity["horizon"], "quantiles": sensitivity["quantiles"],
            "runs": sensitivity["runs"],
        },
    }  # fmt: skip


def timed_steps(graph: AttackGraph, steps) -> list[int]:
    """The steps whose time a technique's steps stand for: each step with a TTC itself, and for one without (a
    door, which takes no time), the timed attack steps it leads to (the state it opens, whose time it is)."""
    out = []
    for v in steps:
        children = [int(c) for c in graph.children(v) if graph.ttc[c] >= 0 and graph.kind[c] <= 1]
        out += [int(v)] if graph.ttc[v] >= 0 or not children else children
    return sorted(set(out))


def ttc_sources(graph: AttackGraph, spec, nodes) -> list[dict]:
    """Where the TTCs of ``nodes`` come from, one entry per language step (``Type.step``) and TTC drawn: the step's
    :func:`~breachpath.lang.provenance.ttc_provenance` (an estimate with its file, a default with its reason,
    unstated, or None for a step that takes no time), or ``kind: "scenario"`` when the scenario replaced the
    language's TTC."""
    from breachpath.lang.provenance import ttc_provenance

    out: dict[tuple[str, str | None], dict] = {}
    for v in nodes:
        asset_type = str(graph.asset_types[graph.asset[v]])
        name = str(graph.step_names[graph.step[v]])
        drawn = str(graph.ttc_texts[graph.ttc[v]]) if graph.ttc[v] >= 0 else None
        key = (f"{asset_type}.{name}", drawn)
        if key in out:
            continue
        step = spec.steps(asset_type).get(name) if asset_type in spec.assets else None
        if step is not None and drawn != step.ttc:
            found = {"kind": "scenario", "source": None, "reason": None, "tactic": None, "text": None}
        else:
            found = ttc_provenance(step) if step is not None else None
        out[key] = {"step": key[0], "ttc": drawn, "provenance": found}
    return sorted(out.values(), key=lambda row: (row["step"], row["ttc"] or ""))


def _unique_countermeasures(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for row in rows:
        if row["d3fend_id"] not in seen:
            seen.add(row["d3fend_id"])
            out.append({"id": row["d3fend_id"], "name": row["defensive_technique"], "tactic": row["tactic"]})
    return out


def _kb_estimate(kb, attack_id: str) -> dict | None:
    """The estimate of an evidence catalog loaded into the knowledge base (``kb load --evidence``) for a technique
    the language's own catalog does not cover; None when there is none."""
    if kb is None or not hasattr(kb, "estimates_for"):
        return None
    from breachpath.evidence.model import estimate_from_dict

    rows = kb.estimates_for(attack_id)
    if not rows:
        return None
    found = estimate_summaries([estimate_from_dict(rows[0], f"{kb.path}: estimate for {attack_id}")])
    summary = found.get(attack_id) or next(iter(found.values()), None)
    if summary is not None:
        summary["catalog"] = "knowledge base"
    return summary


def estimate_summaries(estimates) -> dict[str, dict]:
    """ATT&CK id → what the report shows of its estimate: the MAL result, the Beta-pooled interval of its findings
    (when it has any) and its sources."""
    from breachpath.evidence.pool import beta_pooled

    out = {}
    for e in estimates:
        if not e.attack_id:
            continue
        pooled = beta_pooled(e.findings)
        out[e.attack_id] = {
            "catalog": "language",
            "step": e.step,
            "result": e.result,
            "interval": pooled["interval"] if pooled else None,
            "sources": [{"source": f.source, "url": f.url} for f in e.findings],
        }
    return out


def render_html(data: dict) -> str:
    """The report as one HTML document (autoescaped)."""
    import jinja2

    from breachpath.evidence.model import is_link

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    # `url is link`: only http(s) URLs from estimate files become links (javascript: and data: stay text), whatever
    # the CSP does.
    env.tests["link"] = is_link
    env.globals["pct"] = lambda v: "—" if v is None else f"{100 * v:.1f}"
    env.globals["days"] = lambda v: "∞" if v is None else f"{v:.3g}"
    return env.get_template("report.html.j2").render(**data)
