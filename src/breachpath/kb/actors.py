"""Who uses what: the techniques of an ATT&CK group, campaign or piece of software, and where each comes from.

A mixin of :class:`~breachpath.kb.pages.KnowledgeBase` (it needs ``con``, ``resolve``, ``_linked`` and
``attack_version``). An actor is named by its ATT&CK id (``G0016``), its name or any of its aliases ("Cozy Bear"),
case-insensitively. Its techniques come from three sources, each marked and each selectable:

- ``direct``: the actor's own ``uses`` relationships;
- ``campaigns``: those of the campaigns attributed to a group;
- ``software``: those of the software the actor uses.

Revoked and deprecated objects never contribute: a revoked actor id is followed to its replacement (and said so),
and a deprecated one is an error naming it.
"""

from __future__ import annotations

from breachpath.errors import AmbiguousIdError, InputError, NotFoundError

#: Where an actor's techniques may come from (``via``).
SOURCES = ("direct", "campaigns", "software")
ACTOR_KINDS = ("group", "campaign", "software")


class ActorQueries:
    """Actor lookups and technique profiles for the knowledge base."""

    def find_actor(self, text: str) -> tuple[tuple, dict | None]:
        """The live group, campaign or software ``text`` names (id, name or alias): ``(row, redirect)``."""
        text = text.strip()
        if not text:
            raise InputError("an actor needs a name, an alias or an ATT&CK id (G…, C…, S…)")
        kinds = "', '".join(ACTOR_KINDS)
        if self._objects_with_id(text.upper()):
            row, redirect = self.resolve(text.upper())
            if row[2] not in ACTOR_KINDS:
                raise InputError(f"{text}: {row[4]} is a {row[2]}, not a group, campaign or software")
            if row[11]:
                raise InputError(f"{text}: {row[4]} is deprecated in ATT&CK; it has no live techniques")
            return row, redirect
        columns = (
            "id, attack_id, kind, stix_type, name, aliases, description, domains, platforms, url, revoked, deprecated"
        )
        rows = self.con.execute(
            f"SELECT {columns} FROM objects o WHERE o.kind IN ('{kinds}') AND o.revoked = 0 AND o.deprecated = 0 "
            "AND (lower(o.name) = lower(?) OR EXISTS (SELECT 1 FROM json_each(o.aliases) WHERE lower(value) = lower(?))) "
            "ORDER BY lower(o.name) = lower(?) DESC, o.attack_id",
            (text, text, text),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"{text}: no ATT&CK group, campaign or software has this id, name or alias")
        exact = [r for r in rows if r[4].lower() == text.lower()]
        if len(exact) == 1:
            return exact[0], None
        if len(rows) > 1:
            named = ", ".join(f"{r[1]} ({r[4]}, a {r[2]})" for r in rows[:8])
            raise AmbiguousIdError(f"{text}: names several actors: {named}; use the id")
        return rows[0], None

    def actor_techniques(self, text: str, via: tuple[str, ...] = SOURCES) -> dict:
        """The techniques the actor ``text`` uses, each with the sources it comes from: ``{"actor": {id, name,
        kind, aliases}, "attack_version", "via", "techniques": [{id, name, sources: ["direct", "campaign C0024",
        "software S0154"]}], "redirected_from"?}``. Only the sources in ``via`` count (:data:`SOURCES`)."""
        import orjson

        unknown = sorted(set(via) - set(SOURCES))
        if unknown or not via:
            raise InputError(f"--via {','.join(via) or '(none)'}: choose from {', '.join(SOURCES)}")
        row, redirect = self.find_actor(text)
        found: dict[str, dict] = {}

        def add(rows: list, source: str) -> None:
            for r in rows:
                entry = found.setdefault(r[1], {"id": r[1], "name": r[2], "sources": []})
                if source not in entry["sources"]:
                    entry["sources"].append(source)

        if "direct" in via:
            add(self._linked(row[0], "uses", True, "technique"), "direct")
        if "campaigns" in via and row[2] == "group":
            for campaign in self._linked(row[0], "attributed-to", False, "campaign"):
                add(self._linked(campaign[0], "uses", True, "technique"), f"campaign {campaign[1]}")
        if "software" in via and row[2] != "software":
            for software in self._linked(row[0], "uses", True, "software"):
                add(self._linked(software[0], "uses", True, "technique"), f"software {software[1]}")
        domains = orjson.loads(row[7]) if row[7] else []
        out = {
            "actor": {"id": row[1], "name": row[4], "kind": row[2], "aliases": orjson.loads(row[5]) if row[5] else []},
            "attack_version": self.attack_version(domains[0]) if domains else None,
            "via": [s for s in SOURCES if s in via],
            "techniques": sorted(found.values(), key=lambda t: t["id"]),
        }
        if redirect:
            out["redirected_from"] = redirect
        return out

    def actors(self, kind: str = "group", domain: str | None = None) -> list[dict]:
        """Every live actor of ``kind`` (id and name), and the revoked or deprecated ones with the reason they
        are left out: ``[{id, name, skipped: None | "revoked" | "deprecated"}]``, by id; with ``domain``
        ("enterprise-attack"), only the actors of that ATT&CK domain."""
        if kind not in ACTOR_KINDS:
            raise InputError(f"unknown actor type {kind!r}; one of: {', '.join(ACTOR_KINDS)}")
        rows = self.con.execute(
            "SELECT attack_id, name, revoked, deprecated FROM objects o WHERE kind = ? AND (? IS NULL OR EXISTS "
            "(SELECT 1 FROM json_each(o.domains) WHERE value = ?)) ORDER BY attack_id",
            (kind, domain, domain),
        ).fetchall()
        return [
            {"id": r[0], "name": r[1], "skipped": "revoked" if r[2] else "deprecated" if r[3] else None} for r in rows
        ]
