"""One scorecard: every view of an analyzer side by side, with pass/fail flags.

Per model (backbone x loss) x analyzer (`results/scorecard.csv`):

* faithfulness: MoRF AOPC with its CI, the paired difference to the random
  order with its CI, its Wilcoxon p and Holm's adjustment over the model's
  analyzers, and `beats_random` when the adjusted p < `statistics.alpha` and the
  difference is negative (the analyzer's ranking hurts the model significantly
  more than random regions, after testing ~9 analyzers at once; the raw CI is
  kept beside it); MoRF minus LeRF AOPC where LeRF was computed; `same_map_as`,
  the analyzer whose MoRF AOPCs this one repeats on every image (hcxai.stats.inference);
* per fold (images are pooled over one separately trained model per fold, and the
  folds' models differ): the smallest and largest per-fold mean of MoRF AOPC minus
  random, `beats_random_every_fold` when every fold's mean difference is negative,
  and the same for skull focus minus the edge detector (`beats_edge_detector_every_fold`
  when every fold's is positive). Descriptive consistency flags, no test: a fold has
  ~1/3 of the images;
* localization: skull focus with its CI (1 = a map that ignores the image), the
  edge detector's (a Sobel map of the input, no model) and the paired difference
  to it with its CI and Wilcoxon p, and `beats_edge_detector` when that p, Holm-adjusted
  over the model's analyzers, is below `statistics.alpha` and the difference positive;
* faithfulness across imputations: `faithful_across_imputations` when the analyzer
  beats the random order (Wilcoxon, Holm-adjusted over the model's analyzers) under
  every scored imputation x measure, and in how many of them it does
  (hcxai.evaluate.faithfulness.across_imputations);
* sanity: the rank correlation of |map| with the trained map after full
  randomisation, with its CI, the method's floor (its trained maps of different
  images), the excess over the floor with its CI and the images it rests on, the
  verdict (passes / fails / undetermined) and `survives_randomisation` for a
  pass (hcxai.evaluate.randomisation.similarity); the same for the model trained on shuffled HC
  targets
  (Adebayo et al.'s data randomisation): its maps' similarity to the trained maps, the
  excess over the floor with its CI, the verdict and `survives_data_randomisation`;
* localization against the model's own randomisation: the skull focus of the fully
  randomised network's maps (the sanity images, one fold), the paired difference
  trained minus randomised with its Student-t CI and Wilcoxon p, and
  `beats_randomised_model` when that p, Holm-adjusted over the model's analyzers, is
  below alpha and the difference positive: the skull focus was learned, not built in;
* the registered map metrics (hcxai.evaluate.registry: complexity, robustness, ...), each
  from results/map_metrics.csv: its mean with the CI, and `{metric}_better_than_edge` /
  `{metric}_better_than_random` (Holm over the model's analyzers, on the metric's better
  side); the columns come from the registry, in its order, after all the above.

`results/ranking_agreement.csv`: per model and imputation x measure, Kendall's tau
between the analyzers ranked by mean MoRF AOPC (lower better) and by mean skull focus
(higher better): do the two views agree on which method to trust, whichever way regions
are removed? Over the distinct explanation methods only: a duplicate map (LRP-z =
Input x Gradient) would count one opinion twice, and the random map is a control, not a
method. The CI resamples images (fold, image_id) and recomputes both means and tau; no
p-value, since scipy's treats the ~7 analyzers as a random sample of analyzers, which
they are not (they are the fixed set compared), while the images are a sample.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.keys import IMAGE, MODEL_KEYS, model_label, models_of, of_model
from hcxai.evaluate.faithfulness.across_imputations import CONDITION, read_aopc_per_imputation
from hcxai.evaluate.faithfulness.across_imputations import TABLE as FAITHFULNESS
from hcxai.evaluate.faithfulness.aopc import read_aopc_per_image
from hcxai.evaluate.faithfulness.aopc_statistics import STATS_TABLE, describe_duplicates
from hcxai.evaluate.localization.skull import SUMMARY as LOCALIZATION
from hcxai.evaluate.localization.skull import read_scores
from hcxai.evaluate.map_metrics import BASELINES, EDGE
from hcxai.evaluate.map_metrics import SUMMARY_TABLE as MAP_METRICS
from hcxai.evaluate.registry import METRICS
from hcxai.explain.analyzers import PAPER_ORDER, paper_order
from hcxai.stats.inference import beats_random, holm, image_bootstrap, significantly_better

log = logging.getLogger(__name__)

KEYS = [*MODEL_KEYS, "analyzer"]


def _faithfulness(aopc_stats: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """MoRF AOPC, its difference to the random order, and MoRF - LeRF, per model x analyzer."""
    by_order = aopc_stats.set_index([*KEYS, "order"])
    if "morf" not in by_order.index.get_level_values("order"):
        raise InputError("aopc_stats.csv has no MoRF rows; add morf to perturbation.orders")
    morf = by_order.xs("morf", level="order")
    card = pd.DataFrame(
        {
            "aopc_morf": morf["aopc_mean"],
            "aopc_morf_ci_low": morf["aopc_ci_low"],
            "aopc_morf_ci_high": morf["aopc_ci_high"],
            "aopc_minus_random": morf["aopc_minus_random"],
            "aopc_minus_random_ci_low": morf["aopc_minus_random_ci_low"],
            "aopc_minus_random_ci_high": morf["aopc_minus_random_ci_high"],
            "p_vs_random": morf["p_vs_random"],
            "p_vs_random_holm": morf["p_vs_random_holm"],
            "same_map_as": morf["same_map_as"],
        }
    )
    lerf = (
        by_order.xs("lerf", level="order")["aopc_mean"]
        if "lerf" in by_order.index.get_level_values("order")
        else pd.Series(np.nan, index=morf.index)
    )
    card["morf_minus_lerf"] = morf["aopc_mean"] - lerf.reindex(morf.index)
    card["beats_random"] = beats_random(card["p_vs_random_holm"], card["aopc_minus_random"], alpha)
    return card


def _localization(localization: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Skull focus, the edge detector's, and the paired difference to it, with CIs and
    the Wilcoxon p against it (raw and Holm-adjusted over the model's analyzers)."""
    columns = ["skull_focus", "edge_skull_focus", "skull_focus_minus_edge"]
    columns = [f"{c}_{part}" for c in columns for part in ("mean", "ci_low", "ci_high")]
    columns += ["p_vs_edge", "p_vs_edge_holm"]
    card = localization.set_index(KEYS)[columns].rename(columns=lambda c: c.replace("_mean", ""))
    # A map that follows the input's edges scores well above 1 without a model.
    card["beats_edge_detector"] = significantly_better(
        card["p_vs_edge_holm"], card["skull_focus_minus_edge"], alpha
    )
    return card


def _across_imputations(faithfulness: pd.DataFrame) -> pd.DataFrame:
    """Beats random under every imputation x measure, and under how many of them."""
    beats = faithfulness.groupby(KEYS, sort=False)["beats_random"]
    return pd.DataFrame(
        {
            "conditions_beating_random": beats.sum().astype(int),
            "conditions_scored": beats.size(),
            "faithful_across_imputations": beats.all(),
        }
    )


def _fold_range(difference: pd.Series, name: str) -> tuple[pd.DataFrame, pd.Series]:
    """The smallest and largest per-fold mean of a per-image `difference` (indexed by
    model x analyzer x fold x ...) per model x analyzer, and the per-fold means."""
    by_fold = difference.groupby([*KEYS, "fold"], sort=False).mean()
    folds = by_fold.groupby(KEYS, sort=False)
    extremes = pd.DataFrame({f"{name}_min_fold": folds.min(), f"{name}_max_fold": folds.max()})
    return extremes, by_fold


def per_fold(pairs: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per model x analyzer: the range over folds of the mean MoRF AOPC minus random and of
    the mean skull focus minus the edge detector, and whether every fold's is better.

    Why: the images are pooled over three separately trained models, one per fold, and
    a pooled mean can hide a fold whose model says the opposite. Strict: a fold at exactly
    0, or without a value (NaN), does not count as better.
    """
    aopc = pairs.set_index([*KEYS, *IMAGE, "order"])["aopc"]
    morf = aopc.xs("morf", level="order")
    random = (
        aopc.xs("random", level="order")
        if "random" in set(pairs["order"])
        else pd.Series(np.nan, index=morf.index)
    )
    aopc_range, aopc_folds = _fold_range(morf - random.reindex(morf.index), "aopc_minus_random")
    scores = scores.set_index([*KEYS, *IMAGE])
    edge = scores["skull_focus"] - scores["edge_skull_focus"]
    edge_range, edge_folds = _fold_range(edge, "skull_focus_minus_edge")
    return (
        aopc_range.assign(beats_random_every_fold=(aopc_folds < 0).groupby(KEYS, sort=False).all())
        .join(edge_range)
        .assign(beats_edge_detector_every_fold=(edge_folds > 0).groupby(KEYS, sort=False).all())
    )


def _sanity(sanity: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The fully randomised stage of each model x analyzer: its similarity to the trained
    maps against the floor, and the skull focus the trained maps lose to it (Holm over
    the model's analyzers)."""
    from hcxai.evaluate.randomisation.similarity import fully_randomised  # scikit-image: only here

    last = fully_randomised(sanity).set_index(KEYS)
    p_holm = last.groupby(MODEL_KEYS, sort=False)["skull_focus_lost_p"].transform(holm)
    return pd.DataFrame(
        {
            "randomised_spearman_abs": last["spearman_abs_mean"],
            "randomised_spearman_abs_ci_low": last["spearman_abs_ci_low"],
            "randomised_spearman_abs_ci_high": last["spearman_abs_ci_high"],
            "randomisation_floor": last["floor_mean"],
            "randomisation_excess": last["excess_mean"],
            "randomisation_excess_ci_low": last["excess_ci_low"],
            "randomisation_excess_ci_high": last["excess_ci_high"],
            "randomisation_n": last["excess_n"],
            "randomisation_verdict": last["verdict"],
            # Only a determined pass counts: mostly blank randomised maps say nothing.
            "survives_randomisation": last["verdict"] == "passes",
            "permuted_labels_spearman_abs": last["permuted_spearman_abs_mean"],
            "permuted_labels_excess": last["permuted_excess_mean"],
            "permuted_labels_excess_ci_low": last["permuted_excess_ci_low"],
            "permuted_labels_excess_ci_high": last["permuted_excess_ci_high"],
            "permuted_labels_n": last["permuted_excess_n"],
            "data_randomisation_verdict": last["data_randomisation_verdict"],
            "survives_data_randomisation": last["data_randomisation_verdict"] == "passes",
            "randomised_skull_focus": last["skull_focus_mean"],
            "randomised_rank_accuracy": last["rank_accuracy_mean"],
            "randomised_positive_inside_head": last["positive_inside_head_mean"],
            "skull_focus_minus_randomised": last["skull_focus_lost_mean"],
            "skull_focus_minus_randomised_ci_low": last["skull_focus_lost_ci_low"],
            "skull_focus_minus_randomised_ci_high": last["skull_focus_lost_ci_high"],
            "p_vs_randomised": last["skull_focus_lost_p"],
            "p_vs_randomised_holm": p_holm,
            "beats_randomised_model": significantly_better(
                p_holm, last["skull_focus_lost_mean"], alpha
            ),
        }
    )


def _map_metrics(summary: pd.DataFrame) -> pd.DataFrame:
    """Each registered metric's columns (`MapMetric.scorecard_columns`), per model x analyzer,
    in the registry's order; none without a map_metrics.csv (`metrics: []`)."""
    summary = summary[summary["analyzer"] != EDGE]
    columns = []
    for name, entry in METRICS.items():
        rows = summary[summary["metric"] == name].set_index(KEYS)
        if rows.empty:
            continue
        values = [rows["mean"], rows["ci_low"], rows["ci_high"]]
        values += [rows[f"better_than_{baseline}"] for baseline in BASELINES]
        columns += [
            value.rename(column)
            for value, column in zip(values, entry.scorecard_columns, strict=True)
        ]
    return (
        pd.concat(columns, axis=1)
        if columns
        else pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=KEYS))
    )


def scorecard(
    aopc_stats: pd.DataFrame,
    localization: pd.DataFrame,
    sanity: pd.DataFrame,
    faithfulness: pd.DataFrame,
    folds: pd.DataFrame,
    map_metrics: pd.DataFrame | None = None,
    *,
    alpha: float,
) -> pd.DataFrame:
    """The views joined per model x analyzer: models as in aopc_stats.csv, analyzers
    in the paper's order; `folds` from `per_fold`; `alpha` the level of the Holm-adjusted
    test against random; `map_metrics` results/map_metrics.csv (None: no metric ran)."""
    card = (
        _faithfulness(aopc_stats, alpha)
        .join(folds)
        .join(_across_imputations(faithfulness))
        .join(_localization(localization, alpha))
        .join(_sanity(sanity, alpha))
    )
    if map_metrics is not None:
        card = card.join(_map_metrics(map_metrics))
    card = card.reset_index()
    first_seen = {key: list(dict.fromkeys(aopc_stats[key])) for key in MODEL_KEYS}
    first_seen["analyzer"] = PAPER_ORDER
    return card.sort_values(KEYS, key=lambda c: c.map(first_seen[c.name].index), ignore_index=True)


AGREEMENT_COLUMNS = [
    *MODEL_KEYS,
    *CONDITION,
    "n_images",
    "n_analyzers",
    "duplicates",
    "kendall_tau",
    "kendall_tau_ci_low",
    "kendall_tau_ci_high",
]


def ranking_agreement(
    aopc: pd.DataFrame,
    focus: pd.DataFrame,
    duplicates: dict[str, str],
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> dict[str, float | int | str]:
    """One model: Kendall's tau of the analyzers ranked by mean MoRF AOPC (lower better)
    and by mean skull focus, with a bootstrap-over-images CI; `aopc` and `focus` are
    images x analyzers. Over the distinct explanation methods: not the `duplicates`
    (copy -> the analyzer it repeats) nor the random map (a control).

    tau is +1 when the best by AOPC is the most focused; NaN with fewer than 3 methods.
    """
    if set(aopc.index) != set(focus.index):
        odd = sorted(set(aopc.index) ^ set(focus.index))[:3]
        raise InputError(
            f"the AOPC and localization files cover different images (e.g. fold, image "
            f"{odd}): rerun both from the same saliency files"
        )
    methods = [
        a
        for a in paper_order(aopc.columns)
        if a in focus.columns and a not in duplicates and a != "random"
    ]
    images = list(aopc.index)
    # images x (AOPC, -skull focus) x methods: tau of the two means per resample.
    cube = np.stack([aopc.loc[images, methods], -focus.loc[images, methods]], axis=1)

    def tau(means: np.ndarray) -> float:
        return float(scipy_stats.kendalltau(means[0], means[1]).statistic)

    enough = len(methods) >= 3
    low, high = (
        image_bootstrap(cube, tau, confidence=confidence, n_resamples=n_resamples, seed=seed)
        if enough
        else (np.nan, np.nan)
    )
    return {
        "n_images": len(images),
        "n_analyzers": len(methods),
        "duplicates": describe_duplicates(duplicates),
        "kendall_tau": tau(np.nanmean(cube, axis=0)) if enough else np.nan,
        "kendall_tau_ci_low": low,
        "kendall_tau_ci_high": high,
    }


def ranking_agreement_by_imputation(
    imputations: pd.DataFrame,
    scores: pd.DataFrame,
    card: pd.DataFrame,
    *,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """`ranking_agreement` per model with each imputation x measure's per-image MoRF AOPC
    (`imputations`, rule aopc_per_image's third files; Table 1's condition first) against the
    per-image skull focus (`scores`): does AOPC's disagreement or agreement with skull
    focus survive the imputation? Duplicates are the card's `same_map_as` (Table 1's)."""
    boot = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for model in models_of(imputations):
        same = of_model(card, model).set_index("analyzer")["same_map_as"]
        duplicates = same[same != ""].to_dict()
        focus = of_model(scores, model).pivot(index=IMAGE, columns="analyzer", values="skull_focus")
        morf = of_model(imputations, model)
        morf = morf[morf["order"] == "morf"]
        for condition, rows_of in morf.groupby(CONDITION, sort=False):
            aopc = rows_of.pivot(index=IMAGE, columns="analyzer", values="aopc")
            where = dict(zip(CONDITION, condition, strict=True))
            try:
                agreement = ranking_agreement(aopc, focus, duplicates, **boot)
            except InputError as error:
                raise InputError(f"{model_label(model)}: {error}") from None
            rows.append({**model, **where, **agreement})
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def read_summaries(
    stats_path: str,
    localization_path: str,
    sanity_path: str,
    faithfulness_path: str,
    metrics_path: str | None = None,
) -> list[pd.DataFrame]:
    """aopc_stats.csv, localization.csv, sanity.csv, faithfulness.csv and map_metrics.csv
    (when given), checked: the same model x analyzer pairs in all (else a join would hide a
    gap as NaN)."""
    from hcxai.evaluate.randomisation.similarity import SUMMARY_TABLE  # scikit-image: only here

    stats = read_table(stats_path, STATS_TABLE, rule="aopc_statistics", unique=[*KEYS, "order"])
    expected = _pairs_of(stats)
    frames = [stats]
    for path, columns, rule, unique in (
        (localization_path, LOCALIZATION, "localization_summary", KEYS),
        (sanity_path, SUMMARY_TABLE, "sanity_summary", [*KEYS, "stage"]),
        (faithfulness_path, FAITHFULNESS, "faithfulness", [*KEYS, *CONDITION]),
        *(
            [(metrics_path, MAP_METRICS, "map_metric_summary", [*KEYS, "metric"])]
            if metrics_path
            else []
        ),
    ):
        frame = read_table(path, columns, rule=rule, unique=unique)
        found = _pairs_of(frame[frame["analyzer"] != EDGE])
        if found != expected:
            odd = sorted(found ^ expected)[:3]
            what = f"covers other model x analyzer pairs than {stats_path} (e.g. {odd})"
            raise damaged_file(path, what, rule)
        frames.append(frame)
    return frames


def _pairs_of(frame: pd.DataFrame) -> set[tuple[str, ...]]:
    return set(frame[KEYS].itertuples(index=False, name=None))


def read_per_image(
    expected: set[tuple[str, ...]],
    pair_files: list[str],
    imputation_files: list[str],
    score_files: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Table 1's pair AOPC files, the per-imputation ones and the per-image localization
    files, checked: each covers the `expected` model x analyzer pairs of aopc_stats.csv."""
    frames = (
        read_aopc_per_image(pair_files),
        read_aopc_per_imputation(imputation_files),
        read_scores(score_files),
    )
    for frame, files, rule in zip(
        frames,
        (pair_files, imputation_files, score_files),
        ("aopc_per_image", "aopc_per_image", "localization"),
        strict=True,
    ):
        if _pairs_of(frame) != expected:
            odd = sorted(_pairs_of(frame) ^ expected)[:3]
            raise InputError(
                f"the per-image files of rule {rule} ({files[0]}, ...) cover other model x "
                f"analyzer pairs than aopc_stats.csv (e.g. {odd}); rerun the workflow"
            )
    return frames


def write_scorecard(
    stats_path: str,
    localization_path: str,
    sanity_path: str,
    faithfulness_path: str,
    pair_files: list[str],
    imputation_files: list[str],
    score_files: list[str],
    card_path: str,
    agreement_path: str,
    metrics_path: str | None = None,
    *,
    alpha: float,
    confidence: float,
    bootstrap_samples: int,
    seed: int,
) -> None:
    """results/scorecard.csv and results/ranking_agreement.csv from the summaries and
    the per-image files (per-fold values, and tau's image bootstrap)."""
    summaries = read_summaries(
        stats_path, localization_path, sanity_path, faithfulness_path, metrics_path
    )
    pairs, imputations, scores = read_per_image(
        _pairs_of(summaries[0]), pair_files, imputation_files, score_files
    )
    card = scorecard(*summaries[:4], per_fold(pairs, scores), *summaries[4:], alpha=alpha)
    agreement = ranking_agreement_by_imputation(
        imputations, scores, card, confidence=confidence, n_resamples=bootstrap_samples, seed=seed
    )
    for frame, path in ((card, card_path), (agreement, agreement_path)):
        with atomic_output(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    shown = [*KEYS, "aopc_morf", "beats_random", "beats_random_every_fold"]
    shown += ["faithful_across_imputations", "skull_focus", "beats_edge_detector"]
    shown += ["beats_edge_detector_every_fold", "beats_randomised_model", "survives_randomisation"]
    shown += ["survives_data_randomisation"]
    log.info("scorecard:\n%s", card[shown].to_string(index=False))
    log.info("ranking agreement (Kendall's tau):\n%s", agreement.to_string(index=False))
