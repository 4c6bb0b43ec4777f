"""The real HC18 set's quirks, as fixtures: scan sizes, annotation forms, the HC check.

Measured on the public HC18 training set (999 scans): 975 are 800x540, 24 come in
the 19 other sizes below; annotations are 0/255 outlines about 2.5 px wide, five
cut open by the image border; re-saved copies hold filled and/or RGB(A) ellipses.
The oracle is a planted ellipse: its closed-form perimeter and centre.
"""

import logging
import math

import numpy as np
import pytest
from PIL import Image

from hcxai.core.io import InputError
from hcxai.data.ellipse import Ellipse, draw_outline
from hcxai.data.hc18 import CSV_NAME, fit_annotation, ingest, load_dataset, resize_area

REAL_SIZES = [
    (738, 541), (780, 539), (780, 544), (782, 542), (783, 541), (783, 543), (786, 542),
    (788, 545), (789, 540), (789, 545), (790, 539), (791, 544), (794, 543), (794, 544),
    (796, 542), (796, 544), (797, 541), (798, 541), (799, 563),
    (800, 542), (800, 542), (800, 542), (800, 542), (800, 542),
    (800, 540),
]  # fmt: skip
PIXEL_SIZE = 0.15


def planted(width: int, height: int, index: int = 0) -> Ellipse:
    """A skull-sized ellipse inside a width x height scan, varied by `index`."""
    return Ellipse(
        width / 2 + 7 * (index % 5), height / 2 - 5 * (index % 3), 170, 125, 0.3 + index / 10
    )


def distance(ellipse: Ellipse, shape: tuple[int, int]) -> np.ndarray:
    """Signed distance (px) of every pixel centre to the ellipse, first order (Sampson)."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    u = c * (x - ellipse.cx) + s * (y - ellipse.cy)
    v = -s * (x - ellipse.cx) + c * (y - ellipse.cy)
    k = np.hypot(u / ellipse.a, v / ellipse.b)
    gradient = np.hypot(u / ellipse.a**2, v / ellipse.b**2) / np.maximum(k, 1e-9)
    return (k - 1) / np.maximum(gradient, 1e-9)


def thin_outline(e, shape):
    return Image.fromarray(draw_outline(e, shape).astype(np.uint8) * 255)


def hc18_outline(e, shape):  # 0/255, about 2.5 px wide, as HC18 draws it
    return Image.fromarray(np.where(np.abs(distance(e, shape)) <= 1.25, 255, 0).astype(np.uint8))


def antialiased_outline(e, shape):
    ring = np.clip(1.75 - np.abs(distance(e, shape)), 0, 1)
    return Image.fromarray(np.rint(200 * ring).astype(np.uint8))


def filled(e, shape):
    return Image.fromarray(np.where(distance(e, shape) <= 0, 255, 0).astype(np.uint8))


def filled_antialiased(e, shape):
    coverage = np.clip(0.5 - distance(e, shape), 0, 1)
    return Image.fromarray(np.rint(255 * coverage).astype(np.uint8))


def filled_rgb(e, shape):  # a coloured fill, as some viewers export it
    inside = distance(e, shape) <= 0
    rgb = np.zeros((*shape, 3), dtype=np.uint8)
    rgb[inside] = (30, 220, 90)
    return Image.fromarray(rgb, "RGB")


def filled_rgba(e, shape):  # white everywhere, the ellipse in the alpha channel
    coverage = np.clip(0.5 - distance(e, shape), 0, 1)
    rgba = np.full((*shape, 4), 255, dtype=np.uint8)
    rgba[..., 3] = np.rint(255 * coverage)
    return Image.fromarray(rgba, "RGBA")


def filled_zero_one(e, shape):  # a label mask: 0 and 1
    return Image.fromarray((distance(e, shape) <= 0).astype(np.uint8))


def outline_16_bit(e, shape):
    ring = np.where(np.abs(distance(e, shape)) <= 1.25, 65535, 0).astype(np.uint16)
    return Image.fromarray(ring)  # mode I;16


FORMS = {
    thin_outline: "outline/L",
    hc18_outline: "outline/L",
    antialiased_outline: "outline/L",
    filled: "filled/L",
    filled_antialiased: "filled/L",
    filled_rgb: "filled/RGB",
    filled_rgba: "filled/RGBA",
    filled_zero_one: "filled/L",
    outline_16_bit: "outline/I;16",
}


@pytest.mark.parametrize("draw", FORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("cut_by_border", [False, True], ids=["inside", "cut_by_border"])
def test_every_annotation_form_gives_the_planted_ellipse(draw, cut_by_border, tmp_path):
    shape = (540, 800)
    ellipse = planted(800, 540)
    if cut_by_border:  # five real annotations leave the frame
        ellipse = Ellipse(110, 330, 170, 125, 0.3)
    path = tmp_path / "000_HC_Annotation.png"
    draw(ellipse, shape).save(path)
    annotation = fit_annotation(path, shape)
    assert f"{annotation.form}/{annotation.mode}" == FORMS[draw]
    assert annotation.ellipse.perimeter == pytest.approx(ellipse.perimeter, rel=0.005)
    assert annotation.ellipse.cx == pytest.approx(ellipse.cx, abs=0.5)
    assert annotation.ellipse.cy == pytest.approx(ellipse.cy, abs=0.5)


def write_hc18_folder(root, sizes, draw=hc18_outline, hc_factor=None):
    """An HC18-layout folder: noise scans of `sizes`, annotations drawn by `draw`.

    The CSV's HC is the planted perimeter x pixel size (x hc_factor[i] if given).
    """
    images = root / "training_set"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = ["filename,pixel size(mm),head circumference (mm)"]
    for i, (width, height) in enumerate(sizes):
        name = f"{i:03d}_HC"
        Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8)).save(
            images / f"{name}.png"
        )
        ellipse = planted(width, height, i)
        draw(ellipse, (height, width)).save(images / f"{name}_Annotation.png")
        factor = 1.0 if hc_factor is None else hc_factor[i]
        lines.append(f"{name}.png,{PIXEL_SIZE},{ellipse.perimeter * PIXEL_SIZE * factor!r}")
    (root / CSV_NAME).write_text("\r\n".join(lines) + "\r\n")  # HC18's CRLF
    return root


def test_scans_of_every_real_size_are_ingested_each_from_its_own_size(tmp_path, caplog):
    root = write_hc18_folder(tmp_path / "HC18", REAL_SIZES)
    out = tmp_path / "dataset_64.h5"
    with caplog.at_level(logging.INFO, logger="hcxai.data.hc18"):
        ingest(root, out, image_size=64, source="hc18")
    data = load_dataset(out)
    np.testing.assert_array_equal(data.original_size, REAL_SIZES)
    for i, (width, height) in enumerate(REAL_SIZES):
        scan = np.asarray(Image.open(root / "training_set" / f"{i:03d}_HC.png"))
        expected = np.asarray(Image.fromarray(scan).resize((64, 64), Image.Resampling.BOX))
        np.testing.assert_array_equal(data.images[i], expected)
        # Pixel centres map to pixel centres from this scan's own size.
        e = planted(width, height, i)
        sx, sy = 64 / width, 64 / height
        assert data.ellipse_resized[i, 0] == pytest.approx((e.cx + 0.5) * sx - 0.5, abs=0.05)
        assert data.ellipse_resized[i, 1] == pytest.approx((e.cy + 0.5) * sy - 0.5, abs=0.05)
    np.testing.assert_allclose(
        data.original_scale(np.array([0, 24])), [[738 / 64, 541 / 64], [12.5, 540 / 64]]
    )
    assert resize_area(scan, 64).shape == (64, 64)
    assert "800x542 (5)" in caplog.text and "738x541 (1)" in caplog.text
    assert "annotation forms: outline/L (25)" in caplog.text


def test_filled_rgb_annotations_pass_the_hc_check_and_are_logged(tmp_path, caplog):
    root = write_hc18_folder(tmp_path / "HC18", REAL_SIZES[:4], draw=filled_rgb)
    with caplog.at_level(logging.INFO, logger="hcxai.data.hc18"):
        ingest(root, tmp_path / "d.h5", image_size=32, source="hc18")
    assert "annotation forms: filled/RGB (4)" in caplog.text


@pytest.mark.parametrize(
    ("factor", "fails"), [(1.04, False), (0.96, False), (1.06, True), (0.94, True)]
)
def test_the_hc_check_refuses_a_disagreement_above_five_percent(factor, fails, tmp_path):
    factors = [1.0, factor, 1.0]
    root = write_hc18_folder(tmp_path / "HC18", REAL_SIZES[:3], hc_factor=factors)
    out = tmp_path / "d.h5"
    if not fails:
        ingest(root, out, image_size=32, source="hc18")
        return
    with pytest.raises(InputError, match=r"1 of 3 annotation\(s\).*001_HC_Annotation.png.*skull"):
        ingest(root, out, image_size=32, source="hc18")
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_many_disagreements_name_the_first_three_and_the_count(tmp_path):
    # Fitting the filled pixels' least squares (the old bug) gives 1/sqrt(2) of the HC.
    factors = [1 / 0.717] * 6
    root = write_hc18_folder(tmp_path / "HC18", REAL_SIZES[:6], hc_factor=factors)
    with pytest.raises(InputError) as error:
        ingest(root, tmp_path / "d.h5", image_size=32, source="hc18")
    message = str(error.value)
    assert "6 of 6" in message and "002_HC_Annotation.png" in message
    assert "003_HC_Annotation.png" not in message


def test_an_annotation_of_another_size_than_its_scan_is_refused(tmp_path):
    root = write_hc18_folder(tmp_path / "HC18", [(800, 540), (786, 542)])
    hc18_outline(planted(800, 540), (540, 800)).save(
        root / "training_set" / "001_HC_Annotation.png"
    )
    with pytest.raises(
        InputError, match=r"001_HC_Annotation.png: annotation is 800x540 .* 786x542"
    ):
        ingest(root, tmp_path / "d.h5", image_size=32, source="hc18")


@pytest.mark.parametrize("size", [(399, 540), (800, 399), (2001, 540)])
def test_a_scan_far_from_hc18_geometry_is_refused(size, tmp_path):
    root = write_hc18_folder(tmp_path / "HC18", [(800, 540)])
    width, height = size
    Image.new("L", size).save(root / "training_set" / "000_HC.png")
    with pytest.raises(InputError, match=rf"000_HC.png: scan is {width}x{height} px"):
        ingest(root, tmp_path / "d.h5", image_size=32, source="hc18")


def test_a_scan_at_the_size_bounds_is_accepted(tmp_path):
    root = write_hc18_folder(tmp_path / "HC18", [(800, 540)])
    Image.new("L", (400, 2000)).save(root / "training_set" / "000_HC.png")
    # The scan is accepted; its annotation (800x540) is then refused for its size.
    with pytest.raises(InputError, match="annotation is 800x540 px but its scan is 400x2000"):
        ingest(root, tmp_path / "d.h5", image_size=32, source="hc18")
