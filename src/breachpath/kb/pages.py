"""Query the knowledge base: resolve ids, build pages, search, list a group's techniques, export.

A *page* is a plain dict (JSON-ready) holding everything ATT&CK says about one object, with related
objects as ``{"id", "name"}`` references; :mod:`breachpath.kb.render` turns it into markdown.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson

from breachpath.errors import AmbiguousIdError, InputError, NotFoundError
from breachpath.kb.actors import ActorQueries
from breachpath.kb.d3fend_pages import D3FEND_ID, D3fendQueries
from breachpath.kb.stix import KINDS
from breachpath.kb.store import default_db_path, open_database
from breachpath.kb.text import clean

#: Id prefix → kind, tried in this order (``TA`` before ``T``, ``DET`` before ``DS``...).
ID_PATTERNS = (
    (re.compile(r"^TA\d{4}$"), "tactic"),
    (re.compile(r"^T\d{4}(\.\d{3})?$"), "technique"),
    (re.compile(r"^G\d{4}$"), "group"),
    (re.compile(r"^S\d{4}$"), "software"),
    (re.compile(r"^C\d{4}$"), "campaign"),
    (re.compile(r"^M\d{4}$"), "mitigation"),
    (re.compile(r"^DS\d{4}$"), "data-source"),
    (re.compile(r"^DC\d{4}$"), "data-component"),
    (re.compile(r"^DET\d{4}$"), "detection-strategy"),
    (re.compile(r"^AN\d{4}$"), "analytic"),
    (re.compile(r"^A\d{4}$"), "asset"),
)

# bm25 scores are negative (more negative = better): a larger weight ranks a kind higher.
_KIND_WEIGHT_SQL = (
    "(CASE o.kind WHEN 'technique' THEN 2.0 WHEN 'group' THEN 1.8 WHEN 'software' THEN 1.6 "
    "WHEN 'campaign' THEN 1.5 WHEN 'mitigation' THEN 1.5 WHEN 'tactic' THEN 1.5 ELSE 1.0 END)"
)

_OBJECT_COLUMNS = "id, attack_id, kind, stix_type, name, aliases, description, domains, platforms, url, revoked, deprecated, extra, stix_id"


def _dicts(value: object) -> list[dict]:
    """Only the dicts of a list field (bundles are untrusted: a field may hold anything)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def kind_of_id(attack_id: str) -> str | None:
    """The kind an ATT&CK id's prefix names (``T1059`` → technique), or None if it names none."""
    for pattern, kind in ID_PATTERNS:
        if pattern.match(attack_id):
            return kind
    return None


_ID_PARTS = re.compile(r"^([A-Z]+)(\d+)(?:\.(\d+))?$")


def _id_sort_key(ref: dict) -> tuple:
    """Sort ``G0010`` before ``G1006`` and ``T1003.001`` after ``T1003``; objects without ids last."""
    value = ref.get("id") or ""
    match = _ID_PARTS.match(value)
    if not match:
        return (1, value, 0, ref.get("name", ""))
    return (0, match.group(1), int(match.group(2)), int(match.group(3) or 0))


class KnowledgeBase(D3fendQueries, ActorQueries):
    """A read-only view of a knowledge base file built by :func:`breachpath.kb.load_attack`."""

    def __init__(self, con: sqlite3.Connection, path: Path):
        self.con = con
        self.path = path
        self._meta: dict | None = None

    @classmethod
    def open(cls, path: Path | str | None = None) -> KnowledgeBase:
        """Open the knowledge base at ``path`` (default: :func:`breachpath.kb.store.default_db_path`)."""
        db_path = Path(path) if path else default_db_path()
        return cls(open_database(db_path), db_path)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------------------------

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = {k: orjson.loads(v) for k, v in self.con.execute("SELECT key, value FROM meta")}
        return self._meta

    def attack_version(self, domain: str) -> str | None:
        return (self.meta.get("attack", {}).get("domains", {}).get(domain) or {}).get("version")

    def info(self) -> dict:
        """What the knowledge base holds: ATT&CK version and source per domain, and object counts."""
        counts = dict(self.con.execute("SELECT kind, count(*) FROM objects GROUP BY kind ORDER BY kind"))
        links = self.con.execute("SELECT count(*) FROM links").fetchone()[0]
        attack = self.meta.get("attack") or {}
        return {
            "path": str(self.path),
            "breachpath_version": self.meta.get("breachpath_version"),
            "attack": {"loaded_at": attack.get("loaded_at"), "sources": attack.get("sources", [])} if attack else None,
            "domains": attack.get("domains", {}),
            "objects": counts,
            "links": links,
            "d3fend": self.meta.get("d3fend"),
            "evidence": self.meta.get("evidence"),
        }

    # -- resolving ids --------------------------------------------------------------------------------

    def _objects_with_id(self, attack_id: str) -> list[sqlite3.Row]:
        return self.con.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE attack_id = ? COLLATE NOCASE", (attack_id,)
        ).fetchall()

    def resolve(
        self, attack_id: str, kind: str | None = None, follow_revoked: bool = True
    ) -> tuple[tuple, dict | None]:
        """Find the object an ATT&CK id names, as ``(row, redirect)``.

        ATT&CK ids are not unique across object types (deprecated mitigations reuse ``T…`` ids) nor across
        time (revoked objects keep theirs). The id resolves to the live object of ``kind`` (default: the
        kind its prefix names). A revoked object is followed along ``revoked-by`` to its replacement, and
        ``redirect`` says so. Several live candidates raise :class:`AmbiguousIdError`, never a guess.
        """
        attack_id = attack_id.strip()
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown type {kind!r}; one of: {', '.join(KINDS)}")
        rows = self._objects_with_id(attack_id)
        if not rows:
            raise NotFoundError(f"{attack_id}: no ATT&CK object has this id in {self.path}")
        wanted = kind or kind_of_id(attack_id.upper())
        candidates = [r for r in rows if r[2] == wanted] if wanted else rows
        if not candidates:
            others = ", ".join(f"a {r[2]} ({r[4]}{_status_note(r)})" for r in rows)
            raise NotFoundError(f"{attack_id}: no {wanted} has this id; it names {others}: use --type {rows[0][2]}")
        live = [r for r in candidates if not r[10] and not r[11]]
        if len(live) > 1:
            raise _ambiguous(attack_id, live)
        if live:
            return live[0], None
        revoked = [r for r in candidates if r[10]]
        if revoked and follow_revoked:
            return self._follow_revoked(revoked[0])
        if len(candidates) > 1:
            raise _ambiguous(attack_id, candidates)
        return candidates[0], None

    def _follow_revoked(self, row: tuple) -> tuple[tuple, dict]:
        redirect = {"id": row[1], "name": row[4], "kind": row[2], "reason": "revoked", "chain": []}
        seen = {row[0]}
        current = row
        while current[10]:
            nxt = self.con.execute(
                f"SELECT {', '.join('o.' + c.strip() for c in _OBJECT_COLUMNS.split(','))} FROM links l "
                "JOIN objects o ON o.id = l.dst WHERE l.src = ? AND l.rel = 'revoked-by'",
                (current[0],),
            ).fetchone()
            if nxt is None or nxt[0] in seen or len(seen) > 32:
                break
            seen.add(nxt[0])
            redirect["chain"].append({"id": nxt[1], "name": nxt[4]})
            current = nxt
        return current, redirect

    # -- pages ----------------------------------------------------------------------------------------

    def page(self, attack_id: str, kind: str | None = None, follow_revoked: bool = True, d3fend: bool = False) -> dict:
        """Everything the knowledge base says about the object ``attack_id`` names, as a JSON-ready dict.

        ATT&CK ids give ATT&CK pages; D3FEND ids (``D3-NTA``) and class names (``NetworkTrafficAnalysis``)
        give D3FEND class pages, and so does an ATT&CK id with ``d3fend=True`` (D3FEND's view of it).
        """
        text = attack_id.strip()
        if d3fend or kind == "d3fend":
            return self.d3fend_page(text, by_attack_id=kind_of_id(text.upper()) is not None)
        if D3FEND_ID.match(text):
            return self.d3fend_page(text)
        if kind is None and kind_of_id(text.upper()) is None and not self._objects_with_id(text) and self.has_d3fend():
            return self.d3fend_page(text)
        row, redirect = self.resolve(attack_id, kind, follow_revoked)
        page = self._page_for_row(row)
        if redirect:
            page["redirected_from"] = redirect
        others = [r for r in self._objects_with_id(row[1] or "") if r[0] != row[0]]
        if others:
            page["same_id_elsewhere"] = [
                {"kind": r[2], "name": r[4], "revoked": bool(r[10]), "deprecated": bool(r[11])} for r in others
            ]
        return page

    def _page_for_row(self, row: tuple) -> dict:
        extra = orjson.loads(row[12])
        page = self._base(row, extra)
        builder = getattr(self, "_page_" + row[2].replace("-", "_"), None)
        if builder is not None:
            builder(row[0], page, extra)
        return page

    def _base(self, row: tuple, extra: dict) -> dict:
        domains = orjson.loads(row[7])
        domain = domains[0] if domains else None
        page = {
            "id": row[1],
            "name": row[4],
            "type": row[2],
            "description": clean(row[6]),
            "url": row[9],
            "revoked": bool(row[10]),
            "deprecated": bool(row[11]),
            "domain": domain,
            "domains": domains,
            "attack_version": self.attack_version(domain) if domain else None,
            "stix_id": row[13],
        }
        aliases = orjson.loads(row[5])
        if aliases or row[2] in ("group", "software", "campaign"):
            page["aliases"] = aliases
        platforms = orjson.loads(row[8])
        if platforms or row[2] in ("technique", "software"):
            page["platforms"] = platforms
        if row[10]:
            page["revoked_by"] = self._refs(row[0], "revoked-by", outgoing=True, live_only=False)
        page["version"] = extra.get("x_mitre_version")
        page["created"] = extra.get("created")
        page["modified"] = extra.get("modified")
        page["references"] = [
            {k: ref[k] for k in ("source_name", "description", "url", "external_id") if ref.get(k)}
            for ref in _dicts(extra.get("references"))
        ]
        return page

    def _linked(self, obj: int, rel: str, outgoing: bool, kind: str | None = None, live_only: bool = True) -> list:
        """Objects linked to ``obj`` by ``rel`` (``outgoing``: obj is the source).

        Rows are ``(row id, attack id, name, kind, stix type, link description, link extra)``.
        """
        this, other = ("src", "dst") if outgoing else ("dst", "src")
        sql = (
            "SELECT o.id, o.attack_id, o.name, o.kind, o.stix_type, l.description, l.extra "
            f"FROM links l JOIN objects o ON o.id = l.{other} WHERE l.{this} = ? AND l.rel = ?"
        )
        params: list = [obj, rel]
        if live_only:
            sql += " AND l.live = 1 AND o.revoked = 0 AND o.deprecated = 0"
        if kind:
            sql += " AND o.kind = ?"
            params.append(kind)
        # ATT&CK ids have fixed-width numbers, so text order is id order (T1003 < T1003.001 < T1005).
        return self.con.execute(sql + " ORDER BY o.attack_id", params).fetchall()

    def _refs(self, obj: int, rel: str, outgoing: bool, kind: str | None = None, live_only: bool = True) -> list[dict]:
        return [{"id": r[1], "name": r[2]} for r in self._linked(obj, rel, outgoing, kind, live_only)]

    @staticmethod
    def _ref_rows(rows: list, described: bool = False) -> list[dict]:
        out = []
        for r in rows:
            ref = {"id": r[1], "name": r[2]}
            if r[3] == "software":
                ref["type"] = r[4]
            if described:
                ref["how"] = clean(r[5])
            out.append(ref)
        return out

    def _uses(self, obj: int, kind: str, described: bool = False) -> list[dict]:
        """Objects of ``kind`` that ``obj`` uses (outgoing ``uses``), with how when ``described``."""
        return self._ref_rows(self._linked(obj, "uses", True, kind), described)

    def _users(self, obj: int) -> dict[str, list]:
        """Objects that use ``obj`` (incoming ``uses``), rows grouped by kind: one query for all kinds."""
        by_kind: dict[str, list] = {}
        for r in self._linked(obj, "uses", False):
            by_kind.setdefault(r[3], []).append(r)
        return by_kind

    def _page_technique(self, obj: int, page: dict, extra: dict) -> None:
        parents = self._refs(obj, "subtechnique-of", outgoing=True)
        page["is_subtechnique"] = bool(extra.get("x_mitre_is_subtechnique"))
        page["parent"] = parents[0] if parents else None
        page["subtechniques"] = self._refs(obj, "subtechnique-of", outgoing=False)
        page["tactics"] = self._tactics(obj)
        users = self._users(obj)
        page["groups"] = self._technique_groups(obj, users)
        page["software"] = self._ref_rows(users.get("software", []))
        page["campaigns"] = self._ref_rows(users.get("campaign", []))
        page["mitigations"] = sorted(
            ({"id": r[1], "name": r[2], "how": clean(r[5])} for r in self._linked(obj, "mitigates", False)),
            key=_id_sort_key,
        )
        page["detection"] = self._detection(obj, extra)
        page["d3fend"] = self.technique_d3fend(page["id"])
        page["estimates"] = self.estimates_for(page["id"], (page.get("redirected_from") or {}).get("id"))
        page["data_sources"] = _strings(extra.get("x_mitre_data_sources"))
        page["targets_assets"] = self._refs(obj, "targets", outgoing=True)
        for key, field in (
            ("contributors", "x_mitre_contributors"),
            ("permissions_required", "x_mitre_permissions_required"),
            ("effective_permissions", "x_mitre_effective_permissions"),
            ("defense_bypassed", "x_mitre_defense_bypassed"),
            ("system_requirements", "x_mitre_system_requirements"),
            ("impact_type", "x_mitre_impact_type"),
            ("remote_support", "x_mitre_remote_support"),
            ("tactic_type", "x_mitre_tactic_type"),
        ):
            if field in extra:
                page[key] = extra[field]

    def _technique_groups(self, obj: int, users: dict[str, list]) -> list[dict]:
        """Groups using technique ``obj`` directly, then those reaching it only through a campaign (``via``)."""
        groups = self._ref_rows(users.get("group", []))
        direct = {g["id"] for g in groups}
        via: dict[str, dict] = {}
        for campaign in users.get("campaign", []):
            for g in self._linked(campaign[0], "attributed-to", True, "group"):
                if g[1] not in direct:
                    via.setdefault(g[1], {"id": g[1], "name": g[2], "via": []})["via"].append(campaign[1])
        return groups + sorted(via.values(), key=_id_sort_key)

    def _tactics(self, obj: int) -> list[dict]:
        rows = self.con.execute(
            "SELECT o.attack_id, o.name, o.extra, coalesce(min(json_extract(m.extra, '$.order')), 99) "
            "FROM links l JOIN objects o ON o.id = l.dst "
            "LEFT JOIN links m ON m.dst = o.id AND m.rel = 'has-tactic' "
            "WHERE l.src = ? AND l.rel = 'in-tactic' GROUP BY o.id ORDER BY 4, o.attack_id",
            (obj,),
        ).fetchall()
        return [{"id": r[0], "name": r[1], "shortname": orjson.loads(r[2]).get("x_mitre_shortname")} for r in rows]

    def _detection(self, obj: int, extra: dict) -> dict:
        components = []
        for r in self._linked(obj, "detects", False, "data-component"):
            sources = self._refs(r[0], "component-of", outgoing=True, live_only=False)
            components.append(
                {
                    "data_source": sources[0] if sources else None,
                    "data_component": {"id": r[1], "name": r[2]},
                    "description": clean(r[5]),
                }
            )
        components.sort(key=lambda c: ((c["data_source"] or {}).get("name", ""), c["data_component"]["name"]))
        strategies = [
            {"id": r[1], "name": r[2], "analytics": self._analytics(r[0])}
            for r in self._linked(obj, "detects", False, "detection-strategy")
        ]
        strategies.sort(key=_id_sort_key)
        return {
            "text": clean(extra.get("x_mitre_detection")),
            "data_components": components,
            "strategies": strategies,
        }

    def _analytics(self, strategy: int) -> list[dict]:
        rows = self.con.execute(
            "SELECT o.id, o.attack_id, o.name, o.description, o.platforms, o.extra FROM links l "
            "JOIN objects o ON o.id = l.dst WHERE l.src = ? AND l.rel = 'has-analytic'",
            (strategy,),
        ).fetchall()
        analytics = [
            {
                "id": r[1],
                "name": r[2],
                "description": clean(r[3]),
                "platforms": orjson.loads(r[4]),
                "log_sources": self._log_sources(r[0]),
                "mutable_elements": _dicts(orjson.loads(r[5]).get("x_mitre_mutable_elements")),
            }
            for r in rows
        ]
        return sorted(analytics, key=_id_sort_key)

    def _log_sources(self, analytic: int) -> list[dict]:
        out = []
        for r in self._linked(analytic, "log-source", True, live_only=False):
            detail = orjson.loads(r[6]) if r[6] else {}
            out.append(
                {
                    "data_component": {"id": r[1], "name": r[2]},
                    "name": detail.get("name"),
                    "channel": detail.get("channel"),
                }
            )
        return out

    def _page_tactic(self, obj: int, page: dict, extra: dict) -> None:
        page["shortname"] = extra.get("x_mitre_shortname")
        page["techniques"] = self._refs(obj, "in-tactic", outgoing=False)

    def _page_group(self, obj: int, page: dict, extra: dict) -> None:
        page["techniques"] = self.group_techniques_for(obj)
        page["software"] = self._uses(obj, "software")
        page["campaigns"] = self._refs(obj, "attributed-to", outgoing=False, kind="campaign")
        page["contributors"] = extra.get("x_mitre_contributors", [])

    def _page_software(self, obj: int, page: dict, extra: dict) -> None:
        page["software_type"] = extra.get("software_type")
        page["techniques"] = self._uses(obj, "technique", described=True)
        users = self._users(obj)
        page["groups"] = self._ref_rows(users.get("group", []))
        page["campaigns"] = self._ref_rows(users.get("campaign", []))

    def _page_campaign(self, obj: int, page: dict, extra: dict) -> None:
        page["first_seen"] = extra.get("first_seen")
        page["last_seen"] = extra.get("last_seen")
        page["groups"] = self._refs(obj, "attributed-to", outgoing=True, kind="group")
        page["techniques"] = self._uses(obj, "technique", described=True)
        page["software"] = self._uses(obj, "software")

    def _page_mitigation(self, obj: int, page: dict, extra: dict) -> None:
        page["techniques"] = sorted(
            ({"id": r[1], "name": r[2], "how": clean(r[5])} for r in self._linked(obj, "mitigates", True)),
            key=_id_sort_key,
        )

    def _page_data_source(self, obj: int, page: dict, extra: dict) -> None:
        page["collection_layers"] = _strings(extra.get("x_mitre_collection_layers"))
        page["data_components"] = self._refs(obj, "component-of", outgoing=False, live_only=False)

    def _page_data_component(self, obj: int, page: dict, extra: dict) -> None:
        sources = self._refs(obj, "component-of", outgoing=True, live_only=False)
        page["data_source"] = sources[0] if sources else None
        page["log_sources"] = _dicts(extra.get("x_mitre_log_sources"))
        page["techniques"] = self._refs(obj, "detects", outgoing=True, kind="technique")
        page["analytics"] = self._refs(obj, "log-source", outgoing=False)

    def _page_detection_strategy(self, obj: int, page: dict, extra: dict) -> None:
        page["techniques"] = self._refs(obj, "detects", outgoing=True)
        page["analytics"] = self._analytics(obj)

    def _page_analytic(self, obj: int, page: dict, extra: dict) -> None:
        strategies = self._refs(obj, "has-analytic", outgoing=False)
        page["detection_strategy"] = strategies[0] if strategies else None
        page["log_sources"] = self._log_sources(obj)
        page["mutable_elements"] = _dicts(extra.get("x_mitre_mutable_elements"))
        techniques: list[dict] = []
        for strategy in self._linked(obj, "has-analytic", False):
            techniques += self._refs(strategy[0], "detects", outgoing=True)
        page["techniques"] = sorted(techniques, key=_id_sort_key)

    def _page_asset(self, obj: int, page: dict, extra: dict) -> None:
        page["sectors"] = extra.get("x_mitre_sectors", [])
        page["techniques"] = self._refs(obj, "targets", outgoing=False)

    def _page_matrix(self, obj: int, page: dict, extra: dict) -> None:
        rows = self._linked(obj, "has-tactic", True, live_only=False)
        order = {r[0]: orjson.loads(r[6]).get("order", 0) for r in rows}
        page["tactics"] = [{"id": r[1], "name": r[2]} for r in sorted(rows, key=lambda r: order[r[0]])]

    # -- evidence -------------------------------------------------------------------------------------

    def estimates_for(self, *attack_ids: str | None) -> list[dict]:
        """Estimates loaded from an evidence catalog for these ATT&CK ids (a technique and its old id)."""
        ids = [a for a in attack_ids if a]
        if not ids or not self.meta.get("evidence"):
            return []
        marks = ",".join("?" * len(ids))
        rows = self.con.execute(f"SELECT data FROM estimates WHERE attack_id IN ({marks}) COLLATE NOCASE", ids)
        return [orjson.loads(r[0]) for r in rows]

    # -- group techniques -----------------------------------------------------------------------------

    def group_techniques_for(self, group: int) -> list[dict]:
        """Techniques a group (by row id) uses directly and through its campaigns (``via``)."""
        found: dict[str, dict] = {}
        for r in self._linked(group, "uses", True, "technique"):
            found[r[1]] = {"id": r[1], "name": r[2], "direct": True, "via": [], "how": clean(r[5])}
        for campaign in self._linked(group, "attributed-to", False, "campaign"):
            for r in self._linked(campaign[0], "uses", True, "technique"):
                entry = found.setdefault(r[1], {"id": r[1], "name": r[2], "direct": False, "via": [], "how": ""})
                entry["via"].append(campaign[1])
        return sorted(found.values(), key=_id_sort_key)

    def group_techniques(self, group_id: str) -> dict:
        """The techniques the group ``group_id`` uses: ``{"group": {...}, "techniques": [...]}``."""
        row, redirect = self.resolve(group_id, "group")
        result = {
            "group": {"id": row[1], "name": row[4]},
            "attack_version": self.attack_version(orjson.loads(row[7])[0]),
            "techniques": self.group_techniques_for(row[0]),
        }
        if redirect:
            result["redirected_from"] = redirect
        return result

    def technique_groups(self, technique_id: str) -> list[dict]:
        """Groups that use the technique (directly, or ``via`` their campaigns), as on its page."""
        row, _ = self.resolve(technique_id, "technique")
        return self._technique_groups(row[0], self._users(row[0]))

    # -- search and export ----------------------------------------------------------------------------

    def search(self, text: str, kind: str | None = None, limit: int = 20, include_revoked: bool = False) -> list[dict]:
        """Full-text search over names, aliases and descriptions, best match first (FTS5 bm25).

        Names weigh ten times and aliases five times a description; techniques, groups and software rank
        above detection analytics that merely mention the words. An exact ATT&CK id comes first. D3FEND
        classes (defensive techniques, artifacts) are searched too when D3FEND is loaded (``kind="d3fend"``
        for them alone).
        """
        if kind is not None and kind not in (*KINDS, "d3fend"):
            raise InputError(f"unknown type {kind!r}; one of: {', '.join(KINDS)}, d3fend")
        if limit < 1:
            raise InputError(f"--limit must be at least 1, not {limit}")
        query, words = fts_query(text)
        hits: list[dict] = []
        if kind != "d3fend":
            exact = self._objects_with_id(text.strip()) if kind_of_id(text.strip().upper()) else []
            for r in exact:
                if (kind is None or r[2] == kind) and (include_revoked or not (r[10] or r[11])):
                    hits.append(_hit(r[1], r[4], r[2], r[10], r[11], r[6], r[7], None))
            hits += self._search_attack(query, kind, limit, include_revoked)
        if kind in (None, "d3fend") and self.has_d3fend():
            hits += self._search_d3fend(query, limit, everything=kind == "d3fend")
        # An exact id comes first, then exact names, then the rest by score.
        wanted = " ".join(words).lower()
        exact_first = [h for h in hits if h["score"] is None]
        ranked = sorted(
            (h for h in hits if h["score"] is not None),
            key=lambda h: (" ".join(re.findall(r"\w+", h["name"])).lower() != wanted, -h["score"]),
        )
        seen: set = set()
        out = []
        for h in exact_first + ranked:
            if (h["id"], h["type"]) not in seen:
                seen.add((h["id"], h["type"]))
                out.append(h)
        return out[:limit]

    def _search_attack(self, query: str, kind: str | None, limit: int, include_revoked: bool) -> list[dict]:
        where = ["objects_fts MATCH ?"]
        params: list = [query]
        if kind:
            where.append("o.kind = ?")
            params.append(kind)
        if not include_revoked:
            where.append("o.revoked = 0 AND o.deprecated = 0")
        sql = (
            # A snippet needs only the start of a description.
            "SELECT o.attack_id, o.name, o.kind, o.revoked, o.deprecated, substr(o.description, 1, 400), o.domains, "
            f"bm25(objects_fts, 10.0, 5.0, 1.0) * {_KIND_WEIGHT_SQL} AS score "
            "FROM objects_fts JOIN objects o ON o.id = objects_fts.rowid "
            f"WHERE {' AND '.join(where)} ORDER BY score LIMIT ?"
        )
        return [_hit(*r) for r in self.con.execute(sql, [*params, limit])]

    def _search_d3fend(self, query: str, limit: int, everything: bool) -> list[dict]:
        # ATT&CK's own objects answer for ATT&CK techniques and tactics, unless D3FEND alone is asked for.
        skip = "" if everything else "AND c.kind NOT IN ('offensive-technique', 'offensive-tactic')"
        sql = (
            "SELECT coalesce(c.d3fend_id, c.name), c.label, c.kind, c.deprecated, substr(c.definition, 1, 400), "
            "bm25(d3f_fts, 10.0, 5.0, 1.0) * (CASE c.kind WHEN 'defensive-technique' THEN 1.8 ELSE 1.0 END) AS score "
            "FROM d3f_fts JOIN d3f_classes c ON c.id = d3f_fts.rowid "
            f"WHERE d3f_fts MATCH ? {skip} ORDER BY score LIMIT ?"
        )
        return [
            {
                "id": r[0],
                "name": r[1],
                "type": "d3fend",
                "d3fend_kind": r[2],
                "revoked": False,
                "deprecated": bool(r[3]),
                "domains": ["d3fend"],
                "score": round(-r[5], 3),
                "snippet": _snippet(r[4]),
            }
            for r in self.con.execute(sql, (query, limit))
        ]

    def attack_status(self, attack_ids: list[str]) -> dict[str, dict]:
        """For each ATT&CK id (technique or mitigation, by prefix): ``status`` (live, revoked, deprecated, or
        "unknown"), ``name``, and for techniques their ``tactics`` ({id, name, shortname}) — how a language's
        coverage is measured (:func:`breachpath.lang.coverage.coverage`)."""
        out: dict[str, dict] = {}
        for attack_id in attack_ids:
            kind = kind_of_id(attack_id.upper())
            rows = [r for r in self._objects_with_id(attack_id) if kind is None or r[2] == kind]
            live = [r for r in rows if not r[10] and not r[11]]
            if live:
                row = live[0]
                entry = {"status": "live", "name": row[4]}
                if row[2] == "technique":
                    entry["tactics"] = [{k: t[k] for k in ("id", "name", "shortname")} for t in self._tactics(row[0])]
            elif rows:
                entry = {"status": "revoked" if rows[0][10] else "deprecated", "name": rows[0][4]}
            else:
                entry = {"status": "unknown", "name": None}
            out[attack_id] = entry
        return out

    def technique_table(self, domain: str = "enterprise-attack") -> list[dict]:
        """Every live technique and sub-technique of ``domain`` with what a language generator needs: ``id``,
        ``name``, ``platforms``, ``tactics`` (short names), ``mitigations`` (ids of the live mitigations with a live
        ``mitigates`` relationship to it), in id order. Three queries, whatever the number of techniques."""
        like = f'%"{domain}"%'
        rows = self.con.execute(
            "SELECT id, attack_id, name, platforms FROM objects WHERE kind = 'technique' AND revoked = 0 "
            "AND deprecated = 0 AND domains LIKE ? AND attack_id IS NOT NULL",
            (like,),
        ).fetchall()
        tactics: dict[int, list[str]] = {}
        for obj, shortname in self.con.execute(
            "SELECT l.src, json_extract(t.extra, '$.x_mitre_shortname') FROM links l JOIN objects t ON t.id = l.dst "
            "WHERE l.rel = 'in-tactic' AND t.domains LIKE ?",
            (like,),
        ):
            tactics.setdefault(obj, []).append(shortname)
        mitigations: dict[int, list[str]] = {}
        for obj, attack_id in self.con.execute(
            "SELECT l.dst, m.attack_id FROM links l JOIN objects m ON m.id = l.src WHERE l.rel = 'mitigates' "
            "AND l.live = 1 AND m.kind = 'mitigation' AND m.revoked = 0 AND m.deprecated = 0 AND m.attack_id IS NOT NULL"
        ):
            mitigations.setdefault(obj, []).append(attack_id)
        table = [
            {
                "id": r[1],
                "name": r[2],
                "platforms": orjson.loads(r[3]),
                "tactics": sorted(set(tactics.get(r[0], []))),
                "mitigations": sorted(set(mitigations.get(r[0], []))),
            }
            for r in rows
        ]
        return sorted(table, key=lambda t: _id_sort_key(t))

    def tactic_order(self, domain: str = "enterprise-attack") -> dict[str, int]:
        """Tactic ids in the order of the domain's matrix (Reconnaissance first … Impact last)."""
        rows = self.con.execute(
            "SELECT t.attack_id, min(json_extract(l.extra, '$.order')) FROM links l "
            "JOIN objects m ON m.id = l.src JOIN objects t ON t.id = l.dst "
            "WHERE l.rel = 'has-tactic' AND m.domains LIKE ? GROUP BY t.attack_id",
            (f'%"{domain}"%',),
        ).fetchall()
        return {r[0]: r[1] for r in rows if r[0] is not None and r[1] is not None}

    def technique_totals(self, domain: str = "enterprise-attack") -> dict[str, int]:
        """Live techniques and sub-techniques of a domain, and its tactics (the denominators of coverage)."""
        like = f'%"{domain}"%'
        techniques, subs = self.con.execute(
            "SELECT count(*), sum(attack_id LIKE '%.%') FROM objects "
            "WHERE kind = 'technique' AND revoked = 0 AND deprecated = 0 AND domains LIKE ?",
            (like,),
        ).fetchone()
        return {
            "techniques": techniques or 0,
            "sub_techniques": subs or 0,
            "tactics": len(self.tactic_order(domain)),
        }

    def count(self, kind: str, include_revoked: bool = False) -> int:
        """How many objects of ``kind`` :meth:`export` yields."""
        sql = "SELECT count(*) FROM objects WHERE kind = ?"
        if not include_revoked:
            sql += " AND revoked = 0 AND deprecated = 0"
        return self.con.execute(sql, (kind,)).fetchone()[0]

    def export(self, kind: str, include_revoked: bool = False) -> Iterator[dict]:
        """Every object of ``kind`` as its page (the fields of ``kb show``), in id order."""
        if kind not in KINDS:
            raise InputError(f"unknown type {kind!r}; one of: {', '.join(KINDS)}")
        sql = f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE kind = ?"
        if not include_revoked:
            sql += " AND revoked = 0 AND deprecated = 0"
        rows = self.con.execute(sql, (kind,)).fetchall()
        rows.sort(key=lambda r: _id_sort_key({"id": r[1], "name": r[4]}))
        for row in rows:
            yield self._page_for_row(row)


#: Bounds on a search, so that any text answers at once: FTS5's cost grows with the terms of a query (800
#: copies of one word took 14 s), while a phrase of more than a few distinct words matches nothing anyway.
MAX_SEARCH_TERMS = 32
MAX_TERM_CHARS = 64
MAX_SEARCH_CHARS = 65_536


def fts_query(text: str) -> tuple[str, list[str]]:
    """The FTS5 query for user text, and its distinct words: each word a quoted string (so that FTS5 syntax
    in the text, ``"``, ``*``, ``NEAR``, ``^``, ``:``, ``-``, parentheses, is never interpreted), all required,
    the last one also as a prefix (the word being typed).

    A repeated word counts once (ignoring case, as the index does); more than :data:`MAX_SEARCH_TERMS`
    different words, a word longer than :data:`MAX_TERM_CHARS` or a text longer than :data:`MAX_SEARCH_CHARS`
    are refused with a message, never truncated silently.
    """
    if len(text) > MAX_SEARCH_CHARS:
        raise InputError(f"search text of {len(text)} characters; at most {MAX_SEARCH_CHARS}")
    found = re.findall(r"\w+", text)
    if not found:
        raise InputError(f"nothing to search for in {text!r}")
    words = _distinct(found)
    if len(words) > MAX_SEARCH_TERMS:
        raise InputError(f"search text of {len(words)} different words; at most {MAX_SEARCH_TERMS}")
    longest = max(words, key=len)
    if len(longest) > MAX_TERM_CHARS:
        raise InputError(f"search word of {len(longest)} characters ({longest[:20]}…); at most {MAX_TERM_CHARS}")
    # Every word but the last is required as typed; the last also as a prefix (as before de-duplication).
    earlier = _distinct(found[:-1])
    # \w never matches '"', so quoting makes each word a plain string for FTS5.
    return " ".join([*(f'"{w}"' for w in earlier), f'"{found[-1]}"*']), words


def _distinct(words: list[str]) -> list[str]:
    """The first spelling of each word, ignoring case, in order."""
    first: dict[str, str] = {}
    for w in words:
        first.setdefault(w.lower(), w)
    return list(first.values())


def _snippet(text: str, width: int = 160) -> str:
    text = " ".join(clean(text).split())
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + "…"


def _hit(attack_id, name, kind, revoked, deprecated, description, domains, score) -> dict:
    return {
        "id": attack_id,
        "name": name,
        "type": kind,
        "revoked": bool(revoked),
        "deprecated": bool(deprecated),
        "domains": orjson.loads(domains),
        "score": None if score is None else round(-score, 3),
        "snippet": _snippet(description),
    }


def _status_note(row: tuple) -> str:
    return ", revoked" if row[10] else ", deprecated" if row[11] else ""


def _ambiguous(attack_id: str, rows: list) -> AmbiguousIdError:
    candidates = [
        {"id": r[1], "kind": r[2], "name": r[4], "domains": orjson.loads(r[7]), "stix_id": r[13]} for r in rows
    ]
    listed = "; ".join(f"{c['kind']} {c['name']} ({', '.join(c['domains'])})" for c in candidates)
    return AmbiguousIdError(f"{attack_id} is ambiguous: it names {listed}; pass --type to choose", candidates)
