"""Uncertainty of per-image scores: seeded bootstrap confidence intervals (scipy.stats).

Every stage that summarises a per-image score over images (AOPC, skull focus,
...) reports its mean with `mean_ci`, so all intervals in hcxai mean the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval over `n` values."""

    n: int
    mean: float
    low: float
    high: float


def mean_ci(values: np.ndarray, confidence: float, n_resamples: int, seed: int) -> Interval:
    """The mean of `values` with a seeded percentile-bootstrap CI (resampling the values).

    Fewer than two finite values give NaN bounds (no spread to resample).
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        mean = float(values.mean()) if len(values) else float("nan")
        return Interval(len(values), mean, float("nan"), float("nan"))
    if np.ptp(values) == 0:  # every resample has the same mean
        return Interval(len(values), float(values[0]), float(values[0]), float(values[0]))
    result = scipy_stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Interval(len(values), float(values.mean()), float(interval.low), float(interval.high))
