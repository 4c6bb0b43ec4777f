"""Training one regression CNN for one fold, and its predictions on val and test images.

Target: HC in px at the original resolution divided by the largest training HC
(stored in the model file as `hc_scale_px`). Loss MAE (the paper's), MSE or
Huber; Adam; early stopping on validation MAE with the best weights kept;
each epoch sees the training images plus `augment_factor - 1` freshly
augmented copies (hcxai.augment). Seeds for Python, NumPy and TensorFlow and
TensorFlow's deterministic ops make a rerun on the same machine identical.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import hcxai
from hcxai.augment import augment_batch
from hcxai.data import HC18_HEIGHT, HC18_WIDTH, NORMALISATION_NOTE, load_dataset, network_input
from hcxai.io import InputError, atomic_output
from hcxai.models import (
    build_model,
    check_backbone,
    configure_tensorflow,
    resolve_weights,
    write_model_attributes,
)
from hcxai.splits import fold_ids

log = logging.getLogger(__name__)

HUBER_DELTA = 0.05  # in units of the largest training HC: 5% of it
PREDICT_BATCH = 64  # inference only: larger batches than training are cheaper per image
PREDICTION_COLUMNS = ["image_id", "role", "hc_true_px", "hc_pred_px", "abs_err_px", "abs_err_mm"]


def make_loss(name: str) -> Any:
    import tensorflow as tf

    losses = {
        "mae": tf.keras.losses.MeanAbsoluteError,
        "mse": tf.keras.losses.MeanSquaredError,
        "huber": lambda: tf.keras.losses.Huber(delta=HUBER_DELTA),
    }
    if name not in losses:
        raise InputError(f"training.loss {name!r} is unknown; choose one of {sorted(losses)}")
    return losses[name]()


def learning_rate(training: dict[str, Any], images_per_epoch: int) -> Any:
    """Adam's step size: constant (the paper's) or cosine decay to 0 over all epochs."""
    import tensorflow as tf

    schedule = training.get("lr_schedule", "constant")
    if schedule == "constant":
        return training["learning_rate"]
    if schedule == "cosine":
        steps = training["epochs"] * -(-images_per_epoch // training["batch_size"])
        return tf.keras.optimizers.schedules.CosineDecay(training["learning_rate"], steps)
    raise InputError(f"training.lr_schedule {schedule!r} is unknown; use constant or cosine")


def predict_hc_px(model: Any, images: np.ndarray, hc_scale_px: float) -> np.ndarray:
    """Predicted HC in px at the original resolution for uint8 images."""
    scaled = model.predict(network_input(images), batch_size=PREDICT_BATCH, verbose=0)
    return scaled[:, 0].astype(np.float64) * hc_scale_px


def train_epoch(
    model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator
) -> float:
    """One pass over (x, y) in seeded random order; the mean training loss.

    Every batch has `batch_size` images, the last one topped up from the start
    of the order, so the train step is traced once: the short last batch of a
    `fit` call costs a second trace (9 s on ResNet50). Per epoch this loop and
    `fit` take the same time with one thread (docs/benchmarks.md).
    """
    size = min(batch_size, len(x))
    order = rng.permutation(len(x))
    order = np.concatenate([order, order[: -len(order) % size]])
    losses = [float(model.train_on_batch(x[batch], y[batch])) for batch in order.reshape(-1, size)]
    return float(np.mean(losses))


def train_fold(
    dataset_path: str,
    splits_path: str,
    backbone: str,
    fold: int,
    outputs: dict[str, str],
    training: dict[str, Any],
    augment_factor: int,
    threads: int = 1,
) -> None:
    """Train `backbone` on one fold; write model.h5, history.csv, predictions.csv, metrics.json."""
    make_loss(training["loss"])  # fail on a bad name before any work
    data = load_dataset(dataset_path)
    image_size = data.images.shape[-1]
    check_backbone(backbone, image_size)
    resolve_weights(backbone, training["weights"])  # fail before any work
    splits = pd.read_csv(splits_path)
    index = {role: data.index_of(fold_ids(splits, fold, role)) for role in ("train", "val", "test")}
    seed = int(training["seed"])
    configure_tensorflow(threads, seed)
    import tensorflow as tf

    hc_scale_px = float(data.hc_px[index["train"]].max())
    train_images = data.images[index["train"]]
    train_target = data.hc_px[index["train"]] / hc_scale_px
    val_images = data.images[index["val"]]
    model = build_model(backbone, image_size, training["weights"], training.get("dropout", 0.0))
    # Start from the mean-HC predictor: training then only has to learn deviations.
    model.get_layer("hc").bias.assign([float(train_target.mean())])
    model.compile(
        optimizer=tf.keras.optimizers.Adam(
            learning_rate=learning_rate(training, len(train_images) * augment_factor)
        ),
        loss=make_loss(training["loss"]),
    )
    log.info(
        "%s fold %d: %d train (x%d augmented) / %d val / %d test images at %d px, HC scale %.1f px",
        backbone,
        fold,
        len(train_images),
        augment_factor,
        len(index["val"]),
        len(index["test"]),
        image_size,
        hc_scale_px,
    )
    original_scale = (HC18_WIDTH / image_size, HC18_HEIGHT / image_size)
    best_mae, best_weights, best_epoch, waited = np.inf, model.get_weights(), 0, 0
    history, seen, train_seconds = [], 0, 0.0
    for epoch in range(1, training["epochs"] + 1):
        rng = np.random.default_rng([seed, fold, epoch])
        epoch_images, epoch_target = [train_images], [train_target]
        for _ in range(augment_factor - 1):
            augmented, ratio = augment_batch(
                train_images, data.ellipse_resized[index["train"]], rng, original_scale
            )
            epoch_images.append(augmented)
            epoch_target.append(train_target * ratio)
        x = network_input(np.concatenate(epoch_images))
        y = np.concatenate(epoch_target).astype(np.float32)
        start = time.perf_counter()
        loss = train_epoch(model, x, y, training["batch_size"], rng)
        seconds = time.perf_counter() - start
        seen, train_seconds = seen + len(x), train_seconds + seconds
        val_pred = predict_hc_px(model, val_images, hc_scale_px)
        val_mae = float(np.mean(np.abs(val_pred - data.hc_px[index["val"]])))
        history.append(
            {
                "epoch": epoch,
                "loss": loss,
                "val_mae_px": val_mae,
                "seconds": seconds,
                "images_per_s": len(x) / seconds,
            }
        )
        improved = val_mae < best_mae
        if improved:
            best_mae, best_weights, best_epoch, waited = val_mae, model.get_weights(), epoch, 0
        else:
            waited += 1
        log.info(
            "epoch %d/%d: loss %.4f, val MAE %.1f px%s (%.0f images/s)",
            epoch,
            training["epochs"],
            loss,
            val_mae,
            " *" if improved else "",
            len(x) / seconds,
        )
        if waited >= training["patience"]:
            log.info("early stop: no val improvement for %d epochs", waited)
            break
    model.set_weights(best_weights)

    rows = []
    for role in ("val", "test"):
        idx = index[role]
        pred = predict_hc_px(model, data.images[idx], hc_scale_px)
        err = np.abs(pred - data.hc_px[idx])
        rows.append(
            pd.DataFrame(
                {
                    "image_id": data.image_id[idx],
                    "role": role,
                    "hc_true_px": data.hc_px[idx],
                    "hc_pred_px": pred,
                    "abs_err_px": err,
                    "abs_err_mm": err * data.pixel_size_mm[idx],
                }
            )
        )
    predictions = pd.concat(rows, ignore_index=True)[PREDICTION_COLUMNS]
    test = predictions[predictions["role"] == "test"]
    baseline_err = np.abs(data.hc_px[index["train"]].mean() - test["hc_true_px"])
    metrics = {
        "backbone": backbone,
        "fold": fold,
        "image_size": image_size,
        "n_train": len(index["train"]),
        "n_val": len(index["val"]),
        "n_test": len(index["test"]),
        "augment_factor": augment_factor,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_mae_px": best_mae,
        "test_mae_px": float(test["abs_err_px"].mean()),
        "test_sd_px": float(test["abs_err_px"].std()),
        "test_mae_mm": float(test["abs_err_mm"].mean()),
        "test_sd_mm": float(test["abs_err_mm"].std()),
        "baseline_mae_px": float(baseline_err.mean()),
        "train_images_per_s": seen / train_seconds,
        "hc_scale_px": hc_scale_px,
        "training": training,
    }
    log.info(
        "%s fold %d: test MAE %.2f +- %.2f px (%.2f +- %.2f mm); mean-HC baseline %.2f px",
        backbone,
        fold,
        metrics["test_mae_px"],
        metrics["test_sd_px"],
        metrics["test_mae_mm"],
        metrics["test_sd_mm"],
        metrics["baseline_mae_px"],
    )

    with atomic_output(outputs["model"]) as tmp:
        model.save(tmp, include_optimizer=False)
        write_model_attributes(
            tmp,
            hc_scale_px=hc_scale_px,
            backbone=backbone,
            fold=fold,
            image_size=image_size,
            normalisation=NORMALISATION_NOTE,
            hcxai_version=hcxai.__version__,
            tensorflow_version=tf.__version__,
        )
    for key, frame in (("history", pd.DataFrame(history)), ("predictions", predictions)):
        with atomic_output(outputs[key]) as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_output(outputs["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2))
