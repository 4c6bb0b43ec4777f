"""AOPC for regression (equation 2 of the paper) and its tables.

Per image: aopc = e(0) - mean over k = 0..K of e(k), with e(k) the absolute
error in px after k perturbation steps. This is the authors' code; the
paper's equation 2 writes the sum over k = 0..K divided by K, which differs by
the k = 0 term's weight. Averaged over images, it is negative when the error
grows; the more negative, the faster the analyzer's ranking hurts the model
("lower is better", Table 1). The random order is averaged over its repeats per
image first; `aopc_minus_random` compares an order with it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from hcxai.analyzers import PAPER_ORDER
from hcxai.io import atomic_output

log = logging.getLogger(__name__)

KEYS = ["backbone", "analyzer", "fold", "image_id", "order"]


def aopc_of_curve(errors: np.ndarray) -> float:
    """e(0) - mean over k = 0..K of e(k) for one perturbation curve (steps 0..K)."""
    errors = np.asarray(errors, dtype=np.float64)
    return float(errors[0] - errors.mean())


def per_image_aopc(shards: pd.DataFrame) -> pd.DataFrame:
    """One AOPC per backbone x analyzer x fold x image x order (random: mean over repeats)."""
    curves = shards.sort_values("step").groupby([*KEYS, "repeat"], sort=False)["error_px"]
    per_run = curves.apply(lambda e: aopc_of_curve(e.to_numpy())).rename("aopc").reset_index()
    return per_run.groupby(KEYS, sort=False)["aopc"].mean().reset_index()


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over images per backbone x analyzer x fold x order, plus fold 'all'."""
    both = pd.concat([per_image.astype({"fold": str}), per_image.assign(fold="all")])
    table = (
        both.groupby(["backbone", "analyzer", "fold", "order"], sort=False)["aopc"]
        .agg(n_images="count", aopc_mean="mean", aopc_sd="std")
        .reset_index()
    )
    random = table[table["order"] == "random"].set_index(["backbone", "analyzer", "fold"])
    baseline = table.set_index(["backbone", "analyzer", "fold"]).index.map(
        lambda key: random["aopc_mean"].get(key, np.nan)
    )
    table["aopc_minus_random"] = table["aopc_mean"].to_numpy() - np.asarray(baseline, dtype=float)
    return table


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1: MoRF AOPC over all folds, a row per backbone, analyzers in its order."""
    morf = summary[(summary["order"] == "morf") & (summary["fold"] == "all")]
    wide = morf.pivot(index="backbone", columns="analyzer", values="aopc_mean")
    wide = wide[[a for a in PAPER_ORDER if a in wide.columns]]
    explained = wide.drop(columns=["random"], errors="ignore")
    wide["best_analyzer"] = explained.idxmin(axis=1)  # most negative: lower is better
    backbones = list(dict.fromkeys(summary["backbone"]))
    return wide.loc[backbones].reset_index()


def write_pair(shard_files: list[str], aopc_path: str, curves_path: str) -> None:
    """One backbone x analyzer reduced: every image's AOPC, and its mean curve per step.

    The summary reads these small files only, never the shards again.
    """
    shards = pd.concat([pd.read_csv(f) for f in shard_files])
    for frame, path in ((per_image_aopc(shards), aopc_path), (curves(shards), curves_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False)


def curves(shards: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD of the error per step, per backbone x analyzer x order (Fig. 4)."""
    runs = shards.groupby([*KEYS, "step"], sort=False)["error_px"].mean().reset_index()
    return (
        runs.groupby(["backbone", "analyzer", "order", "step"], sort=False)["error_px"]
        .agg(error_mean="mean", error_sd="std", n_images="count")
        .reset_index()
    )


def write_summary(
    pair_files: list[str],
    pair_curve_files: list[str],
    aopc_path: str,
    table_path: str,
    curves_path: str,
) -> None:
    """aopc.csv, aopc_table.csv (Table 1) and perturbation_curves.csv from the pair files."""
    per_image = pd.concat([pd.read_csv(f) for f in pair_files], ignore_index=True)
    summary = summarise(per_image)
    table = table1(summary)
    curve_table = pd.concat([pd.read_csv(f) for f in pair_curve_files], ignore_index=True)
    for frame, path in ((summary, aopc_path), (table, table_path), (curve_table, curves_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4f")
    log.info("Table 1 (MoRF AOPC, lower is better):\n%s", table.to_string(index=False))
