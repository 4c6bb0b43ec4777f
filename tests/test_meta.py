"""SpRAy meta-explanations (hcxai.meta) against maps whose grouping is planted."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from hcxai import meta
from hcxai.io import InputError
from hcxai.meta import spray_table
from hcxai.saliency_file import SaliencyFile, write_saliency

SIZE = 32


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
    spray = meta.spectral_relevance_analysis(maps, block=4, neighbours=5, max_clusters=6, seed=0)
    assert spray.labels.max() + 1 == len(counts)  # the eigengap found the count
    assert adjusted_rand_score(truth, spray.labels) == 1.0
    assert spray.embedding.shape == (len(maps), 2)
    # Cluster 0 is the largest.
    assert np.bincount(spray.labels)[0] == max(counts)


def test_maps_of_one_pattern_are_one_cluster():
    maps, _ = prototype_maps([20], noise=0.3)
    spray = meta.spectral_relevance_analysis(maps, block=4, neighbours=5, max_clusters=6, seed=0)
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
    settings = {"block": 4, "neighbours": 3, "max_clusters": 3, "seed": 0}
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
