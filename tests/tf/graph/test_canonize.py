"""BatchNorm canonization: the merged model computes the same function, and on it LRP-z is
Input x Gradient (Ancona et al., ICLR 2018: the two are equal for ReLU networks whose
other layers are linear), on both backbones. The oracle, Input x Gradient, is computed by
iNNvestigate on the original, unmerged model."""

import numpy as np
import pytest
import tensorflow as tf

from hcxai.core.io import InputError
from hcxai.data.hc18 import network_input
from hcxai.explain.analyzers import resolve
from hcxai.explain.canonize import merge_batchnorm, merged_kernel_and_bias
from hcxai.explain.innvestigate_backend import Explainer
from hcxai.models.regression import build_model, write_model_attributes

SIZE = 32
IDS = [f"{i:03d}_HC" for i in range(3)]


def randomised_model(backbone: str) -> tf.keras.Model:
    """A regression model with random weights and BatchNorm statistics far from identity."""
    tf.compat.v1.disable_eager_execution()
    tf.keras.utils.set_random_seed(5)
    model = build_model(backbone, SIZE)
    rng = np.random.default_rng(5)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            channels = layer.get_weights()[0].shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, channels),  # gamma
                    rng.normal(0.0, 0.2, channels),  # beta
                    rng.normal(0.0, 0.2, channels),  # moving mean
                    rng.uniform(0.5, 2.0, channels),  # moving variance
                ]
            )
    head = model.get_layer("hc")
    head.set_weights([rng.normal(0.0, 0.1, head.get_weights()[0].shape), np.ones(1)])
    return model


@pytest.fixture(scope="module", params=["vgg16", "resnet50"])
def saved_model(request, tmp_path_factory):
    model = randomised_model(request.param)
    path = tmp_path_factory.mktemp(request.param) / "model.h5"
    model.save(path)
    write_model_attributes(
        path, hc_scale_px=1000.0, backbone=request.param, fold=0, image_size=SIZE
    )
    return request.param, model, path


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (len(IDS), SIZE, SIZE), dtype=np.uint8)


def test_merged_model_predicts_like_the_original(saved_model, images):
    backbone, model, _ = saved_model
    merged = merge_batchnorm(model)
    assert not any(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in merged.layers)
    if backbone == "resnet50":
        assert len(merged.layers) == len(model.layers) - 53  # ResNet50 has 53 BatchNorms
    x = network_input(images)
    original, canonized = model.predict(x, verbose=0), merged.predict(x, verbose=0)
    np.testing.assert_allclose(canonized, original, rtol=1e-5)


def test_merged_kernel_matches_batchnorm_of_a_convolution_by_hand():
    # One channel, a 1x1 "convolution" x -> 2x + 1, then BN with gamma 3, beta -1,
    # mean 4, variance 0.25 (eps 0): y = 3 * (2x + 1 - 4) / 0.5 - 1 = 12x - 19.
    kernel, bias = merged_kernel_and_bias(
        np.array([[[[2.0]]]]),
        np.array([1.0]),
        np.array([3.0]),
        np.array([-1.0]),
        np.array([4.0]),
        np.array([0.25]),
        0.0,
    )
    assert kernel.ravel().tolist() == [12.0] and bias.tolist() == [-19.0]


def explainer(path, name, images, **params):
    x = network_input(images)
    return Explainer(path, resolve(name, params), 4096, data_range=(float(x.min()), float(x.max())))


def test_lrp_z_equals_input_x_gradient_on_every_pixel(saved_model, images):
    _, _, path = saved_model
    lrp = explainer(path, "lrp", images).relevance(images, IDS)
    oracle = explainer(path, "input_x_gradient", images).relevance(images, IDS)
    scale = np.abs(oracle).max(axis=(1, 2, 3), keepdims=True)
    assert (np.abs(lrp - oracle) <= 1e-4 * scale).all()


def test_canonize_false_keeps_innvestigates_batchnorm_rule(saved_model, images):
    """The switch reaches the analyzer: unmerged, ResNet50 LRP is not Input x Gradient."""
    backbone, _, path = saved_model
    raw = explainer(path, "lrp", images, canonize=False)
    assert any(type(layer).__name__ == "BatchNormalization" for layer in raw.model.layers) == (
        backbone == "resnet50"
    )
    if backbone == "resnet50":
        maps = raw.relevance(images, IDS)
        oracle = explainer(path, "input_x_gradient", images).relevance(images, IDS)
        scale = np.abs(oracle).max(axis=(1, 2, 3), keepdims=True)
        assert (np.abs(maps - oracle) > 1e-3 * scale).mean() > 0.05


def test_a_batchnorm_that_cannot_be_merged_is_refused():
    tf.compat.v1.disable_eager_execution()
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, activation="relu")(inputs)  # non-linear before BN
    x = tf.keras.layers.BatchNormalization()(x)
    outputs = tf.keras.layers.Dense(1)(tf.keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(InputError, match="canonize: false"):
        merge_batchnorm(tf.keras.Model(inputs, outputs))
