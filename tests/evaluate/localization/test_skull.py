"""Localization of relevance against the annotated skull, on maps whose scores are known.

Every oracle is computed here from geometry or counting (plain Python loops
over pixel centres, closed forms), never by hcxai.evaluate.localization.skull itself. Pixel
(row r, column c) of a map has its centre at x = c, y = r.
"""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, write_config, write_dataset
from PIL import Image
from scipy.stats import wilcoxon

from hcxai.core.io import InputError
from hcxai.data.ellipse import Ellipse, draw_outline, ramanujan_perimeter
from hcxai.data.hc18 import ingest, load_dataset, read_csv
from hcxai.evaluate.localization.skull import (
    band_mask,
    distance_to_outline,
    edge_map,
    image_scores,
    inside_mask,
    rank_accuracy,
    skull_focus,
    summarise,
    write_localization,
)
from hcxai.evaluate.randomisation.maps_file import SanityMaps, write_sanity_maps
from hcxai.explain.saliency_file import SaliencyFile, write_saliency
from hcxai.figures.plots import plot_localization
from hcxai.stats.inference import mean_ci

SIZE = 64
# A circle whose centre is off the pixel grid and not on the diagonal (cx != cy),
# so a swapped or shifted centre moves the band.
CX, CY, R, W = 31.3, 27.6, 17.25, 2.0
CIRCLE = Ellipse(CX, CY, R, R, 0.0)


def circle_oracle(size=SIZE, cx=CX, cy=CY, radius=R, width=W):
    """Band and inside masks of a circle by a loop over pixel centres: |r - R| <= w, r <= R."""
    band = np.zeros((size, size), bool)
    inside = np.zeros((size, size), bool)
    for row in range(size):
        for col in range(size):
            r = math.hypot(col - cx, row - cy)
            band[row, col] = abs(r - radius) <= width
            inside[row, col] = r <= radius
    return band, inside


def test_circle_oracle_has_no_pixel_on_the_band_edge():
    """Guard: no pixel centre lies within 1e-6 px of an edge, so rounding cannot decide."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(cols - CX, rows - CY)
    assert np.abs(np.abs(r - R) - W).min() > 1e-6 and np.abs(r - R).min() > 1e-6


def test_circle_distance_is_abs_r_minus_radius_and_band_matches_an_independent_count():
    """Oracle: on a circle the distance to the outline is |r - R| exactly."""
    rows, cols = np.mgrid[:SIZE, :SIZE]
    expected = np.abs(np.hypot(cols - CX, rows - CY) - R)
    np.testing.assert_allclose(distance_to_outline(CIRCLE, SIZE), expected, atol=1e-9)
    band, inside = circle_oracle()
    np.testing.assert_array_equal(band_mask(CIRCLE, SIZE, W), band)
    np.testing.assert_array_equal(inside_mask(CIRCLE, SIZE), inside)
    # The annulus holds about its area, pi((R+w)^2 - (R-w)^2) = 4 pi R w pixel centres.
    assert abs(band.sum() / (4 * math.pi * R * W) - 1) < 0.05


@pytest.mark.parametrize(
    "ellipse",
    [
        Ellipse(12.3, 10.7, 9.0, 4.0, 0.6),  # rotated, off-grid centre
        Ellipse(12.0, 12.0, 9.0, 4.0, 0.0),  # pixel centres on both axes (special cases)
        Ellipse(3.2, 20.1, 15.0, 2.5, 2.9),  # long, thin, partly outside the map
    ],
)
def test_ellipse_distance_matches_dense_outline_samples(ellipse):
    """Oracle: distance to 100,000 points of the outline (`Ellipse.points`), spaced
    <= 2 pi a / 1e5 < 0.001 px, so it exceeds the true distance by < 0.0005 px
    and is never below it. Band widths up to and beyond the minor semi-axis (2.5)."""
    size = 24
    rows, cols = np.mgrid[:size, :size]
    pixels = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)
    sampled = np.full(len(pixels), np.inf)
    for chunk in np.array_split(ellipse.points(100_000), 20):
        gaps = pixels[:, None, :] - chunk[None, :, :]
        sampled = np.minimum(sampled, np.sqrt((gaps**2).sum(axis=-1)).min(axis=1))
    got = distance_to_outline(ellipse, size).ravel()
    assert np.all(got <= sampled + 1e-9)
    assert np.all(sampled - got < 5e-4)
    # The band (pre-filtered) agrees with the sampled distance away from its edge.
    for width in (0.7, 1.5, 3.0):
        clear = np.abs(sampled - width) > 5e-4
        band = band_mask(ellipse, size, width).ravel()
        np.testing.assert_array_equal(band[clear], sampled[clear] <= width)


def test_a_map_equal_to_the_band_scores_one_over_band_share_and_full_rank_accuracy():
    """Oracle: all |relevance| in the band gives (1) / (K / P) = P / K; top K = the band."""
    band, _ = circle_oracle()
    k, p = int(band.sum()), band.size
    relevance = np.where(band, 3.7, 0.0)
    scores = image_scores(relevance, CIRCLE, W)
    assert scores["band_share"] == pytest.approx(k / p, rel=1e-12)
    assert scores["skull_focus"] == pytest.approx(p / k, rel=1e-12)
    assert scores["rank_accuracy"] == pytest.approx(1.0, rel=1e-12)
    # Sign does not matter: the band relevance may be negative.
    assert image_scores(-relevance, CIRCLE, W)["skull_focus"] == pytest.approx(p / k)


def test_a_uniform_map_scores_chance():
    """Oracle: a constant map spreads relevance by area, so skull focus = 1 exactly; all
    P pixels tie for the K places, so (tie rule: places shared in proportion) the band
    gets K * K / P of them and rank accuracy = K / P = band_share exactly."""
    band, _ = circle_oracle()
    k, p = int(band.sum()), band.size
    scores = image_scores(np.full((SIZE, SIZE), 0.25), CIRCLE, W)
    assert scores["skull_focus"] == pytest.approx(1.0, rel=1e-12)
    assert scores["rank_accuracy"] == pytest.approx(k / p, rel=1e-12)


def test_ties_at_the_cut_share_the_remaining_places_in_proportion():
    """A quarter of the band at 2, the rest of the image at 1: the h = K // 4 pixels at 2 take h
    places; the K - h left go to the P - h pixels at 1, of which K - h are in the band.
    Oracle: (h + (K - h) * (K - h) / (P - h)) / K."""
    band, _ = circle_oracle()
    k, p = int(band.sum()), band.size
    h = k // 4
    relevance = np.ones((SIZE, SIZE))
    relevance.ravel()[np.flatnonzero(band)[:h]] = 2.0
    expected = (h + (k - h) * (k - h) / (p - h)) / k
    assert rank_accuracy(relevance, band) == pytest.approx(expected, rel=1e-12)
    # Any order of the ties would be arbitrary: first-in-row-major order gives another value.
    first_k = np.argsort(-relevance.ravel(), kind="stable")[:k]
    assert abs(band.ravel()[first_k].mean() - expected) > 0.04


def test_a_seeded_random_map_scores_chance_within_its_sampling_error():
    """|x| of i.i.d. normal pixels: skull focus = m_band / m_all ~ 1 + (1 - f)(m_band -
    m_out) / mu, so its SD is (1 - f) (sigma / mu) sqrt(1/K + 1/(P - K)), with f = K / P,
    mu = sqrt(2 / pi), sigma^2 = 1 - 2 / pi (half-normal). The top K pixels are a
    uniformly random K-subset, so band hits are hypergeometric: rank accuracy has mean f
    and SD sqrt(f (1 - f) (P - K) / ((P - 1) K)). Tolerance: 5 SD."""
    band, _ = circle_oracle()
    k, p = int(band.sum()), band.size
    f = k / p
    mu, sigma = math.sqrt(2 / math.pi), math.sqrt(1 - 2 / math.pi)
    sd_focus = (1 - f) * sigma / mu * math.sqrt(1 / k + 1 / (p - k))
    sd_rank = math.sqrt(f * (1 - f) * (p - k) / ((p - 1) * k))
    assert 0.02 < sd_focus < 0.05 and 0.01 < sd_rank < 0.02  # a tight, meaningful test
    relevance = np.random.default_rng(2020).standard_normal((SIZE, SIZE))
    scores = image_scores(relevance, CIRCLE, W)
    assert abs(scores["skull_focus"] - 1) < 5 * sd_focus
    assert abs(scores["rank_accuracy"] - f) < 5 * sd_rank


def test_positive_relevance_inside_the_head_only_scores_one():
    """Oracle: inside = pixel centres with r <= R, counted by the loop."""
    _, inside = circle_oracle()
    relevance = np.where(inside, 0.8, -5.0)  # negative relevance outside is ignored
    assert image_scores(relevance, CIRCLE, W)["positive_inside_head"] == pytest.approx(1.0)
    everywhere = np.ones((SIZE, SIZE))
    share = image_scores(everywhere, CIRCLE, W)["positive_inside_head"]
    assert share == pytest.approx(inside.sum() / inside.size, rel=1e-12)


def test_a_map_without_relevance_gives_nan_not_a_crash():
    for relevance in (np.zeros((SIZE, SIZE)), np.full((SIZE, SIZE), np.nan)):
        scores = image_scores(relevance, CIRCLE, W)
        assert all(math.isnan(scores[m]) for m in ("skull_focus", "rank_accuracy"))
        assert math.isnan(scores["positive_inside_head"])
        assert scores["band_share"] > 0
    negative = image_scores(-np.ones((SIZE, SIZE)), CIRCLE, W)
    assert math.isnan(negative["positive_inside_head"])
    assert negative["skull_focus"] == pytest.approx(1.0)
    empty_band = np.zeros((SIZE, SIZE), bool)
    assert math.isnan(skull_focus(np.ones((SIZE, SIZE)), empty_band))
    assert math.isnan(rank_accuracy(np.ones((SIZE, SIZE)), empty_band))


def test_dataset_ellipses_land_on_the_network_pixel_centres(hc18_copy, tmp_path):
    """The half-pixel convention, end to end through ingest.

    Oracle from the resize's geometry: at 40 px, network pixel (row k, col j) covers
    the original corner coordinates [20 j, 20 (j + 1)) x [13.5 k, 13.5 (k + 1)), so its
    centre is at original pixel index x = 20 j + 9.5, y = 13.5 k + 6.25 (index = corner
    coordinate - 1/2). An annotation centred there must come out at (j, k). Its axes
    (4:3) are scaled to the CSV's head circumference of the scan, which ingest checks.
    """
    j, k = 20, 20
    scan = next(r for r in read_csv(hc18_copy) if r.image_id == "000_HC")
    scale = scan.hc_mm / scan.pixel_size_mm / ramanujan_perimeter(4.0, 3.0)
    annotation = Ellipse(20 * j + 9.5, 13.5 * k + 6.25, 4.0 * scale, 3.0 * scale, 0.3)
    outline = draw_outline(annotation, (540, 800)).astype(np.uint8) * 255
    Image.fromarray(outline).save(hc18_copy / "training_set" / "000_HC_Annotation.png")
    ingest(hc18_copy, tmp_path / "d.h5", image_size=40, source="hc18")
    got = Ellipse(*load_dataset(tmp_path / "d.h5").ellipse_resized[0])
    assert got.cx == pytest.approx(j, abs=0.01) and got.cy == pytest.approx(k, abs=0.01)


# --- files: the per-image table, bad input, the summary, the figure, the rules ---


def write_maps(path: Path, ids: list[str], maps: np.ndarray, **attributes) -> None:
    n = len(ids)
    write_saliency(path, SaliencyFile(maps, ids, np.ones(n), np.ones(n), attributes))


def test_write_localization_scores_every_map_against_its_own_image(tmp_path):
    """Two images with different circles; the maps come in another order than the data set."""
    other = Ellipse(30.2, 33.9, 12.5, 12.5, 0.0)
    dataset = tmp_path / "dataset_64.h5"
    write_dataset(dataset, ["a_HC", "b_HC", "c_HC"], [CIRCLE, other, CIRCLE], SIZE)
    band, _ = circle_oracle()
    other_band, _ = circle_oracle(cx=30.2, cy=33.9, radius=12.5)
    maps = np.stack([other_band, band, np.zeros_like(band)]).astype(np.float32)
    saliency = tmp_path / "gradient.h5"
    write_maps(saliency, ["b_HC", "a_HC", "c_HC"], maps, backbone="vgg16", loss="mse", fold=1)
    out = tmp_path / "out" / "gradient.csv"
    write_localization(str(saliency), str(dataset), W, str(out), "vgg16", "mse", "1", "gradient")
    table = pd.read_csv(out, dtype={"image_id": str})
    assert list(table.columns) == [
        *("backbone", "loss", "fold", "analyzer", "image_id", "skull_focus", "rank_accuracy"),
        *("positive_inside_head", "band_share", "edge_skull_focus", "edge_rank_accuracy"),
        "edge_positive_inside_head",
    ]
    assert table[["edge_skull_focus", "edge_rank_accuracy"]].isna().all().all()  # blank images
    assert list(table["image_id"]) == ["b_HC", "a_HC", "c_HC"]
    assert set(table["backbone"]) == {"vgg16"} and set(table["fold"]) == {1}
    assert set(table["loss"]) == {"mse"}
    expected = [band.size / other_band.sum(), band.size / band.sum()]
    np.testing.assert_allclose(table["skull_focus"][:2], expected, rtol=1e-5)
    np.testing.assert_allclose(table["rank_accuracy"][:2], 1.0)
    assert table.iloc[2][["skull_focus", "rank_accuracy"]].isna().all()
    assert [p.name for p in out.parent.iterdir()] == ["gradient.csv"]  # no temp file left


@pytest.mark.parametrize(
    ("ids", "size", "attributes", "expected"),
    [
        (["a_HC"], 32, {}, "another image_size"),
        (["zz_HC"], SIZE, {}, "not in the data set"),
        (["a_HC"], SIZE, {"analyzer": "lrp"}, "made for analyzer 'lrp'"),
        (["a_HC"], SIZE, {"loss": "mse"}, "made for loss 'mse'"),
    ],
)
def test_bad_input_names_the_file_and_the_fix(tmp_path, ids, size, attributes, expected):
    dataset = tmp_path / f"dataset_{SIZE}.h5"
    write_dataset(dataset, ["a_HC"], [CIRCLE], SIZE)
    saliency = tmp_path / "gradient.h5"
    write_maps(saliency, ids, np.ones((1, size, size), np.float32), **attributes)
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match=expected) as error:
        write_localization(
            str(saliency), str(dataset), W, str(out), "vgg16", "mae", "0", "gradient"
        )
    assert str(saliency) in str(error.value) and "rerun" in str(error.value)
    assert not out.exists()


# --- the model-free baseline: the Sobel edge map of the input image ---------------

# Disc A is the annotated head; disc B, the same disc shifted by whole pixels, lies far
# from A's band (its rim is >= 27 px from A's centre, the band ends at R_A + W = 11.25 px).
A_CX, A_CY, A_R = 16.3, 20.6, 9.25
B_SHIFT = (24, 30)  # rows, columns
DISC_A = Ellipse(A_CX, A_CY, A_R, A_R, 0.0)


def two_discs(brightness: float = 200.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image (disc A + disc B), A's disc mask and A's band mask, from loops over pixel
    centres (B is A's mask rolled by whole pixels: the same pixels, nothing wraps)."""
    band, disc = circle_oracle(SIZE, A_CX, A_CY, A_R, W)
    image = brightness * (disc | np.roll(disc, B_SHIFT, axis=(0, 1)))
    return image, disc, band


def rim(disc: np.ndarray) -> np.ndarray:
    """Pixels with a 3 x 3 neighbour on the other side of the disc's edge: the only pixels
    where a 3 x 3 derivative filter (Sobel) can respond to the image."""
    out = np.zeros_like(disc)
    for row in range(1, SIZE - 1):
        for col in range(1, SIZE - 1):
            window = disc[row - 1 : row + 2, col - 1 : col + 2]
            out[row, col] = window.any() and not window.all()
    return out


def test_the_edge_map_of_a_filled_disc_lies_on_its_rim_so_it_is_all_on_the_band():
    """Oracle: the Sobel map of disc A alone is 0 off its rim (a constant 3 x 3
    neighbourhood), and every rim pixel is within sqrt(2) < W px of the outline, so all of
    its energy lies in the band: skull focus P / K, the most any map can score."""
    _, disc, band = two_discs()
    edges = edge_map(200.0 * disc)
    on_rim = rim(disc)
    assert edges[~on_rim].max() == 0 and edges[on_rim].sum() > 0
    assert not (on_rim & ~band).any()
    k, p = int(band.sum()), band.size
    assert image_scores(edges, DISC_A, W)["skull_focus"] == pytest.approx(p / k, rel=1e-12)


def test_a_map_on_the_band_beats_the_edge_detector_and_the_edge_map_itself_ties(tmp_path):
    """Two identical discs, one annotated: the Sobel map puts half its energy on each rim
    (Sobel commutes with a shift by whole pixels), so the edge detector scores
    0.5 P / K; a map of the band scores P / K, a paired difference of 0.5 P / K on every
    image. The edge map given as an analyzer's map differs from the baseline by 0."""
    _, _, band = two_discs()
    k, p = int(band.sum()), band.size
    ids = ["a_HC", "b_HC", "c_HC"]
    # Brightness does not matter: the scores are ratios of the (linear) Sobel map.
    images = np.stack([two_discs(b)[0] for b in (200.0, 120.0, 255.0)])
    dataset = tmp_path / "dataset_64.h5"
    write_dataset(dataset, ids, [DISC_A] * 3, SIZE, images)
    maps = {
        "gradient": np.stack([band] * 3).astype(np.float32),
        "sobel": np.stack([edge_map(i) for i in images]).astype(np.float32),
    }
    files = []
    for analyzer, stack in maps.items():
        saliency, out = tmp_path / f"{analyzer}.h5", tmp_path / "scores" / f"{analyzer}.csv"
        write_maps(saliency, ids, stack)
        write_localization(str(saliency), str(dataset), W, str(out), "vgg16", "mae", "0", analyzer)
        files.append(str(out))
    per_image = pd.concat([pd.read_csv(f, dtype={"image_id": str}) for f in files])
    # The files hold 6 significant digits.
    np.testing.assert_allclose(per_image["edge_skull_focus"], 0.5 * p / k, rtol=1e-5)
    summary = summarise(per_image, confidence=0.95, n_resamples=500, seed=1).set_index("analyzer")
    gradient, sobel = summary.loc["gradient"], summary.loc["sobel"]
    assert gradient["skull_focus_mean"] == pytest.approx(p / k, rel=1e-5)
    assert gradient["edge_skull_focus_mean"] == pytest.approx(0.5 * p / k, rel=1e-5)
    assert gradient["skull_focus_minus_edge_mean"] == pytest.approx(0.5 * p / k, rel=1e-5)
    assert gradient["skull_focus_minus_edge_ci_low"] > 0  # beats the edge detector
    assert gradient["rank_accuracy_minus_edge_mean"] > 0
    for metric in ("skull_focus", "rank_accuracy", "positive_inside_head"):
        for part in ("mean", "ci_low", "ci_high"):
            assert sobel[f"{metric}_minus_edge_{part}"] == pytest.approx(0, abs=1e-5)


def test_summary_uses_the_shared_ci_drops_nan_and_keeps_the_paper_order():
    rng = np.random.default_rng(3)
    frames = []
    for analyzer in ("random", "gradient", "smoothgrad"):  # not the paper's order
        values = rng.uniform(0.5, 2.0, 10)
        frames.append(
            pd.DataFrame(
                {
                    "backbone": "vgg16",
                    "loss": "mae",
                    "fold": "0",
                    "analyzer": analyzer,
                    "image_id": [f"{i}_HC" for i in range(10)],
                    "skull_focus": [*values[:9], np.nan],
                    "rank_accuracy": values / 4,
                    "positive_inside_head": values / 3,
                    "band_share": 0.1,
                    "edge_skull_focus": 1.5,
                    "edge_rank_accuracy": 0.2,
                    "edge_positive_inside_head": 0.3,
                }
            )
        )
    per_image = pd.concat(frames, ignore_index=True)
    summary = summarise(per_image, confidence=0.9, n_resamples=500, seed=5)
    assert list(summary["analyzer"]) == ["gradient", "smoothgrad", "random"]
    gradient = per_image[per_image["analyzer"] == "gradient"]
    row = summary.iloc[0]
    assert row["n_images"] == 10
    ci = mean_ci(gradient["skull_focus"].to_numpy(), 0.9, 500, 5)
    assert ci.n == 9 and row["skull_focus_mean"] == pytest.approx(np.nanmean(gradient.skull_focus))
    assert (row["skull_focus_ci_low"], row["skull_focus_ci_high"]) == (ci.low, ci.high)
    assert row["band_share_ci_low"] == row["band_share_ci_high"] == pytest.approx(0.1)
    # The paired difference to the edge detector drops the image whose score is NaN.
    paired = mean_ci(gradient["skull_focus"].to_numpy() - 1.5, 0.9, 500, 5)
    assert row["edge_skull_focus_mean"] == 1.5
    assert (row["skull_focus_minus_edge_mean"], row["skull_focus_minus_edge_ci_low"]) == (
        pytest.approx(paired.mean),
        paired.low,
    )
    # Wilcoxon against the edge detector (scipy on the finite pairs), then Holm's step-down
    # over the model's 3 analyzers by hand: sorted p times 3, 2, 1, kept monotone.
    raw = {
        a: wilcoxon(rows["skull_focus"].dropna() - 1.5).pvalue
        for a, rows in per_image.groupby("analyzer")
    }
    ordered = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for k, a in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - k) * raw[a]))
        adjusted[a] = running
    by_analyzer = summary.set_index("analyzer")
    for a in raw:
        assert by_analyzer.loc[a, "p_vs_edge"] == pytest.approx(raw[a])
        assert by_analyzer.loc[a, "p_vs_edge_holm"] == pytest.approx(adjusted[a])
    assert by_analyzer["p_vs_edge_holm"].nunique() > 1  # the family is not one value


def test_the_figure_draws_each_mean_in_paper_order_with_the_chance_lines(tmp_path):
    summary = pd.DataFrame(
        {
            "model": ["vgg16/mae", "vgg16/mae"],
            "analyzer": ["random", "gradient"],
            "n_images": [5, 5],
            "skull_focus_mean": [1.0, 2.0],
            "skull_focus_ci_low": [0.9, 1.5],
            "skull_focus_ci_high": [1.1, 2.5],
            "rank_accuracy_mean": [0.1, 0.4],
            "rank_accuracy_ci_low": [np.nan, 0.3],
            "rank_accuracy_ci_high": [np.nan, 0.5],
            "band_share_mean": [0.1, 0.1],
            "edge_skull_focus_mean": [1.6, 1.6],
            "edge_rank_accuracy_mean": [0.3, 0.3],
            "randomised_skull_focus_mean": [1.05, 1.4],
        }
    )
    figure = plot_localization(summary, str(tmp_path / "localization.png"))
    assert (tmp_path / "localization.png").stat().st_size > 0
    focus, rank = figure.axes
    assert [t.get_text() for t in focus.get_xticklabels()] == ["gradient", "random"]
    assert [b.get_height() for b in focus.patches] == [2.0, 1.0]
    assert [b.get_height() for b in rank.patches] == [0.4, 0.1]
    chance, edge = focus.lines[-2:]
    assert chance.get_ydata()[0] == 1.0 and edge.get_ydata()[0] == 1.6
    assert edge.get_label() == "edge detector (no model)"
    # The randomised model's skull focus, in the bars' order, on the skull focus panel only.
    labelled = lambda axis: [c for c in axis.collections if not c.get_label().startswith("_")]  # noqa: E731
    (ticks,) = labelled(focus)
    assert ticks.get_label() == "fully randomised model"
    assert ticks.get_offsets()[:, 1].tolist() == [1.4, 1.05]
    assert not labelled(rank)
    assert [line.get_ydata()[0] for line in rank.lines[-2:]] == pytest.approx([0.1, 0.3])


@pytest.mark.slow
def test_rules_build_the_tables_and_figure_and_a_changed_band_reruns_them(tmp_path):
    """The three rules on synthetic saliency files (the TensorFlow rules are not allowed)."""
    config = write_config(
        tmp_path / "config.yaml",
        backbones=["vgg16"],
        losses=["mae"],
        analyzers=["gradient", "random"],
        statistics={"bootstrap_samples": 200},
    )
    size, ids = 32, [f"{i:03d}_HC" for i in range(6)]
    circle = Ellipse(15.37, 16.23, 9.0, 9.0, 0.0)
    write_dataset(tmp_path / f"resources/dataset_{size}.h5", ids, [circle] * 6, size)
    rng = np.random.default_rng(0)
    for fold in range(3):
        for analyzer in ("gradient", "random"):
            maps = rng.standard_normal((2, size, size)).astype(np.float32)
            path = tmp_path / f"results/saliency/vgg16/mae/fold{fold}/{analyzer}.h5"
            write_maps(path, ids[2 * fold : 2 * fold + 2], maps)
    for analyzer in ("gradient", "random"):  # the figure's randomised-model baseline
        attributes = {"analyzer": analyzer, "backbone": "vgg16", "loss": "mae", "params": {}}
        maps = rng.standard_normal((2, 3, size, size)).astype(np.float32)
        write_sanity_maps(
            tmp_path / f"results/sanity/vgg16/mae/{analyzer}.h5",
            SanityMaps(maps, ids[:3], [[], ["hc"]], attributes | {"layers": ["hc"]}, maps[-1]),
        )
    rules = ("--allowed-rules", "localization", "localization_summary", "figure")
    rules += ("sanity_similarity", "sanity_summary")
    target = "results/figures/localization.png"
    run_snakemake(tmp_path, config, "--cores", "2", target, *rules)
    summary = pd.read_csv(tmp_path / "results/localization.csv")
    assert list(summary["analyzer"]) == ["gradient", "random"]
    assert list(summary["n_images"]) == [6, 6]
    scores = pd.read_csv(tmp_path / "results/localization/vgg16/mae/fold2/random.csv")
    assert list(scores["image_id"]) == ids[4:]
    band = circle_oracle(size, 15.37, 16.23, 9.0, 2.0)[0]
    np.testing.assert_allclose(scores["band_share"], band.mean(), rtol=1e-5)
    # A changed band reruns every localization job, then the summary and the figure.
    wider = write_config(
        tmp_path / "wider.yaml",
        backbones=["vgg16"],
        losses=["mae"],
        analyzers=["gradient", "random"],
        statistics={"bootstrap_samples": 200},
        localization={"band_px": 3.0},
    )
    dry = run_snakemake(tmp_path, wider, "-n", target, *rules)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout, re.MULTILINE))
    counts.pop("total")
    assert counts == {
        "localization": "6",
        "localization_summary": "1",
        "figure": "1",
        "sanity_similarity": "2",  # the randomised maps' skull focus uses the band too
        "sanity_summary": "1",
    }
