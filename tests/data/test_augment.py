"""Augmentation keeps the HC target exact: it follows the annotated ellipse through the warp."""

import math

import numpy as np
import pytest

from hcxai.data.augment import augment_batch, random_affine, transformed_hc_ratio, warp
from hcxai.data.ellipse import Ellipse

SCALE = (800 / 64, 540 / 64)


def affine(linear, shift=(0.0, 0.0), size=64):
    centre = np.array([(size - 1) / 2] * 2)
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = centre - np.asarray(linear) @ centre + shift
    return m


ELLIPSE = Ellipse(30.0, 34.0, 14.0, 9.0, 0.4).as_array()


@pytest.mark.parametrize("linear", [np.diag([-1.0, 1.0]), np.diag([1.0, -1.0]), np.eye(2)])
def test_flips_and_shifts_keep_the_hc(linear):
    assert transformed_hc_ratio(ELLIPSE, affine(linear, (3.0, -2.0)), SCALE) == pytest.approx(1.0)


def test_isotropic_scaling_scales_the_hc():
    assert transformed_hc_ratio(ELLIPSE, affine(1.1 * np.eye(2)), SCALE) == pytest.approx(1.1)


def test_rotation_in_stretched_network_pixels_changes_the_hc():
    # 800x540 resized to a square stretches y; rotating there is not rigid in the scan.
    c, s = math.cos(0.3), math.sin(0.3)
    ratio = transformed_hc_ratio(ELLIPSE, affine([[c, -s], [s, c]]), SCALE)
    assert ratio != pytest.approx(1.0, abs=1e-3)
    # The same rotation of a circle that is round in the original scan is rigid there
    # only if the pixels are square, which they are not: check against point geometry.
    pts = Ellipse(*ELLIPSE).points(400)
    moved = pts @ np.array([[c, -s], [s, c]]).T
    assert ratio == pytest.approx(polyline(moved, SCALE) / polyline(pts, SCALE), rel=1e-4)


def polyline(points, scale):
    """The closed polyline's length in original pixels (the oracle for a perimeter)."""
    closed = np.vstack([points, points[:1]]) * np.asarray(scale)
    return np.sum(np.hypot(*np.diff(closed, axis=0).T))


def test_each_image_goes_through_the_warp_at_its_own_scan_size():
    # Two of HC18's real sizes: the same warp changes their HC by different factors.
    scales = np.array([[800 / 64, 540 / 64], [738 / 64, 563 / 64]])
    images = np.zeros((2, 64, 64), dtype=np.uint8)
    ellipses = np.array([ELLIPSE, ELLIPSE])
    _, ratios = augment_batch(images, ellipses, np.random.default_rng(7), scales)
    rng = np.random.default_rng(7)
    pts = Ellipse(*ELLIPSE).points(2000)
    for ratio, scale in zip(ratios, scales, strict=True):
        matrix = random_affine(rng, 64)
        moved = pts @ matrix[:2, :2].T + matrix[:2, 2]
        assert ratio == pytest.approx(polyline(moved, scale) / polyline(pts, scale), rel=1e-4)


def test_warp_moves_pixels_where_the_matrix_says():
    image = np.zeros((64, 64), dtype=np.uint8)
    image[10, 20] = 255  # row 10 = y, column 20 = x
    moved = warp(image, affine(np.eye(2), (5.0, 3.0)))
    assert np.unravel_index(np.argmax(moved), moved.shape) == (13, 25)


def test_random_affine_is_seeded():
    a = random_affine(np.random.default_rng(1), 64)
    b = random_affine(np.random.default_rng(1), 64)
    np.testing.assert_array_equal(a, b)
