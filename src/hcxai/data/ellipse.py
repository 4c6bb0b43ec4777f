"""Ellipse geometry: the head circumference is the perimeter of the skull ellipse.

HC18 annotates each head with an ellipse outline; the HC is its perimeter. We
use Ramanujan's second approximation (relative error below 1e-9 for head-like
axis ratios) and Halir & Flusser's numerically stable form of Fitzgibbon's
direct least-squares ellipse fit.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass

import numpy as np


def ramanujan_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes a, b (Ramanujan's second approximation)."""
    if a <= 0 or b <= 0:
        raise ValueError(f"semi-axes must be positive, got a={a}, b={b}")
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


@dataclass(frozen=True)
class Ellipse:
    """Centre (cx, cy) in pixels (x = column, y = row), semi-axes a >= b, and the
    angle of the major axis from the x axis in radians, in [0, pi)."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    @property
    def perimeter(self) -> float:
        return ramanujan_perimeter(self.a, self.b)

    def as_array(self) -> np.ndarray:
        return np.array(astuple(self), dtype=np.float64)

    def conic(self) -> np.ndarray:
        """Coefficients (A, B, C, D, E, F) of A x^2 + B xy + C y^2 + D x + E y + F = 0."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        a2, b2 = self.a**2, self.b**2
        A = cos**2 / a2 + sin**2 / b2
        B = 2 * cos * sin * (1 / a2 - 1 / b2)
        C = sin**2 / a2 + cos**2 / b2
        D = -2 * A * self.cx - B * self.cy
        E = -B * self.cx - 2 * C * self.cy
        F = A * self.cx**2 + B * self.cx * self.cy + C * self.cy**2 - 1
        return np.array([A, B, C, D, E, F])

    def scaled(self, sx: float, sy: float) -> Ellipse:
        """The same ellipse after scaling x by sx and y by sy (an anisotropic resize)."""
        A, B, C, D, E, F = self.conic()
        return Ellipse.from_conic(
            np.array([A / sx**2, B / (sx * sy), C / sy**2, D / sx, E / sy, F])
        )

    def points(self, n: int) -> np.ndarray:
        """n points (x, y) evenly spaced in parameter along the outline."""
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        u, v = self.a * np.cos(t), self.b * np.sin(t)
        return np.stack([self.cx + u * cos - v * sin, self.cy + u * sin + v * cos], axis=1)

    @staticmethod
    def from_conic(coefficients: np.ndarray) -> Ellipse:
        """Centre, semi-axes and angle of a conic; ValueError if it is not a real ellipse."""
        A, B, C, D, E, F = (float(c) for c in coefficients)
        if B * B - 4 * A * C >= 0:
            raise ValueError("conic is not an ellipse (B^2 - 4AC >= 0)")
        cx, cy = np.linalg.solve([[2 * A, B], [B, 2 * C]], [-D, -E])
        f0 = A * cx * cx + B * cx * cy + C * cy * cy + D * cx + E * cy + F
        eigenvalues, eigenvectors = np.linalg.eigh([[A, B / 2], [B / 2, C]])
        axes_sq = -f0 / eigenvalues
        if np.any(axes_sq <= 0):
            raise ValueError("conic is an imaginary ellipse")
        major_index = int(np.argmax(axes_sq))
        a, b = math.sqrt(axes_sq[major_index]), math.sqrt(axes_sq[1 - major_index])
        major = eigenvectors[:, major_index]
        angle = math.atan2(major[1], major[0]) % math.pi
        return Ellipse(float(cx), float(cy), a, b, angle)


def fit_ellipse(x: np.ndarray, y: np.ndarray) -> Ellipse:
    """Direct least-squares ellipse fit (Fitzgibbon 1999, stable form of Halir & Flusser 1998).

    Coordinates are centred and scaled first, which keeps the scatter matrices
    well conditioned for image-sized coordinates. Raises ValueError when the
    points do not determine an ellipse.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.size < 6:
        raise ValueError(f"an ellipse fit needs at least 6 points, got {x.size}")
    mx, my = x.mean(), y.mean()
    scale = max(x.std(), y.std())
    if scale == 0:
        raise ValueError("all points coincide")
    xs, ys = (x - mx) / scale, (y - my) / scale
    quadratic = np.stack([xs * xs, xs * ys, ys * ys], axis=1)
    linear = np.stack([xs, ys, np.ones_like(xs)], axis=1)
    s1, s2, s3 = quadratic.T @ quadratic, quadratic.T @ linear, linear.T @ linear
    try:
        t = -np.linalg.solve(s3, s2.T)
    except np.linalg.LinAlgError as error:
        raise ValueError("points are degenerate (collinear)") from error
    m = s1 + s2 @ t
    m = np.array([m[2] / 2, -m[1], m[0] / 2])
    _, eigenvectors = np.linalg.eig(m)
    eigenvectors = np.real(eigenvectors)
    condition = 4 * eigenvectors[0] * eigenvectors[2] - eigenvectors[1] ** 2
    candidates = np.flatnonzero(condition > 0)
    if candidates.size == 0:
        raise ValueError("no ellipse fits these points")
    quad = eigenvectors[:, candidates[0]]
    A, B, C = quad
    D, E, F = t @ quad
    # Undo the normalisation x = (X - mx) / scale.
    s = scale
    coefficients = np.array(
        [
            A / s**2,
            B / s**2,
            C / s**2,
            D / s - (2 * A * mx + B * my) / s**2,
            E / s - (B * mx + 2 * C * my) / s**2,
            F + (A * mx**2 + B * mx * my + C * my**2) / s**2 - (D * mx + E * my) / s,
        ]
    )
    return Ellipse.from_conic(coefficients)


def fit_outline(mask: np.ndarray) -> Ellipse:
    """Fit an ellipse to the nonzero pixels of an outline image (row = y, column = x)."""
    rows, cols = np.nonzero(mask)
    return fit_ellipse(cols.astype(np.float64), rows.astype(np.float64))


def draw_outline(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """A 1-pixel-wide outline of `ellipse` as a boolean image of `shape` (rows, cols)."""
    n = int(4 * ellipse.perimeter) + 16
    points = np.rint(ellipse.points(n)).astype(np.int64)
    inside = (
        (points[:, 0] >= 0)
        & (points[:, 0] < shape[1])
        & (points[:, 1] >= 0)
        & (points[:, 1] < shape[0])
    )
    mask = np.zeros(shape, dtype=bool)
    mask[points[inside, 1], points[inside, 0]] = True
    return mask
