"""SpRAy meta-explanations (hcxai.evaluate.meta.spray) against maps whose grouping is planted."""

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from scipy.stats import kruskal
from sklearn.metrics import adjusted_rand_score

from hcxai.core.io import InputError, read_table
from hcxai.evaluate.meta import spray as meta
from hcxai.evaluate.meta.spray import spray_table
from hcxai.explain.saliency_file import SaliencyFile, write_saliency
from hcxai.figures.plots import draw_meta_explanation, plot_meta_explanation

SIZE = 32
SETTINGS = {"block": 4, "neighbours": 5, "max_clusters": 6, "seed": 0, "stability_subsamples": 0}


def prototype_maps(counts: list[int], noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Maps made from len(counts) known prototypes (a bright square each, in different
    places) plus Gaussian noise; returns (maps, which prototype made each)."""
    rng = np.random.default_rng(seed)
    corners = [(2, 2), (18, 18), (2, 18), (18, 2)]
    maps, truth = [], []
    for label, count in enumerate(counts):
        prototype = np.zeros((SIZE, SIZE))
        r, c = corners[label]
        prototype[r : r + 12, c : c + 12] = 1.0
        for _ in range(count):
            maps.append(prototype + noise * rng.standard_normal((SIZE, SIZE)))
            truth.append(label)
    order = rng.permutation(len(maps))
    return np.array(maps)[order], np.array(truth)[order]


@pytest.mark.parametrize("counts", [[14, 10], [9, 8, 7]])
def test_maps_from_known_prototypes_split_into_those_clusters(counts):
    maps, truth = prototype_maps(counts, noise=0.3)
    spray = meta.spectral_relevance_analysis(maps, **SETTINGS)
    assert spray.labels.max() + 1 == len(counts)  # the eigengap found the count
    assert adjusted_rand_score(truth, spray.labels) == 1.0
    assert spray.embedding.shape == (len(maps), 2)
    # Cluster 0 is the largest.
    assert np.bincount(spray.labels)[0] == max(counts)


def test_maps_of_one_pattern_are_one_cluster():
    maps, _ = prototype_maps([20], noise=0.3)
    spray = meta.spectral_relevance_analysis(maps, **SETTINGS)
    assert set(spray.labels) == {0}


def test_block_pattern_by_hand():
    maps = np.zeros((2, 4, 4))
    maps[0, :2, :2] = -2.0  # all relevance in the top-left block, negative
    maps[0, 2:, 2:] = 2.0  # and the same amount in the bottom-right one
    pattern = meta.block_pattern(maps, block=2)
    np.testing.assert_allclose(pattern[0], [0.5, 0, 0, 0.5])
    np.testing.assert_array_equal(pattern[1], 0)  # no relevance: stays zero
    with pytest.raises(ValueError, match="does not divide"):
        meta.block_pattern(maps, block=3)


def test_eigengap_counts_the_components_of_a_disconnected_graph():
    # Three cliques: the Laplacian has eigenvalue 0 three times, then a gap.
    blocks = [np.ones((n, n)) - np.eye(n) for n in (4, 5, 6)]
    affinity = np.zeros((15, 15))
    start = 0
    for block in blocks:
        n = len(block)
        affinity[start : start + n, start : start + n] = block
        start += n
    count, eigenvalues = meta.eigengap_clusters(affinity, max_clusters=6)
    assert count == 3
    np.testing.assert_allclose(eigenvalues[:3], 0, atol=1e-10)


def test_cluster_summary_and_means():
    per_image = pd.DataFrame({"cluster": [0, 0, 1], "abs_error_px": [1.0, 3.0, 10.0]})
    summary = meta.cluster_summary(per_image)
    assert summary["n_images"].tolist() == [2, 1]
    assert summary["mean_abs_error_px"].tolist() == [2.0, 10.0]
    maps = np.zeros((3, 2, 2))
    maps[0, 0, 0], maps[1, 0, 0], maps[2, 1, 1] = 1.0, -3.0, 5.0
    means = meta.cluster_means(maps, np.array([0, 0, 1]))
    np.testing.assert_allclose(means[0], [[1, 0], [0, 0]])
    np.testing.assert_allclose(means[1], [[0, 0], [0, 1]])


def saliency_file(path, ids, **labels):
    maps = np.random.default_rng(len(ids)).random((len(ids), 8, 8)).astype(np.float32)
    hc = np.full(len(ids), 100.0)
    write_saliency(path, SaliencyFile(maps, ids, hc, hc + np.arange(len(ids)), labels))


def test_spray_takes_one_model_x_analyzers_files_and_their_labels(tmp_path):
    """The table's labels are the files' own; files of two models or analyzers, or a file
    without its labels, are refused with the file named (not labelled by the first file)."""
    model = {"backbone": "vgg16", "loss": "huber", "analyzer": "gradient"}
    paths = [tmp_path / f"fold{k}.h5" for k in range(3)]
    for k, path in enumerate(paths):
        saliency_file(path, [f"{k}{i}_HC" for i in range(6)], **model, fold=k)
    settings = {**SETTINGS, "neighbours": 3, "max_clusters": 3}
    table, _, _ = spray_table([str(p) for p in paths], **settings)
    assert set(table["loss"]) == {"huber"} and set(table["backbone"]) == {"vgg16"}
    assert table["fold"].tolist() == [0] * 6 + [1] * 6 + [2] * 6
    np.testing.assert_allclose(table["abs_error_px"], list(range(6)) * 3)
    saliency_file(paths[2], ["x_HC"], **{**model, "loss": "mae"}, fold=2)
    with pytest.raises(InputError, match=f"{paths[2]} holds .*'mae'"):
        spray_table([str(p) for p in paths], **settings)
    saliency_file(paths[2], ["x_HC"], backbone="vgg16", analyzer="gradient", fold=2)
    with pytest.raises(InputError, match=rf"{paths[2]} .*loss"):
        spray_table([str(p) for p in paths], **settings)


def planted_errors(truth: np.ndarray, per_cluster: list[np.ndarray]) -> np.ndarray:
    """Each image's absolute error: the next value of its true cluster's list."""
    errors = np.empty(len(truth))
    for label, values in enumerate(per_cluster):
        errors[truth == label] = values
    return errors


def test_planted_error_differences_between_clusters_are_significant():
    """Oracle: scipy's Kruskal-Wallis on the hand-built groups (SpRAy recovers them)."""
    maps, truth = prototype_maps([9, 8, 7], noise=0.3)
    rng = np.random.default_rng(0)
    groups = [rng.normal(mean, 5.0, count) for mean, count in ((60, 9), (120, 8), (200, 7))]
    spray = meta.spectral_relevance_analysis(maps, **SETTINGS)
    table = pd.DataFrame({"cluster": spray.labels, "abs_error_px": planted_errors(truth, groups)})
    p = meta.errors_differ_p(table)
    assert p == pytest.approx(kruskal(*groups).pvalue)
    assert p < 1e-3


def test_identical_error_distributions_do_not_differ():
    """Both clusters hold the same 12 errors: Kruskal-Wallis' H is 0, p is 1."""
    maps, truth = prototype_maps([12, 12], noise=0.3)
    values = np.random.default_rng(0).uniform(50, 150, 12)
    spray = meta.spectral_relevance_analysis(maps, **SETTINGS)
    table = pd.DataFrame(
        {"cluster": spray.labels, "abs_error_px": planted_errors(truth, [values, values[::-1]])}
    )
    assert meta.errors_differ_p(table) == pytest.approx(1.0)
    assert meta.errors_differ_p(table) > 0.05


@pytest.mark.parametrize(
    ("clusters", "errors"),
    [([0, 0, 0], [1.0, 2.0, 3.0]), ([0, 0, 1], [1.0, 2.0, 30.0])],
    ids=["one cluster", "a cluster of one image"],
)
def test_untestable_error_differences_are_nan(clusters, errors):
    table = pd.DataFrame({"cluster": clusters, "abs_error_px": errors})
    assert np.isnan(meta.errors_differ_p(table))


def test_a_planted_clustering_is_stable_and_one_without_structure_is_not():
    """Two well separated prototypes: every 80% subsample gives the same partition
    (ARI 1, same count). Maps with a square at a random place each have no grouping to
    recover: the eigengap's partition changes with the subsample."""
    settings = {**SETTINGS, "stability_subsamples": 20}
    planted = meta.spectral_relevance_analysis(prototype_maps([14, 10], noise=0.3)[0], **settings)
    assert planted.stability.ari_mean == pytest.approx(1.0)
    assert planted.stability.same_k_share == 1.0
    rng = np.random.default_rng(0)
    blobs = np.zeros((48, SIZE, SIZE))
    for blob in blobs:
        r, c = rng.integers(0, SIZE - 8, 2)
        blob[r : r + 8, c : c + 8] = 1.0
    unstructured = meta.spectral_relevance_analysis(blobs, **settings)
    assert unstructured.stability.ari_mean < planted.stability.ari_mean - 0.1
    assert unstructured.stability.same_k_share < 1.0
    off = meta.spectral_relevance_analysis(blobs, **SETTINGS).stability
    assert np.isnan(off.ari_mean) and np.isnan(off.same_k_share)


def test_stability_subsamples_is_validated_by_the_schema():
    """The `meta` block of the config schema (what Snakemake's validate applies)."""
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    block = schema["properties"]["meta"]
    jsonschema.validate({"stability_subsamples": 0}, block)
    assert block["properties"]["stability_subsamples"]["default"] == 20
    with pytest.raises(jsonschema.ValidationError, match="-1 is less than the minimum of 0"):
        jsonschema.validate({"stability_subsamples": -1}, block)


def test_meta_files_and_summary_carry_the_test_and_the_stability(tmp_path):
    """Two analyzers of one model through the job and the summary: per cluster its rows,
    per analyzer the Kruskal-Wallis p (scipy's on the files' groups), its flag at alpha,
    and the stability row the job wrote."""
    model = {"backbone": "vgg16", "loss": "huber"}
    maps, truth = prototype_maps([12, 12], noise=0.3)
    errors = np.where(truth == 0, 10.0, 200.0) + np.arange(len(truth))
    ids = [f"{i:03d}_HC" for i in range(len(truth))]
    saliency, tables, figures = [], [], []
    for analyzer in ("gradient", "lrp_z"):
        path = tmp_path / f"{analyzer}.h5"
        labels = {**model, "analyzer": analyzer, "fold": 0}
        write_saliency(path, SaliencyFile(maps.astype(np.float32), ids, 0 * errors, errors, labels))
        saliency.append([str(path)])
        tables.append(str(tmp_path / f"{analyzer}.csv"))
        figures.append(str(tmp_path / f"{analyzer}.png"))
    stability = str(tmp_path / "stability.csv")
    settings = {**SETTINGS, "stability_subsamples": 3}
    meta.write_meta_explanations(
        saliency, tables, figures, stability, settings, draw=draw_meta_explanation
    )
    rows = read_table(stability, meta.STABILITY_TABLE, unique=["analyzer"])
    assert rows["stability_subsamples"].tolist() == [3, 3]
    assert rows["stability_same_k_share"].tolist() == [1.0, 1.0]

    out = tmp_path / "meta.csv"
    meta.write_meta_summary(tables, [stability], str(out), alpha=0.05)
    summary = pd.read_csv(out)
    assert summary["n_clusters"].tolist() == [2] * 4
    expected = kruskal(errors[truth == 0], errors[truth == 1]).pvalue
    np.testing.assert_allclose(summary["errors_differ_p"], expected, rtol=1e-5)  # %.6g
    # Holm over the model's 2 analyzers with equal p: both adjusted to 2p (closed form).
    np.testing.assert_allclose(summary["errors_differ_p_holm"], 2 * expected, rtol=1e-5)
    assert summary["errors_differ"].all()
    np.testing.assert_allclose(summary["stability_ari_mean"], 1.0)
    # Between p and Holm's 2p: significant unadjusted, not after the correction.
    meta.write_meta_summary(tables, [stability], str(out), alpha=1.5 * expected)
    assert not pd.read_csv(out)["errors_differ"].any()

    pd.read_csv(stability).iloc[:1].to_csv(stability, index=False)
    with pytest.raises(InputError, match=r"no stability row .*lrp_z"):
        meta.write_meta_summary(tables, [stability], str(out), alpha=0.05)


def test_the_figure_shows_the_spectrum_and_the_eigengaps_choice():
    maps, _ = prototype_maps([14, 10], noise=0.3)
    spray = meta.spectral_relevance_analysis(maps, **SETTINGS)
    table = pd.DataFrame(
        {"backbone": "vgg16", "loss": "huber", "analyzer": "gradient", "cluster": spray.labels}
    ).assign(tsne_x=spray.embedding[:, 0], tsne_y=spray.embedding[:, 1], abs_error_px=1.0)
    figure = plot_meta_explanation(table, meta.cluster_means(maps, spray.labels), spray.eigenvalues)
    spectrum = figure.axes[0]
    np.testing.assert_allclose(spectrum.lines[0].get_ydata(), spray.eigenvalues)
    assert spectrum.lines[1].get_xdata()[0] == 2.5  # between the 2nd and the 3rd eigenvalue
