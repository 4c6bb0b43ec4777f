"""The shared statistics (hcxai.stats.inference) against closed forms and by-hand oracles.

Oracles: the exact null distribution of the signed-rank statistic (all 2^n sign
patterns, enumerated here), Holm's step-down done by hand, the Student-t interval
written out with the t quantile, and the coverage of a bootstrap interval around a
known mean.
"""

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from hcxai.stats.inference import holm, mean_ci, mean_t_ci, signed_rank_test


def test_signed_rank_p_is_the_exact_enumeration():
    d = np.array([-1.0, -2.0, -3.0, 4.0, -5.0, 6.5])
    ranks = scipy_stats.rankdata(np.abs(d))
    observed = min(ranks[d > 0].sum(), ranks[d < 0].sum())
    total = ranks.sum()
    as_extreme = 0
    for signs in itertools.product((0, 1), repeat=len(d)):  # every pattern equally likely
        r_plus = sum(r for r, positive in zip(ranks, signs, strict=True) if positive)
        as_extreme += min(r_plus, total - r_plus) <= observed
    statistic, p, effect = signed_rank_test(d, np.zeros_like(d))
    assert statistic == observed
    assert p == pytest.approx(as_extreme / 2 ** len(d))
    assert effect == pytest.approx((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def test_signed_rank_of_identical_values_is_no_evidence():
    x = np.linspace(0, 1, 7)
    assert signed_rank_test(x, x + 1e-12) == (0.0, 1.0, 0.0)


def test_holm_by_hand_and_a_missing_test_stays_out_of_the_family():
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # Sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1, then a running maximum.
    by_hand = {0: 0.04, 2: max(0.04, 0.09), 1: max(0.09, 0.08), 3: max(0.09, 0.20)}
    np.testing.assert_allclose(holm(p), [by_hand[i] for i in range(4)])
    adjusted = holm(np.array([0.01, np.nan, 0.02]))
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], [2 * 0.01, 0.02])


def test_student_t_interval_written_out():
    values = np.array([1.0, 2.5, 2.0, 4.0, 3.5])
    interval = mean_t_ci(values, 0.9)
    half = scipy_stats.t.ppf(0.95, 4) * values.std(ddof=1) / np.sqrt(5)
    assert (interval.n, interval.mean) == (5, pytest.approx(2.6))
    assert (interval.low, interval.high) == (pytest.approx(2.6 - half), pytest.approx(2.6 + half))


def test_intervals_of_too_few_or_equal_values():
    assert np.isnan(mean_ci(np.array([1.0, np.nan]), 0.95, 200, 1).low)
    same = mean_ci(np.array([2.0, 2.0, 2.0]), 0.95, 200, 1)
    assert (same.mean, same.low, same.high) == (2.0, 2.0, 2.0)


def test_bootstrap_interval_covers_a_known_mean_about_95_percent():
    rng = np.random.default_rng(7)
    covered = [
        (ci.low <= 1.0 <= ci.high)
        for ci in (mean_ci(rng.normal(1.0, 2.0, 40), 0.95, 500, seed) for seed in range(200))
    ]
    assert 0.89 <= np.mean(covered) <= 0.99
