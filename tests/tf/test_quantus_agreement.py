"""hcxai's complexity and robustness metrics agree with Quantus 0.6.0 (an independent
implementation): Sparseness (Gini), Complexity (entropy) and MaxSensitivity.

Quantus is given the same maps, and for MaxSensitivity the same model (a linear Keras
model, single output: `softmax=False`, a constant `y_batch`), the same explanation
(Input x Gradient of a linear model, x * w) and the same perturbations (replayed from
hcxai's per-image streams), with `normalise=False` and `abs` as hcxai defines each metric.
Quantus adds 1e-7 (Gini) and 1e-12 (inside the log) to every value: the tolerance.
"""

import numpy as np
import pytest
import quantus
import tensorflow as tf

from hcxai.evaluate.complexity.spread import entropy, gini
from hcxai.evaluate.robustness.max_sensitivity import (
    input_perturbations,
    max_sensitivity,
)

SIZE = 12
IDS = ["001_HC", "002_HC", "003_HC", "004_HC"]


@pytest.fixture(scope="module")
def linear():
    """f(x) = sum(w * x) over one channel, as a Keras model, and its w."""
    w = np.random.default_rng(1).standard_normal((SIZE * SIZE, 1)).astype(np.float32)
    inputs = tf.keras.Input((1, SIZE, SIZE))
    dense = tf.keras.layers.Dense(1)
    model = tf.keras.Model(inputs, dense(tf.keras.layers.Flatten()(inputs)))
    dense.set_weights([w, np.zeros(1, np.float32)])
    return model, w.reshape(SIZE, SIZE)


def test_quantus_is_the_pinned_version():
    assert quantus.__version__ == "0.6.0"


def test_sparseness_and_complexity_agree(linear):
    model, _ = linear
    rng = np.random.default_rng(0)
    x = rng.standard_normal((len(IDS), 1, SIZE, SIZE)).astype(np.float32)
    maps = rng.standard_normal((len(IDS), 1, SIZE, SIZE)) * rng.uniform(0.1, 5, (len(IDS), 1, 1, 1))
    maps[0] = 0
    maps[0, 0, 3, 4] = 2.0  # one pixel
    y = np.zeros(len(IDS), dtype=int)
    common = {
        "normalise": False,
        "abs": True,
        "disable_warnings": True,
        "display_progressbar": False,
    }
    theirs_gini = quantus.Sparseness(**common)(
        model=model, x_batch=x, y_batch=y, a_batch=maps.astype(np.float32), softmax=False
    )
    theirs_entropy = quantus.Complexity(**common)(
        model=model, x_batch=x, y_batch=y, a_batch=maps.astype(np.float32), softmax=False
    )
    np.testing.assert_allclose(gini(maps[:, 0]), theirs_gini, atol=1e-5)
    np.testing.assert_allclose(entropy(maps[:, 0]), theirs_entropy, atol=1e-5)


def test_max_sensitivity_agrees(linear):
    model, w = linear
    rng = np.random.default_rng(2)
    x = rng.standard_normal((len(IDS), 1, SIZE, SIZE)).astype(np.float32)
    samples = 5
    offsets = input_perturbations(IDS, SIZE, radius=0.2, samples=samples, seed=3)
    replay = iter(offsets)

    def perturb(arr, **_):
        return arr + next(replay).reshape(arr.shape)

    def input_x_gradient(model, inputs, targets, **_):
        return np.asarray(inputs) * w

    metric = quantus.MaxSensitivity(
        nr_samples=samples,
        perturb_func=perturb,
        normalise=False,
        abs=False,
        return_nan_when_prediction_changes=False,
        disable_warnings=True,
        display_progressbar=False,
    )
    theirs = metric(
        model=model,
        x_batch=x,
        y_batch=np.zeros(len(IDS), dtype=int),
        a_batch=x * w,
        explain_func=input_x_gradient,
        softmax=False,
        batch_size=len(IDS),
    )
    perturbed = np.stack([(x[:, 0] + d) * w for d in offsets], axis=1)
    ours = max_sensitivity(x[:, 0] * w, perturbed)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
