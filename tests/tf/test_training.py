"""Regression CNNs and their training: backbones, weights, bad input, reproducibility."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from hcxai.core.io import InputError
from hcxai.models import regression as models
from hcxai.models.regression import build_model, load_model, write_model_attributes
from hcxai.models.training import load_fold, make_loss, train_fold


def training_settings(**changes) -> dict:
    """A tiny training config: one epoch of MAE from scratch, unless changed."""
    return {
        "loss": "mae",
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "lr_schedule": "constant",
        "weights": "none",
        "patience": 1,
        "dropout": 0.0,
        "seed": 5,
    } | changes


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_regression_head_is_one_linear_unit_in_a_flat_graph(backbone):
    model = build_model(backbone, 32)
    assert model.output_shape == (None, 1)
    assert model.get_layer("hc").activation is tf.keras.activations.linear
    # Flat: no layer is itself a model (iNNvestigate cannot analyze nested models).
    assert not any(isinstance(layer, tf.keras.Model) for layer in model.layers)


@pytest.mark.parametrize(
    ("backbone", "size", "message"),
    [
        ("alexnet", 64, "backbone 'alexnet' is unknown"),
        ("vgg16", 16, "too small for vgg16"),
        ("resnet50", 31, "too small for resnet50"),
    ],
)
def test_bad_backbone_or_size(backbone, size, message):
    with pytest.raises(InputError, match=message):
        build_model(backbone, size)


def test_weights_from_a_file_are_loaded(tmp_path):
    source = tf.keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    source.save_weights(tmp_path / "vgg16_notop.h5")
    model = build_model("vgg16", 32, weights=str(tmp_path / "vgg16_notop.h5"))
    np.testing.assert_array_equal(
        model.get_layer("block5_conv3").get_weights()[0],
        source.get_layer("block5_conv3").get_weights()[0],
    )


def test_weights_that_do_not_fit_or_do_not_exist(tmp_path):
    source = tf.keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    source.save_weights(tmp_path / "vgg16_notop.h5")
    with pytest.raises(InputError, match="is not a resnet50 weights file"):
        build_model("resnet50", 32, weights=str(tmp_path / "vgg16_notop.h5"))
    with pytest.raises(InputError, match="neither none, imagenet nor an existing file"):
        build_model("vgg16", 32, weights=str(tmp_path / "missing.h5"))


def test_imagenet_without_cache_or_network_says_what_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_network_is_reachable", lambda: False)
    with pytest.raises(InputError) as error:
        build_model("resnet50", 32, weights="imagenet")
    expected = tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(expected) in str(error.value) and "make weights" in str(error.value)


def test_training_is_reproducible_and_predictions_are_complete(tiny_dataset, tmp_path):
    dataset, splits = tiny_dataset
    training = training_settings(epochs=2, patience=2)
    runs = []
    for run in ("a", "b"):
        out = {
            k: str(tmp_path / run / f"{k}{ext}")
            for k, ext in [
                ("model", ".h5"),
                ("history", ".csv"),
                ("predictions", ".csv"),
                ("metrics", ".json"),
            ]
        }
        train_fold(dataset, splits, "vgg16", 1, out, training, augment_factor=2, threads=1)
        runs.append(out)
    a, b = (pd.read_csv(r["predictions"]) for r in runs)
    np.testing.assert_allclose(a["hc_pred_px"], b["hc_pred_px"], atol=1e-5)
    # Every val and test image of the fold exactly once; mm = px x pixel size.
    split = pd.read_csv(splits)
    fold = split[(split["fold"] == 1) & split["role"].isin(["val", "test"])]
    assert sorted(zip(a["image_id"], a["role"], strict=True)) == sorted(
        zip(fold["image_id"], fold["role"], strict=True)
    )
    assert a["image_id"].is_unique
    from hcxai.data.hc18 import load_dataset

    data = load_dataset(dataset)
    pixel_size = data.pixel_size_mm[data.index_of(list(a["image_id"]))]
    np.testing.assert_allclose(a["abs_err_mm"], a["abs_err_px"] * pixel_size)
    _, attributes = load_model(runs[0]["model"])
    assert attributes["backbone"] == "vgg16" and attributes["hc_scale_px"] > 0
    with open(runs[0]["metrics"]) as handle:
        metrics = json.load(handle)
    assert metrics["n_test"] == (a["role"] == "test").sum()
    assert metrics["baseline_mae_px"] > 0
    assert metrics["weights"] == {"setting": "none", "file": None, "sha256": None}


def test_the_permuted_label_model_trains_on_shuffled_training_targets(tiny_dataset, tmp_path):
    """Adebayo's data randomisation: the training images keep their HC values (the oracle
    is the data set file read directly) but no longer their own; validation and test keep
    the true targets; every epoch runs, without augmentation."""
    from hcxai.data.hc18 import load_dataset

    dataset, splits = tiny_dataset
    training = training_settings(epochs=3)
    files = {"model": ".h5", "history": ".csv", "predictions": ".csv", "metrics": ".json"}
    runs = {}
    for permuted in (False, True):
        out = {name: str(tmp_path / f"{permuted}{name}{ext}") for name, ext in files.items()}
        # Asked for x2 augmentation, the permuted run trains without (as the real run here).
        augment = 2 if permuted else 1
        train_fold(dataset, splits, "vgg16", 0, out, training, augment, permute_labels=permuted)
        runs[permuted] = out
    data = load_dataset(dataset)
    predictions = pd.read_csv(runs[True]["predictions"])
    real = data.hc_px[data.index_of(list(predictions["image_id"]))]
    np.testing.assert_allclose(predictions["hc_true_px"], real, rtol=1e-6)
    with open(runs[True]["metrics"]) as handle:
        metrics = json.load(handle)
    assert metrics["permuted_labels"] is True and metrics["augment_factor"] == 1
    _, attributes = load_model(runs[True]["model"])
    assert attributes["permuted_labels"] is True
    assert len(pd.read_csv(runs[True]["history"])) == training["epochs"]  # no early stop
    # Same seed, same start, same batches: only the targets differ, so the training does
    # (over the epochs both ran; the first epoch's mean loss of a near-constant start is
    # the same for any order of the targets, so it alone would not show it).
    histories = {p: pd.read_csv(r["history"])[["loss", "val_mae_px"]] for p, r in runs.items()}
    n = min(map(len, histories.values()))
    assert not np.allclose(histories[True][:n], histories[False][:n], rtol=1e-6)
    # The fold: training targets shuffled among the training images, the rest untouched.
    fold = load_fold(dataset, splits, 0)
    shuffled = fold.with_permuted_targets(np.random.default_rng(0))
    np.testing.assert_array_equal(shuffled.images("train"), fold.images("train"))
    train_hc = shuffled.hc_px("train")
    np.testing.assert_array_equal(np.sort(train_hc), np.sort(fold.hc_px("train")))
    assert np.mean(train_hc == fold.hc_px("train")) < 0.5
    for role in ("val", "test"):
        np.testing.assert_array_equal(shuffled.hc_px(role), fold.hc_px(role))
    assert shuffled.hc_scale_px == fold.hc_scale_px


def test_metrics_name_the_weights_file_a_model_started_from(tiny_dataset, tmp_path):
    dataset, splits = tiny_dataset
    source = tf.keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = tmp_path / "shared" / "vgg16_notop.h5"
    weights.parent.mkdir()
    source.save_weights(weights)
    training = training_settings(weights=str(weights))
    files = {"model": ".h5", "history": ".csv", "predictions": ".csv", "metrics": ".json"}
    out = {name: str(tmp_path / f"{name}{ext}") for name, ext in files.items()}
    train_fold(dataset, splits, "vgg16", 0, out, training, augment_factor=1, threads=1)
    with open(out["metrics"]) as handle:
        record = json.load(handle)["weights"]
    assert record["file"] == str(weights.resolve())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_unknown_loss_fails_before_training(tiny_dataset, tmp_path):
    dataset, splits = tiny_dataset
    training = training_settings(loss="hinge", seed=1)
    with pytest.raises(InputError, match=r"losses: 'hinge' is unknown"):
        train_fold(dataset, splits, "vgg16", 0, {}, training, 1)


def test_each_loss_is_its_closed_form_and_huber_uses_the_configured_delta():
    """Residuals 0.05 and 0.3 (targets are HC / HC scale): MAE, MSE, and Huber with delta
    0.1 = quadratic below it (0.5 r^2), linear above (delta (|r| - delta / 2))."""
    y_true, y_pred = np.zeros((2, 1), np.float32), np.array([[0.05], [0.3]], np.float32)
    expected = {
        "mae": (0.05 + 0.3) / 2,
        "mse": (0.05**2 + 0.3**2) / 2,
        "huber": (0.5 * 0.05**2 + 0.1 * (0.3 - 0.05)) / 2,
    }
    for name, value in expected.items():
        loss = make_loss({"loss": name, "huber_delta": 0.1})
        assert float(loss(y_true, y_pred)) == pytest.approx(value, rel=1e-5), name
    default = make_loss({"loss": "huber", "huber_delta": 0.05})  # the schema's default
    assert float(default(y_true, y_pred)) == pytest.approx(
        (0.5 * 0.05**2 + 0.05 * (0.3 - 0.025)) / 2, rel=1e-5
    )
    for delta in (None, 0, -1):
        with pytest.raises(InputError, match=r"training\.huber_delta"):
            make_loss({"loss": "huber", "huber_delta": delta})


def lambda_model_file(tmp_path, marker):
    """An hcxai-looking model file with a Lambda whose code leaves `marker` when it runs."""
    inputs = tf.keras.Input((32, 32, 3))
    name = str(marker)  # the closure is stored in the file with the code
    touched = tf.keras.layers.Lambda(lambda x: (open(name, "w").close(), x)[1])(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(touched)
    path = tmp_path / "model.h5"
    tf.keras.Model(inputs, tf.keras.layers.Dense(1, name="hc")(x)).save(path)
    write_model_attributes(path, hc_scale_px=1.0, backbone="vgg16", fold=0, image_size=32)
    marker.unlink()  # building the model ran it once; nothing may run it again
    return path


def test_a_model_file_with_a_lambda_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = lambda_model_file(tmp_path, marker)
    with pytest.raises(
        InputError, match=r"refusing to load a model with layer class\(es\) \['Lambda'\]"
    ):
        load_model(path)
    assert not marker.exists()


def test_a_weights_file_is_read_as_weights_only(tmp_path):
    marker = tmp_path / "code-ran"
    path = lambda_model_file(tmp_path, marker)
    with pytest.raises(InputError, match="is not a vgg16 weights file"):
        build_model("vgg16", 32, weights=str(path))
    assert not marker.exists()
