"""The head circumference is an ellipse perimeter: test the geometry first."""

import math

import numpy as np
import pytest
from scipy.special import ellipe

from hcxai.data.ellipse import Ellipse, draw_outline, fit_ellipse, fit_outline, ramanujan_perimeter


def exact_perimeter(a: float, b: float) -> float:
    """4 a E(e^2), the complete elliptic integral of the second kind."""
    a, b = max(a, b), min(a, b)
    return 4 * a * ellipe(1 - (b / a) ** 2)


@pytest.mark.parametrize("r", [0.5, 1.0, 37.0, 250.0])
def test_circle_perimeter_is_two_pi_r(r):
    assert ramanujan_perimeter(r, r) == pytest.approx(2 * math.pi * r, rel=1e-15)


@pytest.mark.parametrize(("a", "b"), [(2, 1), (180, 130), (300, 90), (5, 1)])
def test_known_ellipses_match_the_elliptic_integral(a, b):
    assert ramanujan_perimeter(a, b) == pytest.approx(exact_perimeter(a, b), rel=1e-6)
    assert ramanujan_perimeter(a, b) == ramanujan_perimeter(b, a)


def test_degenerate_axes_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        ramanujan_perimeter(0, 1)


def test_conic_round_trip():
    e = Ellipse(12.5, -3.0, 9.0, 4.0, 2.1)
    back = Ellipse.from_conic(e.conic())
    np.testing.assert_allclose(back.as_array(), e.as_array(), atol=1e-9)


@pytest.mark.parametrize("angle", [0.0, 0.3, 1.2, 2.9])
def test_fit_recovers_exact_points(angle):
    e = Ellipse(400.0, 270.0, 210.0, 150.0, angle)
    fitted = fit_ellipse(*e.points(200).T)
    np.testing.assert_allclose(fitted.as_array(), e.as_array(), atol=1e-6)


@pytest.mark.parametrize(
    "ellipse",
    [
        Ellipse(400.2, 270.9, 260.0, 200.0, 0.1),
        Ellipse(150.7, 300.3, 95.0, 70.0, 2.0),
        Ellipse(610.0, 200.0, 120.0, 118.0, 1.0),
    ],
)
def test_fit_recovers_drawn_outlines_within_half_a_percent(ellipse):
    fitted = fit_outline(draw_outline(ellipse, (540, 800)))
    assert fitted.perimeter == pytest.approx(ellipse.perimeter, rel=0.005)
    assert (fitted.cx, fitted.cy) == pytest.approx((ellipse.cx, ellipse.cy), abs=0.5)


def test_outline_is_one_pixel_wide():
    mask = draw_outline(Ellipse(400, 270, 200, 150, 0.4), (540, 800))
    # Along each row crossing the ellipse's middle, the outline is a thin run.
    row = mask[270]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0])))[::2]
    assert runs.max() <= 2


def test_anisotropic_scaling_matches_a_fit_of_scaled_points():
    e = Ellipse(400.0, 270.0, 200.0, 120.0, 0.8)
    sx, sy = 128 / 800, 128 / 540
    points = e.points(400) * [sx, sy]
    np.testing.assert_allclose(
        e.scaled(sx, sy).as_array(), fit_ellipse(*points.T).as_array(), atol=1e-6
    )


def test_fit_rejects_points_that_are_no_ellipse():
    with pytest.raises(ValueError):
        fit_ellipse(np.arange(10.0), 2 * np.arange(10.0))
    with pytest.raises(ValueError, match="at least 6"):
        fit_ellipse([0, 1, 2], [0, 1, 0])
