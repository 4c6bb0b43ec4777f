"""How much each randomisation stage changed the maps (Adebayo et al., NeurIPS 2018).

Per stage and image, the map of the (partly) re-initialised network is compared
with the trained network's map of the same image (stage 0):

* `spearman_abs`: Spearman rank correlation of |map| (scipy.stats.spearmanr);
* `spearman`: the same of the signed maps;
* `ssim`: structural similarity (skimage.metrics.structural_similarity, 7 x 7
  window) of the absolute maps, each normalised by its own largest |value| to
  [0, 1] (an overall change of scale alone is not a change of explanation, and
  maps are shown that way), with `data_range` the normalised trained map's
  range (max - min).

A trained map that is constant has no ranks to keep: its image is left out
(NaN). A randomised map that is constant while its trained map is not has kept
none of the trained map's ranks: rank correlation 0. Per stage the mean over
images and its bootstrap CI come from `hcxai.stats.inference.mean_ci` (the `statistics`
config block).

What "still similar" means depends on the method: maps of *different* images by
the same trained network already correlate (IG's |map| about 0.6 on the
default run, from the shared fan and skull). That is each method's **floor**:
per image, the Spearman of |map| between its trained map and the next image's
trained map. An explanation that explains the model must lose what is specific
to its image as the network is destroyed, i.e. fall to its floor or below.
Per image the **excess** is the stage's Spearman of |map| minus the floor; its
mean gets a Student-t CI (`hcxai.stats.inference.mean_t_ci`: the percentile bootstrap
covers well under 95% at 8-16 images). `similar_to_trained` marks a stage whose
excess CI lies above 0. The verdict is the fully randomised stage's: `fails`
(still above the floor), `passes`, or `undetermined` (fewer than two images to
compare, or more than half the randomised maps constant: a verdict resting on
blank maps says nothing); the table says how many images it rests on.

Adebayo et al.'s data-randomisation test: the same analyzer on the sanity fold's
model trained on shuffled HC targets (rule train_permuted_labels). Its map of each
image against the trained map (Spearman of |map|), the excess over the same floor,
and `data_randomisation_verdict` judged like the fully randomised stage: an
explanation of what the model learned from the labels must not survive labels that
carry nothing.

Localization's model baseline: per stage, the localization map metrics of its maps
(skull focus, rank accuracy, positive relevance inside the head; hcxai.evaluate.localization.skull,
the same band and head) and what the stage lost against the trained maps of the same
images (trained minus stage: mean, Student-t CI, Wilcoxon p). A
trained map whose skull focus the fully randomised network keeps owes it to the
architecture and the input, not to what the model learned (Adebayo et al.'s
edge-detector argument); the scorecard tests the loss, Holm-adjusted over the
model's analyzers.
Pure NumPy/scipy/scikit-image (workflow env).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from skimage.metrics import structural_similarity

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.keys import MODEL_COLUMNS, MODEL_KEYS
from hcxai.data.ellipse import Ellipse
from hcxai.data.hc18 import load_dataset
from hcxai.evaluate.localization.skull import MAP_METRICS, band_mask, inside_mask, map_scores
from hcxai.evaluate.randomisation.maps_file import SanityMaps, read_sanity_maps
from hcxai.stats.inference import mean_ci, mean_t_ci, signed_rank_test

log = logging.getLogger(__name__)

METRICS = ("spearman_abs", "spearman", "ssim")
METRIC_LABELS = {
    "spearman_abs": "Spearman of |map|",
    "spearman": "Spearman, signed map",
    "ssim": "SSIM of normalised |map|",
}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels; NaN when either is constant."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(scipy_stats.spearmanr(a, b).statistic)


def normalised_abs(saliency: np.ndarray) -> np.ndarray:
    """|map| / max |map| in [0, 1] (an all-zero map stays zero)."""
    magnitude = np.abs(saliency.astype(np.float64))
    peak = magnitude.max()
    return magnitude / peak if peak > 0 else magnitude


def ssim(trained: np.ndarray, other: np.ndarray) -> float:
    """SSIM of the normalised absolute maps; data_range from the trained one (1 if flat)."""
    reference, compared = normalised_abs(trained), normalised_abs(other)
    data_range = float(np.ptp(reference)) or 1.0
    return float(structural_similarity(reference, compared, data_range=data_range))


def compared(trained: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Every metric of `other` against the trained map of the same image (see the module doc
    for constant maps)."""
    if np.ptp(trained) == 0:
        return dict.fromkeys(METRICS, float("nan"))
    if np.ptp(other) == 0:
        return {"spearman_abs": 0.0, "spearman": 0.0, "ssim": ssim(trained, other)}
    return {
        "spearman_abs": spearman(np.abs(trained), np.abs(other)),
        "spearman": spearman(trained, other),
        "ssim": ssim(trained, other),
    }


def similarities(content: SanityMaps) -> pd.DataFrame:
    """One row per stage and image: every metric of that stage's map against stage 0's."""
    trained = content.maps[0]
    rows = []
    for stage, stage_maps in enumerate(content.maps):
        for image_id, reference, saliency in zip(
            content.image_ids, trained, stage_maps, strict=True
        ):
            rows.append({"stage": stage, "image_id": image_id, **compared(reference, saliency)})
    return pd.DataFrame(rows)


def floor(content: SanityMaps) -> np.ndarray:
    """Per image, the Spearman of |map| between its trained map and the next image's (in the
    file's order, the last against the first): the method's similarity without the image."""
    trained = content.maps[0]
    if len(trained) < 2:
        return np.full(len(trained), np.nan)
    return np.array(
        [
            compared(a, b)["spearman_abs"]
            for a, b in zip(trained, np.roll(trained, -1, 0), strict=True)
        ]
    )


def image_regions(
    image_ids: Sequence[str], dataset_path: str | Path, band_px: float
) -> tuple[np.ndarray, np.ndarray]:
    """The skull band and the head (hcxai.evaluate.localization.skull) of each image, in the maps'
    order:
    two n x s x s masks."""
    data = load_dataset(dataset_path)
    size = data.images.shape[-1]
    ellipses = [Ellipse(*data.ellipse_resized[row]) for row in data.index_of(list(image_ids))]
    bands = np.stack([band_mask(ellipse, size, band_px) for ellipse in ellipses])
    return bands, np.stack([inside_mask(ellipse, size) for ellipse in ellipses])


def stage_localization(
    content: SanityMaps, bands: np.ndarray, insides: np.ndarray
) -> dict[str, np.ndarray]:
    """Every localization map metric of every stage's map of every image: metric ->
    (S + 1) x n (NaN for a blank map)."""
    scores = [
        [
            map_scores(m.astype(np.float64), band, inside)
            for m, band, inside in zip(maps, bands, insides, strict=True)
        ]
        for maps in content.maps
    ]
    return {
        metric: np.array([[image[metric] for image in stage] for stage in scores])
        for metric in MAP_METRICS
    }


def stage_table(
    content: SanityMaps, statistics: Mapping[str, Any], bands: np.ndarray, insides: np.ndarray
) -> pd.DataFrame:
    """Per stage: what it re-initialised, each metric's mean and bootstrap CI over images,
    the method's floor and the stage's excess over it (mean, Student-t CI), and the
    localization of its maps (`bands`, `insides`: each image's skull band and head) with
    what it lost against the trained maps (paired, Student-t CI, Wilcoxon p)."""
    per_image = similarities(content)
    floors = floor(content)
    localization = stage_localization(content, bands, insides)
    floor_interval = mean_ci(
        floors,
        confidence=statistics["confidence"],
        n_resamples=statistics["bootstrap_samples"],
        seed=statistics["seed"],
    )
    layers = content.attributes.get("layers", [])
    permuted = _permuted_label_columns(content, floors, statistics)
    rows = []
    for stage, group in per_image.groupby("stage", sort=True):
        reinitialised = content.stages[stage]
        row: dict[str, Any] = {
            "backbone": content.backbone,
            "loss": content.loss,
            "analyzer": content.analyzer,
            "stage": stage,
            "layers_reinitialised": len(reinitialised),
            "layers_total": len(layers),
            # The deepest (nearest the input) layer re-initialised so far.
            "down_to": reinitialised[-1] if reinitialised else "",
            "n_images": len(group),
            "constant_maps": int(sum(np.ptp(m) == 0 for m in content.maps[stage])),
        }
        for metric in METRICS:
            interval = mean_ci(
                group[metric].to_numpy(),
                confidence=statistics["confidence"],
                n_resamples=statistics["bootstrap_samples"],
                seed=statistics["seed"],
            )
            row |= {
                f"{metric}_mean": interval.mean,
                f"{metric}_ci_low": interval.low,
                f"{metric}_ci_high": interval.high,
                f"{metric}_n": interval.n,
            }
        excess = mean_t_ci(group["spearman_abs"].to_numpy() - floors, statistics["confidence"])
        row |= {
            "floor_mean": floor_interval.mean,
            "floor_ci_low": floor_interval.low,
            "floor_ci_high": floor_interval.high,
            "excess_mean": excess.mean,
            "excess_ci_low": excess.low,
            "excess_ci_high": excess.high,
            "excess_n": excess.n,
            "similar_to_trained": bool(excess.low > 0),
        }
        for metric, scores in localization.items():
            interval = mean_ci(
                scores[stage],
                confidence=statistics["confidence"],
                n_resamples=statistics["bootstrap_samples"],
                seed=statistics["seed"],
            )
            lost = mean_t_ci(scores[0] - scores[stage], statistics["confidence"])
            lost_p = signed_rank_test(scores[0], scores[stage])[1] if stage else float("nan")
            row |= {
                f"{metric}_mean": interval.mean,
                f"{metric}_ci_low": interval.low,
                f"{metric}_ci_high": interval.high,
                f"{metric}_lost_mean": lost.mean,
                f"{metric}_lost_ci_low": lost.low,
                f"{metric}_lost_ci_high": lost.high,
                f"{metric}_lost_p": lost_p,
            }
        rows.append(row | permuted)
    return pd.DataFrame(rows)


def _permuted_label_columns(
    content: SanityMaps, floors: np.ndarray, statistics: Mapping[str, Any]
) -> dict[str, Any]:
    """The data-randomisation test, one value per file (repeated on every stage row like the
    floor): Spearman of |map| between the permuted-label model's map and the trained map of
    each image, and its excess over the floor (mean, Student-t CI)."""
    similarity = np.array(
        [
            compared(trained, permuted)["spearman_abs"]
            for trained, permuted in zip(content.maps[0], content.permuted_label_maps, strict=True)
        ]
    )
    interval = mean_ci(
        similarity,
        confidence=statistics["confidence"],
        n_resamples=statistics["bootstrap_samples"],
        seed=statistics["seed"],
    )
    excess = mean_t_ci(similarity - floors, statistics["confidence"])
    return {
        "permuted_spearman_abs_mean": interval.mean,
        "permuted_spearman_abs_ci_low": interval.low,
        "permuted_spearman_abs_ci_high": interval.high,
        "permuted_excess_mean": excess.mean,
        "permuted_excess_ci_low": excess.low,
        "permuted_excess_ci_high": excess.high,
        "permuted_excess_n": excess.n,
        "permuted_constant_maps": int(sum(np.ptp(m) == 0 for m in content.permuted_label_maps)),
    }


VERDICTS = ("passes", "fails", "undetermined")
# results/sanity/{backbone}/{loss}/{analyzer}.csv (`stage_table`): constant maps give NaN means.
STAGE_TABLE = {
    **MODEL_COLUMNS,
    "analyzer": "id",
    "stage": "int",
    "layers_reinitialised": "int",
    "layers_total": "int",
    "down_to": "text",
    "n_images": "int",
    "constant_maps": "int",
    **{
        f"{metric}_{part}": "number_or_nan"
        for metric in METRICS
        for part in ("mean", "ci_low", "ci_high")
    },
    **{f"{metric}_n": "int" for metric in METRICS},
    **{
        f"{part}_{bound}": "number_or_nan"
        for part in ("floor", "excess")
        for bound in ("mean", "ci_low", "ci_high")
    },
    "excess_n": "int",
    "similar_to_trained": "bool",
    **{
        f"{metric}{part}_{bound}": "number_or_nan"
        for metric in MAP_METRICS
        for part in ("", "_lost")
        for bound in ("mean", "ci_low", "ci_high")
    },
    **{f"{metric}_lost_p": "number_or_nan" for metric in MAP_METRICS},
    **{
        f"permuted_{part}_{bound}": "number_or_nan"
        for part in ("spearman_abs", "excess")
        for bound in ("mean", "ci_low", "ci_high")
    },
    "permuted_excess_n": "int",
    "permuted_constant_maps": "int",
}
# results/sanity.csv
SUMMARY_TABLE = STAGE_TABLE | {
    "verdict": VERDICTS,
    "fails_check": "bool",
    "data_randomisation_verdict": VERDICTS,
}


def _verdict(excess_n: int, excess_ci_low: float, constant_maps: int, n_images: int) -> str:
    """Above the floor (excess CI above 0) fails; undetermined on fewer than two images or
    mostly constant maps (a verdict resting on blank maps says nothing)."""
    if excess_n < 2 or constant_maps > n_images / 2:
        return "undetermined"
    return "fails" if excess_ci_low > 0 else "passes"


def fully_randomised(sanity: pd.DataFrame) -> pd.DataFrame:
    """The last (fully randomised) stage's row of each model x analyzer of sanity.csv."""
    sanity = sanity.reset_index(drop=True)  # idxmax labels must be unique
    return sanity.loc[sanity.groupby([*MODEL_KEYS, "analyzer"], sort=False)["stage"].idxmax()]


def verdict(table: pd.DataFrame) -> str:
    """One model x analyzer's result: its fully randomised stage against the method's floor."""
    last = table.loc[table["stage"].idxmax()]
    return _verdict(
        last["excess_n"], last["excess_ci_low"], last["constant_maps"], last["n_images"]
    )


def data_randomisation_verdict(table: pd.DataFrame) -> str:
    """The permuted-label model's maps against the method's floor, judged like a stage."""
    row = table.iloc[0]
    return _verdict(
        row["permuted_excess_n"],
        row["permuted_excess_ci_low"],
        row["permuted_constant_maps"],
        row["n_images"],
    )


def write_stage_similarity(
    maps_path: str | Path,
    dataset_path: str | Path,
    out_path: str | Path,
    statistics: Mapping[str, Any],
    band_px: float,
) -> None:
    """`results/sanity/{backbone}/{loss}/{analyzer}.csv` from its maps file and the data
    set's skull ellipses (`band_px`: localization's band half-width)."""
    content = read_sanity_maps(maps_path)
    bands, insides = image_regions(content.image_ids, dataset_path, band_px)
    table = stage_table(content, statistics, bands, insides)
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, index=False)
    last = table.iloc[-1]
    log.info(
        "%s on %s (%s loss): fully randomised (%d/%d layers) Spearman |map| %.3f, floor %.3f, "
        "excess %.3f [%.3f, %.3f] over %d images (%d constant maps): %s; skull focus %.2f "
        "(trained %.2f)",
        content.analyzer,
        content.backbone,
        content.loss,
        last["layers_reinitialised"],
        last["layers_total"],
        last["spearman_abs_mean"],
        last["floor_mean"],
        last["excess_mean"],
        last["excess_ci_low"],
        last["excess_ci_high"],
        last["excess_n"],
        last["constant_maps"],
        verdict(table),
        last["skull_focus_mean"],
        table.iloc[0]["skull_focus_mean"],
    )


def read_pair_table(path: str | Path) -> pd.DataFrame:
    """One pair's stage table (rule sanity_similarity): stages 0..S, each once, one pair."""
    table = read_table(path, STAGE_TABLE, rule="sanity_similarity", unique=["stage"])
    pairs = table[[*MODEL_KEYS, "analyzer"]].drop_duplicates()
    if len(pairs) > 1 or sorted(table["stage"]) != list(range(len(table))):
        raise damaged_file(
            path,
            f"has stages {sorted(table['stage'])} of {len(pairs)} pair(s)",
            "sanity_similarity",
        )
    return table


def write_summary(pair_files: Sequence[str | Path], out_path: str | Path) -> None:
    """`results/sanity.csv`: every pair's stage table, with its `verdict` and `fails_check`."""
    if not pair_files:
        raise InputError("sanity summary: no per-pair CSV given; list the analyzers to check")
    tables = []
    for path in pair_files:
        table = read_pair_table(path)
        table["verdict"] = verdict(table)
        table["fails_check"] = table["verdict"] == "fails"
        table["data_randomisation_verdict"] = data_randomisation_verdict(table)
        tables.append(table)
    summary = pd.concat(tables, ignore_index=True)
    with atomic_output(out_path) as tmp:
        summary.to_csv(tmp, index=False)
    verdicts = summary[[*MODEL_KEYS, "analyzer", "verdict"]].drop_duplicates()
    for backbone, loss, analyzer, found in verdicts.itertuples(index=False):
        if found == "fails":
            log.warning(
                "%s on %s (%s loss) fails the model-randomisation check: its maps of the fully "
                "randomised network still resemble the trained network's more than the trained "
                "maps of other images do (Spearman |map| above the method's floor)",
                analyzer,
                backbone,
                loss,
            )
        elif found == "undetermined":
            log.warning(
                "%s on %s (%s loss): most maps of the fully randomised network are constant (or "
                "fewer than two images to compare); no verdict",
                analyzer,
                backbone,
                loss,
            )
