"""Max-sensitivity against closed forms on a linear model, and its input perturbations.

Oracle: for f(x) = w.x, Gradient's map is w at every input (max-sensitivity 0) and Input x
Gradient's is x * w, so its max-sensitivity is max_k ||d_k * w|| / ||x * w||, computed
here sample by sample. The noise: bounded by the radius, uniform (mean 0, variance r^2/3
over many draws), one stream per image whatever the batch.
"""

import h5py
import numpy as np
import pytest

from hcxai.core.io import InputError
from hcxai.evaluate.robustness.max_sensitivity import (
    RobustnessMaps,
    avg_sensitivity,
    input_perturbations,
    max_sensitivity,
    read_robustness_maps,
    write_robustness_maps,
)

IDS = ["001_HC", "002_HC", "003_HC"]
SIZE = 8


def linear_maps(x: np.ndarray, w: np.ndarray, offsets: np.ndarray):
    """Gradient and Input x Gradient maps of f(x) = w.x at x and at x + each offset."""
    gradient = np.broadcast_to(w, x.shape)
    perturbed_gradient = np.broadcast_to(w, (len(x), len(offsets), *w.shape))
    ixg = x * w
    perturbed_ixg = np.stack([(x + d) * w for d in offsets], axis=1)
    return (gradient, perturbed_gradient), (ixg, perturbed_ixg)


def test_linear_model_gradient_is_perfectly_robust_and_ixg_has_its_closed_form():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, SIZE, SIZE))
    w = rng.standard_normal((SIZE, SIZE))
    offsets = input_perturbations(IDS, SIZE, radius=0.2, samples=5, seed=1)
    (g, g_perturbed), (ixg, ixg_perturbed) = linear_maps(x, w, offsets)
    np.testing.assert_array_equal(max_sensitivity(g, g_perturbed), 0.0)
    expected = [
        max(np.linalg.norm(offsets[k, i] * w) for k in range(5)) / np.linalg.norm(x[i] * w)
        for i in range(3)
    ]
    np.testing.assert_allclose(max_sensitivity(ixg, ixg_perturbed), expected, rtol=1e-6)


def test_average_sensitivity_closed_form_on_a_linear_model():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, SIZE, SIZE))
    w = rng.standard_normal((SIZE, SIZE))
    offsets = input_perturbations(IDS, SIZE, radius=0.2, samples=4, seed=2)
    (g, g_perturbed), (ixg, ixg_perturbed) = linear_maps(x, w, offsets)
    np.testing.assert_array_equal(avg_sensitivity(g, g_perturbed), 0.0)
    expected = [
        np.mean([np.linalg.norm(offsets[k, i] * w) for k in range(4)]) / np.linalg.norm(x[i] * w)
        for i in range(3)
    ]
    np.testing.assert_allclose(avg_sensitivity(ixg, ixg_perturbed), expected, rtol=1e-6)
    # Scale-free: twice the map, the same sensitivity.
    np.testing.assert_allclose(
        avg_sensitivity(2 * ixg, 2 * ixg_perturbed), avg_sensitivity(ixg, ixg_perturbed)
    )


def test_the_largest_change_counts_not_the_mean():
    maps = np.ones((1, 2, 2))
    perturbed = np.stack([np.ones((2, 2)), np.ones((2, 2)) * 3, np.ones((2, 2)) * 1.5])[None]
    assert max_sensitivity(maps, perturbed) == pytest.approx([2.0])  # ||2||/||1|| per pixel
    assert avg_sensitivity(maps, perturbed) == pytest.approx([(0 + 2 + 0.5) / 3])


def test_blank_map_is_undefined():
    maps = np.zeros((1, 2, 2))
    assert np.isnan(max_sensitivity(maps, np.ones((1, 3, 2, 2))))[0]


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        max_sensitivity(np.ones((2, 4, 4)), np.ones((2, 3, 4, 5)))


def test_perturbations_are_bounded_uniform_and_one_stream_per_image():
    offsets = input_perturbations(IDS, SIZE, radius=0.3, samples=400, seed=5)
    assert offsets.shape == (400, 3, SIZE, SIZE) and offsets.dtype == np.float32
    assert np.abs(offsets).max() <= 0.3
    assert abs(offsets.mean()) < 0.01
    assert offsets.var() == pytest.approx(0.3**2 / 3, rel=0.02)
    # An image's noise does not depend on which other images share the call, nor its place.
    alone = input_perturbations(["003_HC"], SIZE, radius=0.3, samples=400, seed=5)
    np.testing.assert_array_equal(alone[:, 0], offsets[:, 2])
    # A changed seed changes every image's noise; images get different noise.
    other = input_perturbations(IDS, SIZE, radius=0.3, samples=400, seed=6)
    assert not np.allclose(other, offsets)
    assert not np.allclose(offsets[:, 0], offsets[:, 1])


def robustness_file(path, samples=2):
    maps = np.ones((3, SIZE, SIZE), np.float32)
    attributes = dict(analyzer="gradient", backbone="vgg16", loss="mae", fold=0)
    attributes |= dict(radius=0.1, samples=samples, seed=1, params={"a": 1})
    content = RobustnessMaps(maps, np.ones((3, samples, SIZE, SIZE)), IDS, attributes)
    write_robustness_maps(path, content)
    return content


def test_file_round_trip(tmp_path):
    path = tmp_path / "gradient.h5"
    robustness_file(path)
    read = read_robustness_maps(path)
    assert read.image_ids == IDS and read.perturbed_maps.shape == (3, 2, SIZE, SIZE)
    assert read.attributes["radius"] == 0.1 and read.attributes["params"] == '{"a": 1}'


def test_damaged_files_are_named_with_the_rule(tmp_path):
    path = tmp_path / "gradient.h5"
    robustness_file(path)
    with h5py.File(path, "a") as h5:
        h5.attrs["samples"] = 3  # the maps hold 2 samples
    with pytest.raises(InputError, match=r"gradient\.h5.*3 samples.*robustness_maps"):
        read_robustness_maps(path)
    path.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"cannot be read.*robustness_maps"):
        read_robustness_maps(path)
    robustness_file(path)
    with h5py.File(path, "a") as h5:
        h5["perturbed_maps"][0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        read_robustness_maps(path)
