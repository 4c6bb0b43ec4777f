"""How spread out a map's relevance is: Gini sparseness and entropy of |map| (pure NumPy).

A map that puts all relevance on a few pixels is easier to read than one that spreads it
evenly. Two standard summaries of the distribution of |map| over the n pixels:

* Gini sparseness (Chalasani et al., ICML 2020): with |map| sorted ascending as
  a_1 <= ... <= a_n, G = sum_i (2i - n - 1) a_i / (n sum_i a_i). One pixel carries all
  relevance: (n - 1)/n; every pixel equal: 0. Higher is sparser.
* Entropy (Bhatt et al., IJCAI 2020): of the shares p_i = a_i / sum a, H = -sum p_i log p_i.
  One pixel: 0; every pixel equal: log n. Lower is more concentrated.

Both are scale-free (a map times c > 0 scores the same) and use |map|, so a negative
relevance counts as much as a positive one. An all-zero map has no distribution: NaN.
Quantus' `Sparseness` and `Complexity` add 1e-7 (and 1e-12 inside the log) to avoid
that case; hcxai leaves it NaN, so a blank map is not scored as "perfectly spread".
"""

from __future__ import annotations

import numpy as np


def _magnitudes(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|maps| flattened per image (N, n) in float64, and each image's total relevance."""
    maps = np.asarray(maps, dtype=np.float64)
    magnitude = np.abs(maps.reshape(len(maps), -1))
    return magnitude, magnitude.sum(axis=1)


def gini(maps: np.ndarray) -> np.ndarray:
    """Gini sparseness of |map| per image (N,) for maps (N, ...); NaN for an all-zero map."""
    magnitude, total = _magnitudes(maps)
    n = magnitude.shape[1]
    weights = 2 * np.arange(1, n + 1) - n - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sort(magnitude, axis=1) @ weights / (n * total)


def entropy(maps: np.ndarray) -> np.ndarray:
    """Entropy (natural log) of the shares of |map| per image (N,); NaN for an all-zero map."""
    magnitude, total = _magnitudes(maps)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = magnitude / total[:, None]
        terms = np.where(shares > 0, shares * np.log(np.where(shares > 0, shares, 1.0)), 0.0)
    return np.where(total > 0, -terms.sum(axis=1), np.nan)
