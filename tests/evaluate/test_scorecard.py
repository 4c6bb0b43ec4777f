"""The scorecard joins the three views and sets its flags as documented; oracles by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from hcxai.core.io import InputError
from hcxai.core.keys import IMAGE
from hcxai.evaluate.faithfulness.aopc import summarise
from hcxai.evaluate.faithfulness.aopc_statistics import PER_IMAGE_COLUMNS, aopc_stats
from hcxai.evaluate.scorecard import (
    per_fold,
    ranking_agreement,
    ranking_agreement_by_imputation,
    scorecard,
)

ANALYZERS = ["gradient", "smoothgrad", "lrp", "random"]
ALPHA = 0.05
# Hand-made summaries: MoRF AOPC, its difference to random (CI) and Holm-adjusted
# Wilcoxon p, skull focus, and the randomised similarity. gradient: best AOPC, beats
# random, most focused, survives.
AOPC = {"gradient": -9.0, "smoothgrad": -7.0, "lrp": -5.0, "random": -2.0}
MINUS_RANDOM_CI = {
    "gradient": (-8.0, -6.0),
    "smoothgrad": (-6.0, -1.0),  # the raw CI excludes 0, but not after Holm (below)
    "lrp": (-4.0, 0.5),  # the CI reaches 0: not significant
    "random": (-1.0, 1.0),
}
P_HOLM = {"gradient": 0.001, "smoothgrad": 0.08, "lrp": 0.3, "random": 0.9}
FOCUS = {"gradient": 3.0, "smoothgrad": 2.0, "lrp": 1.5, "random": 1.0}
# The edge detector's skull focus on the same images, and the CI half-width of the
# paired difference: gradient and smoothgrad beat it, lrp's CI contains 0.
EDGE_FOCUS, EDGE_HALF_WIDTH = 1.6, 0.2
# The Holm-adjusted Wilcoxon p against the edge detector: smoothgrad's CI lies above 0,
# but its adjusted p does not reach alpha (0.05).
P_EDGE_HOLM = {"gradient": 0.002, "smoothgrad": 0.12, "lrp": 0.6, "random": 0.9}
RANDOMISED = {"gradient": 0.1, "smoothgrad": 0.2, "lrp": 0.3, "random": 1.0}
VERDICT = {"gradient": "passes", "smoothgrad": "passes", "lrp": "undetermined", "random": "fails"}
# The permuted-label model's similarity and verdict: they differ from the cascade's.
PERMUTED = {"gradient": 0.9, "smoothgrad": 0.25, "lrp": 0.5, "random": 1.0}
PERMUTED_VERDICT = {"gradient": "fails", "smoothgrad": "passes", "lrp": "passes", "random": "fails"}
# Skull focus of the fully randomised network's maps and the raw Wilcoxon p of what the
# trained maps lose to it; Holm over the 4 analyzers by hand: 0.004, 0.12, 0.6, 1.0.
RANDOMISED_FOCUS = {"gradient": 1.2, "smoothgrad": 1.9, "lrp": 1.6, "random": 1.0}
P_LOST = {"gradient": 0.001, "smoothgrad": 0.04, "lrp": 0.3, "random": 1.0}
P_LOST_HOLM = {"gradient": 0.004, "smoothgrad": 0.12, "lrp": 0.6, "random": 1.0}


def stats_table(backbone="vgg16", with_lerf=True, loss="mae"):
    model = {"backbone": backbone, "loss": loss}
    rows = []
    for a in ANALYZERS:
        low, high = MINUS_RANDOM_CI[a]
        rows.append(
            {
                "backbone": backbone,
                "loss": loss,
                "analyzer": a,
                "order": "morf",
                "aopc_mean": AOPC[a],
                "aopc_ci_low": AOPC[a] - 1,
                "aopc_ci_high": AOPC[a] + 1,
                "aopc_minus_random": (low + high) / 2,
                "aopc_minus_random_ci_low": low,
                "aopc_minus_random_ci_high": high,
                "p_vs_random": P_HOLM[a] / 4,
                "p_vs_random_holm": P_HOLM[a],
                "same_map_as": "",
            }
        )
        if with_lerf:
            rows.append({**model, "analyzer": a, "order": "lerf", "aopc_mean": 1.0})
        rows.append({**model, "analyzer": a, "order": "random", "aopc_mean": -2.0})
    return pd.DataFrame(rows)


def localization_table(backbone="vgg16", focus=FOCUS, loss="mae"):
    return pd.DataFrame(
        [
            {
                "backbone": backbone,
                "loss": loss,
                "analyzer": a,
                "skull_focus_mean": focus[a],
                "skull_focus_ci_low": focus[a] - 0.1,
                "skull_focus_ci_high": focus[a] + 0.1,
                "edge_skull_focus_mean": EDGE_FOCUS,
                "edge_skull_focus_ci_low": EDGE_FOCUS - 0.1,
                "edge_skull_focus_ci_high": EDGE_FOCUS + 0.1,
                "skull_focus_minus_edge_mean": focus[a] - EDGE_FOCUS,
                "skull_focus_minus_edge_ci_low": focus[a] - EDGE_FOCUS - EDGE_HALF_WIDTH,
                "skull_focus_minus_edge_ci_high": focus[a] - EDGE_FOCUS + EDGE_HALF_WIDTH,
                "p_vs_edge": P_EDGE_HOLM[a] / 4,
                "p_vs_edge_holm": P_EDGE_HOLM[a],
            }
            for a in ANALYZERS
        ]
    )


def sanity_table(backbone="vgg16", loss="mae"):
    rows = []
    for a in ANALYZERS:
        for stage, value in ((0, 1.0), (1, 0.7), (2, RANDOMISED[a])):
            rows.append(
                {
                    "backbone": backbone,
                    "loss": loss,
                    "analyzer": a,
                    "stage": stage,
                    "spearman_abs_mean": value,
                    "spearman_abs_ci_low": value - 0.05,
                    "spearman_abs_ci_high": value + 0.05,
                    "floor_mean": 0.3,
                    "excess_mean": value - 0.3,
                    "excess_ci_low": value - 0.4,
                    "excess_ci_high": value - 0.2,
                    "excess_n": 16,
                    "verdict": VERDICT[a],
                    "skull_focus_mean": FOCUS[a] if stage < 2 else RANDOMISED_FOCUS[a],
                    "skull_focus_lost_mean": 0.0 if stage < 2 else FOCUS[a] - RANDOMISED_FOCUS[a],
                    "skull_focus_lost_ci_low": -0.1,
                    "skull_focus_lost_ci_high": 2.0,
                    "skull_focus_lost_p": np.nan if stage == 0 else P_LOST[a],
                    "rank_accuracy_mean": 0.5 - 0.1 * stage,
                    "positive_inside_head_mean": 0.9 - 0.1 * stage,
                    # One value per file, repeated on every stage row.
                    "permuted_spearman_abs_mean": PERMUTED[a],
                    "permuted_excess_mean": PERMUTED[a] - 0.3,
                    "permuted_excess_ci_low": PERMUTED[a] - 0.4,
                    "permuted_excess_ci_high": PERMUTED[a] - 0.2,
                    "permuted_excess_n": 15,
                    "data_randomisation_verdict": PERMUTED_VERDICT[a],
                }
            )
    return pd.DataFrame(rows)


# Per imputation x measure: MoRF AOPC and whether the analyzer beats random (Holm). Under
# road/error_px the AOPC order is reversed, and smoothgrad no longer beats random.
CONDITIONS = {
    ("gaussian_add", "error_px"): (AOPC, {"gradient", "smoothgrad"}),
    ("road", "error_px"): (
        dict(zip(ANALYZERS, reversed(list(AOPC.values())), strict=True)),
        {"gradient"},
    ),
}


def faithfulness_table(backbone="vgg16", loss="mae"):
    return pd.DataFrame(
        [
            {
                "backbone": backbone,
                "loss": loss,
                "imputation": imputation,
                "measure": measure,
                "analyzer": a,
                "aopc_morf": aopc[a],
                "beats_random": a in beating,
            }
            for (imputation, measure), (aopc, beating) in CONDITIONS.items()
            for a in ANALYZERS
        ]
    )


def fold_frames(
    aopc: dict[str, dict[int, list[float]]],
    edge: dict[str, dict[int, list[float]]],
    backbone: str = "vgg16",
    loss: str = "mae",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image pair AOPCs and localization scores of images in folds: analyzer -> fold ->
    per-image MoRF minus random AOPC (random = -image number), and skull focus minus edge
    (edge = 1.5)."""
    pairs, scores = [], []
    for a, folds in aopc.items():
        for fold, differences in folds.items():
            for i, d in enumerate(differences):
                image = (backbone, loss, a, fold, f"{fold}{i:02d}_HC")
                pairs += [(*image, "morf", -i + d), (*image, "random", float(-i))]
    for a, folds in edge.items():
        for fold, differences in folds.items():
            for i, d in enumerate(differences):
                scores.append((backbone, loss, a, fold, f"{fold}{i:02d}_HC", 1.5 + d, 1.5))
    columns = [*PER_IMAGE_COLUMNS[:5], "skull_focus", "edge_skull_focus"]
    return pd.DataFrame(pairs, columns=PER_IMAGE_COLUMNS), pd.DataFrame(scores, columns=columns)


def folds_table(backbone="vgg16", loss="mae"):
    """Every analyzer better than random and the edge detector in both folds."""
    by_fold = {a: {0: [-1.0, -2.0], 1: [-3.0]} for a in ANALYZERS}
    edge = {a: {0: [0.5, 0.1], 1: [0.2]} for a in ANALYZERS}
    return per_fold(*fold_frames(by_fold, edge, backbone, loss))


def card_of(stats=None, localization=None, sanity=None, faithfulness=None, folds=None, alpha=ALPHA):
    return scorecard(
        stats_table() if stats is None else stats,
        localization_table() if localization is None else localization,
        sanity_table() if sanity is None else sanity,
        faithfulness_table() if faithfulness is None else faithfulness,
        folds_table() if folds is None else folds,
        alpha=alpha,
    )


def test_faithful_across_imputations_needs_a_win_under_every_condition():
    card = card_of().set_index("analyzer")
    assert card["faithful_across_imputations"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,  # beats random under additive noise only
        "lrp": False,
        "random": False,
    }
    assert card["conditions_beating_random"].to_dict() == {
        "gradient": 2,
        "smoothgrad": 1,
        "lrp": 0,
        "random": 0,
    }
    assert set(card["conditions_scored"]) == {2}


def test_flags_and_values_follow_the_definitions():
    card = card_of().set_index("analyzer")
    # smoothgrad's raw CI lies below 0, but its Holm-adjusted p is 0.08: no flag.
    assert card["beats_random"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,
        "lrp": False,
        "random": False,
    }
    assert card.loc["smoothgrad", "aopc_minus_random_ci_high"] == -1.0  # the raw CI is kept
    assert card.loc["smoothgrad", "p_vs_random_holm"] == 0.08
    assert card.loc["smoothgrad", "p_vs_random"] == 0.02
    assert card["beats_edge_detector"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,  # 2.0 - 1.6 +- 0.2 lies above 0, but Holm's p is 0.12
        "lrp": False,  # 1.5 - 1.6 +- 0.2: the CI contains 0
        "random": False,
    }
    assert card.loc["smoothgrad", "skull_focus_minus_edge_ci_low"] > 0  # the raw CI is kept
    assert card.loc["smoothgrad", "p_vs_edge"] == pytest.approx(0.03)
    assert card.loc["lrp", "edge_skull_focus"] == EDGE_FOCUS
    # The fully randomised stage: smoothgrad's raw p 0.04 does not survive Holm (0.12).
    assert card["p_vs_randomised_holm"].to_dict() == pytest.approx(P_LOST_HOLM)
    assert card["beats_randomised_model"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,
        "lrp": False,
        "random": False,
    }
    assert card.loc["gradient", "randomised_skull_focus"] == RANDOMISED_FOCUS["gradient"]
    assert card.loc["gradient", "randomised_rank_accuracy"] == pytest.approx(0.3)  # stage 2
    assert card.loc["gradient", "randomised_positive_inside_head"] == pytest.approx(0.7)
    assert card.loc["gradient", "skull_focus_minus_randomised"] == pytest.approx(1.8)
    assert card.loc["gradient", "skull_focus_minus_edge"] == pytest.approx(3.0 - EDGE_FOCUS)
    # An undetermined verdict (constant randomised maps) is no pass.
    assert card["survives_randomisation"].to_dict() == {
        "gradient": True,
        "smoothgrad": True,
        "lrp": False,
        "random": False,
    }
    # The permuted-label model, judged on its own verdict, not the cascade's.
    assert card["survives_data_randomisation"].to_dict() == {
        "gradient": False,
        "smoothgrad": True,
        "lrp": True,
        "random": False,
    }
    assert card.loc["smoothgrad", "permuted_labels_excess"] == pytest.approx(0.25 - 0.3)
    assert card.loc["smoothgrad", "permuted_labels_excess_ci_high"] == pytest.approx(0.05)
    assert card.loc["smoothgrad", "permuted_labels_n"] == 15
    assert card.loc["smoothgrad", "morf_minus_lerf"] == -8.0  # -7 - 1
    assert card.loc["lrp", "skull_focus"] == 1.5
    assert card.loc["gradient", "randomised_spearman_abs"] == 0.1  # the last stage, not stage 1
    assert card.loc["gradient", "randomisation_excess"] == pytest.approx(0.1 - 0.3)
    assert card.loc["gradient", "randomisation_n"] == 16
    assert list(card.index) == ANALYZERS  # the paper's order


def test_beats_random_takes_alpha_from_the_config_and_needs_a_negative_difference():
    assert card_of(alpha=0.1).set_index("analyzer")["beats_random"]["smoothgrad"]
    # Significantly *worse* than random (two-sided test, positive difference): no flag.
    stats = stats_table()
    worse = (stats["analyzer"] == "gradient") & (stats["order"] == "morf")
    stats.loc[worse, ["aopc_minus_random", "aopc_minus_random_ci_low"]] = 3.0, 2.0
    stats.loc[worse, "aopc_minus_random_ci_high"] = 4.0
    assert not card_of(stats=stats).set_index("analyzer")["beats_random"]["gradient"]


def per_image_aopc(differences: dict[str, list[float]]) -> pd.DataFrame:
    """MoRF and random-order AOPCs of 10 images (fold 0): MoRF = random + the difference."""
    random = -np.arange(10.0)
    rows = [
        ("vgg16", "mae", a, 0, f"{i:03d}_HC", order, value)
        for a, d in differences.items()
        for order, values in (("morf", random + np.array(d)), ("random", random))
        for i, value in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)


def test_a_ci_below_zero_is_no_win_when_holm_does_not_flag_it():
    """From per-image AOPCs through aopc_stats to the card. smoothgrad's MoRF is below
    random on 8 of 10 images (the positive differences have signed ranks 1 and 5, T = 6:
    exact two-sided p = 28/1024 = 0.027), so its bootstrap CI lies below 0; gradient is
    below on all (p = 2/1024). Holm over the 4 analyzers: smoothgrad 3 x 0.027 = 0.082."""
    differences = {
        "gradient": [-1, -2, -3, -4, -5, -6, -7, -8, -9, -10],
        "smoothgrad": [1, -2, -3, -4, 5, -6, -7, -8, -9, -10],
        "lrp": [1, -2, 3, -4, 5, -6, 7, -8, 9, -10],
        "random": [-1, 2, -3, 4, -5, 6, -7, 8, -9, 10],
    }
    stats = aopc_stats(per_image_aopc(differences), confidence=0.95, n_resamples=2000, seed=1)
    card = card_of(stats=stats).set_index("analyzer")
    smoothgrad = card.loc["smoothgrad"]
    assert smoothgrad["aopc_minus_random_ci_high"] < 0  # the old flag would say "beats"
    assert smoothgrad["p_vs_random"] == pytest.approx(28 / 1024)
    assert smoothgrad["p_vs_random_holm"] == pytest.approx(3 * 28 / 1024)
    assert card["beats_random"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,
        "lrp": False,
        "random": False,
    }


def test_without_lerf_the_difference_is_missing_not_zero():
    card = card_of(stats=stats_table(with_lerf=False))
    assert card["morf_minus_lerf"].isna().all()


def test_no_morf_rows_is_an_input_error():
    stats = stats_table()
    with pytest.raises(InputError, match=r"add morf to perturbation\.orders"):
        card_of(stats=stats[stats["order"] != "morf"])


# --- ranking agreement over distinct explanation methods, with an image bootstrap -------

BOOT = {"confidence": 0.95, "n_resamples": 1000, "seed": 3}
METHODS = ["gradient", "smoothgrad", "deconvnet", "input_x_gradient", "lrp", "random"]


def image_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Images (fold 0 and 1 alternating) x analyzers."""
    n = len(next(iter(columns.values())))
    index = pd.MultiIndex.from_tuples([(i % 2, f"{i:03d}_HC") for i in range(n)], names=IMAGE)
    return pd.DataFrame(columns, index=index)


def noisy_views(n: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image MoRF AOPC and skull focus of 6 analyzers; lrp repeats input_x_gradient."""
    rng = np.random.default_rng(0)
    aopc = {a: rng.normal(-k, 2.0, n) for k, a in enumerate(METHODS[:4])}
    aopc |= {"lrp": aopc["input_x_gradient"], "random": rng.normal(-9.0, 1.0, n)}
    levels = dict(zip(METHODS[:4], (1.6, 1.0, 1.9, 1.3), strict=True))
    focus = {a: rng.normal(level, 0.5, n) for a, level in levels.items()}
    focus |= {"lrp": focus["input_x_gradient"], "random": rng.normal(0.2, 0.1, n)}
    return image_frame(aopc), image_frame(focus)


def test_tau_is_scipys_over_the_distinct_explanation_methods():
    aopc, focus = noisy_views()
    duplicates = {"lrp": "input_x_gradient"}
    row = ranking_agreement(aopc, focus, duplicates, **BOOT)
    kept = ["gradient", "smoothgrad", "deconvnet", "input_x_gradient"]
    oracle = scipy_stats.kendalltau(aopc[kept].mean(), -focus[kept].mean()).statistic
    assert row["kendall_tau"] == pytest.approx(oracle)
    assert (row["n_analyzers"], row["n_images"]) == (4, 12)
    assert row["duplicates"] == "lrp=input_x_gradient"
    # Counting lrp and the random map changes tau: the old, pooled definition.
    every = scipy_stats.kendalltau(aopc.mean(), -focus.mean()).statistic
    assert every != pytest.approx(oracle)


def test_the_bootstrap_ci_contains_tau_and_is_a_point_when_every_image_agrees():
    aopc, focus = noisy_views()
    row = ranking_agreement(aopc, focus, {}, **BOOT)
    assert row["kendall_tau_ci_low"] <= row["kendall_tau"] <= row["kendall_tau_ci_high"]
    assert row["kendall_tau_ci_low"] < row["kendall_tau_ci_high"]
    # Images differ in scale, but every one orders the analyzers alike in both views: any
    # resample's means keep that order, so tau is the same on every resample.
    scale = np.arange(1.0, 13.0)
    alike = image_frame({a: -(k + 1) * scale for k, a in enumerate(METHODS)})
    focused = image_frame({a: k + scale for k, a in enumerate(METHODS)})  # best = most focused
    point = ranking_agreement(alike, focused, {}, **BOOT)
    assert point["kendall_tau"] == pytest.approx(1.0)
    assert point["kendall_tau_ci_low"] == point["kendall_tau_ci_high"] == pytest.approx(1.0)


def test_aopc_and_localization_on_other_images_is_an_input_error():
    aopc, focus = noisy_views()
    with pytest.raises(InputError, match="cover different images"):
        ranking_agreement(aopc, focus.iloc[1:], {}, **BOOT)


def imputation_rows(aopc: dict[str, float], imputation: str, n: int = 4, **model):
    """MoRF AOPC rows of one condition: each analyzer the same on n images (fold 0)."""
    model = {"backbone": "vgg16", "loss": "mae"} | model
    return pd.DataFrame(
        [
            {**model, "analyzer": a, "imputation": imputation, "measure": "error_px",
             "fold": 0, "image_id": f"{i:03d}_HC", "order": "morf", "aopc": value}
            for a, value in aopc.items()
            for i in range(n)
        ]
    )  # fmt: skip


def focus_rows(focus: dict[str, float], n: int = 4, **model):
    model = {"backbone": "vgg16", "loss": "mae"} | model
    return pd.DataFrame(
        [
            {**model, "analyzer": a, "fold": 0, "image_id": f"{i:03d}_HC", "skull_focus": value}
            for a, value in focus.items()
            for i in range(n)
        ]
    )


def test_ranking_agreement_is_redone_per_imputation_without_the_random_map():
    """Table 1's AOPC order agrees with skull focus; the reversed ROAD order disagrees.
    The random map is the worst by both views, yet it does not count."""
    imputations = pd.concat(
        imputation_rows(aopc, imputation) for (imputation, _), (aopc, _) in CONDITIONS.items()
    )
    agreement = ranking_agreement_by_imputation(imputations, focus_rows(FOCUS), card_of(), **BOOT)
    by_condition = agreement.set_index(["imputation", "measure"])
    assert by_condition["kendall_tau"].to_dict() == pytest.approx(
        {("gaussian_add", "error_px"): 1.0, ("road", "error_px"): -1.0}
    )
    assert (by_condition["n_analyzers"] == 3).all()  # gradient, smoothgrad, lrp
    assert (by_condition["kendall_tau_ci_low"] == by_condition["kendall_tau"]).all()


def test_models_stay_apart():
    """Backbones and losses: each model (backbone x loss) its own rows and its own tau."""
    models = [("vgg16", "mae"), ("vgg16", "huber"), ("resnet50", "mae")]
    reversed_focus = dict(zip(ANALYZERS, sorted(FOCUS.values()), strict=True))
    stats = pd.concat([stats_table(b, loss=loss) for b, loss in models])
    loc = pd.concat([localization_table(b, FOCUS, loss) for b, loss in models])
    san = pd.concat([sanity_table(b, loss) for b, loss in models])
    faithful = pd.concat([faithfulness_table(b, loss) for b, loss in models])
    folds = pd.concat([folds_table(b, loss) for b, loss in models])
    card = scorecard(stats, loc, san, faithful, folds, alpha=ALPHA)
    assert list(dict.fromkeys(zip(card["backbone"], card["loss"], strict=True))) == models
    assert len(card) == 3 * len(ANALYZERS)
    imputations = pd.concat(
        imputation_rows(AOPC, "gaussian_add", backbone=b, loss=loss) for b, loss in models
    )
    scores = pd.concat(
        focus_rows(reversed_focus if loss == "huber" else FOCUS, backbone=b, loss=loss)
        for b, loss in models
    )
    agreement = ranking_agreement_by_imputation(imputations, scores, card, **BOOT)
    assert list(agreement["loss"]) == ["mae", "huber", "mae"]
    assert list(agreement["kendall_tau"]) == pytest.approx([1.0, -1.0, 1.0])


def test_a_duplicate_on_the_card_is_left_out_of_tau():
    """smoothgrad marked as repeating gradient: 2 methods remain, too few for a tau."""
    stats = stats_table()
    stats.loc[(stats["analyzer"] == "smoothgrad") & (stats["order"] == "morf"), "same_map_as"] = (
        "gradient"
    )
    card = card_of(stats=stats)
    agreement = ranking_agreement_by_imputation(
        imputation_rows(AOPC, "gaussian_add"), focus_rows(FOCUS), card, **BOOT
    ).iloc[0]
    assert agreement["n_analyzers"] == 2 and np.isnan(agreement["kendall_tau"])
    assert agreement["duplicates"] == "smoothgrad=gradient"


# --- per-fold consistency ------------------------------------------------------------------


def test_per_fold_ranges_and_flags_by_hand():
    aopc = {
        # folds: -3, -2 -> beats random in every fold
        "gradient": {0: [-2.0, -4.0], 1: [-1.0, -3.0]},
        # pooled (-5 - 7 + 1 + 1) / 4 = -2.5 < 0, but fold 1's mean is +1: no flag
        "smoothgrad": {0: [-5.0, -7.0], 1: [1.0, 1.0]},
        # fold 1's mean is exactly 0: 'negative' is strict, no flag
        "lrp": {0: [-2.0, -4.0], 1: [1.0, -1.0]},
    }
    edge = {
        "gradient": {0: [0.5, 0.3], 1: [0.1, 0.3]},  # 0.4, 0.2
        "smoothgrad": {0: [0.5, 0.5], 1: [-0.2, 0.1]},  # 0.5, -0.05 (pooled +0.225)
        "lrp": {0: [0.5, 0.5], 1: [0.25, -0.25]},  # 0.5, exactly 0
    }
    pairs, scores = fold_frames(aopc, edge)
    folds = per_fold(pairs, scores).reset_index().set_index("analyzer")
    assert folds["aopc_minus_random_min_fold"].to_dict() == {
        "gradient": -3.0,
        "smoothgrad": -6.0,
        "lrp": -3.0,
    }
    assert folds["aopc_minus_random_max_fold"].to_dict() == {
        "gradient": -2.0,
        "smoothgrad": 1.0,
        "lrp": 0.0,
    }
    assert folds["beats_random_every_fold"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,
        "lrp": False,
    }
    assert folds["skull_focus_minus_edge_min_fold"].to_dict() == pytest.approx(
        {"gradient": 0.2, "smoothgrad": -0.05, "lrp": 0.0}
    )
    assert folds["skull_focus_minus_edge_max_fold"].to_dict() == pytest.approx(
        {"gradient": 0.4, "smoothgrad": 0.5, "lrp": 0.5}
    )
    assert folds["beats_edge_detector_every_fold"].to_dict() == {
        "gradient": True,
        "smoothgrad": False,
        "lrp": False,
    }
    # The per-fold AOPC differences are aopc.csv's per-fold rows.
    summary = summarise(pairs)
    per_fold_rows = summary[(summary["order"] == "morf") & (summary["fold"] != "all")]
    extremes = per_fold_rows.groupby("analyzer")["aopc_minus_random"].agg(["min", "max"])
    assert extremes["min"].to_dict() == pytest.approx(folds["aopc_minus_random_min_fold"].to_dict())


def test_a_fold_without_skull_focus_is_no_win_and_the_card_carries_the_flags():
    edge = {"gradient": {0: [0.5, 0.3], 1: [np.nan, np.nan]}}
    pairs, scores = fold_frames({"gradient": {0: [-1.0], 1: [-1.0]}}, edge)
    folds = per_fold(pairs, scores).iloc[0]
    assert folds["skull_focus_minus_edge_max_fold"] == pytest.approx(0.4)
    assert not folds["beats_edge_detector_every_fold"]
    card = card_of().set_index("analyzer")
    assert card["beats_random_every_fold"].all() and card["beats_edge_detector_every_fold"].all()
    assert card.loc["gradient", "aopc_minus_random_max_fold"] == pytest.approx(-1.5)
