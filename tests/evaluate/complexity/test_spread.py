"""Gini sparseness and entropy of |map| against closed forms and independent formulas.

Oracles: a one-pixel map (Gini (n-1)/n, entropy 0), a constant map (Gini 0, entropy
log n), k equal pixels (Gini 1 - k/n, entropy log k), the Gini coefficient as the mean
absolute difference over all pairs (a different formula), and scipy.stats.entropy.
"""

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from hcxai.evaluate.complexity.spread import entropy, gini

N = 6 * 6


def one_pixel(value: float = 3.0) -> np.ndarray:
    maps = np.zeros((1, 6, 6))
    maps[0, 2, 4] = value
    return maps


def test_one_pixel_map_is_as_sparse_as_can_be():
    assert gini(one_pixel()) == pytest.approx([(N - 1) / N], abs=1e-12)
    assert entropy(one_pixel()) == pytest.approx([0.0], abs=1e-12)


def test_constant_map_is_as_spread_as_can_be():
    maps = np.full((1, 6, 6), -0.7)
    assert gini(maps) == pytest.approx([0.0], abs=1e-12)
    assert entropy(maps) == pytest.approx([np.log(N)], abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5, 18, 36])
def test_k_equal_pixels(k):
    maps = np.zeros((1, N))
    maps[0, np.random.default_rng(k).choice(N, k, replace=False)] = 2.5
    maps = maps.reshape(1, 6, 6)
    assert gini(maps) == pytest.approx([1 - k / N], abs=1e-12)
    assert entropy(maps) == pytest.approx([np.log(k)], abs=1e-12)


def test_gini_is_the_mean_absolute_difference_over_twice_the_mean():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((5, 6, 6)) * rng.uniform(0.1, 10, (5, 1, 1))
    for one, score in zip(maps, gini(maps), strict=True):
        a = np.abs(one.ravel())
        pairwise = np.abs(a[:, None] - a[None, :]).sum() / (2 * len(a) ** 2 * a.mean())
        assert score == pytest.approx(pairwise, rel=1e-10)


def test_entropy_is_scipys_of_the_absolute_values():
    rng = np.random.default_rng(1)
    maps = rng.standard_normal((5, 6, 6))
    expected = [scipy_entropy(np.abs(one.ravel())) for one in maps]
    np.testing.assert_allclose(entropy(maps), expected, rtol=1e-12)


def test_scale_and_sign_do_not_matter():
    maps = np.random.default_rng(2).standard_normal((3, 6, 6))
    for function in (gini, entropy):
        np.testing.assert_allclose(function(maps), function(-40.0 * maps), rtol=1e-12)


def test_blank_map_is_undefined_not_spread():
    maps = np.stack([np.zeros((6, 6)), one_pixel()[0]])
    assert np.isnan(gini(maps)[0]) and np.isnan(entropy(maps)[0])
    assert np.isfinite(gini(maps)[1]) and np.isfinite(entropy(maps)[1])


def test_concentrating_relevance_raises_gini_and_lowers_entropy():
    rng = np.random.default_rng(3)
    spread = np.abs(rng.standard_normal((1, 6, 6))) + 1
    peaked = spread.copy()
    peaked[0, 3, 3] += 100
    assert gini(peaked)[0] > gini(spread)[0]
    assert entropy(peaked)[0] < entropy(spread)[0]
