"""On-the-fly augmentation whose HC target follows the transform exactly.

The network sees the scan resized to size x size, which stretches x and y by
different factors (800 and 540 px become the same size). A rotation or a
scaling in network pixels is therefore not rigid in the original scan, and the
HC changes. We carry the annotated ellipse through the same affine map, take it
back to original pixels and use its perimeter: the target stays the true HC of
the augmented picture. Flips and shifts leave it unchanged; an isotropic
scaling by s multiplies it by s.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from hcxai.data.ellipse import Ellipse, fit_ellipse

ROTATION_DEG = 15.0
SCALE_RANGE = (0.85, 1.1)
SHIFT_FRACTION = 0.08


def random_affine(rng: np.random.Generator, size: int) -> np.ndarray:
    """A 3x3 map of (x, y, 1) in network pixels: flips, rotation, scaling, shift."""
    angle = math.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    scale = rng.uniform(*SCALE_RANGE)
    flip_x = -1.0 if rng.random() < 0.5 else 1.0
    flip_y = -1.0 if rng.random() < 0.5 else 1.0
    shift = rng.uniform(-SHIFT_FRACTION, SHIFT_FRACTION, size=2) * size
    cos, sin = math.cos(angle), math.sin(angle)
    linear = scale * np.array([[cos, -sin], [sin, cos]]) @ np.diag([flip_x, flip_y])
    centre = np.array([(size - 1) / 2, (size - 1) / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = centre - linear @ centre + shift
    return matrix


def warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply `matrix` (output = matrix @ input, in x/y) to an image (rows = y), zero outside."""
    inverse = np.linalg.inv(matrix)
    # ndimage works in (row, col) = (y, x): swap the axes of the inverse map.
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])
    inverse_rc = swap @ inverse @ swap
    return ndimage.affine_transform(
        image, inverse_rc[:2, :2], offset=inverse_rc[:2, 2], order=1, mode="constant", cval=0
    )


def transformed_hc_ratio(
    ellipse_resized: np.ndarray, matrix: np.ndarray, original_scale: tuple[float, float]
) -> float:
    """HC after / HC before the augmentation, measured on the annotated ellipse.

    `original_scale` = (original width / size, original height / size) takes
    network pixels back to original pixels, where the HC is measured.
    """
    ellipse = Ellipse(*ellipse_resized)
    points = ellipse.points(48)
    moved = points @ matrix[:2, :2].T + matrix[:2, 2]
    to_original = np.asarray(original_scale)
    before = fit_ellipse(*(points * to_original).T).perimeter
    after = fit_ellipse(*(moved * to_original).T).perimeter
    return after / before


def augment_batch(
    images: np.ndarray,
    ellipses_resized: np.ndarray,
    rng: np.random.Generator,
    original_scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Augmented copies of `images` (N x size x size) and the factors for their HC targets.

    `original_scale` (N x 2) is each image's own (width, height) / size: HC18's
    scans differ in size, so each HC goes through the warp at its scan's scale.
    """
    size = images.shape[-1]
    out = np.empty_like(images)
    ratios = np.empty(len(images))
    rows = zip(images, ellipses_resized, np.asarray(original_scale), strict=True)
    for i, (image, ellipse, scale) in enumerate(rows):
        matrix = random_affine(rng, size)
        out[i] = warp(image, matrix)
        ratios[i] = transformed_hc_ratio(ellipse, matrix, (float(scale[0]), float(scale[1])))
    return out, ratios
