"""Issue 16, part 4: the examples' simulated times beside published figures of the same kind.

For each example system (``breachpath.demo.list_examples()``, 2,000 samples, seed 2026 unless told), every sample's
**foothold** is the earliest time the adversary runs code on a host (``Host.userAccess``) or signs in to a cloud or
SaaS account (``initialAccess``); the intervals below run from it, as the published figures run from initial
access (the phishing campaign before the foothold is not in them):

* breakout: foothold → the first ``lateralMovement`` on any host (CrowdStrike's eCrime breakout time);
* Active Directory: foothold → a domain's ``directoryDumped`` (Sophos's time to Active Directory);
* ransomware: foothold → any target ending in ``:encrypt`` or ``:impact`` (time to ransomware deployment);
* exfiltration: foothold → any target ending in ``:exfiltrate`` (Unit 42's and Sophos's time to exfiltration).

Each row gives the model's median (and mean where the published figure is a mean) over the samples that reach
both ends, the published figure with its source, and the ratio model / published: below 1 the model is faster than
reported reality. The published figures are the research memo's (publisher, report, statistic, URL), quoted here;
the language is not tuned to them (issue 16). Run: ``python bench/world_check.py [--samples N] [--format json]``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

# (kind, statistic, days, what it measures, source, URL)
PUBLISHED = [
    ("breakout", "mean", 29 / 1440, "initial access to first lateral movement, eCrime intrusions 2025",
     "CrowdStrike 2026 Global Threat Report", "https://imtr.net/article/crowdstrike-says-attackers-are-moving-through-networks-in-under-30-minutes-017d"),
    ("breakout", "median", 102 / 1440, "device compromise to the start of lateral movement",
     "Microsoft threat intelligence (2022)", "https://www.thehindu.com/sci-tech/technology/attackers-take-under-two-hours-to-access-private-data-microsoft-report/article65826047.ece"),
    ("active directory", "median", 3.4 / 24, "start of the intrusion to reaching Active Directory (661 cases, 2025)",
     "Sophos Active Adversary Report 2026", "https://www.globenewswire.com/news-release/2026/02/24/3243273/0/en/Sophos-Active-Adversary-Report-2026-Identity-attacks-dominate-as-threat-groups-proliferate.html"),
    ("active directory", "median", 11 / 24, "initial access to an attempt on Active Directory (2024)",
     "Sophos Active Adversary Report 2025", "https://toptechgh.com/?p=11001"),
    ("ransomware", "median", 1.0, "initial access to ransomware deployment, under 24 h (Jun 2022 - Jun 2023)",
     "Secureworks State of the Threat 2023", "https://www.technewsday.com/2023/10/11/ransomware-attacks-now-have-dwell-time-of-24-hours/"),
    ("ransomware", "median", 6.0, "dwell time of ransomware intrusions (2024)",
     "Google Mandiant M-Trends 2025", "https://cybernexum.com/blog/cybersecurity-maturity-trends-2025"),
    ("exfiltration", "median", 2.0, "initial compromise to data exfiltration (2025)",
     "Palo Alto Networks Unit 42 Global Incident Response Report 2026", "https://5ux.com/news/visualized-increasing-speed-cyberattacks"),
    ("exfiltration", "median", 72.98 / 24, "start of the attack to data exfiltration (2024)",
     "Sophos Active Adversary Report 2025", "https://www.dqchannels.com/news/sophos-releases-2025-active-adversary-report-8925901"),
]  # fmt: skip


def model_intervals(example: str, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Per kind of interval, the finite foothold → event times (days) of the samples that reach both."""
    from breachpath.demo import example_path
    from breachpath.graph import scenario_graph
    from breachpath.lang import compile_file
    from breachpath.scenario import read_scenario
    from breachpath.sim import simulate

    scenario = read_scenario(example_path(example))
    spec = compile_file(scenario.lang)
    graph, entries, targets, _ = scenario_graph(spec, scenario)
    hosts = {"Windows", "Linux", "MacOS", "CloudInstance"}

    def nodes(asset_types: set[str] | None, step: str) -> list[int]:
        steps = np.flatnonzero(graph.step_names == step)
        found = np.flatnonzero(np.isin(graph.step, steps))
        return [int(n) for n in found if asset_types is None or str(graph.asset_types[graph.asset[n]]) in asset_types]

    groups = {
        "foothold": nodes(hosts, "userAccess") + nodes(None, "initialAccess"),
        "breakout": nodes(hosts, "lateralMovement"),
        "active directory": nodes({"Domain"}, "directoryDumped"),
        "ransomware": [t for t in targets if graph.name(t).endswith((":encrypt", ":impact"))],
        "exfiltration": [t for t in targets if graph.name(t).endswith(":exfiltrate")],
    }
    out_nodes = sorted({n for group in groups.values() for n in group})
    column = {n: i for i, n in enumerate(out_nodes)}
    sim = simulate(graph, entries, out_nodes, samples=samples, seed=seed)

    def first(group: list[int]) -> np.ndarray:
        if not group:
            return np.full(samples, np.inf)
        return sim.times[:, [column[n] for n in group]].astype(np.float64).min(axis=1)

    foothold = first(groups["foothold"])
    out = {}
    for kind in ("breakout", "active directory", "ransomware", "exfiltration"):
        end = first(groups[kind])
        both = np.isfinite(foothold) & np.isfinite(end)
        out[kind] = end[both] - foothold[both]
    return out


def rows(samples: int, seed: int) -> list[dict]:
    from breachpath.demo import list_examples

    out = []
    for example in list_examples():
        intervals = model_intervals(example, samples, seed)
        for kind, statistic, days, measures, source, url in PUBLISHED:
            times = intervals[kind]
            if not len(times):
                continue
            model = float(np.median(times) if statistic == "median" else times.mean())
            out.append({
                "example": example, "interval": kind, "statistic": statistic, "model_days": model,
                "samples_with_both": int(len(times)), "published_days": days, "ratio": model / days,
                "published": measures, "source": source, "url": url,
            })  # fmt: skip
    return out


def _duration(days: float) -> str:
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    if days < 2:
        return f"{days * 24:.1f} h"
    return f"{days:.1f} d"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    found = rows(args.samples, args.seed)
    if args.format == "json":
        print(json.dumps(found, indent=1))
        return
    print("| example | interval | model | published | model ÷ published | source |")
    print("|---|---|---|---|---|---|")
    for r in found:
        verdict = "faster" if r["ratio"] < 1 else "slower"
        print(
            f"| {r['example']} | {r['interval']} ({r['statistic']}) | {_duration(r['model_days'])} | "
            f"{_duration(r['published_days'])} | {r['ratio']:.2g}× ({verdict}) | [{r['source']}]({r['url']}) |"
        )


if __name__ == "__main__":
    main()
