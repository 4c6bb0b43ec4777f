"""How region perturbation fills the pixels it removes: the imputation registry.

An imputation takes an image (s, s, 3, normalised, grayscale replicated), the
boolean masks of removed pixels of its variants (n, s, s) and the image's
random generator, and returns the n variants: the removed pixels filled, every
other pixel the input's, bit for bit. All variants of an image get one draw of
the generator, so the noise at a pixel is the same whichever analyzer, order or
step removed it, and analyzers differ only in their ranking.

Two kinds fit this one call:
* a `FieldImputation` is mask-independent: one replacement image per image
  (noise, zeros, the region mean, a blur), and a variant takes its removed
  pixels from it;
* ROAD's `NoisyLinear` imputation depends on the mask: each removed pixel is the
  weighted mean of its neighbours, solved jointly for all pixels a variant
  removes (Rong et al., ICML 2022): a linear system per variant, one sparse
  factorisation per perturbation run (`linear_fills`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu, spsolve_triangular

from hcxai.core.io import InputError

NOISE_KINDS = ("gaussian", "uniform")  # the kinds that `noise.mode` adds or replaces
MODES = ("add", "replace")
KINDS = (*NOISE_KINDS, "zeros", "mean", "blur", "road")  # `perturbation.noise.kind`

# ROAD's noise sd: 0.01 of an image scaled to [0, 1] (road_evaluation's NoisyLinearImputer).
# Our inputs are z-scored per image, so it is 0.01 of the image's value range (max - min):
# the same as ROAD's for a scan that spans black to white.
ROAD_NOISE = 0.01

# Offsets (row, column) and weights of a pixel's neighbours in its mean: ROAD weighs the 4
# direct neighbours 1/6 and the 4 diagonal ones 1/12; the 4-neighbourhood weighs them alike.
NEIGHBOURHOODS = {
    4: (((-1, 0), 0.25), ((1, 0), 0.25), ((0, -1), 0.25), ((0, 1), 0.25)),
    8: tuple(
        ((dr, dc), 1 / 6 if 0 in (dr, dc) else 1 / 12)
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dr, dc) != (0, 0)
    ),
}


class Imputation(ABC):
    """One way to fill removed pixels."""

    @abstractmethod
    def __call__(self, x: np.ndarray, removed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x (s, s, 3) with the pixels of each mask of `removed` (n, s, s) filled: (n, s, s, 3)."""


class FieldImputation(Imputation):
    """Mask-independent: a replacement image drawn once, from which each variant takes its
    removed pixels. The grayscale image stays grayscale: one field for all channels."""

    @abstractmethod
    def field(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The replacement of every pixel of `gray` (s, s)."""

    def __call__(self, x: np.ndarray, removed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        full = self.field(x[..., 0], rng).astype(np.float32)
        full = np.repeat(full[..., np.newaxis], x.shape[-1], axis=-1)
        return np.where(removed[..., np.newaxis], full[np.newaxis], x[np.newaxis])


@dataclass(frozen=True)
class Noise(FieldImputation):
    """Gaussian or uniform noise of sd `std`, added to the image (the paper's text) or
    replacing it (the authors' code, iNNvestigate's Perturbation)."""

    distribution: str
    additive: bool
    std: float

    def field(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.distribution == "gaussian":
            noise = rng.normal(0.0, self.std, gray.shape)
        else:
            half_width = self.std * np.sqrt(3.0)  # same sd as the Gaussian
            noise = rng.uniform(-half_width, half_width, gray.shape)
        return gray + noise if self.additive else noise


class Zeros(FieldImputation):
    """Zero: the image's mean in the network's per-image z-scored units."""

    def field(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.zeros_like(gray)


@dataclass(frozen=True)
class RegionMean(FieldImputation):
    """Each `subwindow` x `subwindow` region of the grid replaced by its own mean."""

    subwindow: int

    def field(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size, w = gray.shape[0], self.subwindow
        means = gray.reshape(size // w, w, size // w, w).mean(axis=(1, 3))
        return np.kron(means, np.ones((w, w)))


@dataclass(frozen=True)
class Blur(FieldImputation):
    """A Gaussian blur of sd `sigma` px of the whole image."""

    sigma: float

    def field(self, gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return ndimage.gaussian_filter(gray, self.sigma)


@functools.lru_cache(maxsize=8)
def grid_laplacian(size: int, neighbours: int) -> sparse.csr_array:
    """L = D - W over the pixels of a size x size grid (row-major), W the neighbour weights
    of `NEIGHBOURHOODS` within the image and D their row sums.

    It depends only on the size, so it is built once: ROAD's system for a mask is the
    removed x removed block of L (see `linear_fills`).
    """
    if neighbours not in NEIGHBOURHOODS:
        raise InputError(f"neighbours {neighbours} is unknown; use one of {tuple(NEIGHBOURHOODS)}")
    index = np.arange(size * size).reshape(size, size)
    rows, cols, weights = [], [], []
    for (dr, dc), weight in NEIGHBOURHOODS[neighbours]:
        pixel = index[max(0, -dr) : size - max(0, dr), max(0, -dc) : size - max(0, dc)]
        neighbour = index[max(0, dr) : size - max(0, -dr), max(0, dc) : size - max(0, -dc)]
        rows.append(pixel.ravel())
        cols.append(neighbour.ravel())
        weights.append(np.full(pixel.size, weight))
    w = sparse.csr_array(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size * size, size * size),
    )
    return (sparse.diags_array(w.sum(axis=1)) - w).tocsr()


@functools.lru_cache(maxsize=8)
def dissection_rank(size: int) -> np.ndarray:
    """Each pixel's place in a nested-dissection order of the size x size grid: the two
    halves first (recursively), the line that separates them last. Eliminating a grid
    Laplacian in this order keeps its LU factors sparse (George 1973)."""
    order: list[np.ndarray] = []

    def dissect(block: np.ndarray) -> None:
        rows, cols = block.shape
        if rows * cols <= 16:
            order.append(block.ravel())
        elif rows >= cols:
            dissect(block[: rows // 2])
            dissect(block[rows // 2 + 1 :])
            order.append(block[rows // 2])
        else:
            dissect(block[:, : cols // 2])
            dissect(block[:, cols // 2 + 1 :])
            order.append(block[:, cols // 2])

    dissect(np.arange(size * size).reshape(size, size))
    rank = np.empty(size * size, dtype=np.intp)
    rank[np.concatenate(order)] = np.arange(size * size)
    return rank


def _leading(
    factor: sparse.csr_array | sparse.csc_array, n: int
) -> sparse.csr_array | sparse.csc_array:
    """The leading n x n block of a lower CSR (or upper CSC) triangular factor, a view:
    its first n rows (columns) hold no entry beyond n."""
    end = factor.indptr[n]
    parts = (factor.data[:end], factor.indices[:end], factor.indptr[: n + 1])
    return type(factor)(parts, shape=(n, n))


def _fill_nested(values: np.ndarray, masks: np.ndarray, neighbours: int) -> np.ndarray:
    """`linear_fills` of masks (m, s*s), each holding the one before, none empty or full.

    With the unknowns ordered by the mask that first removes them, each mask's unknowns are
    the leading ones of the last mask's system, and the leading block of an LU factorisation
    without pivoting (the system is symmetric positive definite) factorises the leading
    block: one factorisation serves every step of a perturbation run.
    """
    size = round(np.sqrt(values.size))
    laplacian = grid_laplacian(size, neighbours)
    unknown = np.flatnonzero(masks[-1])
    first = np.argmax(masks, axis=0)[unknown]
    unknown = unknown[np.lexsort((dissection_rank(size)[unknown], first))]
    lu = splu(
        laplacian[unknown][:, unknown].T,  # symmetric: the CSC of its transpose is itself
        permc_spec="NATURAL",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    out = np.tile(values, (len(masks), 1))
    rhs = [-(laplacian @ np.where(m, 0.0, values))[unknown[: np.count_nonzero(m)]] for m in masks]
    in_order = np.arange(unknown.size)
    if not (np.array_equal(lu.perm_c, in_order) and np.array_equal(lu.perm_r, in_order)):
        # SuperLU reordered the unknowns: only the last system is factorised as a whole
        out[-1, unknown] = lu.solve(rhs[-1])
        if len(masks) > 1:
            out[:-1] = _fill_nested(values, masks[:-1], neighbours)
        return out
    lower = lu.L.tocsr()
    upper = lu.U.tocsc()
    upper.sort_indices()
    diagonal = upper.diagonal()
    upper.data /= diagonal[upper.indices]  # U = D U', U' unit upper triangular
    for row, b in zip(out, rhs, strict=True):
        n = b.size
        y = spsolve_triangular(
            _leading(lower, n), b, lower=True, unit_diagonal=True, overwrite_A=True
        )
        row[unknown[:n]] = spsolve_triangular(
            _leading(upper, n), y / diagonal[:n], lower=False, unit_diagonal=True, overwrite_A=True
        )
    return out


def linear_fills(gray: np.ndarray, removed: np.ndarray, neighbours: int = 8) -> np.ndarray:
    """`gray` (s, s) with, for each mask of `removed` (n, s, s), each removed pixel the
    weighted mean of its in-image neighbours, known or removed, solved jointly for all
    removed pixels: ROAD without its noise. (n, s, s), float64.

    The equations L_rr u_r = -L_rk x_k (r removed, k known pixels) are a Dirichlet problem
    with the known pixels as boundary. With no known pixel any constant solves them (ROAD's
    code fails there); we take the least-norm one, 0, the image mean in z-scored units.
    Consecutive masks that each hold the one before (a run's steps) share one factorisation.
    """
    values = gray.astype(np.float64).ravel()
    masks = removed.reshape(len(removed), -1)
    out = np.tile(values, (len(masks), 1))
    out[masks.all(axis=1)] = 0.0
    solvable = np.flatnonzero(masks.any(axis=1) & ~masks.all(axis=1))
    shrinks = (masks[solvable[:-1]] & ~masks[solvable[1:]]).any(axis=1)
    for run in np.split(solvable, np.flatnonzero(shrinks) + 1):
        if run.size:
            out[run] = _fill_nested(values, masks[run], neighbours)
    return out.reshape(removed.shape)


@dataclass(frozen=True)
class NoisyLinear(Imputation):
    """ROAD's noisy linear imputation (Rong et al., ICML 2022): `linear_fills` plus Gaussian
    noise of sd `noise` x the image's value range, one draw per image shared by its variants."""

    noise: float = ROAD_NOISE
    neighbours: int = 8

    def __call__(self, x: np.ndarray, removed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gray = x[..., 0]
        noise = rng.standard_normal(gray.shape) * (self.noise * float(np.ptp(gray)))
        filled = (linear_fills(gray, removed, self.neighbours) + noise).astype(x.dtype)
        return np.where(removed[..., np.newaxis], filled[..., np.newaxis], x[np.newaxis])


@dataclass(frozen=True)
class Parameters:
    """What the `perturbation` config sets besides an imputation's name."""

    std: float  # sd of the noise kinds, normalised units
    subwindow: int  # region side: the region mean, and the blur's sd (subwindow / 4)


IMPUTATIONS: dict[str, Callable[[Parameters], Imputation]] = {
    "gaussian_add": lambda p: Noise("gaussian", True, p.std),  # the paper's, Table 1
    "gaussian_replace": lambda p: Noise("gaussian", False, p.std),  # the authors' code
    "uniform_add": lambda p: Noise("uniform", True, p.std),
    "uniform_replace": lambda p: Noise("uniform", False, p.std),
    "zeros": lambda p: Zeros(),
    "mean": lambda p: RegionMean(p.subwindow),
    "blur": lambda p: Blur(p.subwindow / 4),
    "road": lambda p: NoisyLinear(ROAD_NOISE),
}


def imputation_name(kind: str, mode: str) -> str:
    """The registry entry a `perturbation.noise` block ({kind, mode}) names.

    `mode` applies to the noise kinds only; the others replace whatever it says.
    """
    for key, value, allowed in (("kind", kind, KINDS), ("mode", mode, MODES)):
        if value not in allowed:
            raise InputError(f"perturbation.noise.{key} {value!r} is unknown; use one of {allowed}")
    return f"{kind}_{mode}" if kind in NOISE_KINDS else kind


def make(name: str, parameters: Parameters, key: str) -> Imputation:
    """The imputation registered as `name`; `key` is the config key that named it."""
    if name not in IMPUTATIONS:
        raise InputError(f"{key} {name!r} is unknown; use one of {tuple(IMPUTATIONS)}")
    return IMPUTATIONS[name](parameters)
