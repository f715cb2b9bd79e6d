"""The knowledge base: MITRE ATT&CK and D3FEND in SQLite, with pages, search, countermeasures and export.

>>> from breachpath.kb import load_attack, KnowledgeBase
>>> load_attack(["../shared/data/attack"], "kb.sqlite")          # doctest: +SKIP
>>> KnowledgeBase.open("kb.sqlite").page("T1584.006")["groups"]  # doctest: +SKIP

Names are imported on first use, so that a query (`breachpath kb show`) does not pay for the loader's imports.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "KINDS": "breachpath.kb.stix",
    "KnowledgeBase": "breachpath.kb.pages",
    "default_db_path": "breachpath.kb.store",
    "kind_of_id": "breachpath.kb.pages",
    "load_attack": "breachpath.kb.load",
    "load_d3fend": "breachpath.kb.load",
    "load_knowledge_base": "breachpath.kb.load",
    "render_group_techniques": "breachpath.kb.render",
    "render_page": "breachpath.kb.render",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'breachpath.kb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
