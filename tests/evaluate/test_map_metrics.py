"""The metric registry and the generic map-metric stage: per-image scores from files, the
summary against the two baselines, and the scorecard's columns.

Oracles: maps whose Gini is known in closed form (one pixel: (n-1)/n), the edge baseline
recomputed here by hand (z-score, then scikit-image's Sobel), max-sensitivity of a linear
model's Input x Gradient in closed form, and planted per-image differences whose sign and
significance are known.
"""

import importlib

import numpy as np
import pandas as pd
import pytest
from conftest import write_dataset
from skimage.filters import sobel

from hcxai.core.io import InputError
from hcxai.data.ellipse import Ellipse
from hcxai.evaluate.map_metrics import EDGE, PER_IMAGE, score_metric, summarise, write_summary
from hcxai.evaluate.registry import BASELINES, METRICS, MapSet, metric
from hcxai.evaluate.robustness.max_sensitivity import (
    RobustnessMaps,
    input_perturbations,
    write_robustness_maps,
)
from hcxai.evaluate.scorecard import _map_metrics
from hcxai.explain.saliency_file import SaliencyFile, write_saliency

SIZE = 16
IDS = ["001_HC", "002_HC", "003_HC", "004_HC"]
BOOT = {"confidence": 0.95, "n_resamples": 500, "seed": 1}


def test_every_entry_lives_in_its_category_and_scores_each_image():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, SIZE, SIZE))
    for name, entry in METRICS.items():
        assert entry.name == name and entry.better in ("higher", "lower")
        importlib.import_module(f"hcxai.evaluate.{entry.category}")  # its sub-package
        perturbed = maps[:, None] + 0.01 * rng.standard_normal((3, 2, SIZE, SIZE))
        scores = entry.score(MapSet(maps, perturbed))
        assert scores.shape == (3,) and np.isfinite(scores).all(), name
        assert entry.scorecard_columns[0] == name


def test_an_unknown_metric_names_the_key_and_the_registered_ones():
    with pytest.raises(InputError, match=r"unknown metric 'gini' in `metrics`.*sparseness"):
        metric("gini")


def per_image(values: dict[str, list[float]], name: str = "sparseness") -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("vgg16", "mae", name, analyzer, 0, f"{i:03d}_HC", v)
            for analyzer, column in values.items()
            for i, v in enumerate(column)
        ],
        columns=list(PER_IMAGE),
    )


def test_planted_differences_are_judged_on_the_metrics_better_side():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.3, 0.5, 20)
    values = {
        "gradient": list(base + 0.2),  # higher than both baselines on every image
        "random": list(base),
        EDGE: list(base + rng.normal(0, 0.01, 20)),
    }
    higher = summarise(per_image(values, "sparseness"), **BOOT, alpha=0.05).set_index("analyzer")
    lower = summarise(per_image(values, "entropy"), **BOOT, alpha=0.05).set_index("analyzer")
    assert higher.loc["gradient", "better_than_edge"]
    assert higher.loc["gradient", "better_than_random"]
    assert higher.loc["gradient", "minus_random"] == pytest.approx(0.2)
    # The same numbers on a lower-is-better metric are significantly worse, not better.
    assert not lower.loc["gradient", "better_than_edge"]
    assert lower.loc["gradient", "p_vs_edge_holm"] < 0.05
    # A baseline is not compared with itself.
    assert np.isnan(higher.loc[EDGE, "p_vs_edge"]) and np.isnan(higher.loc["random", "p_vs_random"])


def test_ties_and_undefined_scores_are_no_evidence():
    values = {"gradient": [0.5, 0.4, np.nan, 0.3], "random": [0.5, 0.4, 0.2, 0.3], EDGE: [0.1] * 4}
    row = summarise(per_image(values), **BOOT, alpha=0.05).set_index("analyzer").loc["gradient"]
    assert row["n_images"] == 3  # the blank map's NaN is left out
    assert row["p_vs_random"] == 1.0 and not row["better_than_random"]
    assert row["minus_random"] == 0.0


def test_the_random_control_is_required():
    with pytest.raises(InputError, match="add `random` to `analyzers`"):
        summarise(per_image({"gradient": [0.1, 0.2], EDGE: [0.1, 0.2]}), **BOOT, alpha=0.05)


def scans(tmp_path):
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (len(IDS), SIZE, SIZE)).astype(np.uint8)
    dataset = tmp_path / "dataset.h5"
    write_dataset(dataset, IDS, [Ellipse(8, 8, 4, 3, 0)] * len(IDS), SIZE, images)
    return dataset, images


def zscore(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float64)
    return (x - x.mean()) / x.std()


def test_saliency_metric_scores_every_analyzer_and_the_edge_baseline(tmp_path):
    dataset, images = scans(tmp_path)
    paths = []
    for fold, ids in enumerate((IDS[:2], IDS[2:])):
        for analyzer in ("gradient", "random"):
            maps = np.zeros((2, SIZE, SIZE), np.float32)
            maps[:, 3, 3] = 1.0  # one pixel: Gini (n - 1) / n
            labels = {"backbone": "vgg16", "loss": "mae", "fold": fold, "analyzer": analyzer}
            path = tmp_path / f"{analyzer}{fold}.h5"
            write_saliency(path, SaliencyFile(maps, ids, np.ones(2), np.ones(2), labels))
            paths.append(str(path))
    table = score_metric("sparseness", paths, str(dataset), "vgg16", "mae")
    n = SIZE * SIZE
    for analyzer in ("gradient", "random"):
        rows = table[table["analyzer"] == analyzer]
        assert rows["image_id"].tolist() == IDS and rows["fold"].tolist() == [0, 0, 1, 1]
        np.testing.assert_allclose(rows["score"], (n - 1) / n)
    edge = table[table["analyzer"] == EDGE].set_index("image_id")["score"]
    expected = [METRICS["sparseness"].score(MapSet(sobel(zscore(i))[None]))[0] for i in images]
    np.testing.assert_allclose(edge[IDS], expected, rtol=1e-6)


def test_robustness_metric_reads_the_perturbed_maps_and_perturbs_the_edge_map_alike(tmp_path):
    dataset, images = scans(tmp_path)
    ids = IDS[:3]
    rng = np.random.default_rng(5)
    w = rng.standard_normal((SIZE, SIZE))
    x = rng.standard_normal((3, SIZE, SIZE))
    settings = {"radius": 0.2, "samples": 3, "seed": 9}
    offsets = input_perturbations(ids, SIZE, **settings)
    paths = []
    for analyzer, maps, perturbed in (
        ("input_x_gradient", x * w, np.stack([(x + d) * w for d in offsets], axis=1)),
        ("random", x, np.repeat(x[:, None], 3, axis=1)),
    ):
        attributes = {"analyzer": analyzer, "backbone": "vgg16", "loss": "mae", "fold": 0}
        content = RobustnessMaps(maps, perturbed, ids, attributes | settings)
        write_robustness_maps(tmp_path / f"{analyzer}.h5", content)
        paths.append(str(tmp_path / f"{analyzer}.h5"))
    table = score_metric("max_sensitivity", paths, str(dataset), "vgg16", "mae")
    scores = table.set_index(["analyzer", "image_id"])["score"]
    closed_form = [
        max(np.linalg.norm(offsets[k, i] * w) for k in range(3)) / np.linalg.norm(x[i] * w)
        for i in range(3)
    ]
    np.testing.assert_allclose(scores["input_x_gradient"][ids], closed_form, rtol=1e-5)
    np.testing.assert_array_equal(scores["random"][ids], 0.0)
    edge_by_hand = []
    for i in range(3):
        z = zscore(images[i])
        change = max(np.linalg.norm(sobel(z + offsets[k, i]) - sobel(z)) for k in range(3))
        edge_by_hand.append(change / np.linalg.norm(sobel(z)))
    np.testing.assert_allclose(scores[EDGE][ids], edge_by_hand, rtol=1e-4)


def test_files_of_different_images_or_settings_are_refused(tmp_path):
    dataset, _ = scans(tmp_path)
    paths = []
    for analyzer, ids, seed in (("gradient", IDS[:2], 1), ("random", IDS[1:3], 1)):
        attributes = {"analyzer": analyzer, "backbone": "vgg16", "loss": "mae", "fold": 0}
        settings = {"radius": 0.1, "samples": 1, "seed": seed}
        maps = np.ones((2, SIZE, SIZE))
        content = RobustnessMaps(maps, maps[:, None], ids, attributes | settings)
        write_robustness_maps(tmp_path / f"{analyzer}.h5", content)
        paths.append(str(tmp_path / f"{analyzer}.h5"))
    with pytest.raises(InputError, match=r"different images per analyzer.*robustness_maps"):
        score_metric("max_sensitivity", paths, str(dataset), "vgg16", "mae")


def test_summary_file_and_the_scorecard_columns_come_from_the_registry(tmp_path):
    rng = np.random.default_rng(6)
    files = []
    for name in METRICS:
        values = {a: list(rng.uniform(0, 1, 8)) for a in ("gradient", "random", EDGE)}
        path = tmp_path / f"{name}.csv"
        per_image(values, name).to_csv(path, index=False)
        files.append(str(path))
    out = tmp_path / "map_metrics.csv"
    write_summary(files, str(out), confidence=0.95, bootstrap_samples=200, seed=1, alpha=0.05)
    summary = pd.read_csv(out)
    assert set(summary["metric"]) == set(METRICS)
    assert set(summary["analyzer"]) == {"gradient", "random", EDGE}
    columns = _map_metrics(summary)
    assert list(columns.columns) == [c for m in METRICS.values() for c in m.scorecard_columns]
    assert ("vgg16", "mae", EDGE) not in columns.index
    gradient = summary[(summary["analyzer"] == "gradient") & (summary["metric"] == "entropy")]
    assert columns.loc[("vgg16", "mae", "gradient"), "entropy"] == gradient["mean"].item()
    assert all(f"entropy_better_than_{b}" in columns for b in BASELINES)


@pytest.mark.parametrize(("n", "detectable"), [(8, False), (10, True)])
def test_the_smallest_reachable_holm_p_says_when_no_test_can_pass(n, detectable):
    """Eight analyzers, each better than both baselines on every image: the exact two-sided
    Wilcoxon p is 2 / 2^n, Holm multiplies the smallest by 8. With 8 images that is
    0.0625 >= alpha, so even a perfect signal is not significant; with 10, 0.0156."""
    rng = np.random.default_rng(n)
    base = rng.uniform(0.3, 0.4, n)
    values = {f"a{k}": list(base + 0.1 + 0.01 * k) for k in range(8)}
    values |= {"random": list(base), EDGE: list(base + 0.01)}
    summary = summarise(per_image(values), **BOOT, alpha=0.05).set_index("analyzer")
    expected = 8 * 2 / 2**n
    assert summary["min_p_holm"].tolist() == pytest.approx([expected] * 10)
    assert summary.loc["a0", "p_vs_edge_holm"] == pytest.approx(expected)
    assert summary.loc["a0", "better_than_edge"] == detectable
