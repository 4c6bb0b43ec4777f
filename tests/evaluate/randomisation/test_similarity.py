"""The model-randomisation check's workflow side, on maps whose answer is known beforehand:
an explanation that ignores the model (the same map at every stage, or the input image
itself) must be flagged; a map against an independent random map has rank correlation ~0;
a map against itself has SSIM 1. Also the stage plan, the maps file, the figure and the
rules (dry run). Workflow env: no TensorFlow is installed here, so importing the modules
proves they do not need it."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import run_snakemake, write_config, write_dataset
from scipy import stats as scipy_stats

from hcxai.core.io import InputError
from hcxai.data.ellipse import Ellipse
from hcxai.evaluate.randomisation.maps_file import SanityMaps, read_sanity_maps, write_sanity_maps
from hcxai.evaluate.randomisation.model_maps import (
    check_settings,
    cumulative_stages,
    stage_groups,
    weighted_layers,
)
from hcxai.evaluate.randomisation.similarity import (
    data_randomisation_verdict,
    similarities,
    spearman,
    ssim,
    stage_table,
    verdict,
    write_stage_similarity,
    write_summary,
)

SIZE = 40
N = 8
STATISTICS = {"bootstrap_samples": 200, "confidence": 0.95, "seed": 1}
GROUPS = [["hc", "conv3"], ["bn2", "conv2"], ["conv1"]]
# The skull band of every image, for the tests that do not look at it: a ring.
RING = np.abs(np.hypot(*np.mgrid[:SIZE, :SIZE] - SIZE / 2) - 12) <= 2
HEAD = np.hypot(*np.mgrid[:SIZE, :SIZE] - SIZE / 2) <= 12  # the ring's inside


def phantom_like_images(n: int = N, seed: int = 0) -> np.ndarray:
    """Bright rings on speckle: images with structure, as an input-copying map would show."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images = []
    for _ in range(n):
        cx, cy, r = rng.uniform(15, 25), rng.uniform(15, 25), rng.uniform(8, 14)
        ring = np.exp(-(((np.hypot(xx - cx, yy - cy) - r) / 1.5) ** 2))
        images.append(ring + 0.2 * rng.random((SIZE, SIZE)))
    return np.stack(images).astype(np.float32)


def content(
    maps: np.ndarray,
    analyzer: str = "x",
    backbone: str = "net",
    permuted: np.ndarray | None = None,
) -> SanityMaps:
    """Stages x images maps; the permuted-label model's maps are the last stage's unless given."""
    stages = cumulative_stages(GROUPS[: maps.shape[0] - 1])
    return SanityMaps(
        maps=maps.astype(np.float32),
        image_ids=[f"{i:03d}_HC" for i in range(maps.shape[1])],
        stages=stages,
        attributes={
            "analyzer": analyzer,
            "backbone": backbone,
            "loss": "mae",
            "params": {"seed": 1},
            "layers": ["conv1", "bn2", "conv2", "conv3", "hc"],
        },
        permuted_label_maps=(maps[-1] if permuted is None else permuted).astype(np.float32),
    )


def table_of(maps: np.ndarray, **labels) -> pd.DataFrame:
    """`stage_table` of stages x images x s x s maps, each image's band the ring."""
    n = maps.shape[1]
    return stage_table(
        content(maps, **labels), STATISTICS, np.stack([RING] * n), np.stack([HEAD] * n)
    )


def test_an_explanation_that_ignores_the_model_is_flagged():
    """The input image as the 'explanation' at every stage: similarity 1 when fully randomised."""
    images = phantom_like_images()
    table = table_of(np.stack([images] * 4))
    last = table.iloc[-1]
    assert last["stage"] == 3 and last["layers_reinitialised"] == 5
    for metric in ("spearman_abs", "spearman", "ssim"):
        assert last[f"{metric}_mean"] == pytest.approx(1.0)
        assert last[f"{metric}_ci_low"] == pytest.approx(1.0)  # no spread: the CI is the value
    assert table["similar_to_trained"].all()
    assert verdict(table) == "fails"


def test_maps_independent_of_the_trained_ones_pass():
    """Stages 1..3 are independent random maps: rank correlation ~0 (sd 1/sqrt(1599) per image)."""
    rng = np.random.default_rng(3)
    maps = rng.standard_normal((4, N, SIZE, SIZE))
    table = table_of(maps)
    later = table[table["stage"] > 0]
    assert (later[["spearman_abs_mean", "spearman_mean"]].abs() < 0.05).all().all()
    assert (later["ssim_mean"].abs() < 0.1).all()  # no shared structure
    assert not later["similar_to_trained"].any()
    assert verdict(table) == "passes"
    first = table.iloc[0]  # stage 0 against itself
    assert first[["spearman_abs_mean", "spearman_mean", "ssim_mean"]].tolist() == pytest.approx(
        [1.0, 1.0, 1.0]
    )


def test_the_measures_on_known_pairs():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((SIZE, SIZE))
    assert ssim(a, a) == pytest.approx(1.0)
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, a**3 + 5) == pytest.approx(1.0)  # ranks only: any increasing map
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.abs(a), np.abs(-a)) == pytest.approx(1.0)
    # Each map is normalised by its own largest |value|: a change of scale alone is no change.
    assert ssim(a, 1000 * a) == pytest.approx(1.0)
    assert ssim(a, -a) == pytest.approx(1.0)  # SSIM compares |map|
    assert np.isnan(spearman(a, np.zeros_like(a)))  # a constant map has no ranks


def test_constant_maps_score_zero_against_a_trained_map_and_nan_without_one():
    rng = np.random.default_rng(6)
    trained = rng.standard_normal((3, SIZE, SIZE))
    trained[2] = 0.0  # image 2's trained map is blank: nothing to compare with
    stage1 = np.stack([trained[0], np.zeros((SIZE, SIZE)), rng.standard_normal((SIZE, SIZE))])
    per_image = similarities(content(np.stack([trained, stage1])))
    stage = per_image[per_image["stage"] == 1]
    assert stage["spearman_abs"].tolist()[:2] == [1.0, 0.0]  # a blank map kept no ranks
    assert np.isnan(stage["spearman_abs"].tolist()[2])
    table = table_of(np.stack([trained, stage1]))
    assert table.iloc[1]["spearman_abs_n"] == 2 and table.iloc[1]["spearman_abs_mean"] == 0.5
    assert table["constant_maps"].tolist() == [1, 1]


@pytest.mark.parametrize(("blank", "expected"), [(N // 2, "passes"), (N // 2 + 1, "undetermined")])
def test_a_verdict_on_mostly_blank_randomised_maps_is_undetermined(blank, expected):
    """Half the randomised maps blank (Deep Taylor of a negative output) still decides;
    one more and the verdict would rest on blank maps."""
    rng = np.random.default_rng(8)
    trained = rng.standard_normal((N, SIZE, SIZE))
    randomised = rng.standard_normal((N, SIZE, SIZE))
    randomised[:blank] = 0.0
    table = table_of(np.stack([trained, randomised]))
    assert table.iloc[-1]["constant_maps"] == blank and verdict(table) == expected


def shared_pattern_maps(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """N maps: a pattern common to every image (the fan, the skull) + image-specific noise;
    and the shared part alone."""
    rng = np.random.default_rng(seed)
    shared = 3.0 * np.abs(rng.standard_normal((SIZE, SIZE)))
    return shared + rng.standard_normal((N, SIZE, SIZE)), shared


def test_a_method_at_its_floor_passes_though_its_maps_correlate():
    """IG's case: trained maps of different images already correlate (floor ~0.6). A
    randomised network that keeps only the shared pattern is at the floor: it passes, where
    a fixed threshold of 0.5 on the similarity would call it a failure."""
    rng = np.random.default_rng(10)
    trained, shared = shared_pattern_maps(seed=11)
    randomised = shared + rng.standard_normal(trained.shape)  # nothing of each image's own
    table = table_of(np.stack([trained, randomised]))
    last = table.iloc[-1]
    assert last["floor_mean"] > 0.4 and last["spearman_abs_mean"] > 0.4
    assert last["excess_ci_low"] <= 0 and verdict(table) == "passes"
    assert last["excess_n"] == N


def test_a_method_that_keeps_its_images_maps_fails_though_they_correlate_weakly():
    """Trained maps of different images independent (floor ~0); the randomised network
    keeps each image's own map under much noise (Spearman ~0.3): above the floor, fails."""
    rng = np.random.default_rng(12)
    trained = rng.standard_normal((N, SIZE, SIZE))
    randomised = trained + 2.0 * rng.standard_normal(trained.shape)
    table = table_of(np.stack([trained, randomised]))
    last = table.iloc[-1]
    assert abs(last["floor_mean"]) < 0.1 and 0.1 < last["spearman_abs_mean"] < 0.5
    assert last["excess_ci_low"] > 0 and verdict(table) == "fails"


def test_the_excess_interval_is_students_t():
    """Against scipy's one-sample t-test interval (an independent computation)."""

    from hcxai.stats.inference import mean_t_ci

    values = np.random.default_rng(13).exponential(size=9)
    interval = mean_t_ci(values, 0.9)
    expected = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.9)
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high))
    assert interval.n == 9 and interval.mean == pytest.approx(values.mean())
    assert np.isnan(mean_t_ci(values[:1], 0.9).low)


def test_pair_and_summary_files(tmp_path):
    rng = np.random.default_rng(7)
    images = phantom_like_images()
    dataset = tmp_path / "dataset.h5"
    ids = content(images[None]).image_ids
    write_dataset(dataset, ids, [Ellipse(20.0, 20.0, 12.0, 12.0, 0.0)] * N, SIZE)
    ignoring = np.stack([images] * 3)
    random = rng.standard_normal((3, N, SIZE, SIZE))
    for name, maps in (("ignoring", ignoring), ("random_maps", random)):
        write_sanity_maps(tmp_path / f"{name}.h5", content(maps, analyzer=name))
        write_stage_similarity(
            tmp_path / f"{name}.h5", dataset, tmp_path / f"{name}.csv", STATISTICS, 2.0
        )
    write_summary([tmp_path / "ignoring.csv", tmp_path / "random_maps.csv"], tmp_path / "s.csv")
    summary = pd.read_csv(tmp_path / "s.csv")
    columns = ["verdict", "fails_check", "data_randomisation_verdict"]
    verdicts = summary.groupby("analyzer")[columns].first()
    assert verdicts.to_dict("index") == {
        "ignoring": {
            "verdict": "fails",
            "fails_check": True,
            "data_randomisation_verdict": "fails",
        },
        "random_maps": {
            "verdict": "passes",
            "fails_check": False,
            "data_randomisation_verdict": "passes",
        },
    }
    assert len(summary) == 6 and summary["stage"].tolist() == [0, 1, 2] * 2
    # The input-copying maps keep their skull focus (scored against the data set's
    # circle, with localization's own band): nothing lost at any stage.
    focus = summary.set_index(["analyzer", "stage"])["skull_focus_mean"]
    assert focus["ignoring", 0] == focus["ignoring", 2] > 1
    lost = summary.set_index(["analyzer", "stage"])["skull_focus_lost_mean"]
    assert lost["ignoring", 2] == 0
    assert summary.loc[summary["stage"] == 2, "down_to"].tolist() == ["conv2"] * 2


def test_maps_file_round_trip_and_damage(tmp_path):
    maps = np.random.default_rng(8).standard_normal((3, 2, SIZE, SIZE))
    write_sanity_maps(tmp_path / "m.h5", content(maps))
    found = read_sanity_maps(tmp_path / "m.h5")
    np.testing.assert_array_equal(found.maps, maps.astype(np.float32))
    assert found.stages == [[], ["hc", "conv3"], ["hc", "conv3", "bn2", "conv2"]]
    assert found.attributes["params"] == {"seed": 1} and found.analyzer == "x"
    with h5py.File(tmp_path / "m.h5", "a") as h5:
        del h5.attrs["stages"]
    with pytest.raises(InputError, match="rule sanity_maps"):
        read_sanity_maps(tmp_path / "m.h5")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"bad\.h5"):
        read_sanity_maps(tmp_path / "bad.h5")


def test_stage_groups_from_the_output_backwards():
    layers = ["conv1", "bn1", "conv2", "bn2", "conv3", "dense", "hc"]
    groups = stage_groups(layers, 3)
    assert groups == [["hc", "dense", "conv3"], ["bn2", "conv2"], ["bn1", "conv1"]]
    assert stage_groups(layers, 1) == [list(reversed(layers))]
    assert cumulative_stages(groups)[2] == ["hc", "dense", "conv3", "bn2", "conv2"]
    with pytest.raises(InputError, match=r"sanity\.stages is 8 .* 7 layers"):
        stage_groups(layers, 8, "m.h5")


def test_weighted_layers_read_from_a_keras_file(tmp_path):
    """The HDF5 layout Keras writes: model_weights/<layer> with its weight_names, in order."""
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as h5:
        group = h5.create_group("model_weights")
        names = ["input_1", "conv1", "pool", "hc"]
        group.attrs["layer_names"] = [n.encode() for n in names]
        for name in names:
            weights = [f"{name}/kernel:0".encode()] if name in ("conv1", "hc") else []
            group.create_group(name).attrs["weight_names"] = weights
    assert weighted_layers(path) == [(1, "conv1"), (3, "hc")]
    (tmp_path / "x.h5").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"x\.h5"):
        weighted_layers(tmp_path / "x.h5")


def test_sanity_fold_must_exist():
    check_settings({"fold": 2}, folds=3)
    with pytest.raises(InputError, match=r"sanity\.fold is 3 .* folds: 3"):
        check_settings({"fold": 3}, folds=3)


def test_the_figure(tmp_path):
    from hcxai.evaluate.randomisation.similarity import METRIC_LABELS
    from hcxai.figures.inputs import with_model
    from hcxai.figures.plots import plot_sanity

    rng = np.random.default_rng(9)
    images = phantom_like_images(2)
    rows = []
    maps = {}
    for analyzer, stack in (
        ("ignoring", np.stack([images] * 3)),
        ("random_maps", rng.standard_normal((3, 2, SIZE, SIZE))),
    ):
        table = table_of(stack, analyzer=analyzer)
        rows.append(
            table.assign(
                verdict=verdict(table), data_randomisation_verdict=data_randomisation_verdict(table)
            )
        )
        maps[("net/mae", analyzer)] = stack[:, 0]
    summary = with_model(pd.concat(rows, ignore_index=True))
    figure = plot_sanity(
        maps, {"net/mae": images[0]}, summary, METRIC_LABELS, str(tmp_path / "f.png")
    )
    assert (tmp_path / "f.png").stat().st_size > 0
    # 2 rows x (input + 3 stages) map panels, then one curve panel per metric.
    assert len(figure.axes) == 2 * 4 + 3
    labels = [axis.get_ylabel() for axis in figure.axes[:8]]
    assert "net/mae\nignoring\nFAILS" in labels and "net/mae\nrandom_maps" in labels
    curve = figure.axes[-3]  # spearman_abs
    drawn = {container.get_label(): container.lines[0] for container in curve.containers}
    assert drawn["ignoring"].get_linestyle() == "--" and drawn["random_maps"].get_linestyle() == "-"
    # The permuted-label model (here the last stage's maps): a star right of the last stage.
    stars = [c.lines[0] for c in curve.containers if c.lines[0].get_marker() == "*"]
    assert [tuple(star.get_xdata()) for star in stars] == [(3,), (3,)]
    permuted = summary.groupby("analyzer", sort=False)["permuted_spearman_abs_mean"].first()
    np.testing.assert_allclose([star.get_ydata()[0] for star in stars], permuted)
    assert curve.get_xticklabels()[-1].get_text() == "labels\nshuffled"
    # Hollow when the permuted-label maps fail (the image-copying maps), filled otherwise.
    faces = [star.get_markerfacecolor() for star in stars]
    assert faces[0] == "none" and faces[1] != "none"


@pytest.mark.slow
def test_rules_dry_run(tmp_path):
    """The DAG: one maps job per backbone x analyzer on fold sanity.fold's models only."""
    config = write_config(tmp_path / "c.yaml", sanity={"fold": 1, "stages": 2})
    done = run_snakemake(tmp_path, config, "-n", "--cores", "1", "results/figures/sanity.png")
    counts = {
        words[0]: int(words[1])
        for words in map(str.split, done.stdout.splitlines())
        if len(words) == 2 and words[1].isdigit()
    }
    analyzers, models = 3, 2 * 2  # config/test.yaml: 2 backbones x 2 losses
    assert counts["sanity_maps"] == counts["sanity_similarity"] == analyzers * models
    assert counts["sanity_summary"] == counts["figure"] == 1
    assert counts["train"] == counts["train_permuted_labels"] == models
    assert "results/models/resnet50/huber/fold1/model.h5" in done.stdout
    assert "results/models/resnet50/huber/permuted_labels/model.h5" in done.stdout
    assert "fold0/model.h5" not in done.stdout
    bad = write_config(tmp_path / "bad.yaml", sanity={"fold": 3})
    failed = run_snakemake(tmp_path, bad, "-n", check=False)
    assert failed.returncode != 0 and "sanity.fold is 3" in failed.stdout + failed.stderr


def test_localization_along_the_cascade_is_paired_with_the_trained_maps():
    """Trained maps = the band itself: skull focus P / K on every image (closed form);
    fully randomised maps = |noise|: what they lost is the paired difference, its CI
    scipy's one-sample t interval and its p scipy's Wilcoxon; a blank map drops its image."""
    rng = np.random.default_rng(21)
    trained = np.stack([RING.astype(np.float32)] * N)
    randomised = np.abs(rng.standard_normal((N, SIZE, SIZE))).astype(np.float32)
    randomised[0] = 0.0  # blank: NaN skull focus, left out of the pair
    table = table_of(np.stack([trained, randomised]))
    first, last = table.iloc[0], table.iloc[1]
    assert first["skull_focus_mean"] == pytest.approx(RING.size / RING.sum())
    assert first["skull_focus_lost_mean"] == 0 and np.isnan(first["skull_focus_lost_p"])
    focus = np.array([(m * RING).sum() / m.sum() * RING.size / RING.sum() for m in randomised[1:]])
    lost = RING.size / RING.sum() - focus
    assert last["skull_focus_mean"] == pytest.approx(focus.mean())
    assert last["skull_focus_lost_mean"] == pytest.approx(lost.mean())
    t = scipy_stats.ttest_1samp(lost, 0.0).confidence_interval(0.95)
    assert (last["skull_focus_lost_ci_low"], last["skull_focus_lost_ci_high"]) == pytest.approx(
        (t.low, t.high)
    )
    assert last["skull_focus_lost_p"] == pytest.approx(scipy_stats.wilcoxon(lost).pvalue)
    # Rank accuracy and the head's positive share, in closed form: the band map's top K
    # pixels are the band (1.0); its share inside the head is the ring's pixels there.
    assert first["rank_accuracy_mean"] == pytest.approx(1.0)
    assert first["positive_inside_head_mean"] == pytest.approx((RING & HEAD).sum() / RING.sum())
    top = [np.argsort(m.ravel())[-RING.sum() :] for m in randomised[1:]]
    rank = np.array([RING.ravel()[t].mean() for t in top])
    assert last["rank_accuracy_mean"] == pytest.approx(rank.mean())
    assert last["rank_accuracy_lost_mean"] == pytest.approx(1.0 - rank.mean())
    head = np.array([m[HEAD].sum() / m.sum() for m in randomised[1:]])
    assert last["positive_inside_head_mean"] == pytest.approx(head.mean())
    assert last["positive_inside_head_lost_p"] == pytest.approx(
        scipy_stats.wilcoxon((RING & HEAD).sum() / RING.sum() - head).pvalue
    )


@pytest.mark.parametrize(
    ("permuted", "expected"),
    [("trained", "fails"), ("independent", "passes"), ("mostly_blank", "undetermined")],
)
def test_the_data_randomisation_verdict_compares_the_permuted_label_maps_with_the_floor(
    permuted, expected
):
    """Adebayo's data randomisation on maps whose answer is known: a model trained on
    shuffled labels whose maps equal the trained maps (Spearman 1 on every image) fails;
    independent maps pass (at the floor of independent trained maps, ~0); mostly blank
    maps decide nothing. The model-randomisation verdict is not touched by it."""
    rng = np.random.default_rng(31)
    trained = rng.standard_normal((N, SIZE, SIZE))
    randomised = rng.standard_normal((N, SIZE, SIZE))
    maps = {
        "trained": trained,
        "independent": rng.standard_normal((N, SIZE, SIZE)),
        "mostly_blank": np.concatenate([np.zeros((N // 2 + 1, SIZE, SIZE)), trained[N // 2 + 1 :]]),
    }[permuted]
    table = table_of(np.stack([trained, randomised]), permuted=maps)
    row = table.iloc[0]
    assert (table["permuted_excess_mean"] == row["permuted_excess_mean"]).all()  # per file
    if permuted == "trained":
        assert row["permuted_spearman_abs_mean"] == pytest.approx(1.0)
    assert data_randomisation_verdict(table) == expected
    assert verdict(table) == "passes"
