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

A constant map (e.g. Deep Taylor's all-zero map of a negative output) has no
ranks: its rank correlations are NaN, left out of the means and counted in
`constant_maps`. Per stage the mean over images and its bootstrap CI come from
`hcxai.stats.mean_ci` (the `statistics` config block). An explanation that
explains the model must lose its similarity to the trained map as the network
is destroyed; `similar_to_trained` marks a stage whose mean rank correlation of
|map| is still >= `SIMILAR` (a convention of hcxai, not of the paper). The
verdict is the fully randomised stage's: `fails` (still similar), `passes`, or
`undetermined` (every map of that stage constant: nothing left to rank).
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

from hcxai.io import InputError, atomic_output, damaged_file, read_table
from hcxai.models import MODEL_KEYS
from hcxai.sanity_file import SanityMaps, read_sanity_maps
from hcxai.stats import mean_ci

log = logging.getLogger(__name__)

METRICS = ("spearman_abs", "spearman", "ssim")
METRIC_LABELS = {
    "spearman_abs": "Spearman of |map|",
    "spearman": "Spearman, signed map",
    "ssim": "SSIM of normalised |map|",
}
# Mean rank correlation of |map| with the trained map at or above which a stage's maps
# still resemble the trained ones; at the fully randomised stage that fails the check.
SIMILAR = 0.5


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


def similarities(content: SanityMaps) -> pd.DataFrame:
    """One row per stage and image: every metric of that stage's map against stage 0's."""
    trained = content.maps[0]
    rows = []
    for stage, stage_maps in enumerate(content.maps):
        for image_id, reference, saliency in zip(
            content.image_ids, trained, stage_maps, strict=True
        ):
            rows.append(
                {
                    "stage": stage,
                    "image_id": image_id,
                    "spearman_abs": spearman(np.abs(reference), np.abs(saliency)),
                    "spearman": spearman(reference, saliency),
                    "ssim": ssim(reference, saliency),
                }
            )
    return pd.DataFrame(rows)


def stage_table(content: SanityMaps, statistics: Mapping[str, Any]) -> pd.DataFrame:
    """Per stage: what it re-initialised, and each metric's mean and bootstrap CI over images."""
    per_image = similarities(content)
    layers = content.attributes.get("layers", [])
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
        row["similar_to_trained"] = bool(row["spearman_abs_mean"] >= SIMILAR)
        rows.append(row)
    return pd.DataFrame(rows)


VERDICTS = ("passes", "fails", "undetermined")
# results/sanity/{backbone}/{loss}/{analyzer}.csv (`stage_table`): constant maps give NaN means.
PAIR_TABLE = {
    "backbone": "id",
    "loss": "id",
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
    "similar_to_trained": "bool",
}
SUMMARY_TABLE = PAIR_TABLE | {"verdict": VERDICTS, "fails_check": "bool"}  # results/sanity.csv


def verdict(table: pd.DataFrame) -> str:
    """One model x analyzer's result: its fully randomised stage against the trained maps."""
    last = table.loc[table["stage"].idxmax()]
    if last["spearman_abs_n"] == 0:
        return "undetermined"
    return "fails" if last["similar_to_trained"] else "passes"


def fails_check(table: pd.DataFrame) -> bool:
    """Whether the fully randomised network's maps still resemble the trained network's."""
    return verdict(table) == "fails"


def write_pair(maps_path: str | Path, out_path: str | Path, statistics: Mapping[str, Any]) -> None:
    """`results/sanity/{backbone}/{loss}/{analyzer}.csv` from its maps file."""
    content = read_sanity_maps(maps_path)
    table = stage_table(content, statistics)
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, index=False)
    last = table.iloc[-1]
    log.info(
        "%s on %s (%s loss): fully randomised (%d/%d layers) Spearman |map| %.3f [%.3f, %.3f] "
        "over %d "
        "images (%d constant maps): %s",
        content.analyzer,
        content.backbone,
        content.loss,
        last["layers_reinitialised"],
        last["layers_total"],
        last["spearman_abs_mean"],
        last["spearman_abs_ci_low"],
        last["spearman_abs_ci_high"],
        last["spearman_abs_n"],
        last["constant_maps"],
        verdict(table),
    )


def read_pair_table(path: str | Path) -> pd.DataFrame:
    """One pair's stage table (rule sanity_similarity): stages 0..S, each once, one pair."""
    table = read_table(path, PAIR_TABLE, rule="sanity_similarity", unique=["stage"])
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
        tables.append(table)
    summary = pd.concat(tables, ignore_index=True)
    with atomic_output(out_path) as tmp:
        summary.to_csv(tmp, index=False)
    verdicts = summary[[*MODEL_KEYS, "analyzer", "verdict"]].drop_duplicates()
    for backbone, loss, analyzer, found in verdicts.itertuples(index=False):
        if found == "fails":
            log.warning(
                "%s on %s (%s loss) fails the model-randomisation check: its maps of the fully "
                "randomised network still resemble the trained network's (Spearman |map| "
                ">= %.2f)",
                analyzer,
                backbone,
                loss,
                SIMILAR,
            )
        elif found == "undetermined":
            log.warning(
                "%s on %s (%s loss): every map of the fully randomised network is constant; the "
                "check "
                "cannot rank them",
                analyzer,
                backbone,
                loss,
            )
