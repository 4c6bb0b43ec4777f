"""The HC18 loader: real layout in, checked dataset cache out; bad input named and fixed."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from hcxai.data import CSV_NAME, ingest, load_dataset
from hcxai.io import InputError

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
    # The fitted annotation perimeter in pixels gives back the CSV's HC.
    with h5py.File(out) as h5:
        np.testing.assert_allclose(h5["hc_annotation_px"][:], data.hc_px, rtol=0.01)
    # Resized ellipse: the centre scales with the image.
    with h5py.File(out) as h5:
        np.testing.assert_allclose(
            h5["ellipse_resized"][:, 0], h5["ellipse"][:, 0] * 64 / 800, rtol=1e-9
        )


def test_hc18_source_on_a_copy_ingests_identically(phantom_root, hc18_copy, tmp_path):
    ingest(phantom_root, tmp_path / "a.h5", image_size=32, source="phantom")
    ingest(hc18_copy, tmp_path / "b.h5", image_size=32, source="hc18")
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for key in a:
            np.testing.assert_array_equal(a[key][:], b[key][:])


def test_area_interpolation_averages_pixels(phantom_root, tmp_path):
    ingest(phantom_root, tmp_path / "d.h5", image_size=100, source="phantom")
    original = np.asarray(Image.open(phantom_root / "training_set" / "000_HC.png"), dtype=float)
    # 800 -> 100 columns is exact 8:1 binning, 540 -> 100 rows is 5.4:1.
    data = load_dataset(tmp_path / "d.h5")
    assert abs(data.images[0].mean() - original.mean()) < 1.0


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
    assert not out.exists()
    assert not list(out.parent.glob("*")) if out.parent.exists() else True


def test_missing_folder_says_where_to_put_hc18(tmp_path):
    with pytest.raises(InputError, match=r"dataset\.path must be an HC18 folder"):
        ingest(tmp_path / "nowhere", tmp_path / "d.h5", image_size=32, source="hc18")
