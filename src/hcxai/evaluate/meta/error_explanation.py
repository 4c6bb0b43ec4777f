"""Are badly predicted images explained differently? The paper's Fig. 5 as a number.

Per model (backbone x loss) x analyzer, over the explained test images: Spearman's rank
correlation between each image's absolute HC error and (a) its skull focus
(`hcxai.evaluate.localization.skull`), (b) its MoRF AOPC (`hcxai.evaluate.faithfulness.aopc`), each
with a seeded
percentile-bootstrap CI that resamples images (pairs kept together;
scipy.stats.bootstrap), scipy's p-value of rho = 0 and Holm's adjustment of it over
every correlation of the model (its analyzers x scores: read together, the unadjusted
CIs exclude 0 for some by chance). Per model, like every other Holm family of hcxai:
a model's rows must not change with which other models a run trains. The paper's reading of Fig. 5
(well-predicted images show the head contour, badly predicted ones spread maps)
predicts a negative correlation with skull focus.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.core.io import atomic_output, read_table
from hcxai.core.keys import MODEL_KEYS
from hcxai.core.seeding import BOOTSTRAP, stream
from hcxai.evaluate.faithfulness.aopc import PER_IMAGE_TABLE
from hcxai.evaluate.localization.skull import PER_IMAGE
from hcxai.evaluate.meta.spray import META_TABLE
from hcxai.explain.analyzers import model_analyzer_groups
from hcxai.stats.inference import holm

log = logging.getLogger(__name__)

KEY = [*MODEL_KEYS, "analyzer", "fold", "image_id"]
SCORES = ("skull_focus", "aopc")


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along `axis` (vectorised for the bootstrap): Pearson of the ranks."""
    rx = scipy_stats.rankdata(x, axis=axis)
    ry = scipy_stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / denominator


class Correlation(NamedTuple):
    """Spearman's rho with its bootstrap CI and the p-value of rho = 0."""

    rho: float
    low: float
    high: float
    p: float


def spearman_ci(
    x: np.ndarray, y: np.ndarray, confidence: float, n_resamples: int, seed: int
) -> Correlation:
    """rho, its CI and scipy.stats.spearmanr's p (t approximation); NaN where fewer than 3
    finite pairs or a constant variable."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x, float)[keep], np.asarray(y, float)[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(*[float("nan")] * 4)
    result = scipy_stats.bootstrap(
        (x, y),
        _spearman,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=stream(seed, BOOTSTRAP),
    )
    interval = result.confidence_interval
    p = float(scipy_stats.spearmanr(x, y).pvalue)
    return Correlation(float(_spearman(x, y)), float(interval.low), float(interval.high), p)


def per_image_scores(
    meta_files: list[str], localization_files: list[str], aopc_files: list[str]
) -> pd.DataFrame:
    """One row per explained image: its absolute error, skull focus and MoRF AOPC."""

    def read(files: list[str], columns: dict, rule: str) -> pd.DataFrame:
        return pd.concat([read_table(f, columns, rule=rule) for f in files], ignore_index=True)

    errors = read(meta_files, META_TABLE, "meta_explanation")[[*KEY, "abs_error_px"]]
    focus = read(localization_files, PER_IMAGE, "localization")[[*KEY, "skull_focus"]]
    aopc = read(aopc_files, PER_IMAGE_TABLE, "aopc_per_image")
    aopc = aopc[aopc["order"] == "morf"][[*KEY, "aopc"]]
    return errors.merge(focus, on=KEY, how="left", validate="one_to_one").merge(
        aopc, on=KEY, how="left", validate="one_to_one"
    )


def error_explanation_table(
    per_image: pd.DataFrame, confidence: float, n_resamples: int, seed: int
) -> pd.DataFrame:
    """Per model x analyzer: n images and, for each score, rho with its CI, its p and the
    p Holm-adjusted over the model's analyzers x scores (NaN where rho is)."""
    rows = []
    for model, analyzer, group in model_analyzer_groups(per_image):
        row = {**model, "analyzer": analyzer, "n_images": len(group)}
        for score in SCORES:
            rho, low, high, p = spearman_ci(
                group["abs_error_px"].to_numpy(),
                group[score].to_numpy(),
                confidence,
                n_resamples,
                seed,
            )
            row |= {f"rho_error_{score}": rho, f"ci_low_{score}": low, f"ci_high_{score}": high}
            row |= {f"p_{score}": p}
        rows.append(row)
    table = pd.DataFrame(rows)
    p_columns = [f"p_{score}" for score in SCORES]
    adjusted = np.full((len(table), len(SCORES)), np.nan)
    for rows in table.groupby(MODEL_KEYS, sort=False).indices.values():
        family = table.loc[rows, p_columns].to_numpy()
        adjusted[rows] = holm(family.ravel()).reshape(family.shape)
    for k, score in enumerate(SCORES):
        table.insert(table.columns.get_loc(f"p_{score}") + 1, f"p_holm_{score}", adjusted[:, k])
    return table


def write_error_explanation(
    meta_files: list[str],
    localization_files: list[str],
    aopc_files: list[str],
    out_path: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> None:
    """`results/error_explanation.csv`."""
    table = error_explanation_table(
        per_image_scores(meta_files, localization_files, aopc_files), confidence, n_resamples, seed
    )
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    log.info("wrote %s: %d model x analyzer rows", out_path, len(table))
