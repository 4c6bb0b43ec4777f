"""Uncertainty and significance of per-image scores: bootstrap CIs and paired tests.

Every stage that summarises a per-image score over images (AOPC, skull focus,
complexity, ...) reports its mean with `mean_ci`, so all intervals in hcxai mean
the same; paired per-image comparisons use `signed_rank_test`, and a family of
them `holm`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.core.seeding import BOOTSTRAP, stream

log = logging.getLogger(__name__)


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
        rng=stream(seed, BOOTSTRAP),
    )
    interval = result.confidence_interval
    return Interval(len(values), float(values.mean()), float(interval.low), float(interval.high))


def mean_t_ci(values: np.ndarray, confidence: float) -> Interval:
    """The mean of `values` with a Student-t CI: for the sanity check's 8-16 images, where a
    percentile bootstrap covers well under its nominal level.

    Fewer than two finite values give NaN bounds; values without spread, the value.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        mean = float(values.mean()) if len(values) else float("nan")
        return Interval(len(values), mean, float("nan"), float("nan"))
    mean = float(values.mean())
    if np.ptp(values) == 0:
        return Interval(len(values), mean, mean, mean)
    low, high = scipy_stats.t.interval(
        confidence, len(values) - 1, loc=mean, scale=scipy_stats.sem(values)
    )
    return Interval(len(values), mean, float(low), float(high))


def image_bootstrap(
    cube: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile CI of `statistic` of the images' mean (a cube of images x ...) over
    resamples of the images (scipy.stats.bootstrap); NaN scores are left out of a mean.

    Why images: they are what a rerun on new scans would change; the analyzers are fixed.
    """
    if len(cube) < 2:
        return np.nan, np.nan
    result = scipy_stats.bootstrap(
        (np.arange(len(cube)),),
        lambda images: statistic(np.nanmean(cube[images.astype(int)], axis=0)),
        vectorized=False,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=stream(seed, BOOTSTRAP),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


# Paired AOPC differences this small (px) are float noise, not evidence: they count as
# ties, e.g. LRP-z against Input x Gradient, which are equal on a ReLU network.
ZERO_PX = 1e-9


def signed_rank_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Two-sided Wilcoxon signed-rank test of the paired d = a - b: (statistic, p, effect).

    The effect is the matched-pairs rank-biserial correlation (Kerby 2014) from the signed
    ranks of |d|: (R+ - R-) / (R+ + R-), in [-1, 1]. NEGATIVE means `a` has the lower AOPC
    (a is better), -1 when it is lower on every image; positive means `b` is better; 0, the
    ranks balance. Zero differences (|d| <= ZERO_PX) are dropped, like scipy's default
    zero_method="wilcox"; when every difference is zero there is no evidence: (0, 1, 0).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.abs(d) > ZERO_PX]
    if len(d) == 0:
        return 0.0, 1.0, 0.0
    ranks = scipy_stats.rankdata(np.abs(d))
    effect = (ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum()
    result = scipy_stats.wilcoxon(d, alternative="two-sided")
    return float(result.statistic), float(result.pvalue), float(effect)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: testing many pairs at alpha flags some by chance.

    A NaN p (no test: too few values, the random order) stays NaN and is not counted in
    the family, so a missing test neither enlarges nor shrinks the others' adjustment.
    """
    from statsmodels.stats.multitest import multipletests  # not in the TensorFlow env

    p = np.asarray(p, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    tested = np.isfinite(p)
    if tested.any():
        adjusted[tested] = multipletests(p[tested], method="holm")[1]
    return adjusted


def versus_random(
    values: pd.Series, random: pd.Series, *, confidence: float, n_resamples: int, seed: int
) -> tuple[Interval, float]:
    """An order's per-image AOPCs against the same images' random order: the mean paired
    difference with its bootstrap CI, and the two-sided Wilcoxon p (`signed_rank_test`).

    Why both: the CI says how large the difference is; the p-value is what a multiplicity
    adjustment over a model's analyzers (`holm`) can act on.
    """
    random = random.reindex(values.index)
    interval = mean_ci((values - random).to_numpy(), confidence, n_resamples, seed)
    _, p, _ = signed_rank_test(values.to_numpy(), random.to_numpy())
    return interval, p


def significantly_better(p_holm: pd.Series, improvement: pd.Series, alpha: float) -> pd.Series:
    """Better than a baseline: Holm-adjusted p < alpha and the difference on the good side
    (`improvement` > 0); a two-sided test also flags what is significantly *worse*."""
    return (p_holm < alpha) & (improvement > 0)


def beats_random(p_holm: pd.Series, minus_random: pd.Series, alpha: float) -> pd.Series:
    """Significantly below the random order (lower AOPC is better)."""
    return significantly_better(p_holm, -minus_random, alpha)
