"""The scorecard joins the three views and sets its flags as documented; oracles by hand."""

import numpy as np
import pandas as pd
import pytest

from hcxai.io import InputError
from hcxai.scorecard import ranking_agreement, ranking_agreement_by_imputation, scorecard
from hcxai.stats import PAIR_COLUMNS, aopc_stats

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
RANDOMISED = {"gradient": 0.1, "smoothgrad": 0.2, "lrp": 0.3, "random": 1.0}
VERDICT = {"gradient": "passes", "smoothgrad": "passes", "lrp": "undetermined", "random": "fails"}


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


def card_of(stats=None, localization=None, sanity=None, faithfulness=None, alpha=ALPHA):
    return scorecard(
        stats_table() if stats is None else stats,
        localization_table() if localization is None else localization,
        sanity_table() if sanity is None else sanity,
        faithfulness_table() if faithfulness is None else faithfulness,
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


def test_ranking_agreement_is_redone_per_imputation():
    agreement = ranking_agreement_by_imputation(card_of(), faithfulness_table())
    by_condition = agreement.set_index(["imputation", "measure"])["kendall_tau"]
    # Table 1's AOPC agrees with skull focus; the reversed ROAD order disagrees.
    assert by_condition[("gaussian_add", "error_px")] == pytest.approx(1.0)
    assert by_condition[("road", "error_px")] == pytest.approx(-1.0)


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
        "smoothgrad": True,
        "lrp": False,  # 1.5 - 1.6 +- 0.2: the CI contains 0
        "random": False,
    }
    assert card.loc["lrp", "edge_skull_focus"] == EDGE_FOCUS
    assert card.loc["gradient", "skull_focus_minus_edge"] == pytest.approx(3.0 - EDGE_FOCUS)
    # An undetermined verdict (constant randomised maps) is no pass.
    assert card["survives_randomisation"].to_dict() == {
        "gradient": True,
        "smoothgrad": True,
        "lrp": False,
        "random": False,
    }
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
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


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


def test_kendall_tau_is_plus_one_when_both_views_rank_alike_and_minus_one_when_reversed():
    alike = card_of()
    assert ranking_agreement(alike)["kendall_tau"].iloc[0] == pytest.approx(1.0)
    reversed_focus = dict(zip(ANALYZERS, sorted(FOCUS.values()), strict=True))
    opposite = card_of(localization=localization_table(focus=reversed_focus))
    assert ranking_agreement(opposite)["kendall_tau"].iloc[0] == pytest.approx(-1.0)


def test_one_swapped_pair_of_four_gives_tau_two_thirds():
    # 6 pairs, 1 discordant: tau = (5 - 1) / 6.
    swapped = {**FOCUS, "smoothgrad": FOCUS["lrp"], "lrp": FOCUS["smoothgrad"]}
    card = card_of(localization=localization_table(focus=swapped))
    assert ranking_agreement(card)["kendall_tau"].iloc[0] == pytest.approx(4 / 6)


def test_models_stay_apart():
    """Backbones and losses: each model (backbone x loss) its own rows and its own tau."""
    models = [("vgg16", "mae"), ("vgg16", "huber"), ("resnet50", "mae")]
    reversed_focus = dict(zip(ANALYZERS, sorted(FOCUS.values()), strict=True))
    stats = pd.concat([stats_table(b, loss=loss) for b, loss in models])
    loc = pd.concat(
        [
            localization_table(b, reversed_focus if loss == "huber" else FOCUS, loss)
            for b, loss in models
        ]
    )
    san = pd.concat([sanity_table(b, loss) for b, loss in models])
    faithful = pd.concat([faithfulness_table(b, loss) for b, loss in models])
    card = scorecard(stats, loc, san, faithful, alpha=ALPHA)
    assert list(dict.fromkeys(zip(card["backbone"], card["loss"], strict=True))) == models
    assert len(card) == 3 * len(ANALYZERS)
    agreement = ranking_agreement(card)
    assert list(agreement["loss"]) == ["mae", "huber", "mae"]
    assert list(agreement["kendall_tau"]) == pytest.approx([1.0, -1.0, 1.0])


def test_no_morf_rows_is_an_input_error():
    stats = stats_table()
    with pytest.raises(InputError, match=r"add morf to perturbation\.orders"):
        card_of(stats=stats[stats["order"] != "morf"])
