"""Saliency analyzers on a small model: every method, SmoothGrad's sigma, gradients vs eager
autodiff, IG completeness, chunking invariance, and bad input. Runs in graph mode (its own
pytest run)."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from hcxai.core.io import InputError
from hcxai.data.hc18 import black_in_network_units, network_input
from hcxai.explain.analyzers import PAPER_ORDER, resolve
from hcxai.explain.innvestigate_backend import Explainer, rows_per_pass
from hcxai.models.regression import build_model, read_model_attributes, write_model_attributes

log = logging.getLogger(__name__)
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


# The oracle: tf.GradientTape in a fresh eager process (this one is in graph mode for good),
# on the saved model file: neither iNNvestigate nor hcxai takes part.
ORACLE = """
import sys
import numpy as np
import tensorflow as tf

data = np.load(sys.argv[2])
model = tf.keras.models.load_model(sys.argv[1], compile=False)
x = tf.constant(data["x"])
with tf.GradientTape() as tape:
    tape.watch(x)
    y = model(x, training=False)
    total = tf.reduce_sum(y)  # rows are independent: its gradient holds each image's
gradient = tape.gradient(total, x)
np.savez(
    sys.argv[3],
    gradient=gradient.numpy(),
    f_x=y.numpy()[:, 0],
    f_reference=model(tf.constant(data["reference"]), training=False).numpy()[:, 0],
)
"""


@pytest.fixture(scope="module")
def oracle(tiny_model, images, tmp_path_factory):
    """Eager autodiff gradients at the inputs, and the model's output at inputs and references."""
    x, reference = network_input(images), black_in_network_units(images)
    # The inputs themselves, written out: per-image z-score; black = raw 0 in those units.
    raw = images.astype(np.float64)
    mean, sd = raw.mean(axis=(1, 2), keepdims=True), raw.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(x[..., 1], (raw - mean) / sd, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reference[..., 2], np.broadcast_to(-mean / sd, raw.shape), rtol=1e-5)
    folder = tmp_path_factory.mktemp("oracle")
    np.savez(folder / "in.npz", x=x, reference=reference)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            ORACLE,
            str(tiny_model),
            str(folder / "in.npz"),
            str(folder / "out"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        check=False,
    )
    if done.returncode:
        raise AssertionError(f"the eager oracle failed:\n{done.stderr[-3000:]}")
    result = dict(np.load(folder / "out.npz"))
    return result | {"x": x, "reference": reference}


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("gradient", {"postprocess": None}, lambda g, x: g.sum(axis=-1)),
        ("gradient", {}, lambda g, x: np.abs(g).sum(axis=-1)),  # the default: abs
        ("input_x_gradient", {}, lambda g, x: (g * x).sum(axis=-1)),
    ],
    ids=["gradient", "gradient_abs", "input_x_gradient"],
)
def test_gradient_maps_equal_eager_autodiff(tiny_model, images, oracle, name, params, expected):
    """The map is the autodiff gradient (times the input), summed over the 3 channels."""
    _, maps = explain(tiny_model, images, name, **params)
    want = expected(oracle["gradient"], oracle["x"])
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(maps, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


IG_STEPS = 256
IG_COMPLETENESS = 0.01


def test_integrated_gradients_is_complete(tiny_model, images, oracle):
    """Completeness (Sundararajan et al.): sum of the IG map = f(x) - f(black), within 1%.

    f comes from the eager oracle. The relative error per image shrinks with the
    step count as a Riemann sum's (see `ig_completeness_errors` in the test log).
    """
    _, maps = explain(tiny_model, images, "integrated_gradients", steps=IG_STEPS)
    difference = oracle["f_x"] - oracle["f_reference"]
    assert np.abs(difference).min() > 1e-3  # the test needs a difference to explain
    error = np.abs(maps.sum(axis=(1, 2)) - difference) / np.abs(difference)
    log.info("IG completeness at %d steps: relative error per image %s", IG_STEPS, error)
    assert error.max() < IG_COMPLETENESS


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
    assert rows_per_pass(resnet, 2048, relevance=False) > 1.5 * rows_per_pass(
        resnet, 2048, relevance=True
    )
    assert rows_per_pass(plain, 2048, relevance=False) == rows_per_pass(plain, 2048, relevance=True)


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
        ("lrp", {"canonize": "yes"}, "canonize must be true"),
        ("lrp", {"variant": "lrp.nonsense"}, "must be one of the iNNvestigate LRP rules"),
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
