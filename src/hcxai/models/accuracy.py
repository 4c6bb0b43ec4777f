"""How well the regression CNNs estimate HC: MAE +- SD in px and mm, Bland-Altman agreement.

The paper reports "37.34 +- 37.46 pixels (4.78 +- 4.41 mm)": the mean and SD of
the absolute error over the test images of all folds. We add the per-fold
rows, the mean-HC baseline (a model must beat it by far to be worth
explaining) and Bland-Altman's mean difference and 95% limits of agreement.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hcxai.core.io import atomic_output, damaged_file
from hcxai.core.keys import MODEL_COLUMNS, MODEL_KEYS, models_of, of_model
from hcxai.models.training import read_predictions_file

log = logging.getLogger(__name__)


def bland_altman(predicted: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Mean difference (predicted - true) and its 95% limits of agreement."""
    difference = np.asarray(predicted) - np.asarray(true)
    mean, sd = float(difference.mean()), float(difference.std(ddof=1))
    return mean, mean - 1.96 * sd, mean + 1.96 * sd


def _summary(test: pd.DataFrame, baseline_mae_px: float) -> dict[str, float]:
    bias, low, high = bland_altman(test["hc_pred_px"], test["hc_true_px"])
    return {
        "n_test": len(test),
        "mae_px": test["abs_err_px"].mean(),
        "sd_px": test["abs_err_px"].std(),
        "mae_mm": test["abs_err_mm"].mean(),
        "sd_mm": test["abs_err_mm"].std(),
        "baseline_mae_px": baseline_mae_px,
        "mae_over_baseline": test["abs_err_px"].mean() / baseline_mae_px,
        "ba_mean_diff_px": bias,
        "ba_loa_low_px": low,
        "ba_loa_high_px": high,
    }


def mae_table(predictions: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model (backbone x loss) over all folds (fold = 'all'), then one per fold.

    `predictions` has the train step's columns plus backbone, loss and fold;
    `metrics` one row per model x fold with n_test and baseline_mae_px.
    """
    test = predictions[predictions["role"] == "test"]
    rows = []
    for model in models_of(test):
        group, folds = of_model(test, model), of_model(metrics, model)
        # The baseline over all test images: each fold's mean-HC error, weighted by its size.
        baseline = float(np.average(folds["baseline_mae_px"], weights=folds["n_test"]))
        rows.append({**model, "fold": "all", **_summary(group, baseline)})
        for fold, fold_group in group.groupby("fold"):
            fold_baseline = float(folds.loc[folds["fold"] == fold, "baseline_mae_px"].iloc[0])
            rows.append({**model, "fold": str(fold), **_summary(fold_group, fold_baseline)})
    return pd.DataFrame(rows)


METRICS_KEYS = (*MODEL_KEYS, "fold", "n_test", "baseline_mae_px")  # of metrics.json
# results/mae_table.csv (`mae_table`); one test image has no SD.
MAE_TABLE = {**MODEL_COLUMNS, "fold": "id", "n_test": "int", "mae_px": "number"}
MAE_TABLE |= {"sd_px": "number_or_nan", "mae_mm": "number", "sd_mm": "number_or_nan"}
MAE_TABLE |= {"baseline_mae_px": "number", "ba_mean_diff_px": "number"}
MAE_TABLE |= {"ba_loa_low_px": "number_or_nan", "ba_loa_high_px": "number_or_nan"}


def read_metrics(path: str) -> dict[str, Any]:
    """One fold's metrics.json (rule train) with the keys the MAE table needs."""
    try:
        metrics = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise damaged_file(path, f"cannot be read as JSON ({error})", "train") from None
    missing = [key for key in METRICS_KEYS if not isinstance(metrics, dict) or key not in metrics]
    if missing:
        raise damaged_file(path, f"lacks the key(s) {missing}", "train")
    for key in ("n_test", "baseline_mae_px"):
        value = metrics[key]
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise damaged_file(path, f"has {key} {value!r}, not a finite number", "train")
    return metrics


def read_predictions(
    prediction_files: list[str], metrics_files: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every fold's predictions (with backbone, loss and fold columns) and metrics, in file
    order."""
    metrics = pd.DataFrame([read_metrics(f) for f in metrics_files])
    frames = []
    for path, row in zip(prediction_files, metrics.itertuples(), strict=True):
        frame = read_predictions_file(path)
        frames.append(frame.assign(backbone=row.backbone, loss=row.loss, fold=row.fold))
    return pd.concat(frames, ignore_index=True), metrics


def write_mae_table(prediction_files: list[str], metrics_files: list[str], table_path: str) -> None:
    """results/mae_table.csv from every fold's predictions."""
    predictions, metrics = read_predictions(prediction_files, metrics_files)
    table = mae_table(predictions, metrics)
    with atomic_output(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    for row in table[table["fold"] == "all"].itertuples():
        log.info(
            "%s, %s loss: test MAE %.2f +- %.2f px (%.2f +- %.2f mm); mean-HC baseline %.2f px",
            row.backbone,
            row.loss,
            row.mae_px,
            row.sd_px,
            row.mae_mm,
            row.sd_mm,
            row.baseline_mae_px,
        )
