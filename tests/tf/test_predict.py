"""One prediction path for the whole workflow: eager batches equal Keras' `predict`."""

import numpy as np
import pytest

from hcxai.models.regression import PREDICT_BATCH, build_model, configure_tensorflow, predict_hc_px


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_a_single_eager_prediction_equals_keras_predict(backbone):
    configure_tensorflow(1, seed=0)
    model = build_model(backbone, 32)
    # The head starts at zero (every output 0): give it weights, or any path agrees.
    head = model.get_layer("hc")
    kernel, bias = head.get_weights()
    rng = np.random.default_rng(1)
    head.set_weights([rng.normal(size=kernel.shape).astype("float32"), bias + 0.5])
    # More rows than one batch, not a multiple of it: the last batch is short.
    x = np.random.default_rng(0).uniform(-1, 1, (PREDICT_BATCH + 7, 32, 32, 3)).astype("float32")
    keras = predict_hc_px(model, x, 1000.0)
    eager = predict_hc_px(model, x, 1000.0, once=True)
    assert eager.shape == (PREDICT_BATCH + 7,)
    assert np.ptp(keras) > 0  # the outputs differ between images: a real comparison
    np.testing.assert_allclose(eager, keras, rtol=1e-6, atol=1e-9)
