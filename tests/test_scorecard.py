"""The scorecard joins the three views and sets its flags as documented; oracles by hand."""

import pandas as pd
import pytest

from hcxai.io import InputError
from hcxai.scorecard import ranking_agreement, ranking_agreement_by_imputation, scorecard

ANALYZERS = ["gradient", "smoothgrad", "lrp", "random"]
# Hand-made summaries: MoRF AOPC, its difference to random (CI), skull focus, and the
# randomised similarity. gradient: best AOPC, beats random, most focused, survives.
AOPC = {"gradient": -9.0, "smoothgrad": -7.0, "lrp": -5.0, "random": -2.0}
MINUS_RANDOM_CI = {
    "gradient": (-8.0, -6.0),
    "smoothgrad": (-6.0, -1.0),
    "lrp": (-4.0, 0.5),  # the CI reaches 0: not significant
    "random": (-1.0, 1.0),
}
FOCUS = {"gradient": 3.0, "smoothgrad": 2.0, "lrp": 1.5, "random": 1.0}
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


def card_of(stats=None, localization=None, sanity=None, faithfulness=None):
    return scorecard(
        stats_table() if stats is None else stats,
        localization_table() if localization is None else localization,
        sanity_table() if sanity is None else sanity,
        faithfulness_table() if faithfulness is None else faithfulness,
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
    assert card["beats_random"].to_dict() == {
        "gradient": True,
        "smoothgrad": True,
        "lrp": False,
        "random": False,
    }
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
    card = scorecard(stats, loc, san, faithful)
    assert list(dict.fromkeys(zip(card["backbone"], card["loss"], strict=True))) == models
    assert len(card) == 3 * len(ANALYZERS)
    agreement = ranking_agreement(card)
    assert list(agreement["loss"]) == ["mae", "huber", "mae"]
    assert list(agreement["kendall_tau"]) == pytest.approx([1.0, -1.0, 1.0])


def test_no_morf_rows_is_an_input_error():
    stats = stats_table()
    with pytest.raises(InputError, match=r"add morf to perturbation\.orders"):
        card_of(stats=stats[stats["order"] != "morf"])
