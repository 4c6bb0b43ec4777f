"""Faithfulness across imputations (hcxai.evaluate.faithfulness.across_imputations,
aopc.write_per_image's third file).

Oracles: scipy's Friedman statistic (Friedman's chi2 = m (n - 1) W), closed-form W
and tau, hand-computed AOPCs and Holm's adjustment by hand, and Table 1's files made
from shards without the extra imputation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from hcxai.core.io import InputError
from hcxai.evaluate.faithfulness.across_imputations import (
    condition_table,
    kendall_w,
    ranking_agreement,
    read_aopc_per_imputation,
    write_faithfulness,
)
from hcxai.evaluate.faithfulness.aopc import per_image_aopc_by_imputation, write_per_image
from hcxai.evaluate.faithfulness.perturbation import SHARD_COLUMNS

BOOT = {"confidence": 0.95, "n_resamples": 300, "seed": 1}


# --- Kendall's W ---------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_kendall_w_is_friedmans_chi2_over_m_n_minus_1(ties):
    rng = np.random.default_rng(3)
    for m, n in ((4, 5), (2, 9), (7, 3)):
        values = rng.integers(0, 3, (m, n)) if ties else rng.standard_normal((m, n))
        chi2 = scipy_stats.friedmanchisquare(*values.T).statistic  # blocks m, groups n
        assert kendall_w(values) == pytest.approx(chi2 / (m * (n - 1)))


def test_kendall_w_closed_forms():
    ranks = np.arange(6.0)
    assert kendall_w(np.stack([ranks, ranks * 2, ranks + 5])) == pytest.approx(1.0)
    assert kendall_w(np.stack([ranks, -ranks])) == pytest.approx(0.0)  # two raters reversed
    assert np.isnan(kendall_w(np.ones((3, 4))))  # nothing ranked


# --- one condition: versus random, Holm, LeRF, ranks --------------------------------


def per_image_rows(aopc: dict[tuple[str, str], list[float]], imputation="road", measure="error_px"):
    """Per-image AOPC rows of one model from {(analyzer, order): [image values]}."""
    return pd.DataFrame(
        [
            {
                "backbone": "vgg16",
                "loss": "mae",
                "analyzer": analyzer,
                "imputation": imputation,
                "measure": measure,
                "fold": k % 3,
                "image_id": f"{k:03d}",
                "order": order,
                "aopc": value,
            }
            for (analyzer, order), values in aopc.items()
            for k, value in enumerate(values)
        ]
    )


def test_condition_table_tests_against_random_with_holm_over_analyzers():
    n = 12
    rng = np.random.default_rng(0)
    random = rng.normal(0, 1, n)
    aopc = {
        # 'good' is below random on every image; 'near' on 9 of 12; 'none' is random's twin
        ("good", "morf"): random - 3 - rng.random(n),
        ("near", "morf"): random - np.r_[np.full(9, 0.5), np.full(3, -0.2)],
        ("none", "morf"): random.copy(),
        ("good", "lerf"): random + 2,
        ("near", "lerf"): random,
        ("none", "lerf"): random,
    }
    for analyzer in ("good", "near", "none"):
        aopc[(analyzer, "random")] = random
    table = condition_table(per_image_rows(aopc), alpha=0.05, **BOOT).set_index("analyzer")
    p = {a: scipy_stats.wilcoxon(aopc[(a, "morf")] - random).pvalue for a in ("good", "near")} | {
        "none": 1.0
    }
    assert table["p_vs_random"].to_dict() == pytest.approx(p)
    # Holm by hand: sorted p times (m - rank), running maximum, capped at 1.
    ordered = sorted(p, key=p.get)
    adjusted, running = {}, 0.0
    for k, a in enumerate(ordered):
        running = max(running, min(1.0, (3 - k) * p[a]))
        adjusted[a] = running
    assert table["p_vs_random_holm"].to_dict() == pytest.approx(adjusted)
    assert table["beats_random"].to_dict() == {a: adjusted[a] < 0.05 for a in p}
    assert table.loc["good", "beats_random"]
    assert table.loc["good", "morf_minus_lerf"] == pytest.approx(
        aopc[("good", "morf")].mean() - aopc[("good", "lerf")].mean()
    )
    assert table.loc["good", "aopc_minus_random"] == pytest.approx(
        (aopc[("good", "morf")] - random).mean()
    )
    assert table["rank"].to_dict() == {"good": 1.0, "near": 2.0, "none": 3.0}


def test_a_worse_than_random_analyzer_never_beats_random():
    n = 12
    random = np.linspace(-1, 1, n)
    aopc = {("worse", "morf"): random + 5, ("other", "morf"): random - 5}
    aopc |= {(a, "random"): random for a in ("worse", "other")}
    table = condition_table(per_image_rows(aopc), alpha=0.05, **BOOT).set_index("analyzer")
    assert table.loc["worse", "p_vs_random_holm"] < 0.05  # significant, the wrong way
    assert not table.loc["worse", "beats_random"]
    assert np.isnan(table.loc["worse", "aopc_lerf"])  # no LeRF scored: missing, not 0


def test_without_the_random_order_the_key_is_named():
    aopc = {("a", "morf"): np.zeros(3), ("b", "morf"): np.ones(3)}
    with pytest.raises(InputError, match=r"random to perturbation\.orders"):
        condition_table(per_image_rows(aopc), alpha=0.05, **BOOT)


# --- agreement across conditions ------------------------------------------------------


def conditions_frame(means: dict[str, list[float]], n=10, seed=0):
    """MoRF (+ random) per-image AOPCs of analyzers a0.. under each condition, per-image
    values scattered tightly around `means[condition]`."""
    rng = np.random.default_rng(seed)
    frames = []
    for condition, values in means.items():
        imputation, measure = condition.split("/")
        aopc = {}
        for k, mean in enumerate(values):
            aopc[(f"a{k}", "morf")] = mean + 0.01 * rng.standard_normal(n)
            aopc[(f"a{k}", "random")] = np.zeros(n)
        frames.append(per_image_rows(aopc, imputation, measure))
    return pd.concat(frames, ignore_index=True)


def test_agreement_is_one_when_every_condition_ranks_alike_and_tau_minus_one_reversed():
    alike = conditions_frame(
        {
            "gaussian_add/error_px": [-4, -3, -2, -1],
            "road/error_px": [-40, -30, -20, -10],
            "road/output_change_px": [-9, -8, -7, -6],
        }
    )
    agreement, taus = ranking_agreement(alike, **BOOT)
    row = agreement.iloc[0]
    assert row["kendall_w"] == pytest.approx(1.0)
    assert row["kendall_w_ci_low"] == pytest.approx(1.0)  # the tight scatter keeps the order
    assert (row["n_conditions"], row["n_analyzers"], row["n_images"]) == (3, 4, 10)
    assert list(taus["kendall_tau"]) == pytest.approx([1.0, 1.0, 1.0])

    reversed_ = conditions_frame(
        {"gaussian_add/error_px": [-4, -3, -2, -1], "road/error_px": [-1, -2, -3, -4]}
    )
    agreement, taus = ranking_agreement(reversed_, **BOOT)
    assert agreement["kendall_w"].iloc[0] == pytest.approx(0.0)
    assert taus["kendall_tau"].iloc[0] == pytest.approx(-1.0)
    assert taus["kendall_tau_ci_high"].iloc[0] == pytest.approx(-1.0)


def test_noisy_rankings_get_a_ci_around_w():
    noisy = conditions_frame(
        {"gaussian_add/error_px": [-1.0, -1.0, -1.0], "road/error_px": [-1.0, -1.0, -1.0]}
    )
    agreement, _ = ranking_agreement(noisy, **BOOT)
    row = agreement.iloc[0]
    assert row["kendall_w_ci_low"] < row["kendall_w_ci_high"]
    assert row["kendall_w_ci_low"] <= row["kendall_w"] <= row["kendall_w_ci_high"]


def test_analyzers_scored_under_different_conditions_are_refused(tmp_path):
    frame = conditions_frame({"gaussian_add/error_px": [-2, -1], "road/error_px": [-2, -1]})
    frame = frame[~((frame["analyzer"] == "a1") & (frame["imputation"] == "road"))]
    paths = []
    for analyzer, rows in frame.groupby("analyzer"):
        path = tmp_path / f"{analyzer}.csv"
        rows.to_csv(path, index=False)
        paths.append(str(path))
    with pytest.raises(InputError, match="different imputations x measures"):
        read_aopc_per_imputation(paths)


# --- from shards: Table 1 untouched, every condition's AOPC by hand --------------------


def shard(analyzer: str, imputations: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """Shard rows of one image: {imputation: {order/repeat: error curve}}; the output
    change is the error shifted so that step 0 is 0 (predictions above the truth)."""
    rows = []
    for imputation, runs in imputations.items():
        for run, errors in runs.items():
            order, repeat = run.split("/")
            for step, error in enumerate(errors):
                rows.append(
                    {
                        "backbone": "vgg16",
                        "loss": "mae",
                        "fold": 0,
                        "analyzer": analyzer,
                        "imputation": imputation,
                        "image_id": "000_HC",
                        "order": order,
                        "repeat": int(repeat),
                        "step": step,
                        "error_px": error,
                        "output_change_px": error - errors[0],
                    }
                )
    return pd.DataFrame(rows)[SHARD_COLUMNS]


TABLE1_RUNS = {"morf/0": [1.0, 4.0, 7.0], "random/0": [1.0, 2.0, 3.0], "random/1": [1.0, 1.0, 4.0]}
ROAD_RUNS = {"morf/0": [1.0, 1.0, 1.0], "random/0": [1.0, 5.0, 6.0], "random/1": [1.0, 2.0, 2.0]}


def test_table1_files_do_not_change_when_imputations_are_added(tmp_path):
    paths = {}
    for name, imputations in (
        ("alone", {"gaussian_add": TABLE1_RUNS}),
        ("with_road", {"gaussian_add": TABLE1_RUNS, "road": ROAD_RUNS}),
    ):
        source = tmp_path / f"{name}_shard.csv"
        shard("gradient", imputations).to_csv(source, index=False)
        outputs = [tmp_path / f"{name}_{kind}.csv" for kind in ("aopc", "curves", "imputations")]
        write_per_image([str(source)], *map(str, outputs), imputations=list(imputations))
        paths[name] = outputs
    for alone, with_road in zip(paths["alone"][:2], paths["with_road"][:2], strict=True):
        assert alone.read_bytes() == with_road.read_bytes()
    by_imputation = pd.read_csv(paths["with_road"][2]).set_index(["imputation", "measure", "order"])
    # e(0) - mean e(0..2), random averaged over its repeats; output change starts at 0.
    assert by_imputation.loc[("gaussian_add", "error_px", "morf"), "aopc"] == pytest.approx(1 - 4)
    assert by_imputation.loc[("road", "error_px", "morf"), "aopc"] == pytest.approx(0.0)
    assert by_imputation.loc[("road", "error_px", "random"), "aopc"] == pytest.approx(
        ((1 - 4) + (1 - 5 / 3)) / 2
    )
    assert by_imputation.loc[("road", "output_change_px", "random"), "aopc"] == pytest.approx(
        (-3 + -2 / 3) / 2
    )


def test_shards_that_score_other_imputations_than_the_config_are_refused(tmp_path):
    source = tmp_path / "shard.csv"
    shard("gradient", {"gaussian_add": TABLE1_RUNS}).to_csv(source, index=False)
    outputs = [str(tmp_path / f"{kind}.csv") for kind in ("aopc", "curves", "imputations")]
    with pytest.raises(InputError, match=r"perturbation\.imputations"):
        write_per_image([str(source)], *outputs, imputations=["gaussian_add", "road"])
    assert not any((tmp_path / f"{kind}.csv").exists() for kind in ("aopc", "curves"))


def test_write_faithfulness_end_to_end(tmp_path):
    frames = [
        per_image_aopc_by_imputation(shard(analyzer, {"gaussian_add": TABLE1_RUNS, "road": runs}))
        for analyzer, runs in (("gradient", ROAD_RUNS), ("lrp", TABLE1_RUNS))
    ]
    paths = []
    for k, frame in enumerate(frames):
        path = tmp_path / f"pair{k}.csv"
        frame.to_csv(path, index=False)
        paths.append(str(path))
    out = [tmp_path / name for name in ("table.csv", "agreement.csv", "tau.csv")]
    write_faithfulness(
        paths, *map(str, out), bootstrap_samples=200, confidence=0.95, alpha=0.05, seed=1
    )
    table = pd.read_csv(out[0])
    assert len(table) == 2 * 2 * 2  # analyzers x imputations x measures
    assert set(itertools.chain(table["imputation"])) == {"gaussian_add", "road"}
    road = table[(table["imputation"] == "road") & (table["measure"] == "error_px")]
    assert road.set_index("analyzer")["rank"].to_dict() == {"gradient": 2.0, "lrp": 1.0}
