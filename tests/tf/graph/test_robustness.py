"""Max-sensitivity's TensorFlow side: maps of perturbed inputs from the built analyzer.

Oracles: on a linear model f(x) = sum of w * x, iNNvestigate's Gradient is w whatever the
input (max-sensitivity 0) and Input x Gradient is x * w summed over the channels, so its
max-sensitivity is max_k ||d_k * W|| / ||z * W|| with W the weights summed over the three
channels and z the z-scored scan; and on the tiny conv net, the file's unperturbed maps are
the saliency stage's maps of the same images. Runs in graph mode (its own pytest run).
"""

import numpy as np
import pytest
import tensorflow as tf
from test_saliency import IDS, SIZE, explain, images, save_model, tiny_model  # noqa: F401

from hcxai.data.hc18 import load_dataset, network_input
from hcxai.data.splits import first_test_ids
from hcxai.evaluate.robustness.max_sensitivity import (
    input_perturbations,
    max_sensitivity,
    read_robustness_maps,
)
from hcxai.evaluate.robustness.perturbed_maps import compute_robustness_maps
from hcxai.explain.analyzers import resolve
from hcxai.explain.innvestigate_backend import Explainer

SETTINGS = {"radius": 0.3, "samples": 3, "seed": 4}


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory):
    """f(x) = sum(w * x) + 0.5 with fixed random w (SIZE x SIZE x 3), saved as an hcxai model."""
    tf.compat.v1.disable_eager_execution()
    w = np.random.default_rng(1).standard_normal((SIZE * SIZE * 3, 1)).astype(np.float32)
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    dense = tf.keras.layers.Dense(1, name="hc")
    outputs = dense(tf.keras.layers.Flatten()(inputs))
    model = tf.keras.Model(inputs, outputs)
    dense.set_weights([w, np.array([0.5], np.float32)])
    path = save_model(model, tmp_path_factory.mktemp("linear") / "model.h5")
    return path, w.reshape(SIZE, SIZE, 3)


def maps_and_perturbed(model_path, scans, name, **params):
    explainer, maps = explain(model_path, scans, name, **params)
    offsets = input_perturbations(IDS, SIZE, **SETTINGS)
    perturbed = np.stack([explainer.explain(scans, IDS, offset) for offset in offsets], axis=1)
    return maps, perturbed, offsets


def test_linear_models_gradient_is_perfectly_robust(linear_model, images):  # noqa: F811
    path, _ = linear_model
    for params in ({}, {"postprocess": None}):
        maps, perturbed, _ = maps_and_perturbed(path, images, "gradient", **params)
        np.testing.assert_array_equal(max_sensitivity(maps, perturbed), 0.0)


def test_linear_models_input_x_gradient_has_its_closed_form(linear_model, images):  # noqa: F811
    path, w = linear_model
    maps, perturbed, offsets = maps_and_perturbed(path, images, "input_x_gradient")
    weights = w.sum(axis=-1)
    z = network_input(images)[..., 0]
    np.testing.assert_allclose(maps, z * weights, rtol=1e-4, atol=1e-5)
    expected = [
        max(np.linalg.norm(offsets[k, i] * weights) for k in range(3))
        / np.linalg.norm(z[i] * weights)
        for i in range(len(IDS))
    ]
    np.testing.assert_allclose(max_sensitivity(maps, perturbed), expected, rtol=1e-3)


def test_a_zero_offset_changes_nothing(tiny_model, images):  # noqa: F811
    explainer, maps = explain(tiny_model, images, "smoothgrad", augment_by_n=4)
    again = explainer.explain(images, IDS, np.zeros((len(IDS), SIZE, SIZE), np.float32))
    np.testing.assert_allclose(again, maps, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["gradient", "random"])
def test_robustness_file_of_the_stage(tiny_model, tiny_dataset, tmp_path, name):  # noqa: F811
    dataset, splits = tiny_dataset
    out = tmp_path / f"{name}.h5"
    compute_robustness_maps(
        str(tiny_model),
        dataset,
        splits,
        str(out),
        name,
        {},
        "tiny",
        "mae",
        fold=1,
        n_images=2,
        memory_budget_mb=256,
        **SETTINGS,
    )
    content = read_robustness_maps(out)
    data = load_dataset(dataset)
    ids = first_test_ids(splits, 1, 2, data.image_id, block="robustness")
    assert content.image_ids == ids
    assert content.perturbed_maps.shape == (2, 3, SIZE, SIZE)
    assert {k: content.attributes[k] for k in SETTINGS} == SETTINGS
    explainer = Explainer(str(tiny_model), resolve(name, {}), 256)
    expected = explainer.explain(data.images[data.index_of(ids)], ids)
    np.testing.assert_allclose(content.maps, expected, rtol=1e-4, atol=1e-7)
    scores = max_sensitivity(content.maps, content.perturbed_maps)
    if name == "random":  # a map that ignores its input does not move
        np.testing.assert_array_equal(scores, 0.0)
    else:
        assert (scores > 0).all()
