"""The HC18 data layer: read an HC18-layout folder, check it, and cache it as HDF5.

An HC18 folder holds `training_set/NNN_HC.png` (800x540 8-bit grayscale),
`training_set/NNN_HC_Annotation.png` (the skull ellipse drawn as a thin white
outline) and `training_set_pixel_size_and_HC.csv`. The same loader reads the
real data set and the embedded phantoms. Every check fails early with an
`InputError` that names the file (and CSV line) and says what to fix.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, UnidentifiedImageError

import hcxai
from hcxai.ellipse import Ellipse, fit_outline
from hcxai.io import (
    InputError,
    atomic_output,
    damaged_file,
    read_hdf5,
    read_ids,
    require_contents,
    require_finite,
)
from hcxai.models import MIN_IMAGE_SIZE

log = logging.getLogger(__name__)

HC18_WIDTH, HC18_HEIGHT = 800, 540
CSV_NAME = "training_set_pixel_size_and_HC.csv"
IMAGE_FOLDER = "training_set"
ANNOTATION_SUFFIX = "_Annotation.png"
# Canonical column -> accepted spellings (HC18 writes "pixel size(mm)" and
# "head circumference (mm)"; copies in the wild differ by a space).
COLUMNS = {
    "filename": ("filename",),
    "pixel_size_mm": ("pixel size(mm)", "pixel size (mm)"),
    "hc_mm": ("head circumference (mm)", "head circumference(mm)"),
}
ELLIPSE_FIELDS = "cx,cy,a,b,angle"
MIN_OUTLINE_PIXELS = 20
FORMAT_VERSION = 2  # 2: ellipse_resized in network pixel-centre coordinates
NORMALISATION_NOTE = "per-image z-score, grayscale replicated to 3 channels"


@dataclass(frozen=True)
class Record:
    """One CSV row, checked."""

    filename: str
    pixel_size_mm: float
    hc_mm: float
    line: int

    @property
    def image_id(self) -> str:
        return Path(self.filename).stem

    @property
    def annotation(self) -> str:
        return self.filename[: -len(".png")] + ANNOTATION_SUFFIX


def _positive_number(text: str, column: str, csv_path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{csv_path}, line {line}: {column} {text!r} is not a number; "
            "write it as a decimal number in mm"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"{csv_path}, line {line}: {column} must be a positive number of mm, got {text!r}"
        )
    return value


def _check_filename(name: str, folder: Path, csv_path: Path, line: int) -> None:
    path = Path(name)
    if (
        not name
        or path.is_absolute()
        or ".." in path.parts
        or len(path.parts) != 1
        or not (folder / name).resolve().is_relative_to(folder.resolve())
    ):
        raise InputError(
            f"{csv_path}, line {line}: filename {name!r} must be a bare file name inside "
            f"{folder} (no directories, no '..', no absolute path)"
        )
    if not name.endswith(".png") or name.endswith(ANNOTATION_SUFFIX):
        raise InputError(
            f"{csv_path}, line {line}: filename {name!r} must name a scan 'NNN_HC.png', "
            "not an annotation or another file type"
        )


def _column_positions(csv_path: Path, header: list[str]) -> dict[str, int]:
    """Where each canonical column is in the header; exactly HC18's three columns."""
    positions = {}
    for column, spellings in COLUMNS.items():
        found = [i for i, cell in enumerate(header) if cell.lower() in spellings]
        if not found:
            raise InputError(
                f"{csv_path}: header {header} lacks the column {spellings[0]!r}; "
                "expected 'filename,pixel size(mm),head circumference (mm)' as in HC18"
            )
        positions[column] = found[0]
    if len(header) != len(COLUMNS):
        raise InputError(
            f"{csv_path}: header {header} has unexpected columns; "
            "expected exactly 'filename,pixel size(mm),head circumference (mm)'"
        )
    return positions


def _records(rows: Iterator[list[str]], positions: dict[str, int], csv_path: Path) -> list[Record]:
    """The checked data rows (blank lines skipped; a name listed twice is an error)."""
    folder = csv_path.parent / IMAGE_FOLDER
    records: list[Record] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(COLUMNS):
            raise InputError(f"{csv_path}, line {line}: {len(row)} fields, expected {len(COLUMNS)}")
        name = row[positions["filename"]].strip()
        _check_filename(name, folder, csv_path, line)
        if name in seen:
            raise InputError(f"{csv_path}, line {line}: {name} is listed twice")
        seen.add(name)
        pixel_size = _positive_number(row[positions["pixel_size_mm"]], "pixel size", csv_path, line)
        hc_mm = _positive_number(row[positions["hc_mm"]], "head circumference", csv_path, line)
        records.append(Record(name, pixel_size, hc_mm, line))
    if not records:
        raise InputError(f"{csv_path}: no data rows; the data set is empty")
    return records


def _check_against_folder(records: list[Record], folder: Path, csv_path: Path) -> None:
    """Every scan in the folder has a row, and every row's scan exists."""
    on_disk = (
        {p.name for p in folder.glob("*.png") if not p.name.endswith(ANNOTATION_SUFFIX)}
        if folder.is_dir()
        else set()
    )
    if not on_disk:
        raise InputError(f"{folder}: no scans (*.png) found; is dataset.path an HC18 folder?")
    unlisted = sorted(on_disk - {r.filename for r in records})
    if unlisted:
        raise InputError(
            f"{csv_path}: no row for {len(unlisted)} scan(s) in {folder}, first "
            f"{unlisted[0]}; add their rows or remove the files"
        )
    missing = [r for r in records if r.filename not in on_disk]
    if missing:
        raise InputError(
            f"{csv_path}, line {missing[0].line}: {folder / missing[0].filename} does not "
            f"exist ({len(missing)} listed scan(s) missing); remove the row or add the file"
        )


def read_csv(root: str | Path) -> list[Record]:
    """Read and check `training_set_pixel_size_and_HC.csv` of an HC18-layout folder."""
    root = Path(root)
    csv_path = root / CSV_NAME
    if not csv_path.is_file():
        raise InputError(
            f"{csv_path} not found: dataset.path must be an HC18 folder holding {CSV_NAME} "
            f"and {IMAGE_FOLDER}/"
        )
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader, [])]
        records = _records(reader, _column_positions(csv_path, header), csv_path)
    _check_against_folder(records, root / IMAGE_FOLDER, csv_path)
    return records


def _read_png(path: Path, what: str) -> np.ndarray:
    """Decode an 8-bit grayscale PNG of HC18's size, or say exactly what is wrong."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; HC18 has one per scan")
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(
            f"{path}: {what} is not a readable PNG ({error}); replace the file"
        ) from None
    if array.shape != (HC18_HEIGHT, HC18_WIDTH):
        raise InputError(
            f"{path}: {what} is {array.shape[1]}x{array.shape[0]} px, expected HC18's "
            f"{HC18_WIDTH}x{HC18_HEIGHT}"
        )
    return array


def fit_annotation(path: Path) -> Ellipse:
    """Fit the skull ellipse drawn in an HC18 annotation image."""
    outline = _read_png(path, "annotation") > 127
    if outline.sum() < MIN_OUTLINE_PIXELS:
        raise InputError(
            f"{path}: annotation has {int(outline.sum())} outline pixels; it holds no "
            "ellipse (expected a white ellipse outline on black)"
        )
    try:
        return fit_outline(outline)
    except ValueError as error:
        raise InputError(f"{path}: no ellipse fits the annotation ({error})") from None


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size with area averaging (PIL's BOX filter)."""
    resized = Image.fromarray(image).resize((size, size), Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.uint8)


def in_network_pixels(ellipse: Ellipse, sx: float, sy: float) -> Ellipse:
    """An ellipse in original pixel indices, in the resized image's pixel indices.

    Pixel i's centre is at index i in both images. The area resize maps corner
    coordinate X (= index + 1/2) to s X, so an original index x lands at
    s (x + 1/2) - 1/2: a scaling about the origin, then a shift of s/2 - 1/2.
    """
    scaled = ellipse.scaled(sx, sy)
    return Ellipse(
        scaled.cx + sx / 2 - 0.5, scaled.cy + sy / 2 - 0.5, scaled.a, scaled.b, scaled.angle
    )


def _read_scans(
    records: list[Record], folder: Path, image_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resized scans, and the annotation ellipses in original and in network pixels."""
    n = len(records)
    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    ellipses, ellipses_resized = np.empty((n, 5)), np.empty((n, 5))
    sx, sy = image_size / HC18_WIDTH, image_size / HC18_HEIGHT
    for i, record in enumerate(records):
        images[i] = resize_area(_read_png(folder / record.filename, "scan"), image_size)
        ellipse = fit_annotation(folder / record.annotation)
        ellipses[i] = ellipse.as_array()
        ellipses_resized[i] = in_network_pixels(ellipse, sx, sy).as_array()
        if (i + 1) % 200 == 0 or i + 1 == n:
            log.info("ingest: %d/%d scans read", i + 1, n)
    return images, ellipses, ellipses_resized


def _log_annotation_agreement(records: list[Record], ellipses: np.ndarray) -> None:
    """How well the fitted annotation perimeter gives back the CSV's HC (a sanity check)."""
    pixel_size = np.array([r.pixel_size_mm for r in records])
    hc_mm = np.array([r.hc_mm for r in records])
    perimeter_px = np.array([Ellipse(*row).perimeter for row in ellipses])
    disagreement = np.abs(perimeter_px * pixel_size / hc_mm - 1)
    log.info(
        "annotation perimeter vs CSV HC: median %.3f%%, max %.3f%% (%s)",
        100 * np.median(disagreement),
        100 * disagreement.max(),
        records[int(np.argmax(disagreement))].filename,
    )
    if disagreement.max() > 0.05:
        log.warning(
            "%d scan(s) whose annotation perimeter differs from the CSV HC by > 5%%",
            int((disagreement > 0.05).sum()),
        )


def ingest(root: str | Path, out_path: str | Path, image_size: int, source: str) -> None:
    """Check an HC18-layout folder and write the dataset cache `resources/dataset_{size}.h5`."""
    root = Path(root)
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
    records = read_csv(root)
    images, ellipses, ellipses_resized = _read_scans(records, root / IMAGE_FOLDER, image_size)
    _log_annotation_agreement(records, ellipses)
    pixel_size = np.array([r.pixel_size_mm for r in records])
    hc_mm = np.array([r.hc_mm for r in records])
    strings = h5py.string_dtype()
    with atomic_output(out_path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "images",
            data=images,
            chunks=(1, image_size, image_size),
            compression="gzip",
            compression_opts=4,
        )
        h5.create_dataset("image_id", data=[r.image_id for r in records], dtype=strings)
        h5.create_dataset("filename", data=[r.filename for r in records], dtype=strings)
        h5.create_dataset("pixel_size_mm", data=pixel_size)
        h5.create_dataset("hc_mm", data=hc_mm)
        h5.create_dataset("hc_px", data=hc_mm / pixel_size)
        h5.create_dataset("ellipse", data=ellipses)
        h5.create_dataset("ellipse_resized", data=ellipses_resized)
        h5.attrs.update(
            {
                "source": source,
                "source_path": str(root.resolve()),
                "image_size": image_size,
                "original_width": HC18_WIDTH,
                "original_height": HC18_HEIGHT,
                "ellipse_fields": ELLIPSE_FIELDS,
                "hc_px_definition": "HC (mm) / pixel size (mm), at the original 800x540 resolution",
                "resize": "area (PIL BOX), aspect ratio not kept, as the paper's 128x128 input",
                "hcxai_version": hcxai.__version__,
                "format_version": FORMAT_VERSION,
            }
        )
    log.info("wrote %s: %d scans at %dx%d", out_path, len(records), image_size, image_size)


@dataclass(frozen=True)
class Dataset:
    """The dataset cache in memory."""

    images: np.ndarray
    image_id: np.ndarray
    pixel_size_mm: np.ndarray
    hc_mm: np.ndarray
    hc_px: np.ndarray
    ellipse_resized: np.ndarray

    def index_of(self, image_ids: list[str] | np.ndarray) -> np.ndarray:
        """Row indices of `image_ids`; InputError for an id the data set does not have."""
        position = {image_id: i for i, image_id in enumerate(self.image_id)}
        unknown = [i for i in image_ids if i not in position]
        if unknown:
            raise InputError(
                f"image id(s) {unknown[:3]} are not in the data set; the splits or maps were "
                "made from another data set (rerun from the split step)"
            )
        return np.array([position[i] for i in image_ids], dtype=np.int64)


DATASETS = ("images", "image_id", "pixel_size_mm", "hc_mm", "hc_px", "ellipse_resized")
NUMBERS = ("pixel_size_mm", "hc_mm", "hc_px", "ellipse_resized")


def _check_dataset_file(h5: h5py.File, path: str | Path) -> None:
    """The cache is ingest's, of this format: every dataset, one length, known shapes."""
    version = h5.attrs.get("format_version")
    if version != FORMAT_VERSION:
        written = "none" if version is None else int(version)
        raise damaged_file(
            path, f"has format_version {written}, this hcxai reads {FORMAT_VERSION}", "ingest"
        )
    require_contents(h5, path, "a dataset cache", "ingest", DATASETS, ["ellipse_fields"])
    if h5.attrs["ellipse_fields"] != ELLIPSE_FIELDS:
        raise damaged_file(path, f"has ellipse fields {h5.attrs['ellipse_fields']!r}", "ingest")
    shapes = {name: h5[name].shape for name in DATASETS}
    if len({shape[:1] for shape in shapes.values()}) != 1 or () in shapes.values():
        raise damaged_file(path, f"has datasets of different lengths {shapes}", "ingest")
    n, *size = shapes["images"]
    side = size[0] if size else None
    expected = {"images": (n, side, side), "ellipse_resized": (n, 5)}
    expected |= {name: (n,) for name in ("image_id", "pixel_size_mm", "hc_mm", "hc_px")}
    wrong = {name: shape for name, shape in shapes.items() if shape != expected[name]}
    if wrong or h5["images"].dtype != np.uint8:
        raise damaged_file(
            path,
            f"has datasets shaped {wrong or shapes} (images {h5['images'].dtype}), expected "
            "uint8 images (n, s, s), ellipses (n, 5) and one value per image otherwise",
            "ingest",
        )


def _read_dataset(h5: h5py.File, path: str | Path) -> Dataset:
    _check_dataset_file(h5, path)
    return Dataset(
        images=h5["images"][:],
        image_id=np.array(read_ids(h5, "image_id", path, "ingest")),
        **{name: h5[name][:] for name in NUMBERS},
    )


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset cache written by `ingest`; a damaged or foreign file is an InputError."""
    data = read_hdf5(path, lambda h5: _read_dataset(h5, path), "ingest")
    for name in NUMBERS:
        require_finite(getattr(data, name), name, path, "ingest")
    return data


def _zscore_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = images.astype(np.float32)
    mean = x.mean(axis=(-2, -1), keepdims=True)
    return mean, np.maximum(x.std(axis=(-2, -1), keepdims=True), 1e-6)


def network_input(images: np.ndarray) -> np.ndarray:
    """The paper's input: per-image z-score, grayscale replicated to 3 channels (float32).

    Every model, analyzer and perturbation sees images through this one function.
    """
    mean, std = _zscore_stats(images)
    x = (images.astype(np.float32) - mean) / std
    return np.repeat(x[..., np.newaxis], 3, axis=-1)


def black_in_network_units(images: np.ndarray) -> np.ndarray:
    """A black image (raw 0) in each image's normalised units, shaped like `network_input`."""
    mean, std = _zscore_stats(images)
    black = np.broadcast_to((-mean / std)[..., np.newaxis], (*images.shape, 3))
    return np.ascontiguousarray(black, dtype=np.float32)
