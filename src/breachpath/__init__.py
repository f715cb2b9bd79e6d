"""breachpath: quantitative threat modeling with MITRE ATT&CK, D3FEND and a MAL Monte Carlo engine."""

__version__ = "0.1.0"
