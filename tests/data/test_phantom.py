"""Phantoms must be HC18 to the byte layout, and their CSV HC the drawn ellipse's perimeter."""

import csv

import numpy as np
import pytest
from PIL import Image

from hcxai.data import phantom
from hcxai.data.ellipse import fit_outline


def rows(root):
    with open(root / phantom.CSV_NAME, newline="") as handle:
        return list(csv.reader(handle))


def test_layout_is_hc18(phantom_root):
    table = rows(phantom_root)
    assert table[0] == ["filename", "pixel size(mm)", "head circumference (mm)"]
    assert [r[0] for r in table[1:]] == [f"{i:03d}_HC.png" for i in range(6)]
    for name, _, _ in table[1:]:
        for path in (
            phantom_root / "training_set" / name,
            phantom_root / "training_set" / name.replace(".png", "_Annotation.png"),
        ):
            with Image.open(path) as image:
                assert image.format == "PNG"
                assert image.mode == "L"
                assert image.size == (800, 540)


def test_annotation_is_a_thin_white_outline_on_black(phantom_root):
    annotation = np.asarray(Image.open(phantom_root / "training_set" / "000_HC_Annotation.png"))
    assert set(np.unique(annotation)) == {0, 255}
    # An outline, not a filled ellipse: a few thousand pixels at most.
    assert 200 < (annotation > 0).sum() < 4000


def moment_perimeter(annotation: np.ndarray) -> float:
    """An independent estimate: fill the outline row by row, take second moments."""
    filled = np.zeros_like(annotation, dtype=bool)
    for r in np.flatnonzero(annotation.any(axis=1)):
        cols = np.flatnonzero(annotation[r])
        filled[r, cols.min() : cols.max() + 1] = True
    rr, cc = np.nonzero(filled)
    eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([cc, rr])))
    a, b = 2 * np.sqrt(eigenvalues[::-1])
    h = ((a - b) / (a + b)) ** 2
    return np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))


def test_csv_hc_is_the_perimeter_of_the_annotation(phantom_root):
    for name, pixel_size, hc_mm in rows(phantom_root)[1:]:
        annotation = np.asarray(
            Image.open(phantom_root / "training_set" / name.replace(".png", "_Annotation.png"))
        )
        pixel_size, hc_mm = float(pixel_size), float(hc_mm)
        assert fit_outline(annotation > 0).perimeter * pixel_size == pytest.approx(hc_mm, rel=0.01)
        assert moment_perimeter(annotation > 0) * pixel_size == pytest.approx(hc_mm, rel=0.01)


def test_ranges_follow_hc18():
    rng = np.random.default_rng(0)
    specs = [phantom.sample_spec(rng) for _ in range(300)]
    pixel_sizes = np.array([s.pixel_size_mm for s in specs])
    hcs = np.array([s.hc_mm for s in specs])
    assert pixel_sizes.min() >= 0.052 and pixel_sizes.max() <= 0.326
    assert hcs.min() >= 50 and hcs.max() <= 350
    # All trimesters: small, middle and large heads are all present.
    assert (hcs < 120).any() and ((hcs > 150) & (hcs < 250)).any() and (hcs > 280).any()
    # The head is inside the frame.
    for s in specs:
        x, y = s.ellipse.points(64).T
        assert x.min() > 0 and x.max() < 800 and y.min() > 0 and y.max() < 540


def test_deterministic_for_a_seed_and_independent_of_workers(phantom_root, tmp_path):
    phantom.generate(tmp_path / "again", n_images=6, seed=11, workers=2)
    phantom.generate(tmp_path / "other", n_images=2, seed=12)
    for i in range(6):
        name = f"training_set/{i:03d}_HC.png"
        assert (tmp_path / "again" / name).read_bytes() == (phantom_root / name).read_bytes()
    assert (tmp_path / "other" / "training_set/000_HC.png").read_bytes() != (
        phantom_root / "training_set/000_HC.png"
    ).read_bytes()


def test_scans_look_like_ultrasound_not_a_clean_shape(phantom_root):
    image = np.asarray(Image.open(phantom_root / "training_set" / "000_HC.png")).astype(float)
    annotation = np.asarray(Image.open(phantom_root / "training_set" / "000_HC_Annotation.png")) > 0
    # Fan-shaped field of view: the top corners are black, the bottom centre is not.
    assert image[:30, :30].max() == 0 and image[:30, -30:].max() == 0
    assert image[-60:, 380:420].mean() > 10
    # The skull echo is brighter than the tissue, and speckle makes tissue grainy.
    inside_fan = image > 0
    assert image[annotation].mean() > 1.5 * image[inside_fan & ~annotation].mean()
    tissue = image[400:440, 360:440]
    assert tissue.std() > 0.2 * tissue.mean()
