"""One prediction path for the whole workflow: eager batches equal Keras' `predict`."""

import numpy as np
import pytest

from hcxai.models import PREDICT_BATCH, build_model, configure_tensorflow, predict_hc_px


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_a_single_eager_prediction_equals_keras_predict(backbone):
    configure_tensorflow(1, seed=0)
    model = build_model(backbone, 32)
    # More rows than one batch, not a multiple of it: the last batch is short.
    x = np.random.default_rng(0).uniform(-1, 1, (PREDICT_BATCH + 7, 32, 32, 3)).astype("float32")
    keras = predict_hc_px(model, x, 1000.0)
    eager = predict_hc_px(model, x, 1000.0, once=True)
    assert eager.shape == (PREDICT_BATCH + 7,)
    np.testing.assert_allclose(eager, keras, rtol=1e-6, atol=1e-9)
