"""Synthetic fetal-head ultrasound scans in the exact HC18 layout.

HC18 cannot be downloaded here, so the embedded default data set is made of
phantoms that a reader of the HC18 loader cannot tell apart by format:
800x540 8-bit grayscale PNGs, a 1-pixel ellipse outline per scan as
`NNN_HC_Annotation.png`, and the CSV of pixel size and head circumference.
The pictures imitate what makes HC hard on real scans: a thick skull echo whose
brightness follows the beam angle, gaps and acoustic shadows, a midline echo and
other inner structures, speckle, depth-dependent gain and a fan-shaped field of
view. The CSV's HC is the exact perimeter of the drawn ellipse (Ramanujan)
times the pixel size, as in HC18 where it comes from the annotation.
"""

from __future__ import annotations

import concurrent.futures
import csv
import functools
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from hcxai.core.io import atomic_output
from hcxai.core.seeding import PHANTOM, stream
from hcxai.data.ellipse import Ellipse, draw_outline, ramanujan_perimeter
from hcxai.data.hc18 import CSV_NAME, HC18_HEIGHT, HC18_WIDTH, IMAGE_FOLDER

log = logging.getLogger(__name__)

WIDTH, HEIGHT = HC18_WIDTH, HC18_HEIGHT
CSV_HEADER = ("filename", "pixel size(mm)", "head circumference (mm)")
PIXEL_SIZE_RANGE = (0.052, 0.326)
HC_MM_RANGE = (50.0, 350.0)
# Semi-major axis range in pixels: a head fills much of an HC18 frame.
MAJOR_AXIS_RANGE = (95.0, 290.0)


@dataclass(frozen=True)
class PhantomSpec:
    """What is drawn for one scan: the ellipse (pixels) and its pixel size (mm)."""

    ellipse: Ellipse
    pixel_size_mm: float

    @property
    def hc_mm(self) -> float:
        return self.ellipse.perimeter * self.pixel_size_mm


def sample_spec(rng: np.random.Generator) -> PhantomSpec:
    """Draw a head: HC over all trimesters, a pixel size in HC18's range, a pose.

    HC18's pixel size grows with the head (sonographers zoom out for larger
    heads), so HC in mm and pixel size are drawn jointly by rejection: an
    ellipse that fits the frame and a pixel size in range.
    """
    margin = 12.0
    while True:
        hc_mm = rng.uniform(*HC_MM_RANGE)
        a = rng.uniform(*MAJOR_AXIS_RANGE)
        b = a * rng.uniform(0.68, 0.92)
        angle = rng.uniform(0, math.pi)
        # Half-extents of the rotated ellipse: the whole head must be in frame.
        half_w = math.hypot(a * math.cos(angle), b * math.sin(angle))
        half_h = math.hypot(a * math.sin(angle), b * math.cos(angle))
        if half_w + margin > WIDTH / 2 or half_h + margin > HEIGHT / 2:
            continue
        pixel_size = hc_mm / ramanujan_perimeter(a, b)
        if PIXEL_SIZE_RANGE[0] <= pixel_size <= PIXEL_SIZE_RANGE[1]:
            break
    cx = rng.uniform(half_w + margin, WIDTH - half_w - margin)
    cy = rng.uniform(half_h + margin, HEIGHT - half_h - margin)
    return PhantomSpec(Ellipse(cx, cy, a, b, angle), round(pixel_size, 9))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Low-frequency noise in [-1, 1] for gain and texture variation.

    Drawn on a grid `sigma` times coarser and upsampled: the same look as a
    Gaussian-filtered full-size field at a fraction of the cost.
    """
    coarse_shape = (int(shape[0] / sigma) + 2, int(shape[1] / sigma) + 2)
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), 1.0)
    field = ndimage.zoom(coarse, (shape[0] / coarse_shape[0], shape[1] / coarse_shape[1]), order=1)
    field = field[: shape[0], : shape[1]]
    return (field / (np.abs(field).max() + 1e-12)).astype(np.float32)


# The look of a scan. Ranges (lo, hi) are drawn uniformly per scan; lengths are
# in pixels, brightness in units of the display range (x DISPLAY_GAIN -> uint8).
FAN_APEX_JITTER_PX = 20.0  # probe apex: this far left/right of the frame centre
FAN_APEX_DEPTH_PX = (-120.0, -60.0)  # and this far above the frame
FAN_HALF_ANGLE_DEG = (40.0, 48.0)
FAN_DEPTH_MARGIN_PX = 40.0  # the fan reaches this far below the frame
TISSUE_LEVEL, TISSUE_VARIATION, TISSUE_SCALE_PX = 0.32, 0.10, 25.0
BRAIN_DARKENING = (0.35, 0.6)  # the hypoechoic brain: tissue x this
MIDLINE_HALF_WIDTH_PX = (1.0, 2.0)
MIDLINE_EXTENT = 0.85  # of the semi-major axis
MIDLINE_GAP_SCALE_PX, MIDLINE_GAP_LEVEL = 6.0, -0.2  # broken where the noise is below the level
MIDLINE_BRIGHTNESS = (0.25, 0.45)
PLEXUS_OFFSET = ((0.2, 0.45), (-0.35, 0.35))  # choroid plexus centre, in semi-axes (u, v)
PLEXUS_SIZE = (0.14, 0.08)  # in semi-axes (u, v)
PLEXUS_BRIGHTNESS = (0.15, 0.3)
SKULL_THICKNESS = ((0.015, 0.03), 2.0)  # (fraction of the semi-major axis, + px)
SKULL_LOBES = (2, 5)  # brightness varies along the skull with this many lobes
SKULL_ALONG = (0.6, 0.4)  # mean and amplitude of that variation
SKULL_BASE, SKULL_INCIDENCE, SKULL_INCIDENCE_POWER = 0.25, 0.75, 1.5
SKULL_BRIGHTNESS = 1.1
DROPOUTS, DROPOUT_HALF_WIDTH_RAD, DROPOUT_LEVEL = (1, 4), (0.08, 0.3), 0.15
SHADOWS, SHADOW_HALF_WIDTH_RAD = (1, 3), (0.02, 0.06)
SHADOW_DARKENING, SHADOW_SMOOTH_PX = (0.3, 0.55), 9
GAIN_LEVEL, GAIN_LATERAL, GAIN_SCALE_PX, GAIN_DEPTH_LOSS = 0.85, 0.25, 60.0, 0.25
SPECKLE_SIGMA_PX, BLUR_SIGMA_PX, DISPLAY_GAIN = 0.8, 0.7, 230.0


@dataclass(frozen=True)
class ScanGeometry:
    """Per-pixel coordinates of one scan: the beam, and the head's ellipse frame."""

    beam_angle: np.ndarray  # angle of the beam through each pixel
    depth: np.ndarray  # distance from the probe apex
    half_fan: float
    fan: np.ndarray  # inside the field of view
    u: np.ndarray  # ellipse frame: along the major axis
    v: np.ndarray  # along the minor axis
    radius: np.ndarray  # normalised: 1 on the outline
    grad_u: np.ndarray  # gradient of the radius (u, v)
    grad_v: np.ndarray
    grad_norm: np.ndarray
    distance: np.ndarray  # signed distance to the outline (px, negative inside)
    theta: np.ndarray  # angle along the outline


def _geometry(e: Ellipse, rng: np.random.Generator) -> ScanGeometry:
    """The fan-shaped field of view from a probe above the frame, and the ellipse frame."""
    # float32 throughout: half the memory traffic of float64, the same picture.
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    apex_x = WIDTH / 2 + rng.uniform(-FAN_APEX_JITTER_PX, FAN_APEX_JITTER_PX)
    apex_y = rng.uniform(*FAN_APEX_DEPTH_PX)
    beam_angle = np.arctan2(cols - apex_x, rows - apex_y)
    depth = np.hypot(cols - apex_x, rows - apex_y)
    half_fan = math.radians(rng.uniform(*FAN_HALF_ANGLE_DEG))
    fan = (np.abs(beam_angle) < half_fan) & (depth < HEIGHT - apex_y + FAN_DEPTH_MARGIN_PX)
    cos, sin = math.cos(e.angle), math.sin(e.angle)
    u = (cols - e.cx) * cos + (rows - e.cy) * sin
    v = -(cols - e.cx) * sin + (rows - e.cy) * cos
    radius = np.sqrt((u / e.a) ** 2 + (v / e.b) ** 2) + 1e-12
    grad_u, grad_v = u / (e.a**2 * radius), v / (e.b**2 * radius)
    grad_norm = np.hypot(grad_u, grad_v) + 1e-12
    return ScanGeometry(
        beam_angle,
        depth,
        half_fan,
        fan,
        u,
        v,
        radius,
        grad_u,
        grad_v,
        grad_norm,
        distance=(radius - 1) / grad_norm,
        theta=np.arctan2(v / e.b, u / e.a),
    )


def _brain(image: np.ndarray, g: ScanGeometry, e: Ellipse, rng: np.random.Generator) -> None:
    """Hypoechoic inside the skull, with a broken midline echo and two choroid plexus blobs."""
    image[g.radius < 1] *= rng.uniform(*BRAIN_DARKENING)
    midline = np.exp(-0.5 * (g.v / rng.uniform(*MIDLINE_HALF_WIDTH_PX)) ** 2) * (
        np.abs(g.u) < MIDLINE_EXTENT * e.a
    )
    midline *= 0.5 + 0.5 * (
        _smooth_noise(rng, (HEIGHT, WIDTH), MIDLINE_GAP_SCALE_PX) > MIDLINE_GAP_LEVEL
    )
    image += rng.uniform(*MIDLINE_BRIGHTNESS) * midline
    for side in (-1, 1):
        pu = side * e.a * rng.uniform(*PLEXUS_OFFSET[0])
        pv = e.b * rng.uniform(*PLEXUS_OFFSET[1])
        blob = ((g.u - pu) / (PLEXUS_SIZE[0] * e.a)) ** 2 + (
            (g.v - pv) / (PLEXUS_SIZE[1] * e.b)
        ) ** 2
        image += rng.uniform(*PLEXUS_BRIGHTNESS) * np.exp(-blob)


def _skull(image: np.ndarray, g: ScanGeometry, e: Ellipse, rng: np.random.Generator) -> float:
    """A thick bright ring, strongest where the beam meets it at right angles, with dropouts.

    Returns the ring's thickness (px), which the acoustic shadows need.
    """
    thickness = rng.uniform(*SKULL_THICKNESS[0]) * e.a + SKULL_THICKNESS[1]
    ring = np.exp(-0.5 * ((g.distance + 0.5 * thickness) / thickness) ** 2)
    cos, sin = math.cos(e.angle), math.sin(e.angle)
    normal_x = g.grad_u * cos - g.grad_v * sin
    normal_y = g.grad_u * sin + g.grad_v * cos
    incidence = np.abs(
        (normal_x * np.sin(g.beam_angle) + normal_y * np.cos(g.beam_angle)) / g.grad_norm
    )
    lobes = g.theta * rng.integers(*SKULL_LOBES) + rng.uniform(0, 2 * math.pi)
    along = SKULL_ALONG[0] + SKULL_ALONG[1] * np.cos(lobes)
    strength = (SKULL_BASE + SKULL_INCIDENCE * incidence**SKULL_INCIDENCE_POWER) * along
    for _ in range(rng.integers(*DROPOUTS)):
        centre, width = rng.uniform(-math.pi, math.pi), rng.uniform(*DROPOUT_HALF_WIDTH_RAD)
        gap = np.abs(np.angle(np.exp(1j * (g.theta - centre)))) < width
        strength = np.where(gap, strength * DROPOUT_LEVEL, strength)
    image += SKULL_BRIGHTNESS * ring * strength
    return thickness


def _shadows(
    image: np.ndarray, g: ScanGeometry, thickness: float, rng: np.random.Generator
) -> np.ndarray:
    """Acoustic shadows: beams that cross the near skull are darker beyond it."""
    near_wall_depth = np.where(np.abs(g.distance) < thickness, g.depth, np.inf)
    shadow = np.zeros_like(image)
    for _ in range(rng.integers(*SHADOWS)):
        centre = rng.uniform(-g.half_fan, g.half_fan)
        width = rng.uniform(*SHADOW_HALF_WIDTH_RAD)
        beam = np.abs(g.beam_angle - centre) < width
        crossing = np.min(np.where(beam, near_wall_depth, np.inf))
        if np.isfinite(crossing):
            shadow = np.maximum(shadow, beam & (g.depth > crossing + thickness))
    darkening = rng.uniform(*SHADOW_DARKENING)
    return image * (1 - darkening * ndimage.uniform_filter(shadow, SHADOW_SMOOTH_PX))


def _scanner(image: np.ndarray, g: ScanGeometry, rng: np.random.Generator) -> np.ndarray:
    """Time-gain compensation, lateral gain, speckle, a mild blur, the fan mask; to uint8."""
    gain = (
        GAIN_LEVEL
        + GAIN_LATERAL * _smooth_noise(rng, (HEIGHT, WIDTH), GAIN_SCALE_PX)
        - GAIN_DEPTH_LOSS * g.depth / g.depth.max()
    )
    speckle = np.hypot(
        ndimage.gaussian_filter(
            rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32), SPECKLE_SIGMA_PX
        ),
        ndimage.gaussian_filter(
            rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32), SPECKLE_SIGMA_PX
        ),
    )
    speckle /= speckle.mean()
    image = ndimage.gaussian_filter(image * gain * speckle, BLUR_SIGMA_PX)
    image = np.where(g.fan, image, 0.0)
    return np.clip(image * DISPLAY_GAIN, 0, 255).astype(np.uint8)


def render(spec: PhantomSpec, rng: np.random.Generator) -> np.ndarray:
    """Render one scan as a (540, 800) uint8 array (the steps draw from `rng` in this order)."""
    e = spec.ellipse
    g = _geometry(e, rng)
    image = TISSUE_LEVEL + TISSUE_VARIATION * _smooth_noise(rng, (HEIGHT, WIDTH), TISSUE_SCALE_PX)
    _brain(image, g, e, rng)
    thickness = _skull(image, g, e, rng)
    image = _shadows(image, g, thickness, rng)
    return _scanner(image, g, rng)


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(array, mode="L").save(tmp, format="PNG")


def _write_scan(images: Path, seed: int, index: int) -> tuple[str, str, str]:
    """Draw scan `index` (it depends only on seed and index) and its annotation."""
    rng = stream(seed, PHANTOM, index)
    spec = sample_spec(rng)
    name = f"{index:03d}_HC.png"
    _save_png(render(spec, rng), images / name)
    annotation = draw_outline(spec.ellipse, (HEIGHT, WIDTH)).astype(np.uint8) * 255
    _save_png(annotation, images / name.replace(".png", "_Annotation.png"))
    return name, f"{spec.pixel_size_mm:.9f}", f"{spec.hc_mm:.6f}"


def generate(out_dir: str | Path, n_images: int, seed: int, workers: int = 1) -> Path:
    """Write `n_images` phantoms in the HC18 layout under `out_dir`; return the CSV path.

    Scan i depends only on (seed, i), so a larger n_images keeps the first scans
    and the number of workers does not change the result. The CSV is written
    last and atomically: its presence means the set is whole.
    """
    if n_images < 1:
        raise ValueError(f"dataset.n_images must be >= 1, got {n_images}")
    out = Path(out_dir)
    images = out / IMAGE_FOLDER
    if images.exists():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    write = functools.partial(_write_scan, images, seed)
    rows = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for row in pool.map(write, range(n_images), chunksize=8):
            rows.append(row)
            if len(rows) % 100 == 0 or len(rows) == n_images:
                log.info("phantoms: %d/%d written", len(rows), n_images)
    csv_path = out / CSV_NAME
    with atomic_output(csv_path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return csv_path
