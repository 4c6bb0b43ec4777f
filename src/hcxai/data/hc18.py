"""The HC18 data layer: read an HC18-layout folder, check it, and cache it as HDF5.

An HC18 folder holds `training_set/NNN_HC.png` (8-bit grayscale; 975 of HC18's
999 scans are 800x540, 24 are 738-800 x 539-563), `training_set/NNN_HC_Annotation.png`
(the skull ellipse, of its scan's size: HC18 draws a thin grey outline, re-saved
copies are often filled and/or RGB) and `training_set_pixel_size_and_HC.csv`. The
same loader reads the real data set and the embedded phantoms. Every check fails
early with an `InputError` that names the file (and CSV line) and says what to fix.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

import hcxai
from hcxai.core.io import (
    InputError,
    atomic_output,
    damaged_file,
    read_hdf5,
    read_ids,
    require_contents,
    require_finite,
)
from hcxai.data.ellipse import Ellipse, fit_ellipse

log = logging.getLogger(__name__)

HC18_WIDTH, HC18_HEIGHT = 800, 540  # the size of 975 of HC18's 999 scans (and the phantoms)
# A scan outside these bounds is not an HC18-like ultrasound frame (a thumbnail, a crop).
MIN_SCAN_SIDE, MAX_SCAN_SIDE = 400, 2000
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
OUTLINE_EROSIONS = 3
# 2: ellipse_resized in network pixel-centre coordinates; 3: each scan's own original_size
FORMAT_VERSION = 3
# The fitted annotation perimeter may differ from the CSV's HC by this much (HC18's
# outlines agree to a median 0.003%, max 0.024%; a filled copy's boundary to < 1%).
HC_AGREEMENT_TOLERANCE = 0.05
# The smallest input both backbones accept (five 2x poolings leave a 1-pixel map).
MIN_IMAGE_SIZE = 32
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


def _open_png(path: Path, what: str) -> Image.Image:
    """A decoded PNG, or an InputError naming the file."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; HC18 has one per scan")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(
            f"{path}: {what} is not a readable PNG ({error}); replace the file"
        ) from None


def read_scan(path: Path) -> np.ndarray:
    """A scan as 8-bit grayscale, of any size near HC18's (each is resized on its own)."""
    array = np.asarray(_open_png(path, "scan").convert("L"))
    height, width = array.shape
    if min(width, height) < MIN_SCAN_SIDE or max(width, height) > MAX_SCAN_SIDE:
        raise InputError(
            f"{path}: scan is {width}x{height} px; HC18 scans are about {HC18_WIDTH}x"
            f"{HC18_HEIGHT} (sides {MIN_SCAN_SIDE}-{MAX_SCAN_SIDE} px accepted): is this "
            "file a full ultrasound frame?"
        )
    return array


def annotation_intensity(image: Image.Image) -> np.ndarray:
    """An annotation's brightness in [0, 1] whatever its PNG mode.

    Grey, palette, RGB and 16-bit images give their luminance; an alpha channel
    multiplies it (transparent counts as background).
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        return values / (65535.0 if image.mode != "I" else max(values.max(), 1.0))
    alpha = None
    if image.mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float64)[..., 3] / 255
        image = rgba
    luminance = np.asarray(image.convert("L"), dtype=np.float64) / 255
    return luminance if alpha is None else luminance * alpha


@dataclass(frozen=True)
class Annotation:
    """The skull ellipse of one annotation image and the form it was drawn in."""

    ellipse: Ellipse
    form: str  # "outline" (HC18's) or "filled"
    mode: str  # the PNG mode: L, RGB, RGBA, ...


def skull_outline(intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The (x, y) points of an annotation's skull outline and its form.

    Bright means at least half the brightest value (anti-aliased edges, 0/1 and
    0/255 masks alike). A thin outline is fitted by its pixels, as HC18 draws it;
    a filled ellipse by the sub-pixel edge of the filled region (the longest
    half-brightness contour), so both forms give the same ellipse.
    """
    level = intensity.max() / 2
    mask = intensity > level
    # A line a few pixels wide (HC18's is about 2.5) vanishes under a few erosions,
    # a filled ellipse does not; unlike a hole fill this holds for an outline
    # that the image border cuts open.
    if ndimage.binary_erosion(mask, iterations=OUTLINE_EROSIONS).sum() < 0.5 * mask.sum():
        y, x = np.nonzero(mask)
        return x.astype(np.float64), y.astype(np.float64), "outline"
    # Only ingest fits annotations; the TensorFlow env, which reads the cache, lacks skimage.
    from skimage import measure

    # Padding closes a region cut by the image border; contour points on the border
    # are the image's edge, not the skull's, and are dropped.
    contours = measure.find_contours(np.pad(intensity, 1), level)
    edge = max(contours, key=len) - 1 if contours else np.empty((0, 2))
    rows, cols = intensity.shape
    inside = (edge[:, 0] >= 0) & (edge[:, 0] <= rows - 1) & (edge[:, 1] >= 0)
    edge = edge[inside & (edge[:, 1] <= cols - 1)]
    return edge[:, 1], edge[:, 0], "filled"


def fit_annotation(path: Path, shape: tuple[int, int] | None = None) -> Annotation:
    """Fit the skull ellipse drawn in an annotation image (outline or filled, any mode).

    `shape` (rows, cols) is the scan's: an annotation of another size is refused.
    """
    image = _open_png(path, "annotation")
    intensity = annotation_intensity(image)
    if shape is not None and intensity.shape != shape:
        raise InputError(
            f"{path}: annotation is {intensity.shape[1]}x{intensity.shape[0]} px but its scan "
            f"is {shape[1]}x{shape[0]}; each annotation must have its scan's size"
        )
    x, y, form = skull_outline(intensity) if intensity.max() > 0 else ([], [], "blank")
    if len(x) < MIN_OUTLINE_PIXELS:
        raise InputError(
            f"{path}: annotation has {len(x)} outline points; it holds no "
            "ellipse (expected a white ellipse, outlined or filled, on black)"
        )
    try:
        return Annotation(fit_ellipse(np.asarray(x), np.asarray(y)), form, image.mode)
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


@dataclass(frozen=True)
class Scans:
    """What ingest reads from the scans and their annotations, one row per record."""

    images: np.ndarray  # (n, size, size) uint8
    original_size: np.ndarray  # (n, 2): width, height of each scan
    ellipses: np.ndarray  # (n, 5) in original pixels
    ellipses_resized: np.ndarray  # (n, 5) in network pixels
    forms: list[str]  # "outline/L", "filled/RGB", ...


def _read_scans(records: list[Record], folder: Path, image_size: int) -> Scans:
    """Each scan resized from its own size, its ellipse put in network pixels from its size."""
    n = len(records)
    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    original_size = np.empty((n, 2), dtype=np.int64)
    ellipses, ellipses_resized = np.empty((n, 5)), np.empty((n, 5))
    forms = []
    for i, record in enumerate(records):
        scan = read_scan(folder / record.filename)
        height, width = scan.shape
        images[i] = resize_area(scan, image_size)
        original_size[i] = width, height
        annotation = fit_annotation(folder / record.annotation, scan.shape)
        ellipses[i] = annotation.ellipse.as_array()
        ellipses_resized[i] = in_network_pixels(
            annotation.ellipse, image_size / width, image_size / height
        ).as_array()
        forms.append(f"{annotation.form}/{annotation.mode}")
        if (i + 1) % 200 == 0 or i + 1 == n:
            log.info("ingest: %d/%d scans read", i + 1, n)
    return Scans(images, original_size, ellipses, ellipses_resized, forms)


def _log_scan_sizes(scans: Scans) -> None:
    """What a user checks first on a new copy of HC18: its sizes and annotation forms."""
    sizes = Counter(f"{w}x{h}" for w, h in scans.original_size)
    log.info(
        "scan sizes: %s (each resized from its own size)",
        ", ".join(f"{size} ({count})" for size, count in sizes.most_common()),
    )
    log.info(
        "annotation forms: %s",
        ", ".join(f"{form} ({count})" for form, count in Counter(scans.forms).most_common()),
    )


def check_annotation_agreement(records: list[Record], ellipses: np.ndarray) -> None:
    """The fitted annotation perimeter must give back the CSV's HC (within 5%).

    A larger disagreement means the annotation is not the skull ellipse the HC
    was measured on (another drawing, a mask of something else, a swapped file,
    a wrong pixel size): every localization number made from it would be wrong.
    """
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
    bad = np.flatnonzero(disagreement > HC_AGREEMENT_TOLERANCE)
    if bad.size:
        examples = ", ".join(
            f"{records[i].annotation} (perimeter {perimeter_px[i] * pixel_size[i]:.1f} mm, "
            f"CSV {hc_mm[i]:.1f} mm)"
            for i in bad[:3]
        )
        raise InputError(
            f"{bad.size} of {len(records)} annotation(s) disagree with the CSV's head "
            f"circumference by more than {HC_AGREEMENT_TOLERANCE:.0%}: {examples}. The "
            "annotation may not be the skull ellipse, or the pixel size or HC of its CSV "
            "row may be wrong; fix or remove those scans"
        )


def ingest(root: str | Path, out_path: str | Path, image_size: int, source: str) -> None:
    """Check an HC18-layout folder and write the dataset cache `resources/dataset_{size}.h5`."""
    root = Path(root)
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")
    records = read_csv(root)
    scans = _read_scans(records, root / IMAGE_FOLDER, image_size)
    _log_scan_sizes(scans)
    check_annotation_agreement(records, scans.ellipses)
    pixel_size = np.array([r.pixel_size_mm for r in records])
    hc_mm = np.array([r.hc_mm for r in records])
    strings = h5py.string_dtype()
    with atomic_output(out_path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "images",
            data=scans.images,
            chunks=(1, image_size, image_size),
            compression="gzip",
            compression_opts=4,
        )
        h5.create_dataset("image_id", data=[r.image_id for r in records], dtype=strings)
        h5.create_dataset("filename", data=[r.filename for r in records], dtype=strings)
        h5.create_dataset("pixel_size_mm", data=pixel_size)
        h5.create_dataset("hc_mm", data=hc_mm)
        h5.create_dataset("hc_px", data=hc_mm / pixel_size)
        h5.create_dataset("original_size", data=scans.original_size)
        h5.create_dataset("ellipse", data=scans.ellipses)
        h5.create_dataset("ellipse_resized", data=scans.ellipses_resized)
        h5.attrs.update(
            {
                "source": source,
                "source_path": str(root.resolve()),
                "image_size": image_size,
                "ellipse_fields": ELLIPSE_FIELDS,
                "original_size_fields": "width,height",
                "hc_px_definition": "HC (mm) / pixel size (mm), at the scan's original resolution",
                "resize": "area (PIL BOX) from each scan's own size, aspect ratio not kept, "
                "as the paper's 128x128 input",
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
    original_size: np.ndarray  # (n, 2): each scan's width, height before the resize

    def original_scale(self, rows: np.ndarray) -> np.ndarray:
        """(width / size, height / size) of each row: network pixels -> original pixels."""
        return self.original_size[rows] / self.images.shape[-1]

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


DATASETS = (
    "images",
    "image_id",
    "pixel_size_mm",
    "hc_mm",
    "hc_px",
    "ellipse_resized",
    "original_size",
)
NUMBERS = ("pixel_size_mm", "hc_mm", "hc_px", "ellipse_resized", "original_size")


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
    expected = {"images": (n, side, side), "ellipse_resized": (n, 5), "original_size": (n, 2)}
    expected |= {name: (n,) for name in ("image_id", "pixel_size_mm", "hc_mm", "hc_px")}
    wrong = {name: shape for name, shape in shapes.items() if shape != expected[name]}
    if wrong or h5["images"].dtype != np.uint8:
        raise damaged_file(
            path,
            f"has datasets shaped {wrong or shapes} (images {h5['images'].dtype}), expected "
            "uint8 images (n, s, s), ellipses (n, 5), sizes (n, 2) and one value per image "
            "otherwise",
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


def network_input_range(images: np.ndarray) -> tuple[float, float]:
    """The lowest and highest value `network_input` gives these images (without building it)."""
    mean, std = _zscore_stats(images)
    lowest = ((images.min(axis=(-2, -1), keepdims=True) - mean) / std).min()
    highest = ((images.max(axis=(-2, -1), keepdims=True) - mean) / std).max()
    return float(lowest), float(highest)


def black_in_network_units(images: np.ndarray) -> np.ndarray:
    """A black image (raw 0) in each image's normalised units, shaped like `network_input`."""
    mean, std = _zscore_stats(images)
    black = np.broadcast_to((-mean / std)[..., np.newaxis], (*images.shape, 3))
    return np.ascontiguousarray(black, dtype=np.float32)
