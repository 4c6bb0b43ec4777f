"""AOPC statistics: the analyzers of a model compared on the same images.

The analyzers of a model (backbone x loss) are scored on the same images, so they are compared
per image (Demšar 2006): Friedman's test and mean ranks over the distinct ones,
Wilcoxon signed-rank tests of every pair with Holm's adjustment, and each
order's paired difference to the random order. Lower AOPC is better throughout.

Distinct: two analyzers whose MoRF AOPCs are equal on every image of a model (LRP-z
and Input x Gradient on a ReLU network, after canonization) give one map, not two
votes; `duplicate_analyzers` finds them, and the rank statistics count each map once.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.core.io import InputError, atomic_output
from hcxai.core.keys import IMAGE, MODEL_COLUMNS, MODEL_KEYS, model_label, models_of, of_model
from hcxai.evaluate.faithfulness.aopc import PER_IMAGE_TABLE, read_aopc_per_image
from hcxai.evaluate.faithfulness.perturbation import ORDERS
from hcxai.explain.analyzers import paper_order
from hcxai.stats.inference import (
    ZERO_PX,
    Interval,
    holm,
    mean_ci,
    signed_rank_test,
    versus_random,
)

log = logging.getLogger(__name__)

PER_IMAGE_COLUMNS = list(PER_IMAGE_TABLE)
# aopc_pairwise.csv; `better` is empty when no difference is significant.
PAIRWISE_TABLE = {
    **MODEL_COLUMNS,
    "order": ORDERS,
    "analyzer_a": "id",
    "analyzer_b": "id",
    "n_images": "int",
    "aopc_mean_a": "number",
    "aopc_mean_b": "number",
    "wilcoxon_statistic": "number",
    "p": "number",
    "p_holm": "number",
    "effect_size": "number",
    "better": "text",
}
PAIRWISE_COLUMNS = list(PAIRWISE_TABLE)
# aopc_stats.csv: fewer than two images, or the random order itself, give NaN bounds
# (and NaN p-values for the random order).
STATS_TABLE = {
    **MODEL_COLUMNS,
    "analyzer": "id",
    "order": ORDERS,
    "n_images": "int",
    "aopc_mean": "number",
    "aopc_ci_low": "number_or_nan",
    "aopc_ci_high": "number_or_nan",
    "friedman_mean_rank": "number",
    "same_map_as": "text",  # the analyzer this one repeats (its rank is that one's), or ""
    "aopc_minus_random": "number_or_nan",
    "aopc_minus_random_ci_low": "number_or_nan",
    "aopc_minus_random_ci_high": "number_or_nan",
    "p_vs_random": "number_or_nan",
    "p_vs_random_holm": "number_or_nan",
}
DERIVED = ("p_holm", "better")  # computed over a model's pairs, after the tests


def require_order(per_image: pd.DataFrame, order: str) -> None:
    """The tests compare analyzers on one order; name the config key that brings it back."""
    if order not in set(per_image["order"]):
        raise InputError(
            f"the pair AOPC files have no '{order}' rows (they have "
            f"{sorted(set(per_image['order']))}): add {order} to perturbation.orders"
        )


def image_matrix(per_image: pd.DataFrame, model: dict[str, str], order: str) -> pd.DataFrame:
    """One model x order as images (rows) x analyzers (columns, in input order).

    Paired statistics need every analyzer on the same images: a gap is an error, not a NaN.
    """
    rows = of_model(per_image, model)
    rows = rows[rows["order"] == order]
    matrix = rows.pivot(index=IMAGE, columns="analyzer", values="aopc")
    matrix = matrix[list(dict.fromkeys(rows["analyzer"]))]
    gaps = matrix.columns[matrix.isna().any()].tolist()
    if gaps:
        raise InputError(
            f"{model_label(model)}, order {order}: analyzers {gaps} lack the AOPC of images "
            "that other analyzers have; rebuild every pair file of this model from the same run"
        )
    return matrix


def duplicate_analyzers(matrix: pd.DataFrame) -> dict[str, str]:
    """Analyzers (columns of images x analyzers) whose AOPC equals an earlier one's on every
    image (|difference| <= ZERO_PX): duplicate -> the analyzer it repeats, the first in the
    paper's order kept.

    Why: two names for one map (LRP-z = Input x Gradient on a ReLU network) would count
    that map twice in every ranking, and share a tied rank that no third map can split.
    """
    kept: list[str] = []
    duplicates = {}
    for analyzer in paper_order(list(matrix.columns)):
        values = matrix[analyzer].to_numpy(dtype=np.float64)
        same = [k for k in kept if np.all(np.abs(values - matrix[k].to_numpy()) <= ZERO_PX)]
        if same:
            duplicates[analyzer] = same[0]
        else:
            kept.append(analyzer)
    return duplicates


def describe_duplicates(duplicates: dict[str, str]) -> str:
    """'lrp=input_x_gradient ...' for a table cell: duplicate=the analyzer it repeats."""
    return " ".join(f"{copy}={original}" for copy, original in duplicates.items())


def mean_ranks(matrix: pd.DataFrame, duplicates: dict[str, str] | None = None) -> pd.Series:
    """Friedman's mean rank per analyzer among the distinct ones: within each image 1 = the
    lowest (most negative, best) AOPC, tied analyzers share their average rank; then the
    mean over images. A duplicate gets the rank of the analyzer it repeats.

    Ranks make images of very different error scales count alike (Demšar 2006).
    """
    duplicates = duplicates or {}
    distinct = matrix.drop(columns=list(duplicates))
    ranks = distinct.rank(axis=1, method="average", ascending=True).mean()
    copies = pd.Series({copy: ranks[original] for copy, original in duplicates.items()})
    return pd.concat([ranks, copies]).reindex(matrix.columns)


def aopc_stats(
    per_image: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int
) -> pd.DataFrame:
    """Per model x analyzer x order: the mean AOPC with its bootstrap CI over images,
    the Friedman mean rank among the model's distinct analyzers (duplicates found on the
    MoRF AOPCs share the rank of the analyzer they repeat, `same_map_as`), and the mean
    paired difference
    to the same images' random-order AOPC with its CI, its Wilcoxon p and Holm's
    adjustment over the model's analyzers in that order (NaN for the random order itself).

    A mean alone does not say whether it stands out of the between-image spread, and
    one unadjusted CI per analyzer flags about one analyzer in 20 by chance.
    """
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for model in models_of(per_image):
        orders = dict.fromkeys(of_model(per_image, model)["order"])
        matrices = {order: image_matrix(per_image, model, order) for order in orders}
        baseline = matrices.get("random")
        duplicates = duplicate_analyzers(matrices["morf"]) if "morf" in matrices else {}
        for order, matrix in matrices.items():
            ranks = mean_ranks(matrix, duplicates)
            for analyzer, values in matrix.items():
                ci = mean_ci(values.to_numpy(), **boot)
                versus, p = Interval(0, np.nan, np.nan, np.nan), np.nan
                if order != "random" and baseline is not None and analyzer in baseline:
                    versus, p = versus_random(values, baseline[analyzer], **boot)
                rows.append(
                    {
                        **model,
                        "analyzer": analyzer,
                        "order": order,
                        "n_images": ci.n,
                        "aopc_mean": ci.mean,
                        "aopc_ci_low": ci.low,
                        "aopc_ci_high": ci.high,
                        "friedman_mean_rank": ranks[analyzer],
                        "same_map_as": duplicates.get(analyzer, ""),
                        "aopc_minus_random": versus.mean,
                        "aopc_minus_random_ci_low": versus.low,
                        "aopc_minus_random_ci_high": versus.high,
                        "p_vs_random": p,
                    }
                )
    table = pd.DataFrame(rows)
    # Each order's family: the model's analyzers (NaN, the random order, is no test).
    family = table.groupby([*MODEL_KEYS, "order"], sort=False)["p_vs_random"]
    table["p_vs_random_holm"] = family.transform(holm)
    first_seen = {c: list(dict.fromkeys(table[c])) for c in (*MODEL_KEYS, "analyzer", "order")}
    return table.sort_values(
        list(first_seen), key=lambda c: c.map(first_seen[c.name].index), ignore_index=True
    )


def aopc_pairwise(per_image: pd.DataFrame, order: str = "morf", *, alpha: float) -> pd.DataFrame:
    """Per model, every unordered analyzer pair (a, b) compared image by image.

    `signed_rank_test` of a - b gives the statistic, p and the effect size (< 0: a better);
    p_holm adjusts p over all pairs of the model; `better` is the analyzer with the
    lower mean AOPC when p_holm < alpha, else "".
    """
    require_order(per_image, order)
    rows = []
    for model in models_of(per_image):
        matrix = image_matrix(per_image, model, order)
        for a, b in itertools.combinations(matrix.columns, 2):
            statistic, p, effect = signed_rank_test(matrix[a].to_numpy(), matrix[b].to_numpy())
            rows.append(
                {
                    **model,
                    "order": order,
                    "analyzer_a": a,
                    "analyzer_b": b,
                    "n_images": len(matrix),
                    "aopc_mean_a": matrix[a].mean(),
                    "aopc_mean_b": matrix[b].mean(),
                    "wilcoxon_statistic": statistic,
                    "p": p,
                    "effect_size": effect,
                }
            )
    table = pd.DataFrame(rows, columns=[c for c in PAIRWISE_COLUMNS if c not in DERIVED])
    table["p_holm"] = table.groupby(MODEL_KEYS, sort=False)["p"].transform(holm)
    a_lower = table["aopc_mean_a"] <= table["aopc_mean_b"]
    lower_mean = table["analyzer_a"].where(a_lower, table["analyzer_b"])
    table["better"] = lower_mean.where(table["p_holm"] < alpha, "")
    return table[PAIRWISE_COLUMNS]


def friedman(per_image: pd.DataFrame, order: str = "morf") -> pd.DataFrame:
    """Per model: Friedman's test that the distinct analyzers rank alike on the same images.

    The omnibus test the pairwise comparisons and the critical-difference diagram follow
    (Demšar 2006); it needs at least three distinct analyzers (NaN otherwise). A duplicate
    (`duplicate_analyzers`) is left out: its ties with the analyzer it repeats are no
    evidence about the analyzers, yet they would change the statistic.
    """
    require_order(per_image, order)
    rows = []
    for model in models_of(per_image):
        matrix = image_matrix(per_image, model, order)
        duplicates = duplicate_analyzers(matrix)
        distinct = matrix.drop(columns=list(duplicates))
        statistic = p = np.nan
        if distinct.shape[1] >= 3:
            result = scipy_stats.friedmanchisquare(*distinct.to_numpy().T)
            statistic, p = float(result.statistic), float(result.pvalue)
        rows.append(
            {
                **model,
                "order": order,
                "n_images": matrix.shape[0],
                "n_analyzers": matrix.shape[1],
                "n_distinct": distinct.shape[1],
                "duplicates": describe_duplicates(duplicates),
                "statistic": statistic,
                "p": p,
            }
        )
    return pd.DataFrame(rows)


def write_statistics(
    pair_files: list[str],
    stats_path: str,
    pairwise_path: str,
    friedman_path: str,
    *,
    bootstrap_samples: int,
    confidence: float,
    alpha: float,
    seed: int,
    order: str = "morf",
) -> None:
    """aopc_stats.csv, aopc_pairwise.csv and aopc_friedman.csv from the pair AOPC files."""
    per_image = read_aopc_per_image(pair_files)
    require_order(per_image, order)  # before the bootstrap, not after
    stats = aopc_stats(per_image, confidence=confidence, n_resamples=bootstrap_samples, seed=seed)
    pairs = aopc_pairwise(per_image, order, alpha=alpha)
    tests = friedman(per_image, order)
    for frame, path in ((stats, stats_path), (pairs, pairwise_path), (tests, friedman_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")  # p-values need the exponent
    log.info("Friedman's test (%s AOPC):\n%s", order, tests.to_string(index=False))
    found = pairs[pairs["better"] != ""]
    log.info(
        "%d of %d analyzer pairs differ (Wilcoxon, Holm-adjusted alpha=%g):\n%s",
        len(found),
        len(pairs),
        alpha,
        found[[*MODEL_KEYS, "better", "analyzer_a", "analyzer_b", "p_holm"]].to_string(index=False),
    )
