"""Localization: how much of a map's relevance lies on the annotated skull (pure NumPy).

HC is the perimeter of the skull ellipse that HC18 annotates, so a map that
explains an HC estimate should put its relevance on that outline. Per image
and map:

- `skull_focus`: share of |relevance| in the skull band / the band's share of
  the image. 1 = what a map unrelated to the skull gives; 1 / band_share = all
  of it on the skull.
- `rank_accuracy`: share of the K most relevant pixels (|relevance|) that lie
  in the band, K = the band's pixel count (Arras et al. 2022, "CLEVR-XAI").
  Ties at the cut count in proportion (see `rank_accuracy`).
- `positive_inside_head`: share of the positive relevance inside the ellipse.
- `band_share`: the band's share of the image (the chance level of rank accuracy).

A skull focus of 1 is the chance of a map that knows nothing of the image, not of
one that knows the image but not the model: the skull is the strongest edge of the
frame, so any edge detector scores well above 1. The model-free baseline is
therefore scored beside every map: the Sobel gradient magnitude of the same input
image (`edge_map`) gets the map metrics as `edge_<metric>`, and the summary gives
each analyzer's paired difference to it per image.

The band is every pixel whose centre lies within `band_px` of the annotated
outline, with the exact point-to-ellipse distance (`distance_to_outline`).
A map without relevance (all zeros, or non-finite) gives NaN, not an error.

Coordinates: a map's pixel (row r, column c) has its centre at x = c, y = r,
the frame of the data set's `ellipse_resized` (see `hcxai.data.hc18.in_network_pixels`).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from hcxai.core.io import atomic_output, damaged_file, read_table
from hcxai.core.keys import MODEL_COLUMNS, MODEL_KEYS
from hcxai.data.ellipse import Ellipse
from hcxai.data.hc18 import Dataset, load_dataset
from hcxai.explain.analyzers import model_analyzer_groups
from hcxai.explain.saliency_file import SaliencyFile, check_fits, read_saliency

log = logging.getLogger(__name__)

# The scores of a map (band_share is the image's, the same for every map of it).
MAP_METRICS = ("skull_focus", "rank_accuracy", "positive_inside_head")
METRICS = (*MAP_METRICS, "band_share")
# The same map metrics of the model-free baseline, the input's Sobel edge map.
EDGE_METRICS = tuple(f"edge_{metric}" for metric in MAP_METRICS)
KEYS = [*MODEL_KEYS, "fold", "analyzer", "image_id"]
# A map without relevance (or an image without edges) scores NaN; the band is never empty.
SCORES = {metric: "number_or_nan" for metric in (*MAP_METRICS, *EDGE_METRICS)}
SCORES |= {"band_share": "number"}
PER_IMAGE = {
    **MODEL_COLUMNS,
    "fold": "int",
    "analyzer": "id",
    "image_id": "id",
    **SCORES,
}
# results/localization.csv: each metric's mean and CI, the edge detector's, and the
# analyzer's paired difference to it; fewer than two finite scores give NaN bounds.
SUMMARISED = (*METRICS, *EDGE_METRICS, *(f"{metric}_minus_edge" for metric in MAP_METRICS))
SUMMARY = (
    {**MODEL_COLUMNS, "analyzer": "id", "n_images": "int"}
    | {
        f"{metric}_{part}": "number_or_nan"
        for metric in SUMMARISED
        for part in ("mean", "ci_low", "ci_high")
    }
    | {"p_vs_edge": "number_or_nan", "p_vs_edge_holm": "number_or_nan"}
)
# Bisection halvings of the root bracket: 2^-64 of a bracket of at most ~1e4
# (pixels <= 1e3 px from the centre, axis ratio <= 100) is below double precision.
BISECTION_STEPS = 64


def _folded_frame(ellipse: Ellipse, size: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Pixel centres in the ellipse's own axes, folded into the first quadrant: (u, v, a, b).

    Why fold: the distance to an ellipse is symmetric in both axes, and the
    root finder below needs u, v >= 0 and a >= b (else the axes swap roles).
    """
    rows, cols = np.mgrid[:size, :size].astype(np.float64)
    dx, dy = cols - ellipse.cx, rows - ellipse.cy
    cos, sin = math.cos(ellipse.angle), math.sin(ellipse.angle)
    u, v = np.abs(dx * cos + dy * sin), np.abs(dy * cos - dx * sin)
    if ellipse.a >= ellipse.b:
        return u, v, ellipse.a, ellipse.b
    return v, u, ellipse.b, ellipse.a


def _off_axis_distance(y0: np.ndarray, y1: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """Distance of points with y1 > 0 to the ellipse (x/e0)^2 + (y/e1)^2 = 1, e0 >= e1.

    Eberly's robust method ("Distance from a point to an ellipse", 2013): the
    closest point is x = (r y0 / (t + r), y1 / (t + 1)), r = (e0/e1)^2, where t
    is the one root of a function that falls monotonically on the bracket, so
    plain bisection finds it from any pixel (no start value, no divergence).
    """
    z0, z1 = y0 / e0, y1 / e1
    outside = z0**2 + z1**2 >= 1
    ratio = (e0 / e1) ** 2
    n0 = ratio * z0
    low, high = z1 - 1, np.where(outside, np.hypot(n0, z1) - 1, 0.0)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        positive = (n0 / (middle + ratio)) ** 2 + (z1 / (middle + 1)) ** 2 > 1
        low, high = np.where(positive, middle, low), np.where(positive, high, middle)
    root = (low + high) / 2
    return np.hypot(ratio * y0 / (root + ratio) - y0, y1 / (root + 1) - y1)


def _on_axis_distance(y0: np.ndarray, e0: float, e1: float) -> np.ndarray:
    """Distance of points (y0 >= 0, 0) on the major axis to the ellipse (Eberly's special case).

    Why separate: there the closest point may leave the axis (a point near the
    centre of a long ellipse is closest to two symmetric points), which the
    off-axis formula cannot represent.
    """
    vertex = np.abs(y0 - e0)
    if e0 == e1:
        return vertex
    x = np.minimum(e0 * y0 / (e0**2 - e1**2), 1.0)
    return np.where(x < 1, np.hypot(e0 * x - y0, e1 * np.sqrt(1 - x**2)), vertex)


def _distance(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    """Distance of folded points (u, v >= 0) to the outline of (u/a)^2 + (v/b)^2 = 1, a >= b."""
    off_axis = _off_axis_distance(u, np.where(v > 0, v, b), a, b)
    return np.where(v > 0, off_axis, _on_axis_distance(u, a, b))


def distance_to_outline(ellipse: Ellipse, size: int) -> np.ndarray:
    """Euclidean distance of every pixel centre of a size x size map to the ellipse outline.

    Exact up to floating point (the bisection stops at 2^-64 of its bracket;
    tested to 1e-9 px against |r - R| on a circle and to the sampling error
    against 100,000 outline samples), so the band edge does not depend on a
    sampling density.
    """
    return _distance(*_folded_frame(ellipse, size))


def band_mask(ellipse: Ellipse, size: int, band_px: float) -> np.ndarray:
    """The skull band: pixels whose centre is within `band_px` of the outline (both sides).

    Why a pre-filter: the exact distance costs 64 bisection steps per pixel, and
    only pixels between the ellipse scaled by 1 - w/b and by 1 + w/b can be
    within w = band_px of the outline (scaling by 1 -+ w/b moves every support
    line by w h/b >= w, h >= b being the support distance), so only those are
    measured: the same mask, 3 ms instead of 22 ms per image at 128 px.
    """
    u, v, a, b = _folded_frame(ellipse, size)
    level = (u / a) ** 2 + (v / b) ** 2
    margin = 1e-9  # keeps pixels that sit exactly on a scaled ellipse, whatever the rounding
    inner, outer = max(1 - band_px / b, 0.0) ** 2 - margin, (1 + band_px / b) ** 2 + margin
    near = (level >= inner) & (level <= outer)
    band = np.zeros((size, size), dtype=bool)
    band[near] = _distance(u[near], v[near], a, b) <= band_px
    return band


def inside_mask(ellipse: Ellipse, size: int) -> np.ndarray:
    """The head: pixels whose centre lies inside the ellipse or on it."""
    u, v, a, b = _folded_frame(ellipse, size)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def _total(values: np.ndarray) -> float:
    """Sum of non-negative values, NaN when there is nothing to share out (0 or non-finite)."""
    total = float(values.sum())
    return total if np.isfinite(total) and total > 0 else math.nan


def skull_focus(relevance: np.ndarray, band: np.ndarray) -> float:
    """Share of |relevance| in the band divided by the band's share of the image (chance = 1).

    Why divided: a wide band holds much relevance by area alone; the ratio
    makes band widths and head sizes comparable.
    """
    magnitude = np.abs(relevance)
    share_of_image = band.mean()
    if share_of_image == 0:
        return math.nan
    return float(magnitude[band].sum()) / _total(magnitude) / share_of_image


def rank_accuracy(relevance: np.ndarray, band: np.ndarray) -> float:
    """Share of the K pixels of largest |relevance| that lie in the band, K = band pixels.

    Tie rule: pixels tied with the K-th largest value share the remaining
    places in proportion, i.e. the expectation over a random order of the
    ties. Thus a constant map scores the band's share of the image exactly,
    and no pixel order (row-major, say) can favour the band.
    """
    magnitude, in_band = np.abs(relevance).ravel(), band.ravel()
    k = int(in_band.sum())
    if k == 0 or math.isnan(_total(magnitude)):
        return math.nan
    threshold = np.partition(magnitude, magnitude.size - k)[magnitude.size - k]
    above, tied = magnitude > threshold, magnitude == threshold
    places_left = k - int(above.sum())
    hits = (above & in_band).sum() + places_left * (tied & in_band).sum() / tied.sum()
    return float(hits) / k


def positive_inside_head(relevance: np.ndarray, inside: np.ndarray) -> float:
    """Share of the positive relevance inside the head (NaN when there is none).

    Why positive only: for signed methods (LRP, Input x Gradient) positive
    relevance is evidence for the estimate; negative relevance cancels it.
    """
    positive = np.maximum(relevance, 0)
    return float(positive[inside].sum()) / _total(positive)


def map_scores(relevance: np.ndarray, band: np.ndarray, inside: np.ndarray) -> dict[str, float]:
    """The MAP_METRICS of one map against one image's band and head."""
    return {
        "skull_focus": skull_focus(relevance, band),
        "rank_accuracy": rank_accuracy(relevance, band),
        "positive_inside_head": positive_inside_head(relevance, inside),
    }


def image_scores(relevance: np.ndarray, ellipse: Ellipse, band_px: float) -> dict[str, float]:
    """Every localization metric of one map against one image's ellipse (index frame)."""
    size = relevance.shape[-1]
    band = band_mask(ellipse, size, band_px)
    scores = map_scores(relevance, band, inside_mask(ellipse, size))
    return scores | {"band_share": float(band.mean())}


def edge_map(image: np.ndarray) -> np.ndarray:
    """The model-free baseline map: the Sobel gradient magnitude of the input image.

    Why: relevance that merely follows the image's edges lands on the skull without
    any model. Sobel is linear, so the network's per-image z-score of the input only
    scales this map, which none of the (scale-free) metrics sees; the uint8 image is
    used as it is.
    """
    from skimage.filters import sobel  # the workflow env only, and only these jobs

    return sobel(np.asarray(image, dtype=np.float64))


def _check_inputs(
    maps: SaliencyFile, data: Dataset, saliency_path: str, dataset_path: str
) -> np.ndarray:
    """The data set rows of the maps' images; InputError naming both files and the fix."""
    shape = maps.maps.shape
    if len(shape) != 3 or shape[1] != shape[2] or shape[0] != len(maps.image_ids):
        raise damaged_file(
            saliency_path,
            f"has maps shaped {shape} for {len(maps.image_ids)} image ids, expected (n_ids, s, s)",
            "saliency",
        )
    check_fits(maps, saliency_path, data.image_id, data.images.shape[-1], dataset_path)
    return data.index_of(maps.image_ids)


def localization_table(
    maps: SaliencyFile,
    data: Dataset,
    band_px: float,
    labels: dict[str, str],
    paths: tuple[str, str] = ("saliency file", "dataset"),
) -> pd.DataFrame:
    """One row per explained image: `labels` (backbone, loss, fold, analyzer), image_id,
    METRICS of the map and EDGE_METRICS of the image's edge map against the same band."""
    rows = _check_inputs(maps, data, *paths)
    size = maps.maps.shape[-1]
    records = []
    for image_id, relevance, row in zip(maps.image_ids, maps.maps, rows, strict=True):
        ellipse = Ellipse(*data.ellipse_resized[row])
        band, inside = band_mask(ellipse, size, band_px), inside_mask(ellipse, size)
        scores = map_scores(relevance.astype(np.float64), band, inside)
        edge = map_scores(edge_map(data.images[row]), band, inside)
        edge = {f"edge_{metric}": value for metric, value in edge.items()}
        records.append(
            {**labels, "image_id": image_id, **scores, "band_share": float(band.mean()), **edge}
        )
    return pd.DataFrame(records, columns=[*KEYS, *METRICS, *EDGE_METRICS])


def write_localization(
    saliency_path: str,
    dataset_path: str,
    band_px: float,
    out_path: str,
    backbone: str,
    loss: str,
    fold: str,
    analyzer: str,
) -> None:
    """`results/localization/{backbone}/{loss}/fold{fold}/{analyzer}.csv` from one saliency
    file."""
    maps = read_saliency(saliency_path)
    labels = {"backbone": backbone, "loss": loss, "fold": str(fold), "analyzer": analyzer}
    for key, expected in labels.items():
        found = maps.attributes.get(key)
        if found is not None and str(found) != str(expected):
            raise damaged_file(
                saliency_path,
                f"was made for {key} {found!r}, but its path says {expected!r}",
                "saliency",
            )
    table = localization_table(
        maps, load_dataset(dataset_path), band_px, labels, (saliency_path, dataset_path)
    )
    empty = int(table["skull_focus"].isna().sum())
    if empty:
        log.warning("%s: %d map(s) without relevance (NaN scores)", saliency_path, empty)
    flat = int(table["edge_skull_focus"].isna().sum())
    if flat:
        log.warning("%s: %d image(s) without edges (NaN edge baseline)", dataset_path, flat)
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    log.info("wrote %s: %d images, band %.2f px", out_path, len(table), band_px)


def summarise(
    per_image: pd.DataFrame, confidence: float, n_resamples: int, seed: int
) -> pd.DataFrame:
    """Per model x analyzer: n_images and the mean with its bootstrap CI of each metric,
    of the edge detector's metric, and of the per-image difference map minus edge map.

    Why paired: the analyzer and the edge detector score the same images, so the
    difference per image removes the between-image spread of the skull's visibility.
    NaN scores (maps without relevance) are left out of a metric's mean and CI.
    `p_vs_edge` is the Wilcoxon signed-rank p of skull focus against the edge
    detector's, `p_vs_edge_holm` its Holm adjustment over the model's analyzers: the
    scorecard reads ~9 such comparisons per model at once.
    Rows: models in order of appearance, analyzers in the paper's order.
    """
    # Imported here: scipy.stats costs the per-image jobs half their start-up.
    from hcxai.stats.inference import holm, mean_ci, signed_rank_test

    differences = {
        f"{metric}_minus_edge": per_image[metric] - per_image[f"edge_{metric}"]
        for metric in MAP_METRICS
    }
    per_image = per_image.assign(**differences)
    rows = []
    for model, analyzer, group in model_analyzer_groups(per_image):
        row = {**model, "analyzer": analyzer, "n_images": len(group)}
        for metric in SUMMARISED:
            ci = mean_ci(group[metric].to_numpy(), confidence, n_resamples, seed)
            row[f"{metric}_mean"], row[f"{metric}_ci_low"] = ci.mean, ci.low
            row[f"{metric}_ci_high"] = ci.high
        _, row["p_vs_edge"], _ = signed_rank_test(group["skull_focus"], group["edge_skull_focus"])
        rows.append(row)
    summary = pd.DataFrame(rows)
    summary["p_vs_edge_holm"] = summary.groupby(MODEL_KEYS, sort=False)["p_vs_edge"].transform(holm)
    return summary


def read_scores(per_image_files: list[str]) -> pd.DataFrame:
    """Every per-image localization file (rule localization) as one checked table."""
    return pd.concat(
        [read_table(f, PER_IMAGE, rule="localization", unique=KEYS) for f in per_image_files],
        ignore_index=True,
    )


def write_summary(
    per_image_files: list[str], out_path: str, confidence: float, n_resamples: int, seed: int
) -> None:
    """`results/localization.csv` from every per-image localization file."""
    per_image = read_scores(per_image_files)
    summary = summarise(per_image, confidence, n_resamples, seed)
    with atomic_output(out_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    shown = [*MODEL_KEYS, "analyzer", "n_images", "skull_focus_mean", "rank_accuracy_mean"]
    shown += ["edge_skull_focus_mean", "skull_focus_minus_edge_mean"]
    log.info(
        "localization (skull focus: 1 = a map blind to the image; edge: Sobel, no model):\n%s",
        summary[shown].to_string(index=False),
    )
