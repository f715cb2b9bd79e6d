"""The knowledge base: MITRE ATT&CK in SQLite, with pages, search and export.

>>> from breachpath.kb import load_attack, KnowledgeBase
>>> load_attack(["../shared/data/attack"], "kb.sqlite")          # doctest: +SKIP
>>> KnowledgeBase.open("kb.sqlite").page("T1584.006")["groups"]  # doctest: +SKIP
"""

from breachpath.kb.load import load_attack, load_d3fend, load_knowledge_base
from breachpath.kb.pages import KnowledgeBase, kind_of_id
from breachpath.kb.render import render_group_techniques, render_page
from breachpath.kb.stix import KINDS
from breachpath.kb.store import default_db_path

__all__ = [
    "KINDS",
    "KnowledgeBase",
    "default_db_path",
    "kind_of_id",
    "load_attack",
    "load_d3fend",
    "load_knowledge_base",
    "render_group_techniques",
    "render_page",
]
