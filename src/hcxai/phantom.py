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

from hcxai.ellipse import Ellipse, draw_outline, ramanujan_perimeter
from hcxai.io import atomic_output

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 800, 540
CSV_NAME = "training_set_pixel_size_and_HC.csv"
IMAGE_FOLDER = "training_set"
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


def render(spec: PhantomSpec, rng: np.random.Generator) -> np.ndarray:
    """Render one scan as a (540, 800) uint8 array."""
    e = spec.ellipse
    # float32 throughout: half the memory traffic of float64, the same picture.
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)

    # Fan-shaped field of view from a probe above the frame.
    apex_x, apex_y = WIDTH / 2 + rng.uniform(-20, 20), rng.uniform(-120, -60)
    beam_angle = np.arctan2(cols - apex_x, rows - apex_y)
    depth = np.hypot(cols - apex_x, rows - apex_y)
    half_fan = math.radians(rng.uniform(40, 48))
    fan = (np.abs(beam_angle) < half_fan) & (depth < HEIGHT - apex_y + 40)

    # Ellipse frame coordinates, normalised radius and signed distance to the outline.
    cos, sin = math.cos(e.angle), math.sin(e.angle)
    u = (cols - e.cx) * cos + (rows - e.cy) * sin
    v = -(cols - e.cx) * sin + (rows - e.cy) * cos
    radius = np.sqrt((u / e.a) ** 2 + (v / e.b) ** 2) + 1e-12
    grad_u, grad_v = u / (e.a**2 * radius), v / (e.b**2 * radius)
    grad_norm = np.hypot(grad_u, grad_v) + 1e-12
    distance = (radius - 1) / grad_norm
    theta = np.arctan2(v / e.b, u / e.a)

    # Tissue background with slowly varying echogenicity.
    tissue = 0.32 + 0.10 * _smooth_noise(rng, (HEIGHT, WIDTH), 25)
    image = tissue.copy()

    # Brain: hypoechoic inside the skull, with a midline echo and choroid plexus.
    inside = radius < 1
    image[inside] *= rng.uniform(0.35, 0.6)
    midline = np.exp(-0.5 * (v / rng.uniform(1.0, 2.0)) ** 2) * (np.abs(u) < 0.85 * e.a)
    midline *= 0.5 + 0.5 * (_smooth_noise(rng, (HEIGHT, WIDTH), 6) > -0.2)
    image += rng.uniform(0.25, 0.45) * midline
    for side in (-1, 1):
        pu, pv = side * e.a * rng.uniform(0.2, 0.45), e.b * rng.uniform(-0.35, 0.35)
        blob = ((u - pu) / (0.14 * e.a)) ** 2 + ((v - pv) / (0.08 * e.b)) ** 2
        image += rng.uniform(0.15, 0.3) * np.exp(-blob)

    # Skull: thick bright ring, strongest where the beam meets it at right angles.
    thickness = rng.uniform(0.015, 0.03) * e.a + 2.0
    ring = np.exp(-0.5 * ((distance + 0.5 * thickness) / thickness) ** 2)
    normal_x = grad_u * cos - grad_v * sin
    normal_y = grad_u * sin + grad_v * cos
    incidence = np.abs((normal_x * np.sin(beam_angle) + normal_y * np.cos(beam_angle)) / grad_norm)
    along = 0.6 + 0.4 * np.cos(theta * rng.integers(2, 5) + rng.uniform(0, 2 * math.pi))
    strength = (0.25 + 0.75 * incidence**1.5) * along
    for _ in range(rng.integers(1, 4)):  # echo dropouts
        centre, width = rng.uniform(-math.pi, math.pi), rng.uniform(0.08, 0.3)
        gap = np.abs(np.angle(np.exp(1j * (theta - centre)))) < width
        strength = np.where(gap, strength * 0.15, strength)
    image += 1.1 * ring * strength

    # Acoustic shadows: beams that cross the near skull are darker beyond it.
    near_wall_depth = np.where(np.abs(distance) < thickness, depth, np.inf)
    shadow = np.zeros_like(image)
    for _ in range(rng.integers(1, 3)):
        centre = rng.uniform(-half_fan, half_fan)
        width = rng.uniform(0.02, 0.06)
        beam = np.abs(beam_angle - centre) < width
        crossing = np.min(np.where(beam, near_wall_depth, np.inf))
        if np.isfinite(crossing):
            shadow = np.maximum(shadow, beam & (depth > crossing + thickness))
    image *= 1 - rng.uniform(0.3, 0.55) * ndimage.uniform_filter(shadow, 9)

    # Time-gain compensation, lateral gain, speckle and a mild blur.
    gain = 0.85 + 0.25 * _smooth_noise(rng, (HEIGHT, WIDTH), 60) - 0.25 * depth / depth.max()
    speckle = np.hypot(
        ndimage.gaussian_filter(rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32), 0.8),
        ndimage.gaussian_filter(rng.standard_normal((HEIGHT, WIDTH), dtype=np.float32), 0.8),
    )
    speckle /= speckle.mean()
    image = ndimage.gaussian_filter(image * gain * speckle, 0.7)
    image = np.where(fan, image, 0.0)
    return np.clip(image * 230, 0, 255).astype(np.uint8)


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(array, mode="L").save(tmp, format="PNG")


def _write_scan(images: Path, seed: int, index: int) -> tuple[str, str, str]:
    """Draw scan `index` (it depends only on seed and index) and its annotation."""
    rng = np.random.default_rng([seed, index])
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
