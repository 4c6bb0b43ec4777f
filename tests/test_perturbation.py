"""Region perturbation and AOPC math on hand-made maps and a linear toy model."""

import numpy as np
import pandas as pd
import pytest

from hcxai.aopc import aopc_of_curve, per_image_aopc, summarise, table1
from hcxai.io import InputError
from hcxai.perturbation import (
    Settings,
    perturbation_steps,
    perturbed_image,
    ranking,
    region_masks,
    region_scores,
)

SIZE, WINDOW = 8, 4  # a 2x2 grid


def settings(**overrides):
    return Settings(**{"subwindow": WINDOW, "steps": 3, **overrides})


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
    x = np.zeros((SIZE, SIZE, 3), np.float32)
    full = np.ones_like(x)
    masks = region_masks(SIZE, WINDOW)
    steps = perturbation_steps(x, full, np.array([3, 1, 0, 2]), masks, 3)
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
    full = perturbed_image(x, "toy", s)
    scores = region_scores(np.abs(w.sum(-1))[np.newaxis], WINDOW)[0]
    truth = float((w * x).sum())
    curves = {}
    for order in ("morf", "lerf"):
        variants = perturbation_steps(
            x, full, ranking(scores, order), region_masks(SIZE, WINDOW), 3
        )
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
    summary = summarise(per_image)
    morf = summary[
        (summary["analyzer"] == "gradient")
        & (summary["order"] == "morf")
        & (summary["fold"] == "all")
    ]
    assert morf["aopc_minus_random"].item() == pytest.approx(-1 - (-1))
    table = table1(summary)
    assert list(table.columns) == ["backbone", "gradient", "lrp", "random", "best_analyzer"]
    assert table.loc[0, "best_analyzer"] == "lrp"
    assert table.loc[0, "lrp"] == pytest.approx(1 - 5)
