"""Does an analyzer's faithfulness survive the way regions are removed?

Table 1 scores MoRF AOPC under one imputation (the paper's additive noise) and one
measure (the error change). Additive zero-mean noise changes a linear model's output
by noise x weight, whatever the pixel was, so it rewards a map of |gradient| over a
map of contributions; removal imputations (replacement, ROAD) reward contributions
(Rong et al., ICML 2022; tests/evaluate/faithfulness/test_imputation.py shows both on a
linear model). A conclusion about analyzers should hold under every imputation x
measure; this module says which do.

Per model x imputation x measure x analyzer (`results/faithfulness.csv`): MoRF and
LeRF AOPC, MoRF - LeRF (ROAD's consistency: a faithful map has MoRF well below
LeRF), the paired difference to the random order with a bootstrap CI, its Wilcoxon
p and Holm's adjustment over the model's analyzers (`beats_random`), and the
analyzer's rank (1 = lowest MoRF AOPC). Per model, how alike the rankings are across
the conditions (imputation x measure): Kendall's W with a bootstrap-over-images CI
(`results/faithfulness_agreement.csv`) and Kendall's tau of every pair of conditions
with its CI (`results/faithfulness_tau.csv`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.keys import IMAGE, MODEL_COLUMNS, MODEL_KEYS, models_of, of_model
from hcxai.evaluate.faithfulness.aopc import IMPUTATIONS_TABLE, MODEL_ANALYZER
from hcxai.explain.analyzers import PAPER_ORDER, paper_order
from hcxai.stats.inference import beats_random, holm, image_bootstrap, versus_random

log = logging.getLogger(__name__)

CONDITION = ["imputation", "measure"]
TABLE = {
    **MODEL_COLUMNS,
    "imputation": "id",
    "measure": "id",
    "analyzer": "id",
    "n_images": "int",
    "aopc_morf": "number",
    "aopc_lerf": "number_or_nan",
    "morf_minus_lerf": "number_or_nan",
    "aopc_minus_random": "number",
    "aopc_minus_random_ci_low": "number_or_nan",
    "aopc_minus_random_ci_high": "number_or_nan",
    "p_vs_random": "number",
    "p_vs_random_holm": "number",
    "beats_random": "bool",
    "rank": "number",
}


def kendall_w(values: np.ndarray) -> float:
    """Kendall's coefficient of concordance of m raters over n items, `values` (m, n):
    each rater ranks the items by value (ties share their mean rank), W in [0, 1], 1 when
    all raters rank alike. With the tie correction (Kendall & Babington Smith 1939);
    NaN when every rater ties every item."""
    values = np.asarray(values, dtype=np.float64)
    m, n = values.shape
    ranks = scipy_stats.rankdata(values, axis=1)
    totals = ranks.sum(axis=0)
    spread = float(((totals - totals.mean()) ** 2).sum())
    ties = sum(
        float((counts**3 - counts).sum())
        for counts in (np.unique(row, return_counts=True)[1] for row in ranks)
    )
    denominator = m**2 * (n**3 - n) - m * ties
    return 12 * spread / denominator if denominator > 0 else float("nan")


def read_aopc_per_imputation(paths: list[str]) -> pd.DataFrame:
    """The per-image AOPCs under every imputation x measure (rule aopc_per_image), checked: one
    model x analyzer a file, and every analyzer of a model under the same conditions."""
    unique = [*MODEL_ANALYZER, *CONDITION, *IMAGE, "order"]
    frames = [read_table(p, IMPUTATIONS_TABLE, rule="aopc_per_image", unique=unique) for p in paths]
    for path, frame in zip(paths, frames, strict=True):
        if len(frame[MODEL_ANALYZER].drop_duplicates()) > 1:
            raise damaged_file(path, "mixes model x analyzer pairs", "aopc_per_image")
    per_image = pd.concat(frames, ignore_index=True)
    for model in models_of(per_image):
        rows = of_model(per_image, model)
        conditions = rows.groupby("analyzer", sort=False)[CONDITION].apply(
            lambda c: frozenset(c.itertuples(index=False, name=None))
        )
        if conditions.nunique() > 1:
            raise InputError(
                f"the imputation files of {model} score different imputations x measures per "
                f"analyzer ({dict(conditions.map(sorted))}); rerun rule aopc_per_image"
            )
    return per_image


def _order_matrix(rows: pd.DataFrame, order: str) -> pd.DataFrame:
    """Images x analyzers of one order's AOPC (one model x condition)."""
    return rows[rows["order"] == order].pivot(index=IMAGE, columns="analyzer", values="aopc")


def condition_table(
    rows: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int, alpha: float
) -> pd.DataFrame:
    """The analyzers of one model under one imputation x measure (the columns of `TABLE`
    after the model and condition)."""
    morf = _order_matrix(rows, "morf")
    if "random" not in set(rows["order"]):
        raise InputError(
            "faithfulness compares with the random order: add random to perturbation.orders"
        )
    random = _order_matrix(rows, "random")
    lerf = _order_matrix(rows, "lerf") if "lerf" in set(rows["order"]) else None
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    table = []
    for analyzer in morf.columns:
        ci, p = versus_random(morf[analyzer], random[analyzer], **boot)
        lerf_mean = lerf[analyzer].mean() if lerf is not None else np.nan
        table.append(
            {
                "analyzer": analyzer,
                "n_images": len(morf),
                "aopc_morf": morf[analyzer].mean(),
                "aopc_lerf": lerf_mean,
                "morf_minus_lerf": morf[analyzer].mean() - lerf_mean,
                "aopc_minus_random": ci.mean,
                "aopc_minus_random_ci_low": ci.low,
                "aopc_minus_random_ci_high": ci.high,
                "p_vs_random": p,
            }
        )
    table = pd.DataFrame(table)
    table["p_vs_random_holm"] = holm(table["p_vs_random"].to_numpy())
    table["beats_random"] = beats_random(
        table["p_vs_random_holm"], table["aopc_minus_random"], alpha
    )
    table["rank"] = scipy_stats.rankdata(table["aopc_morf"])
    return table


def faithfulness_table(
    per_image: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int, alpha: float
) -> pd.DataFrame:
    """`TABLE`: every model x imputation x measure x analyzer, analyzers in the paper's order."""
    settings = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed, "alpha": alpha}
    frames = [
        condition_table(rows, **settings).assign(
            **dict(zip(MODEL_KEYS + CONDITION, key, strict=True))
        )
        for key, rows in per_image.groupby(MODEL_KEYS + CONDITION, sort=False)
    ]
    table = pd.concat(frames, ignore_index=True)[list(TABLE)]
    position = {a: k for k, a in enumerate(PAPER_ORDER)}
    order = table["analyzer"].map(position).fillna(len(position))
    return (
        table.assign(_order=order)
        .sort_values([*MODEL_KEYS, *CONDITION, "_order"], kind="stable", key=_first_seen(table))
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _first_seen(table: pd.DataFrame) -> Callable[[pd.Series], pd.Series]:
    """A sort key that keeps the models and conditions in the order they come."""
    seen = {c: list(dict.fromkeys(table[c])) for c in (*MODEL_KEYS, *CONDITION)}
    return lambda c: c.map(seen[c.name].index) if c.name in seen else c


def _morf_cube(rows: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """One model's MoRF AOPC as images x conditions x analyzers, with the names."""
    morf = rows[rows["order"] == "morf"].assign(
        condition=lambda f: f["imputation"] + "/" + f["measure"]
    )
    wide = morf.pivot_table(
        index=IMAGE, columns=["condition", "analyzer"], values="aopc", aggfunc="first"
    )
    conditions = list(dict.fromkeys(morf["condition"]))
    analyzers = paper_order(morf["analyzer"])
    columns = pd.MultiIndex.from_product([conditions, analyzers])
    cube = wide.reindex(columns=columns).to_numpy().reshape(len(wide), len(conditions), -1)
    if np.isnan(cube).any():
        raise InputError(
            "the imputation files miss MoRF AOPCs of some images; rerun aopc_per_image"
        )
    return cube, conditions, analyzers


def ranking_agreement(
    per_image: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model: Kendall's W of the analyzer rankings over the conditions, and Kendall's
    tau of every pair of conditions, each with a bootstrap-over-images CI."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    agreement, taus = [], []
    for model in models_of(per_image):
        cube, conditions, analyzers = _morf_cube(of_model(per_image, model))
        w_low, w_high = image_bootstrap(cube, kendall_w, **boot)
        agreement.append(
            {
                **model,
                "n_images": len(cube),
                "n_analyzers": len(analyzers),
                "n_conditions": len(conditions),
                "conditions": " ".join(conditions),
                "kendall_w": kendall_w(cube.mean(axis=0)),
                "kendall_w_ci_low": w_low,
                "kendall_w_ci_high": w_high,
            }
        )
        for (a, name_a), (b, name_b) in itertools.combinations(enumerate(conditions), 2):

            def tau(means: np.ndarray, a: int = a, b: int = b) -> float:
                return float(scipy_stats.kendalltau(means[a], means[b]).statistic)

            low, high = image_bootstrap(cube, tau, **boot)
            taus.append(
                {
                    **model,
                    "condition_a": name_a,
                    "condition_b": name_b,
                    "kendall_tau": tau(cube.mean(axis=0)),
                    "kendall_tau_ci_low": low,
                    "kendall_tau_ci_high": high,
                }
            )
    return pd.DataFrame(agreement), pd.DataFrame(taus)


AGREEMENT_TABLE = {
    **MODEL_COLUMNS,
    "n_images": "int",
    "n_analyzers": "int",
    "n_conditions": "int",
    "conditions": "text",
    "kendall_w": "number_or_nan",
    "kendall_w_ci_low": "number_or_nan",
    "kendall_w_ci_high": "number_or_nan",
}


def read_agreement(path: str) -> pd.DataFrame:
    """results/faithfulness_agreement.csv, checked: a row per model."""
    return read_table(path, AGREEMENT_TABLE, rule="faithfulness", unique=MODEL_KEYS)


def write_faithfulness(
    imputation_files: list[str],
    table_path: str,
    agreement_path: str,
    tau_path: str,
    *,
    bootstrap_samples: int,
    confidence: float,
    alpha: float,
    seed: int,
) -> None:
    """results/faithfulness.csv, faithfulness_agreement.csv and faithfulness_tau.csv."""
    per_image = read_aopc_per_imputation(imputation_files)
    boot = {"confidence": confidence, "n_resamples": bootstrap_samples, "seed": seed}
    table = faithfulness_table(per_image, alpha=alpha, **boot)
    agreement, taus = ranking_agreement(per_image, **boot)
    for frame, path in ((table, table_path), (agreement, agreement_path), (taus, tau_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    ranks = table.pivot_table(
        index=[*MODEL_KEYS, "analyzer"], columns=CONDITION, values="rank", sort=False
    )
    log.info("analyzer rank by MoRF AOPC (1 = best) per imputation x measure:\n%s", ranks)
    log.info("Kendall's W of the rankings across conditions:\n%s", agreement.to_string(index=False))
