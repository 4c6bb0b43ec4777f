"""Saliency analyzers on a small model: every method, SmoothGrad's sigma, IG vs a direct
computation, chunking invariance, and bad input. Runs in graph mode (its own pytest run)."""

import numpy as np
import pytest
import tensorflow as tf

from hcxai.data import black_in_network_units, network_input
from hcxai.io import InputError
from hcxai.models import build_model, write_model_attributes
from hcxai.saliency import (
    PAPER_ORDER,
    Explainer,
    read_model_attributes,
    resolve,
    rows_per_pass,
)

SIZE = 32
IDS = [f"{i:03d}_HC" for i in range(5)]


def save_model(model, path):
    model.save(path)
    write_model_attributes(path, hc_scale_px=1000.0, backbone="tiny", fold=0, image_size=SIZE)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small conv net with fixed random weights, saved as an hcxai model."""
    tf.compat.v1.disable_eager_execution()
    tf.keras.utils.set_random_seed(3)
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    x = tf.keras.layers.Conv2D(6, 3, activation="relu", padding="same")(inputs)
    x = tf.keras.layers.MaxPooling2D()(x)
    x = tf.keras.layers.Conv2D(6, 3, activation="relu", padding="same")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    # Positive weights: an HC is positive, and Deep Taylor explains positive outputs.
    positive = tf.keras.initializers.RandomUniform(0.1, 1.0)
    outputs = tf.keras.layers.Dense(1, kernel_initializer=positive, name="hc")(x)
    return save_model(tf.keras.Model(inputs, outputs), tmp_path_factory.mktemp("m") / "model.h5")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(len(IDS), SIZE, SIZE), dtype=np.uint8)


def explain(model_path, images, name, budget=512, **params):
    x = network_input(images)
    explainer = Explainer(
        model_path, resolve(name, params), budget, data_range=(float(x.min()), float(x.max()))
    )
    return explainer, explainer.explain(images, IDS)


@pytest.mark.parametrize("name", PAPER_ORDER)
def test_every_analyzer_gives_one_finite_map_per_image(tiny_model, images, name):
    params = {"smoothgrad": {"augment_by_n": 4}, "integrated_gradients": {"steps": 4}}
    _, maps = explain(tiny_model, images, name, **params.get(name, {}))
    assert maps.shape == (len(IDS), SIZE, SIZE) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert np.abs(maps).sum(axis=(1, 2)).min() > 0


def test_smoothgrad_with_zero_sigma_is_the_gradient(tiny_model, images):
    _, smooth = explain(
        tiny_model, images, "smoothgrad", noise_scale=0.0, augment_by_n=3, postprocess="abs"
    )
    _, gradient = explain(tiny_model, images, "gradient", postprocess="abs")
    np.testing.assert_allclose(smooth, gradient, rtol=1e-5, atol=1e-7)


def test_smoothgrad_honours_sigma(tiny_model, images):
    _, small = explain(tiny_model, images, "smoothgrad", noise_scale=0.01, augment_by_n=8)
    _, large = explain(tiny_model, images, "smoothgrad", noise_scale=0.3, augment_by_n=8)
    _, gradient = explain(tiny_model, images, "gradient", postprocess="square")
    assert not np.allclose(small, large, rtol=1e-2)
    # A small sigma stays closer to the plain (squared) gradient than a large one.
    assert np.abs(small - gradient).mean() < np.abs(large - gradient).mean()


def test_integrated_gradients_matches_a_direct_computation(tiny_model, images):
    steps = 7
    explainer, maps = explain(tiny_model, images, "integrated_gradients", steps=steps)
    model = explainer.model
    gradient_of = tf.keras.backend.function([model.input], tf.gradients(model.output, model.input))
    x, reference = network_input(images), black_in_network_units(images)
    expected = []
    for xi, ri in zip(x, reference, strict=True):
        path = np.stack([ri + a * (xi - ri) for a in np.linspace(0, 1, steps)])
        expected.append((gradient_of([path])[0].mean(axis=0) * (xi - ri)).sum(axis=-1))
    np.testing.assert_allclose(maps, np.stack(expected), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gradient", {}),
        ("smoothgrad", {"augment_by_n": 6}),
        ("integrated_gradients", {"steps": 6}),
        ("lrp", {}),
    ],
)
def test_chunks_give_the_same_maps_as_one_pass(tiny_model, images, name, params):
    explainer, whole = explain(tiny_model, images, name, budget=4096, **params)
    assert explainer.rows_per_pass >= len(IDS) * 6  # one pass
    explainer.rows_per_pass = 1  # every row alone
    chunked = explainer.explain(images, IDS)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["gradient", "lrp"])
def test_graph_optimization_does_not_change_the_maps(tiny_model, images, name):
    x = network_input(images)
    maps = {
        optimize: Explainer(
            tiny_model,
            resolve(name),
            data_range=(float(x.min()), float(x.max())),
            graph_optimization=optimize,
        ).explain(images, IDS)
        for optimize in (True, False)
    }
    np.testing.assert_allclose(maps[False], maps[True], rtol=1e-5, atol=1e-8)


def test_gradient_passes_hold_more_rows_where_batchnorm_and_add_outputs_are_freed(tiny_model):
    """LRP keeps every layer output; a gradient pass frees BatchNorm and Add outputs."""
    resnet = build_model("resnet50", SIZE)
    plain = tf.keras.models.load_model(tiny_model, compile=False)
    assert rows_per_pass(resnet, 2048, "gradient") > 1.5 * rows_per_pass(resnet, 2048, "lrp")
    assert rows_per_pass(plain, 2048, "gradient") == rows_per_pass(plain, 2048, "lrp")


def test_integrated_gradients_works_on_resnet50(tmp_path, images):
    model = build_model("resnet50", SIZE)
    model.get_layer("hc").set_weights([np.full((2048, 1), 1e-3, np.float32), np.zeros(1)])
    path = save_model(model, tmp_path / "resnet50.h5")
    _, maps = explain(path, images[:2], "integrated_gradients", steps=3)
    assert np.isfinite(maps).all() and np.abs(maps).sum() > 0


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("occlusion", {}, "'occlusion' is unknown"),
        ("smoothgrad", {"sigma": 0.2}, "unknown parameter(s) ['sigma']"),
        ("gradient", {"postprocess": "cube"}, "postprocess must be one of"),
        ("lrp", {"variant": "lrp.nonsense"}, "not an iNNvestigate LRP rule"),
        ("integrated_gradients", {"steps": 0}, "positive integer"),
    ],
)
def test_bad_analyzer_settings_fail_before_work(name, params, message):
    with pytest.raises(InputError) as error:
        resolve(name, params)
    assert message in str(error.value)


def test_a_model_that_is_not_ours_is_refused(tmp_path):
    tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)]).save(tmp_path / "x.h5")
    with pytest.raises(InputError, match="not an hcxai model"):
        read_model_attributes(tmp_path / "x.h5")
