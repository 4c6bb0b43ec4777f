"""The HC18 loader: real layout in, checked dataset cache out; bad input named and fixed."""

import errno
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from hcxai.core.io import InputError
from hcxai.data.hc18 import (
    CSV_NAME,
    ingest,
    load_dataset,
    network_input,
    network_input_range,
    resize_area,
)

HEADER = "filename,pixel size(mm),head circumference (mm)"


def csv_lines(root: Path) -> list[str]:
    return (root / CSV_NAME).read_text().splitlines()


def write_csv(root: Path, lines: list[str]) -> None:
    (root / CSV_NAME).write_text("\n".join(lines) + "\n")


def test_ingest_writes_a_self_describing_cache(phantom_root, tmp_path):
    out = tmp_path / "dataset_64.h5"
    ingest(phantom_root, out, image_size=64, source="phantom")
    with h5py.File(out) as h5:
        assert h5["images"].dtype == np.uint8 and h5["images"].shape == (6, 64, 64)
        assert h5.attrs["image_size"] == 64 and h5.attrs["source"] == "phantom"
        assert Path(h5.attrs["source_path"]) == phantom_root.resolve()
        assert h5.attrs["ellipse_fields"] == "cx,cy,a,b,angle"
        for key in ("image_id", "pixel_size_mm", "hc_mm", "hc_px", "ellipse", "ellipse_resized"):
            assert len(h5[key]) == 6
    data = load_dataset(out)
    assert list(data.image_id) == [f"{i:03d}_HC" for i in range(6)]
    np.testing.assert_allclose(data.hc_px, data.hc_mm / data.pixel_size_mm)
    # The fitted annotation's perimeter in pixels (Ramanujan II, written out) gives back
    # the CSV's HC.
    with h5py.File(out) as h5:
        a, b = h5["ellipse"][:, 2], h5["ellipse"][:, 3]
    h = ((a - b) / (a + b)) ** 2
    perimeter = np.pi * (a + b) * (1 + 3 * h / (10 + np.sqrt(4 - 3 * h)))
    np.testing.assert_allclose(perimeter, data.hc_px, rtol=0.01)
    # Resized ellipse: the centre scales with the image.
    with h5py.File(out) as h5:
        # Pixel centres map to pixel centres: index x -> s (x + 1/2) - 1/2.
        np.testing.assert_allclose(
            h5["ellipse_resized"][:, 0], (h5["ellipse"][:, 0] + 0.5) * 64 / 800 - 0.5, rtol=1e-9
        )


def test_hc18_source_on_a_copy_ingests_identically(phantom_root, hc18_copy, tmp_path):
    ingest(phantom_root, tmp_path / "a.h5", image_size=32, source="phantom")
    ingest(hc18_copy, tmp_path / "b.h5", image_size=32, source="hc18")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for key in a:
            np.testing.assert_array_equal(a[key][:], b[key][:])


def block_pattern() -> np.ndarray:
    """An 800x540 scan where area, nearest and bilinear resizing all disagree.

    Blocks of 40x27 px alternate between 0 and 180 (a triangle filter blends
    neighbouring blocks), with a one-pixel checkerboard of 0/60 on top (nearest
    picks one of its values, the area average is their mean).
    """
    rows, cols = np.mgrid[:540, :800]
    coarse = ((rows // 27 + cols // 40) % 2) * 180
    fine = ((rows + cols) % 2) * 60
    return (coarse + fine).astype(np.uint8)


def centre_box(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights: the mean of the input pixels whose centre lies in an output pixel."""
    scale = n_in / n_out
    centres = np.arange(n_in) + 0.5
    inside = (centres > np.arange(n_out)[:, None] * scale) & (
        centres <= (np.arange(n_out)[:, None] + 1) * scale
    )
    return inside / inside.sum(axis=1, keepdims=True)


def test_the_pattern_tells_area_averaging_from_nearest_and_bilinear():
    """Guard for the next test: on this input the other filters are far from the oracle."""
    image = block_pattern()
    area = image.reshape(20, 27, 20, 40).mean(axis=(1, 3))
    for other in (Image.Resampling.NEAREST, Image.Resampling.BILINEAR):
        resized = np.asarray(Image.fromarray(image).resize((20, 20), other), dtype=float)
        assert np.abs(resized - area).max() > 20


def test_area_resize_at_integer_factors_is_the_block_mean():
    """At 20 px both factors are integers (800/40, 540/27): the area average is a block mean.

    (20 px is below the networks' minimum, so `resize_area` is called directly.)
    """
    image = block_pattern()
    expected = image.reshape(20, 27, 20, 40).mean(axis=(1, 3))
    np.testing.assert_allclose(resize_area(image, 20).astype(float), expected, atol=0.5)


def test_ingest_resizes_by_area_averaging(hc18_copy, tmp_path):
    """Oracle: NumPy averages of the original pixels, not PIL.

    At 32 px (factors 25 and 16.875) the area average is the mean of the pixels
    whose centre falls in the output pixel, as PIL's BOX filter defines it.
    """
    image = block_pattern()
    Image.fromarray(image).save(hc18_copy / "training_set" / "000_HC.png")
    ingest(hc18_copy, tmp_path / "d.h5", image_size=32, source="hc18")
    got = load_dataset(tmp_path / "d.h5").images[0].astype(float)
    expected = centre_box(540, 32) @ image.astype(float) @ centre_box(800, 32).T
    np.testing.assert_allclose(got, expected, atol=1.0)


def test_header_spellings_and_hc18_names_are_accepted(hc18_copy, tmp_path):
    lines = csv_lines(hc18_copy)
    lines[0] = "filename,pixel size (mm),head circumference(mm)"
    folder = hc18_copy / "training_set"
    (folder / "001_HC.png").rename(folder / "010_2HC.png")
    (folder / "001_HC_Annotation.png").rename(folder / "010_2HC_Annotation.png")
    lines[2] = lines[2].replace("001_HC.png", "010_2HC.png")
    write_csv(hc18_copy, lines)
    ingest(hc18_copy, tmp_path / "d.h5", image_size=32, source="hc18")
    assert "010_2HC" in list(load_dataset(tmp_path / "d.h5").image_id)


def damage_corrupt_png(root):
    (root / "training_set" / "002_HC.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return "002_HC.png"


def damage_missing_png(root):
    (root / "training_set" / "002_HC.png").unlink()
    return "002_HC.png"


def damage_missing_annotation(root):
    (root / "training_set" / "003_HC_Annotation.png").unlink()
    return "003_HC_Annotation.png"


def damage_missing_row(root):
    write_csv(root, [line for line in csv_lines(root) if not line.startswith("004_HC.png")])
    return "004_HC.png"


def damage_extra_row(root):
    write_csv(root, [*csv_lines(root), "777_HC.png,0.1,100.0"])
    return "777_HC.png"


def damage_misspelled_header(root):
    write_csv(root, ["filename,pixelsize(mm),head circumference (mm)", *csv_lines(root)[1:]])
    return "pixel size(mm)"


def damage_wrong_column(root):
    write_csv(
        root,
        [
            "filename,pixel size(mm),head circumference (mm),extra",
            *[f"{line},1" for line in csv_lines(root)[1:]],
        ],
    )
    return "unexpected columns"


def damage_text_pixel_size(root):
    lines = csv_lines(root)
    name, _, hc = lines[1].split(",")
    lines[1] = f"{name},abc,{hc}"
    write_csv(root, lines)
    return "line 2"


def damage_negative_pixel_size(root):
    lines = csv_lines(root)
    name, _, hc = lines[3].split(",")
    lines[3] = f"{name},-0.1,{hc}"
    write_csv(root, lines)
    return "line 4"


def damage_zero_hc(root):
    lines = csv_lines(root)
    name, ps, _ = lines[2].split(",")
    lines[2] = f"{name},{ps},0"
    write_csv(root, lines)
    return "line 3"


def damage_escaping_filename(root):
    lines = csv_lines(root)
    lines[1] = lines[1].replace("000_HC.png", "../000_HC.png")
    write_csv(root, lines)
    return "../000_HC.png"


def damage_absolute_filename(root):
    lines = csv_lines(root)
    lines[1] = lines[1].replace("000_HC.png", "/etc/passwd.png")
    write_csv(root, lines)
    return "/etc/passwd.png"


def damage_wrong_size(root):
    Image.new("L", (640, 480)).save(root / "training_set" / "001_HC.png")
    return "640x480"


def damage_empty_folder(root):
    shutil.rmtree(root / "training_set")
    (root / "training_set").mkdir()
    return "no scans"


def damage_blank_annotation(root):
    Image.new("L", (800, 540)).save(root / "training_set" / "005_HC_Annotation.png")
    return "005_HC_Annotation.png"


def damage_line_annotation(root):
    line = np.zeros((540, 800), dtype=np.uint8)
    line[100:400, 300] = 255
    Image.fromarray(line).save(root / "training_set" / "005_HC_Annotation.png")
    return "005_HC_Annotation.png"


def damage_duplicate_row(root):
    lines = csv_lines(root)
    write_csv(root, [*lines, lines[1]])
    return "listed twice"


DAMAGES = [
    damage_corrupt_png,
    damage_missing_png,
    damage_missing_annotation,
    damage_missing_row,
    damage_extra_row,
    damage_misspelled_header,
    damage_wrong_column,
    damage_text_pixel_size,
    damage_negative_pixel_size,
    damage_zero_hc,
    damage_escaping_filename,
    damage_absolute_filename,
    damage_wrong_size,
    damage_empty_folder,
    damage_blank_annotation,
    damage_line_annotation,
    damage_duplicate_row,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__.removeprefix("damage_"))
def test_bad_input_is_named_and_leaves_nothing(damage, hc18_copy, tmp_path):
    expected = damage(hc18_copy)
    out = tmp_path / "out" / "dataset_32.h5"
    with pytest.raises(InputError) as error:
        ingest(hc18_copy, out, image_size=32, source="hc18")
    message = str(error.value)
    assert expected in message
    assert str(hc18_copy) in message  # the file (or folder) is named


@pytest.mark.parametrize("failing", ["hc_px", "attrs"])
def test_a_failure_while_writing_leaves_no_output_and_no_temp_file(
    phantom_root, tmp_path, monkeypatch, failing
):
    """Every input check passes; the disk fails once the temporary file holds data.

    `failing` = a dataset written after the images, or the attributes written last.
    """
    original = h5py.Group.create_dataset
    opened = []

    def create_dataset(group, name, *args, **kwargs):
        opened.append(Path(group.file.filename))
        if name == failing:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return original(group, name, *args, **kwargs)

    def update(attributes, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    if failing == "attrs":
        monkeypatch.setattr(h5py.AttributeManager, "update", update, raising=False)
    out = tmp_path / "out" / "dataset_32.h5"
    with pytest.raises(OSError, match="simulated"):
        ingest(phantom_root, out, image_size=32, source="phantom")
    assert opened and opened[0].parent == out.parent and opened[0] != out  # a temp file was open
    assert list(out.parent.iterdir()) == []  # neither the output nor the temp file is left


def test_missing_folder_says_where_to_put_hc18(tmp_path):
    with pytest.raises(InputError, match=r"dataset\.path must be an HC18 folder"):
        ingest(tmp_path / "nowhere", tmp_path / "d.h5", image_size=32, source="hc18")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not an HDF5 file at all" * 100)


def _old_format(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 0


def _no_ellipses(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        del h5["ellipse_resized"]


def _nan_hc(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        h5["hc_px"][0] = np.nan


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "cannot be read"),
        (_garbage, "cannot be read"),
        (_old_format, "format_version 0"),
        (_no_ellipses, "missing ['ellipse_resized']"),
        (_nan_hc, "NaN or infinite values in hc_px"),
    ],
)
def test_a_damaged_dataset_cache_names_the_file_and_the_rebuild(
    phantom_root, tmp_path, damage, message
):
    path = tmp_path / "dataset_32.h5"
    ingest(phantom_root, path, image_size=32, source="phantom")
    damage(path)
    with pytest.raises(InputError) as error:
        load_dataset(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert (
        f"rerun with `snakemake --forcerun {path}` and your usual options to rebuild it "
        "(rule ingest)" in str(error.value)
    )


def test_network_input_range_is_that_of_the_network_input():
    """Deep Taylor's bounds: the extremes of `network_input` over every image and channel."""
    images = np.random.default_rng(4).integers(0, 256, (7, 20, 20), dtype=np.uint8)
    images[3] = 17  # a flat scan: z-scored to 0 by the floor on its sd
    x = network_input(images)
    assert network_input_range(images) == pytest.approx((x.min(), x.max()), rel=1e-6)
