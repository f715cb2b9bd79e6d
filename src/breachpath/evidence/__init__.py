"""Evidence-backed estimates: findings → estimate → MAL distribution, with sources, pooling and audits."""

from breachpath.evidence.model import Estimate, Finding, read_estimate, write_estimate
from breachpath.evidence.pool import beta_pooled, mean_of, measure_warnings

__all__ = ["Estimate", "Finding", "beta_pooled", "mean_of", "measure_warnings", "read_estimate", "write_estimate"]
