"""Error vs explanation (hcxai.evaluate.meta.error_explanation) against scipy and planted
relations."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from hcxai.evaluate.meta import error_explanation as ee


def test_rho_is_scipys_spearman_and_its_ci_contains_it():
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    y[3] = y[4]  # a tie
    rho, low, high, p = ee.spearman_ci(x, y, 0.95, 2000, seed=0)
    assert np.isclose(rho, scipy_stats.spearmanr(x, y).statistic, rtol=0, atol=1e-12)
    assert p == scipy_stats.spearmanr(x, y).pvalue
    assert low < rho < high and low > 0


def test_monotone_relations_give_plus_and_minus_one_and_noise_a_ci_around_zero():
    x = np.arange(30.0)
    assert ee.spearman_ci(x, x**3, 0.95, 500, 0)[0] == 1.0
    assert ee.spearman_ci(x, -np.exp(x / 10), 0.95, 500, 0)[0] == -1.0
    rng = np.random.default_rng(2)
    _, low, high, _ = ee.spearman_ci(rng.normal(size=200), rng.normal(size=200), 0.95, 1000, 0)
    assert low < 0 < high


def test_too_few_or_constant_values_give_nan():
    assert np.isnan(ee.spearman_ci(np.array([1.0, 2.0]), np.array([2.0, 1.0]), 0.95, 100, 0)[0])
    assert np.isnan(ee.spearman_ci(np.arange(5.0), np.ones(5), 0.95, 100, 0)).all()


def test_table_joins_each_images_error_focus_and_morf_aopc(tmp_path):
    ids = [f"{i:03d}_HC" for i in range(12)]
    key = {"backbone": "vgg16", "loss": "mae", "analyzer": "lrp", "fold": 0, "image_id": ids}
    error = np.arange(12.0)
    meta = {"cluster": 0, "tsne_x": 0.0, "tsne_y": 0.0, "abs_error_px": error}
    pd.DataFrame({**key, **meta}).to_csv(tmp_path / "meta.csv", index=False)
    # Skull focus falls as the error grows (planted); AOPC rises with it.
    other = {"rank_accuracy": 0.5, "positive_inside_head": 0.5, "band_share": 0.2}
    other |= {"edge_skull_focus": 1.6, "edge_rank_accuracy": 0.4}
    other |= {"edge_positive_inside_head": 0.5}
    localization = pd.DataFrame({**key, "skull_focus": 10 - error, **other})
    localization.to_csv(tmp_path / "loc.csv", index=False)
    aopc = pd.concat(
        [
            pd.DataFrame({**key, "order": "morf", "aopc": error**2}),
            pd.DataFrame({**key, "order": "random", "aopc": -error}),  # must be ignored
        ]
    )
    aopc.to_csv(tmp_path / "aopc.csv", index=False)
    per_image = ee.per_image_scores(
        [str(tmp_path / "meta.csv")], [str(tmp_path / "loc.csv")], [str(tmp_path / "aopc.csv")]
    )
    table = ee.error_explanation_table(per_image, 0.95, 200, 0)
    row = table.iloc[0]
    assert row["n_images"] == 12
    assert row["rho_error_skull_focus"] == -1.0
    assert row["rho_error_aopc"] == 1.0


def test_p_values_are_scipys_and_holm_runs_over_the_models_correlations():
    """Three analyzers x two scores = a family of 6 (one rho undefined, so 5 tests).

    Oracles: scipy.stats.spearmanr's p per cell, Holm's step-down by hand over the 5
    finite p-values of the table. A raw p below 0.05 that Holm lifts above it keeps its
    raw value and its CI beside the adjusted one.
    """
    rng = np.random.default_rng(7)
    error = rng.uniform(0, 100, 30)
    scores = {
        "gradient": (-error + rng.normal(0, 20, 30), rng.normal(size=30)),
        "smoothgrad": (-error + rng.normal(0, 90, 30), error + rng.normal(0, 150, 30)),
        "random": (rng.normal(size=30), np.ones(30)),  # constant AOPC: no rho, no p
    }
    per_image = pd.concat(
        pd.DataFrame(
            {
                "backbone": "vgg16",
                "loss": "mae",
                "analyzer": analyzer,
                "fold": 0,
                "image_id": [f"{i:03d}_HC" for i in range(30)],
                "abs_error_px": error,
                "skull_focus": focus,
                "aopc": aopc,
            }
        )
        for analyzer, (focus, aopc) in scores.items()
    )
    table = ee.error_explanation_table(per_image, 0.95, 500, 0).set_index("analyzer")
    raw = {
        (a, score): scipy_stats.spearmanr(error, values).pvalue
        for a, pair in scores.items()
        for score, values in zip(ee.SCORES, pair, strict=True)
        if np.ptp(values) > 0
    }
    for (a, score), p in raw.items():
        assert table.loc[a, f"p_{score}"] == pytest.approx(p, rel=1e-12)
    ordered = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for k, cell in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - k) * raw[cell]))
        adjusted[cell] = running
    for (a, score), want in adjusted.items():
        assert table.loc[a, f"p_holm_{score}"] == pytest.approx(want, rel=1e-12)
    assert table.loc["random", ["p_aopc", "p_holm_aopc", "rho_error_aopc"]].isna().all()
    lifted = [c for c in raw if raw[c] < 0.05 <= adjusted[c]]
    assert lifted  # the planted case: significant alone, not in the family of the model
    # Another model in the same table is a family of its own: this model's rows stay.
    other = per_image.assign(backbone="resnet50", abs_error_px=np.tile(rng.permutation(error), 3))
    both = ee.error_explanation_table(pd.concat([per_image, other]), 0.95, 500, 0)
    alone = table.reset_index()[both.columns]
    pd.testing.assert_frame_equal(both[both["backbone"] == "vgg16"].reset_index(drop=True), alone)
    a, score = lifted[0]
    assert table.loc[a, f"ci_high_{score}"] < 0 or table.loc[a, f"ci_low_{score}"] > 0
