"""Region perturbation and AOPC math on hand-made maps and a linear toy model."""

import numpy as np
import pandas as pd
import pytest

from hcxai.core.io import InputError
from hcxai.evaluate.faithfulness.aopc import aopc_of_curve, per_image_aopc, summarise, table1
from hcxai.evaluate.faithfulness.perturbation import (
    Settings,
    perturbed_areas,
    perturbed_variants,
    ranking,
    region_masks,
    region_scores,
)

SIZE, WINDOW = 8, 4  # a 2x2 grid


# Every field explicit: the schema, not the dataclass, holds the defaults.
BASE = dict(
    subwindow=WINDOW,
    steps=3,
    rank_by="sum",
    kind="gaussian",
    mode="add",
    std=0.3,
    orders=("morf", "random"),
    random_repeats=5,
    seed=2020,
    imputations=("gaussian_add",),
)


def settings(**overrides):
    return Settings(**{**BASE, **overrides})


def perturbed_image(x, image_id, s):
    """`x` with every pixel removed and imputed."""
    return perturbed_variants(x, image_id, np.ones((1, *x.shape[:2]), bool), s)[0]


def test_region_scores_sum_each_subwindow_row_major():
    maps = np.zeros((1, SIZE, SIZE))
    maps[0, :4, 4:] = 1.0  # top right
    maps[0, 4:, :4] = -2.0  # bottom left
    np.testing.assert_array_equal(region_scores(maps, WINDOW)[0], [0, 16, -32, 0])
    np.testing.assert_array_equal(region_scores(maps, WINDOW, "abs_sum")[0], [0, 16, 32, 0])


def test_morf_lerf_and_ties():
    scores = np.array([0.0, 16.0, -32.0, 0.0])
    assert list(ranking(scores, "morf")) == [1, 0, 3, 2]
    assert list(ranking(scores, "lerf")) == [2, 0, 3, 1]
    a = ranking(scores, "random", np.random.default_rng(1))
    assert sorted(a) == [0, 1, 2, 3]


def test_step_k_perturbs_exactly_the_first_k_regions():
    x = np.ones((SIZE, SIZE, 3), np.float32)
    areas = perturbed_areas(np.array([3, 1, 0, 2]), region_masks(SIZE, WINDOW), 3)
    steps = 1 - perturbed_variants(x, "t", areas, settings(kind="zeros"))
    assert steps.shape == (3, SIZE, SIZE, 3)
    assert steps[0, 4:, 4:].all() and steps[0].sum() == 16 * 3
    assert steps[1, :4, 4:].all() and steps[1].sum() == 32 * 3
    assert steps[2].sum() == 48 * 3 and not steps[2, 4:, :4].any()


def test_noise_depends_on_the_image_not_on_the_analyzer_or_order():
    x = np.zeros((SIZE, SIZE, 3), np.float32)
    a = perturbed_image(x, "007_HC", settings())
    b = perturbed_image(x, "007_HC", settings())
    c = perturbed_image(x, "008_HC", settings())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(a[..., 0], a[..., 2])  # grayscale stays grayscale
    assert abs(a.std() - 0.3) < 0.15


def test_add_and_replace_modes_and_kinds():
    x = np.full((SIZE, SIZE, 3), 5.0, np.float32)
    added = perturbed_image(x, "1", settings(mode="add"))
    replaced = perturbed_image(x, "1", settings(mode="replace"))
    np.testing.assert_allclose(added - 5.0, replaced, atol=1e-5)
    assert (perturbed_image(x, "1", settings(kind="zeros")) == 0).all()
    np.testing.assert_allclose(perturbed_image(x, "1", settings(kind="mean")), 5.0)
    np.testing.assert_allclose(perturbed_image(x, "1", settings(kind="blur")), 5.0, atol=1e-4)


@pytest.mark.parametrize(
    ("overrides", "size", "message"),
    [
        ({"subwindow": 5}, 8, "does not divide image_size 8"),
        ({"steps": 5}, 8, "exceeds the 4 regions"),
        ({"orders": ("morf", "best")}, 8, "unknown ['best']"),
    ],
)
def test_bad_settings_fail_before_work(overrides, size, message):
    with pytest.raises(InputError) as error:
        settings(**overrides).check(size)
    assert message in str(error.value)


def test_linear_model_morf_hurts_faster_than_lerf():
    """f(x) = sum(w * x): the map w ranks the region that matters first for MoRF."""
    rng = np.random.default_rng(0)
    w = np.zeros((SIZE, SIZE, 3))
    w[:4, 4:] = 1.0  # only the top-right region matters
    x = rng.normal(size=(SIZE, SIZE, 3)).astype(np.float32)
    s = settings(steps=3)
    scores = region_scores(np.abs(w.sum(-1))[np.newaxis], WINDOW)[0]
    truth = float((w * x).sum())
    curves = {}
    for order in ("morf", "lerf"):
        areas = perturbed_areas(ranking(scores, order), region_masks(SIZE, WINDOW), 3)
        variants = perturbed_variants(x, "toy", areas, s)
        curves[order] = [0.0] + [abs(float((w * v).sum()) - truth) for v in variants]
    assert curves["morf"][1] > 0 and curves["lerf"][1] == 0 and curves["lerf"][2] == 0
    assert aopc_of_curve(curves["morf"]) < aopc_of_curve(curves["lerf"])


def test_aopc_of_a_known_curve():
    # e(0) - mean(e(0..K)) = 1 - (1 + 2 + 3 + 4) / 4
    assert aopc_of_curve([1.0, 2.0, 3.0, 4.0]) == pytest.approx(-1.5)
    assert aopc_of_curve([2.0, 2.0, 2.0]) == 0.0


def shard_rows(analyzer, order, repeat, errors, image_id="a", fold=0, backbone="vgg16"):
    return [
        {
            "backbone": backbone,
            "loss": "mae",
            "fold": fold,
            "analyzer": analyzer,
            "image_id": image_id,
            "order": order,
            "repeat": repeat,
            "step": k,
            "error_px": e,
        }
        for k, e in enumerate(errors)
    ]


def test_random_repeats_are_averaged_per_image_and_table1_marks_the_lowest():
    rows = (
        shard_rows("gradient", "morf", 0, [1, 2, 3])
        + shard_rows("lrp", "morf", 0, [1, 5, 9])
        + shard_rows("random", "morf", 0, [1, 1, 1])
        + shard_rows("gradient", "random", 0, [1, 1, 1])
        + shard_rows("gradient", "random", 1, [1, 3, 5])
    )
    per_image = per_image_aopc(pd.DataFrame(rows))
    random = per_image[(per_image["analyzer"] == "gradient") & (per_image["order"] == "random")]
    assert random["aopc"].item() == pytest.approx((0 + (1 - 3)) / 2)
    table = table1(summarise(per_image))
    assert list(table.columns) == ["backbone", "loss", "gradient", "lrp", "random", "best_analyzer"]
    assert table.loc[0, "best_analyzer"] == "lrp"
    assert table.loc[0, "lrp"] == pytest.approx(1 - 5)


def test_aopc_minus_random_is_the_gap_to_the_same_folds_random_order():
    """Hand-computed AOPCs (e(0) - mean e(0..2)); the gap is non-zero and differs per fold."""
    rows = (
        # image a, fold 0: morf 1 - 2 = -1; lerf 0; random repeats 0 and 1 - 2 = -1 -> -0.5
        shard_rows("gradient", "morf", 0, [1, 2, 3], "a", 0)
        + shard_rows("gradient", "lerf", 0, [1, 1, 1], "a", 0)
        + shard_rows("gradient", "random", 0, [1, 1, 1], "a", 0)
        + shard_rows("gradient", "random", 1, [1, 1, 4], "a", 0)
        # image b, fold 1: morf 2 - 4 = -2; lerf 0; random 0 and 0 -> 0
        + shard_rows("gradient", "morf", 0, [2, 4, 6], "b", 1)
        + shard_rows("gradient", "lerf", 0, [2, 2, 2], "b", 1)
        + shard_rows("gradient", "random", 0, [2, 2, 2], "b", 1)
        + shard_rows("gradient", "random", 1, [2, 2, 2], "b", 1)
    )
    summary = summarise(per_image_aopc(pd.DataFrame(rows))).set_index(["fold", "order"])
    gap = summary["aopc_minus_random"]
    assert gap[("0", "morf")] == pytest.approx(-1 - (-0.5))
    assert gap[("0", "lerf")] == pytest.approx(0 - (-0.5))
    assert gap[("1", "morf")] == pytest.approx(-2 - 0)
    assert gap[("all", "morf")] == pytest.approx((-1 - 2) / 2 - (-0.5 + 0) / 2)
    assert gap[("all", "random")] == 0
    assert summary.loc[("all", "morf"), "aopc_sd"] == pytest.approx(np.std([-1, -2], ddof=1))


def morf_summary(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    """A `summarise` table with MoRF means over all folds, plus decoys Table 1 must ignore.

    The decoys (fold 0, and LeRF) hold +-100: picking them up changes the best analyzer.
    """
    rows = []
    for (backbone, loss), by_analyzer in values.items():
        for analyzer, value in by_analyzer.items():
            decoy = -100.0 if analyzer == "gradient" else 100.0
            for fold, order, mean in (
                ("all", "morf", value),
                ("0", "morf", decoy),
                ("all", "lerf", decoy),
            ):
                rows.append(
                    {
                        "backbone": backbone,
                        "loss": loss,
                        "analyzer": analyzer,
                        "fold": fold,
                        "order": order,
                        "aopc_mean": mean,
                    }
                )
    return pd.DataFrame(rows)


def test_best_analyzer_skips_random_when_it_is_lowest_and_not_otherwise():
    """vgg16/mae: the random map is the lowest, lrp is best among the explained analyzers.
    resnet50/mae: random lies between them, gradient is the lowest of all. vgg16/huber: a
    row of its own (a loss is a model of its own), smoothgrad best."""
    summary = morf_summary(
        {
            ("vgg16", "mae"): {"lrp": -2.0, "gradient": -1.0, "random": -5.0},
            ("vgg16", "huber"): {"lrp": -1.0, "gradient": -1.5, "smoothgrad": -4.0},
            ("resnet50", "mae"): {"lrp": -2.0, "gradient": -3.0, "random": -2.5},
        }
    )
    table = table1(summary).set_index(["backbone", "loss"])
    # Rows in the order the models came in; analyzer columns in the paper's order.
    assert list(table.index) == [("vgg16", "mae"), ("vgg16", "huber"), ("resnet50", "mae")]
    assert list(table.columns) == ["gradient", "smoothgrad", "lrp", "random", "best_analyzer"]
    assert table.loc[("vgg16", "mae"), "best_analyzer"] == "lrp"
    assert table.loc[("vgg16", "huber"), "best_analyzer"] == "smoothgrad"
    assert table.loc[("resnet50", "mae"), "best_analyzer"] == "gradient"
    assert table.loc[("vgg16", "mae"), "random"] == -5.0
    assert table.loc[("resnet50", "mae"), "lrp"] == -2.0
    assert np.isnan(table.loc[("vgg16", "huber"), "random"])


def reference_blur(gray: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian written out: scipy's defaults are a kernel of radius
    int(4 sigma + 0.5) and 'reflect' edges, i.e. NumPy's half-sample 'symmetric' padding."""
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    n = gray.shape[0]
    padded = np.pad(gray.astype(np.float64), radius, mode="symmetric")
    across = np.zeros((n + 2 * radius, n))
    for k, o in enumerate(offsets):
        across += weights[k] * padded[:, radius + o : radius + o + n]
    out = np.zeros((n, n))
    for k, o in enumerate(offsets):
        out += weights[k] * across[radius + o : radius + o + n, :]
    return out


def test_mean_and_blur_kinds_on_a_textured_image():
    """Mean: each subwindow replaced by its own mean; blur: Gaussian of sd subwindow / 4."""
    size, window = 16, 8
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[:size, :size]
    gray = (rng.normal(size=(size, size)) + 0.3 * rows - 0.1 * cols**1.5).astype(np.float32)
    x = np.repeat(gray[..., np.newaxis], 3, axis=-1)
    expected_mean = np.empty((size, size))
    for r in range(0, size, window):
        for c in range(0, size, window):
            expected_mean[r : r + window, c : c + window] = gray[
                r : r + window, c : c + window
            ].mean()
    mean = perturbed_image(x, "t", settings(subwindow=window, kind="mean"))
    blur = perturbed_image(x, "t", settings(subwindow=window, kind="blur"))
    for got, expected in ((mean, expected_mean), (blur, reference_blur(gray, window / 4))):
        assert got.shape == x.shape and got.dtype == np.float32
        for channel in range(3):
            np.testing.assert_allclose(got[..., channel], expected, rtol=1e-5, atol=1e-5)
