"""Languages that ship with breachpath: ``attacklang.mal`` and the estimate files its steps cite."""

from __future__ import annotations

from pathlib import Path

LANGS_DIR = Path(__file__).resolve().parent
ATTACKLANG = LANGS_DIR / "attacklang.mal"
ESTIMATES_DIR = LANGS_DIR / "estimates"

BUILTIN = {"attacklang": ATTACKLANG}


def builtin_language(name: str) -> Path | None:
    """The file of a built-in language named ``name`` (``attacklang``), or None."""
    return BUILTIN.get(name.strip().lower())
