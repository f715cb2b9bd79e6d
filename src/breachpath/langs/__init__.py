"""Languages that ship with breachpath: ``attacklang`` (1.0, generated from ``attacklang.mal.in``, ``mapping.yaml``
and ATT&CK v18.1 with D3FEND by :mod:`breachpath.langs.generate`), ``attacklang-0.1`` (the first, hand-written one,
kept so that models written for it still run) and the estimate files their steps cite."""

from __future__ import annotations

from pathlib import Path

LANGS_DIR = Path(__file__).resolve().parent
ATTACKLANG = LANGS_DIR / "attacklang.mal"
ATTACKLANG_0_1 = LANGS_DIR / "attacklang-0.1.mal"
ESTIMATES_DIR = LANGS_DIR / "estimates"

BUILTIN = {"attacklang": ATTACKLANG, "attacklang-0.1": ATTACKLANG_0_1}


def builtin_language(name: str) -> Path | None:
    """The file of a built-in language named ``name`` (``attacklang``, ``attacklang-0.1``), or None."""
    return BUILTIN.get(name.strip().lower())


#: Names of attacklang 0.1 that 1.0 changed (fields, defenses, attack steps), so that a 0.1 model is told what to
#: rename rather than only the nearest spelling. Defenses are now ATT&CK mitigations by id.
RENAMED_FROM_0_1 = {
    "cloudAccounts": "saasAccounts",
    "cloudIdentities": "saasIdentities",
    "compromisedWebServices": "webServices",
    "internet": "internets",
    "multiFactorAuthentication": "m1032MultiFactorAuthentication",
    "userTraining": "m1017UserTraining",
    "restrictWebBasedContent": "m1021RestrictWebBasedContent",
    "privilegedAccountManagement": "m1026PrivilegedAccountManagement",
    "updateSoftware": "m1051UpdateSoftware",
    "antivirus": "m1049AntivirusAntimalware",
    "filterNetworkTraffic": "m1037FilterNetworkTraffic",
    "networkSegmentation": "m1030NetworkSegmentation",
    "dataBackup": "m1053DataBackup",
    "remoteServices": "access",
    "networkServiceDiscovery": "discovery",
    "exploitPublicFacingApplication": "initialAccess",
    "useExternalRemoteServices": "remoteAccess",
    "deliverPhishing": "phished",
    "openMaliciousContent": "phished",
    "userExecution": "execution",
    "commandAndScriptingInterpreter": "execution",
    "exploitationForPrivilegeEscalation": "privilegeEscalation",
    "osCredentialDumping": "credentialDumping",
    "credentialTheft": "credentialsKnown",
    "dataEncryptedForImpact": "impact",
    "dataFromLocalSystem": "collection",
    "encryptionAttempt": "encrypt",
    "compromiseWebService": "infrastructure",
    "webServiceC2": "commandAndControl",
    "exfiltrationOverWebService": "webServiceExfiltration",
    "exfiltrationOverC2Channel": "exfiltration",
}


def renamed_hint(name: str, valid) -> str:
    """``; attacklang 1.0 renamed it X (...)`` when ``name`` is a 0.1 name whose 1.0 name is among ``valid``."""
    new = RENAMED_FROM_0_1.get(name)
    if new is None or new not in valid:
        return ""
    return f"; attacklang 1.0 renamed it {new} (or keep the model on `lang: attacklang-0.1`)"
