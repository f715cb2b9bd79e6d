"""Where an attack step's TTC comes from, as its ``modeler info`` says.

attacklang (1.0) states, for every timed step, the origin of its TTC in one sentence of its ``modeler info``:

- ``TTC: estimate estimates/T1190.yaml (Exploit Public-Facing Application): Exponential(24)+…`` — an evidence
  estimate from the language's catalog (the path is relative to the language's directory);
- ``TTC: default for initial access, HardAndUncertain: <reason>.`` — a documented default for the step's tactic
  and difficulty.

A gate (``defeat… [Bernoulli(1 − effectiveness)]``) says it the way the generator writes it:
``estimates/M1032.yaml (Beta-pooled findings). Effectiveness 99.46%; defeated otherwise.`` (an estimate) or
``No evidence in the catalog: the uninformed Beta(1, 1) prior's 50%. Effectiveness 50.00%; defeated otherwise.``
(a default, its reason the text before "Effectiveness").

Any other language can follow the same convention; a timed step that does not is "unstated".
"""

from __future__ import annotations

import re

from breachpath.lang.spec import Step

#: The kinds :func:`ttc_provenance` gives, in the order a reader checks them.
KINDS = ("estimate", "default", "unstated")

# A sentence ends at a full stop followed by the end of the text or by a space and something other than a lower-case
# letter: the stops inside "estimates/T1190.yaml", "Bernoulli(0.5)" or "e.g. a" do not end it.
_END = r"\.(?=\s+[^a-z\s]|\s*$)"
_ESTIMATE = re.compile(r"(?:^|(?<=\s))TTC: estimate (?P<source>\S+?\.ya?ml)\b.*?" + _END, re.S)
_DEFAULT = re.compile(r"(?:^|(?<=\s))TTC: default for (?P<tactic>[^,.]+), (?P<reason>.*?)" + _END, re.S)
_GATE = re.compile(r"^\s*(?P<before>.*?)\s*\beffectiveness \d+(?:\.\d+)?%.*?defeated otherwise\.", re.S | re.IGNORECASE)
_GATE_SOURCE = re.compile(r"^(?P<source>estimates/\S+?\.ya?ml)\b")


def ttc_provenance(step: Step) -> dict | None:
    """Where ``step``'s TTC comes from, read from its ``modeler info`` (the convention in this module's docstring).
    Every answer has the keys kind, source, reason, tactic and text (None where they do not apply):

    - ``{"kind": "estimate", "source": "estimates/T1190.yaml", "text": <the sentence>, …}``;
    - ``{"kind": "default", "source": None, "reason": "HardAndUncertain: <reason>", "tactic": "initial access",
      "text": <the sentence>}`` (a gate's default has no tactic: ``"tactic": None``);
    - ``{"kind": "unstated", "source": None, "reason": None, "text": None}`` for a timed step that says neither;
    - None for a step without a TTC, and for a defense, whose bracket says whether it is on, not a time.
    """
    if step.ttc is None or step.kind not in ("or", "and"):
        return None
    info = step.meta.get("modeler") or ""
    if found := _ESTIMATE.search(info):
        return _found("estimate", found.group(0), source=found.group("source"))
    if found := _DEFAULT.search(info):
        return _found("default", found.group(0), reason=found.group("reason").strip(), tactic=found.group("tactic"))
    if found := _GATE.search(info):
        before = found.group("before").strip()
        if source := _GATE_SOURCE.match(before):
            return _found("estimate", found.group(0), source=source.group("source"))
        if before:
            return _found("default", found.group(0), reason=before.removesuffix(".").strip())
    return _found("unstated", None)


def _found(kind: str, text: str | None, source: str | None = None, reason: str | None = None, tactic=None) -> dict:
    return {
        "kind": kind,
        "source": source,
        "reason": reason,
        "tactic": tactic.strip() if tactic else None,
        "text": text.strip() if text else None,
    }


def provenance_label(found: dict | None) -> str:
    """One line for people: ``estimate (estimates/T1190.yaml)``, ``default — HardAndUncertain: <reason>``,
    ``unstated``, or ``no TTC``."""
    if found is None:
        return "no TTC"
    if found["kind"] == "estimate":
        return f"estimate ({found['source']})"
    if found["kind"] == "default":
        return f"default — {found['reason']}"
    return found["kind"]
