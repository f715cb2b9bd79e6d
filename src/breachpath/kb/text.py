"""ATT&CK text as a reader sees it on attack.mitre.org.

ATT&CK descriptions are markdown with ``(Citation: Source)`` markers and links to other ATT&CK pages. On
a page, citations are dropped (the references list keeps them) and ATT&CK links read ``Name (ID)``, as in
``Command and Control (Web Service (T1102))``.
"""

from __future__ import annotations

import re

_CITATION = re.compile(r"\(Citation: [^)]*\)")
_ATTACK_LINK = re.compile(r"\[([^\]]+)\]\((https?://attack\.mitre\.org/[^)\s]*)\)")
_ID_IN_URL = re.compile(
    r"/(?:techniques|tactics|groups|software|campaigns|mitigations|datasources|datacomponents|"
    r"detectionstrategies|analytics|assets)/([A-Z]+\d+)(?:/(\d{3}))?/?(?:#.*)?$"
)
_CODE = re.compile(r"</?code>")


def attack_id_from_url(url: str) -> str | None:
    """``https://attack.mitre.org/techniques/T1566/001`` → ``T1566.001``."""
    match = _ID_IN_URL.search(url)
    if not match:
        return None
    return f"{match.group(1)}.{match.group(2)}" if match.group(2) else match.group(1)


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    attack_id = attack_id_from_url(url)
    return f"{label} ({attack_id})" if attack_id and attack_id not in label else label


def clean(text: object) -> str:
    """Drop citation markers, render ATT&CK links as ``Name (ID)`` and ``<code>`` as backticks."""
    if not text or not isinstance(text, str):
        return ""
    text = _CITATION.sub("", text)
    text = _ATTACK_LINK.sub(_link, text)
    return _CODE.sub("`", text).strip()
