"""D3FEND queries over the knowledge base: class pages, countermeasures, and their reverse.

Mixed into :class:`breachpath.kb.pages.KnowledgeBase`; everything here reads the ``d3f_*`` tables that
:mod:`breachpath.kb.load` wrote, so answering costs a few indexed look-ups (the inference ran at load time).
"""

from __future__ import annotations

import re
import sqlite3

import orjson

from breachpath.errors import InputError, NotFoundError
from breachpath.kb.d3fend import D3F as D3F_NAMESPACE
from breachpath.kb.d3fend import ROW_KEYS

D3FEND_ID = re.compile(r"^D3-[A-Za-z0-9-]+$")
_CLASS_COLUMNS = "id, name, uri, label, d3fend_id, attack_id, kind, tactic, definition, deprecated, parents, data"


class D3fendQueries:
    """D3FEND look-ups; expects ``self.con`` and ``self.meta`` (see KnowledgeBase)."""

    con: sqlite3.Connection
    meta: dict

    def has_d3fend(self) -> bool:
        return bool(self.meta.get("d3fend"))

    def _require_d3fend(self) -> None:
        if not self.has_d3fend():
            raise NotFoundError(
                f"{self.path}: no D3FEND in this knowledge base; load it with `breachpath kb load --d3fend FILE|URL`"
            )  # type: ignore[attr-defined]

    def _class_row(self, key: str, by_attack_id: bool = False) -> tuple:
        """A D3FEND class by d3fend-id (``D3-NTA``), local name (``NetworkTrafficAnalysis``) or, with
        ``by_attack_id``, ATT&CK id (``T1102``)."""
        self._require_d3fend()
        key = key.strip()
        if by_attack_id:
            sql, what = "attack_id = ? COLLATE NOCASE", "ATT&CK id"
        elif D3FEND_ID.match(key):
            sql, what = "d3fend_id = ? COLLATE NOCASE", "d3fend-id"
        else:
            sql, what = "name = ?", "class name"
        rows = self.con.execute(f"SELECT {_CLASS_COLUMNS} FROM d3f_classes WHERE {sql}", (key,)).fetchall()
        if not rows and what == "class name":
            rows = self.con.execute(
                f"SELECT {_CLASS_COLUMNS} FROM d3f_classes WHERE name = ? COLLATE NOCASE OR label = ? COLLATE NOCASE",
                (key, key),
            ).fetchall()
        if not rows:
            raise NotFoundError(f"{key}: no D3FEND class has this {what}")
        if len(rows) > 1:
            live = [r for r in rows if not r[9]]
            if len(live) != 1:
                names = ", ".join(f"{r[1]} ({r[3]})" for r in rows)
                raise InputError(f"{key} is ambiguous in D3FEND: it names {names}; give the class name")
            return live[0]
        return rows[0]

    def _label_of(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        found = dict(self.con.execute(f"SELECT name, label FROM d3f_classes WHERE name IN ({marks})", names))
        return {n: found.get(n, n) for n in names}

    def _chain(self, name: str) -> list[str]:
        """The superclass chain from ``name`` up to a root, taking the first parent by name at each step."""
        chain, seen = [name], {name}
        while len(chain) < 64:
            row = self.con.execute("SELECT parents FROM d3f_classes WHERE name = ?", (chain[-1],)).fetchone()
            parents = [p for p in sorted(orjson.loads(row[0])) if p not in seen] if row else []
            if not parents:
                break
            chain.append(parents[0])
            seen.add(parents[0])
        return chain

    def d3fend_page(self, key: str, by_attack_id: bool = False) -> dict:
        """The D3FEND page of a class: definition, examples, aliases, URI, superclass chain (list and Mermaid),
        ontology reference, properties (artifact relations), and countermeasures or techniques countered."""
        row = self._class_row(key, by_attack_id)
        data = orjson.loads(row[11])
        name = row[1]
        chain = self._chain(name)
        labels = self._label_of(chain + orjson.loads(row[10]))
        relations = self.con.execute(
            "SELECT r.property, r.target, coalesce(c.label, r.target), r.artifact FROM d3f_relations r "
            "LEFT JOIN d3f_classes c ON c.name = r.target WHERE r.cls = ? ORDER BY r.property, r.target",
            (name,),
        ).fetchall()
        page = {
            "type": "d3fend-class",
            "kind": row[6],
            "name": name,
            "label": row[3],
            "uri": row[2],
            "d3fend_id": row[4],
            "attack_id": row[5],
            "tactic": row[7],
            "definition": row[8],
            "deprecated": bool(row[9]),
            "examples": data.get("examples", []),
            "aliases": data.get("synonyms", []),
            "kb_article": data.get("kb_article"),
            "references": data.get("references", []),
            "comments": data.get("comments", []),
            "see_also": data.get("see_also", []),
            "superclasses": [{"name": p, "label": labels[p]} for p in orjson.loads(row[10])],
            "hierarchy": [{"name": n, "label": labels[n]} for n in reversed(chain)],
            "mermaid": mermaid_chain([(n, labels[n]) for n in chain]),
            "ontology_reference": {"d3fend": D3F_NAMESPACE},
            "properties": [
                {"property": r[0], "target": r[1], "target_label": r[2], "artifact_relation": bool(r[3])}
                for r in relations
            ],
            "d3fend_version": (self.meta.get("d3fend") or {}).get("version"),
        }
        if row[6] == "offensive-technique" and row[5]:
            page["countermeasures"] = self.countermeasures([row[5]])[row[5]]
            page["countermeasures_note"] = None if page["countermeasures"] else self.why_no_countermeasures(row[5])
            page["labels"] = self.d3fend_labels(page["countermeasures"])
        if row[6] == "defensive-technique":
            page["counters"] = self.countered_by(name)["techniques"]
        return page

    def countermeasures(self, attack_ids: list[str], tactic: str | None = None) -> dict[str, list[dict]]:
        """Countermeasure rows per ATT&CK id: ``{"T1102": [{defensive_technique, d3fend_id, tactic, ...}]}``.

        An id the ontology does not hold is an error; one it holds with no match gets ``[]``.
        """
        self._require_d3fend()
        tactic = self._check_tactic(tactic)
        out = {}
        for attack_id in attack_ids:
            attack_id = attack_id.strip().upper()
            known = self.con.execute("SELECT 1 FROM d3f_offensive WHERE attack_id = ?", (attack_id,)).fetchone()
            if known is None:
                raise NotFoundError(f"{attack_id}: not an ATT&CK technique in the loaded D3FEND ontology")
            out[attack_id] = self._rows("attack_id = ?", [attack_id], tactic)
        return out

    def all_countermeasures(self, tactic: str | None = None) -> dict[str, list[dict]]:
        """Countermeasure rows for every ATT&CK technique in the ontology (``[]`` where none match)."""
        self._require_d3fend()
        tactic = self._check_tactic(tactic)
        out: dict[str, list[dict]] = {r[0]: [] for r in self.con.execute("SELECT attack_id FROM d3f_offensive")}
        sql = f"SELECT attack_id, {', '.join(ROW_KEYS)} FROM d3f_countermeasures"
        params: list = []
        if tactic:
            sql += " WHERE tactic = ?"
            params.append(tactic)
        for r in self.con.execute(sql + " ORDER BY rowid", params):
            out[r[0]].append(dict(zip(ROW_KEYS, r[1:], strict=True)))
        return dict(sorted(out.items()))

    def _rows(self, where: str, params: list, tactic: str | None) -> list[dict]:
        sql = f"SELECT {', '.join(ROW_KEYS)} FROM d3f_countermeasures WHERE {where}"
        if tactic:
            sql += " AND tactic = ?"
            params = [*params, tactic]
        return [dict(zip(ROW_KEYS, r, strict=True)) for r in self.con.execute(sql + " ORDER BY rowid", params)]

    def _check_tactic(self, tactic: str | None) -> str | None:
        if tactic is None:
            return None
        known = [r[0] for r in self.con.execute("SELECT name FROM d3f_classes WHERE kind = 'defensive-tactic'")]
        match = [t for t in known if t.lower() == tactic.lower()]
        if not match:
            raise InputError(f"unknown defensive tactic {tactic!r}; one of: {', '.join(sorted(known))}")
        return match[0]

    def why_no_countermeasures(self, attack_id: str) -> str:
        """Why D3FEND links no defensive technique to ``attack_id``, in one sentence."""
        row = self.con.execute("SELECT sources FROM d3f_offensive WHERE attack_id = ?", (attack_id,)).fetchone()
        if row is None:
            return f"{attack_id} is not in the loaded D3FEND ontology."
        sources = orjson.loads(row[0])
        related = [s for s in sources if s["relations"]]
        if not related:
            named = {
                role: [s["attack_id"] or s["class"] for s in sources if s["role"] == role]
                for role in ("self", "parent", "child")
            }
            parts = [attack_id]
            parts.append(f"its parent {', '.join(named['parent'])}" if named["parent"] else "its parent (none)")
            parts.append(
                f"its sub-techniques {', '.join(named['child'])}" if named["child"] else "its sub-techniques (none)"
            )
            return (
                f"No countermeasures: D3FEND gives no digital-artifact relations on {parts[0]}, {parts[1]} or "
                f"{parts[2]}, so no defensive technique meets it at an artifact."
            )
        artifacts = sorted({a for s in related for _, a in s["relations"]})
        return (
            f"No countermeasures: its artifacts ({', '.join(artifacts)}) and their superclasses are related to no "
            "defensive technique."
        )

    def countered_by(self, key: str) -> dict:
        """The ATT&CK techniques a defensive technique (d3fend-id or class name) counters."""
        row = self._class_row(key)
        if row[6] != "defensive-technique":
            raise InputError(f"{key}: {row[1]} is a {row[6]}, not a defensive technique")
        grouped: dict[str, dict] = {}
        for r in self.con.execute(
            f"SELECT attack_id, {', '.join(ROW_KEYS)} FROM d3f_countermeasures WHERE defensive_technique = ? "
            "ORDER BY attack_id, rowid",
            (row[1],),
        ):
            entry = grouped.setdefault(r[0], {"id": r[0], "name": None, "rows": []})
            entry["rows"].append(dict(zip(ROW_KEYS, r[1:], strict=True)))
        names = self._attack_names(list(grouped))
        for attack_id, entry in grouped.items():
            entry["name"] = names.get(attack_id)
        return {
            "defensive_technique": {"name": row[1], "label": row[3], "d3fend_id": row[4], "tactic": row[7]},
            "techniques": list(grouped.values()),
        }

    def _attack_names(self, attack_ids: list[str]) -> dict[str, str]:
        """Names of ATT&CK ids: from the ATT&CK part when loaded, else D3FEND's labels."""
        if not attack_ids:
            return {}
        marks = ",".join("?" * len(attack_ids))
        names = dict(
            self.con.execute(f"SELECT attack_id, label FROM d3f_classes WHERE attack_id IN ({marks})", attack_ids)
        )
        live = self.con.execute(
            f"SELECT attack_id, name FROM objects WHERE kind = 'technique' AND revoked = 0 AND deprecated = 0 "
            f"AND attack_id IN ({marks})",
            attack_ids,
        )
        names.update(dict(live))
        return names

    def d3fend_ids(self, keys: list[str]) -> dict[str, str]:
        """The d3fend-id (``D3-NTA``) of each live defensive technique named by id or by class name; keys that name
        none are left out."""
        out: dict[str, str] = {}
        for key in keys:
            column = "d3fend_id" if D3FEND_ID.match(key) else "name"
            row = self.con.execute(
                f"SELECT d3fend_id FROM d3f_classes WHERE {column} = ? AND kind = 'defensive-technique' "
                "AND deprecated = 0 AND d3fend_id IS NOT NULL",
                (key,),
            ).fetchone()
            if row is not None:
                out[key] = row[0]
        return out

    def d3fend_labels(self, rows: list[dict]) -> dict[str, str]:
        """Labels of the classes named in countermeasure rows (for human views; JSON rows keep names)."""
        names = sorted(
            {r[k] for r in rows for k in ("defensive_technique", "defensive_artifact", "offensive_artifact")}
        )
        return self._label_of(names)

    def technique_d3fend(self, attack_id: str) -> dict:
        """The "D3FEND countermeasures" section of an ATT&CK technique page."""
        if not self.has_d3fend():
            return {
                "loaded": False,
                "countermeasures": [],
                "note": "D3FEND is not loaded (`breachpath kb load --d3fend …`).",
            }
        known = self.con.execute("SELECT 1 FROM d3f_offensive WHERE attack_id = ?", (attack_id,)).fetchone()
        rows = self._rows("attack_id = ?", [attack_id], None) if known else []
        note = None if rows else self.why_no_countermeasures(attack_id)
        return {"loaded": True, "countermeasures": rows, "note": note, "labels": self.d3fend_labels(rows)}


def mermaid_chain(chain: list[tuple[str, str]]) -> str:
    """A Mermaid ``graph BT`` of a superclass chain, child first, in the style of the D3FEND site."""
    lines = ["graph BT"]
    for (name, label), (parent, _) in zip(chain, chain[1:], strict=False):
        lines.append(f"    {_node(name)}({_mermaid_label(label)}):::d3fend-->{_node(parent)}")
    if chain:
        name, label = chain[-1]
        lines.append(f"    {_node(name)}({_mermaid_label(label)}):::d3fend")
    lines += [
        "    ",
        "    classDef bfo fill:#97c1fb,color:#060606",
        "    classDef cco fill:#e4c51e,color:#060606",
        "    classDef abi fill:#48DD82,color:#060606",
        "    classDef attack fill:#FF0000,color:#060606",
        "    classDef d3fend fill:#FF0000,color:#060606",
    ]
    return "\n".join(lines)


def _node(name: str) -> str:
    return "d3fend.owl#" + re.sub(r"[^A-Za-z0-9_.#-]", "_", name)


def _mermaid_label(label: str) -> str:
    escaped = label.replace('"', "#quot;").replace("(", "#40;").replace(")", "#41;").replace("|", "#124;")
    return "<br>".join(escaped.split())
