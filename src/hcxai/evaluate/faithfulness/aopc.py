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

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.keys import MODEL_COLUMNS, MODEL_KEYS
from hcxai.evaluate.faithfulness.perturbation import MEASURES, ORDERS, SHARD_TABLE
from hcxai.explain.analyzers import PAPER_ORDER

log = logging.getLogger(__name__)

MODEL_ANALYZER = [*MODEL_KEYS, "analyzer"]  # one model (backbone x loss) x analyzer
KEYS = [*MODEL_ANALYZER, "fold", "image_id", "order"]
# The two files of rule aopc_per_image, one model x analyzer each.
PER_IMAGE_TABLE = {
    **MODEL_COLUMNS,
    "analyzer": "id",
    "fold": "int",
    "image_id": "id",
    "order": ORDERS,
    "aopc": "number",
}
# Rule aopc_per_image's third file: every image's AOPC under every scored imputation x measure.
IMPUTATIONS_TABLE = {
    **{key: PER_IMAGE_TABLE[key] for key in MODEL_ANALYZER},
    "imputation": "id",
    "measure": MEASURES,
    **{key: PER_IMAGE_TABLE[key] for key in ("fold", "image_id", "order", "aopc")},
}
CURVES_TABLE = {
    **MODEL_COLUMNS,
    "analyzer": "id",
    "order": ORDERS,
    "step": "int",
    "error_mean": "number",
    "error_sd": "number_or_nan",  # one image: no spread
    "n_images": "int",
}


def aopc_of_curve(errors: np.ndarray) -> float:
    """e(0) - mean over k = 0..K of e(k) for one perturbation curve (steps 0..K)."""
    errors = np.asarray(errors, dtype=np.float64)
    return float(errors[0] - errors.mean())


def per_image_aopc(
    shards: pd.DataFrame, measure: str = "error_px", by: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One AOPC of `measure` per model x analyzer x fold x image x order (x `by`); the
    random order's is the mean over its repeats."""
    keys = [*KEYS, *by]
    curves = shards.sort_values("step").groupby([*keys, "repeat"], sort=False)[measure]
    per_run = curves.apply(lambda e: aopc_of_curve(e.to_numpy())).rename("aopc").reset_index()
    return per_run.groupby(keys, sort=False)["aopc"].mean().reset_index()


def per_image_aopc_by_imputation(shards: pd.DataFrame) -> pd.DataFrame:
    """Every image's AOPC per scored imputation x measure (`IMPUTATIONS_TABLE`)."""
    frames = [
        per_image_aopc(shards, measure, by=("imputation",)).assign(measure=measure)
        for measure in MEASURES
    ]
    return pd.concat(frames, ignore_index=True)[list(IMPUTATIONS_TABLE)]


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over images per model x analyzer x fold x order, plus fold 'all'."""
    both = pd.concat([per_image.astype({"fold": str}), per_image.assign(fold="all")])
    table = (
        both.groupby([*MODEL_ANALYZER, "fold", "order"], sort=False)["aopc"]
        .agg(n_images="count", aopc_mean="mean", aopc_sd="std")
        .reset_index()
    )
    random = table[table["order"] == "random"].set_index([*MODEL_ANALYZER, "fold"])
    baseline = table.set_index([*MODEL_ANALYZER, "fold"]).index.map(
        lambda key: random["aopc_mean"].get(key, np.nan)
    )
    table["aopc_minus_random"] = table["aopc_mean"].to_numpy() - np.asarray(baseline, dtype=float)
    return table


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1: MoRF AOPC over all folds, a row per model (backbone x loss),
    analyzers in its order."""
    morf = summary[(summary["order"] == "morf") & (summary["fold"] == "all")]
    wide = morf.pivot(index=MODEL_KEYS, columns="analyzer", values="aopc_mean")
    wide = wide[[a for a in PAPER_ORDER if a in wide.columns]]
    explained = wide.drop(columns=["random"], errors="ignore")
    wide["best_analyzer"] = explained.idxmin(axis=1)  # most negative: lower is better
    models = list(dict.fromkeys(summary[MODEL_KEYS].itertuples(index=False, name=None)))
    return wide.loc[models].reset_index().rename_axis(columns=None)


RUN = [*KEYS, "imputation", "repeat"]  # one perturbation curve


def read_shard(path: str) -> pd.DataFrame:
    """One shard file (rule perturb), checked: every run has each step 0..K once."""
    shard = read_table(path, SHARD_TABLE, rule="perturb", unique=[*RUN, "step"])
    steps = shard.groupby(RUN, sort=False)["step"].agg(["min", "max", "count"])
    broken = (steps["min"] != 0) | (steps["max"] != steps["count"] - 1)
    broken |= steps["count"] != steps["count"].max()
    if broken.any():
        run = steps.index[broken.to_numpy().argmax()]
        named = ", ".join(f"{key} {value}" for key, value in zip(RUN, run, strict=True))
        raise damaged_file(path, f"lacks steps of the run ({named}): each has 0..K", "perturb")
    return shard


def _kind_of_runs(shard: pd.DataFrame) -> tuple[list[str], list[str], int]:
    """A shard's (backbone, loss, analyzer)s and steps K: one, and the same in every shard."""
    return sorted(set(shard[MODEL_ANALYZER].itertuples(index=False, name=None))), int(
        shard["step"].max()
    )


def read_shards(shard_files: list[str]) -> pd.DataFrame:
    """The perturbation shards of one model x analyzer: the same pair and K in every one,
    each run (image x order x repeat) in one shard only."""
    frames = [read_shard(path) for path in shard_files]
    pairs, steps = _kind_of_runs(frames[0])
    for path, frame in zip(shard_files, frames, strict=True):
        found = _kind_of_runs(frame)
        if len(found[0]) > 1 or found != (pairs, steps):
            raise damaged_file(
                path,
                f"holds runs of (backbone, loss, analyzer) {found[0]} with K {found[1]}, "
                f"expected {pairs[0]} with K {steps} as in {shard_files[0]}",
                "perturb",
            )
    shards = pd.concat(frames, ignore_index=True)
    repeated = shards.duplicated([*RUN, "step"]).to_numpy()
    if repeated.any():
        row = int(repeated.argmax())
        owner = int(np.searchsorted(np.cumsum([len(f) for f in frames]), row, side="right"))
        image = shards["image_id"].iloc[row]
        raise damaged_file(shard_files[owner], f"repeats image {image} of another shard", "perturb")
    return shards


def write_per_image(
    shard_files: list[str],
    aopc_path: str,
    curves_path: str,
    imputations_path: str,
    imputations: list[str],
) -> None:
    """One model x analyzer reduced: every image's AOPC and its mean curve per step under
    Table 1's imputation (the first of `imputations`, error change), and every image's AOPC
    under each of `imputations` x measure.

    The summaries read these small files only, never the shards again.
    """
    shards = read_shards(shard_files)
    found = list(dict.fromkeys(shards["imputation"]))
    if sorted(found) != sorted(imputations):
        raise damaged_file(
            shard_files[0],
            f"scores the imputations {found}, the config {imputations} (perturbation.noise, "
            "perturbation.imputations)",
            "perturb",
        )
    table1 = shards[shards["imputation"] == imputations[0]]
    for frame, path in (
        (per_image_aopc(table1), aopc_path),
        (curves(table1), curves_path),
        (per_image_aopc_by_imputation(shards), imputations_path),
    ):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False)


def read_pair_file(path: str) -> pd.DataFrame:
    """One pair AOPC file (rule aopc_per_image): one model x analyzer, each image x order once."""
    frame = read_table(path, PER_IMAGE_TABLE, rule="aopc_per_image", unique=KEYS)
    pairs = sorted(set(frame[MODEL_ANALYZER].itertuples(index=False, name=None)))
    if len(pairs) > 1:
        raise damaged_file(
            path, f"mixes {pairs}: rule aopc_per_image writes one a file", "aopc_per_image"
        )
    return frame[list(PER_IMAGE_TABLE)]


def read_aopc_per_image(pair_files: list[str]) -> pd.DataFrame:
    """Every pair file (one model x analyzer each) as one checked per-image table.

    A bad file is named with its fix here, before any statistic hides the problem.
    """
    frames, owner = [], {}
    for path in pair_files:
        frame = read_pair_file(path)
        pair = tuple(frame[MODEL_ANALYZER].iloc[0])
        if pair in owner:
            raise InputError(f"{path} and {owner[pair]} both hold {pair}: pass each once")
        owner[pair] = path
        frames.append(frame)
    per_image = pd.concat(frames, ignore_index=True)
    check_same_images(per_image, owner)
    return per_image


def check_same_images(per_image: pd.DataFrame, owner: dict[tuple[str, ...], str]) -> None:
    """Every analyzer x order of a model must cover the same images: tests are paired."""
    for model, rows in per_image.groupby(MODEL_KEYS, sort=False):
        sets = {
            key: set(zip(group["fold"], group["image_id"], strict=True))
            for key, group in rows.groupby(["analyzer", "order"], sort=False)
        }
        (first, reference), *others = sets.items()
        for (analyzer, order), images in others:
            if images != reference:
                odd = sorted(images ^ reference)[:3]
                raise damaged_file(
                    owner[(*model, analyzer)],
                    f"({order}) and {owner[(*model, first[0])]} ({first[1]}) cover different "
                    f"images (e.g. fold, image {odd}): the analyzers of a model are compared "
                    "on the same images",
                    "aopc_per_image",
                )


def curves(shards: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD of the error per step, per model x analyzer x order (Fig. 4)."""
    runs = shards.groupby([*KEYS, "step"], sort=False)["error_px"].mean().reset_index()
    return (
        runs.groupby([*MODEL_ANALYZER, "order", "step"], sort=False)["error_px"]
        .agg(error_mean="mean", error_sd="std", n_images="count")
        .reset_index()
    )


def read_curves(path: str, pair: tuple[str, ...], pair_path: str) -> pd.DataFrame:
    """One pair's mean curves (rule aopc_per_image), of the pair its AOPC file `pair_path` holds."""
    frame = read_table(path, CURVES_TABLE, rule="aopc_per_image", unique=["order", "step"])
    found = sorted(set(frame[MODEL_ANALYZER].itertuples(index=False, name=None)))
    if found != [pair]:
        raise damaged_file(path, f"holds {found}, but {pair_path} holds {pair}", "aopc_per_image")
    return frame


def write_summary(
    pair_files: list[str],
    pair_curve_files: list[str],
    aopc_path: str,
    table_path: str,
    curves_path: str,
) -> None:
    """aopc.csv, aopc_table.csv (Table 1) and perturbation_curves.csv from the pair files."""
    per_image = read_aopc_per_image(pair_files)
    summary = summarise(per_image)
    table = table1(summary)
    pairs = per_image[MODEL_ANALYZER].drop_duplicates().itertuples(index=False, name=None)
    curve_table = pd.concat(
        [
            read_curves(curve_path, pair, pair_path)
            for curve_path, pair, pair_path in zip(pair_curve_files, pairs, pair_files, strict=True)
        ],
        ignore_index=True,
    )
    for frame, path in ((summary, aopc_path), (table, table_path), (curve_table, curves_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.4f")
    log.info("Table 1 (MoRF AOPC, lower is better):\n%s", table.to_string(index=False))
