"""Training one regression CNN for one fold, and its predictions on val and test images.

Target: HC in px at the original resolution divided by the largest training HC
(stored in the model file as `hc_scale_px`). Loss MAE (the paper's), MSE or
Huber; Adam; early stopping on validation MAE with the best weights kept;
each epoch sees the training images plus `augment_factor - 1` freshly
augmented copies (hcxai.data.augment). Seeds for Python, NumPy and TensorFlow and
TensorFlow's deterministic ops make a rerun on the same machine identical.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import hcxai
from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.seeding import PERMUTED_LABELS, TRAINING, stream
from hcxai.data.augment import augment_batch
from hcxai.data.hc18 import (
    NORMALISATION_NOTE,
    Dataset,
    load_dataset,
    network_input,
)
from hcxai.data.splits import fold_ids, read_splits
from hcxai.models.regression import (
    build_model,
    check_backbone,
    configure_tensorflow,
    predict_hc_px,
    resolve_weights,
    write_model_attributes,
)
from hcxai.models.weights import sha256

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
ROLES = ("train", "val", "test")
# predictions.csv: every val and test image of the fold once.
PREDICTIONS = {
    "image_id": "id",
    "role": ("val", "test"),
    "hc_true_px": "number",
    "hc_pred_px": "number",
    "abs_err_px": "number",
    "abs_err_mm": "number",
}
PREDICTION_COLUMNS = list(PREDICTIONS)


def make_loss(training: dict[str, Any]) -> Any:
    """The Keras loss `training["loss"]` (one entry per name of the schema's `losses`);
    Huber's delta is in units of the HC scale (targets are HC / largest training HC),
    `training["huber_delta"]`."""
    import tensorflow as tf

    def huber() -> Any:
        delta = training.get("huber_delta")
        if not isinstance(delta, int | float) or delta <= 0:
            raise InputError(f"training.huber_delta {delta!r} must be a positive number")
        return tf.keras.losses.Huber(delta=float(delta))

    losses = {
        "mae": tf.keras.losses.MeanAbsoluteError,
        "mse": tf.keras.losses.MeanSquaredError,
        "huber": huber,
    }
    name = training["loss"]
    if name not in losses:
        raise InputError(f"losses: {name!r} is unknown; choose from {list(losses)}")
    return losses[name]()


def learning_rate_schedule_check(training: dict[str, Any]) -> None:
    if training["lr_schedule"] not in LR_SCHEDULES:
        raise InputError(
            f"training.lr_schedule {training['lr_schedule']!r} is unknown; use one of "
            f"{LR_SCHEDULES}"
        )


def learning_rate(training: dict[str, Any], images_per_epoch: int) -> Any:
    """Adam's step size: constant (the paper's) or cosine decay to 0 over all epochs."""
    import tensorflow as tf

    learning_rate_schedule_check(training)
    if training["lr_schedule"] == "constant":
        return training["learning_rate"]
    steps = training["epochs"] * -(-images_per_epoch // training["batch_size"])
    return tf.keras.optimizers.schedules.CosineDecay(training["learning_rate"], steps)


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


@dataclass(frozen=True)
class FoldData:
    """One fold's images (uint8) and targets by role, and the HC scale of its training set."""

    data: Dataset
    index: dict[str, np.ndarray]  # role -> rows of `data`
    hc_scale_px: float

    def images(self, role: str) -> np.ndarray:
        return self.data.images[self.index[role]]

    def hc_px(self, role: str) -> np.ndarray:
        return self.data.hc_px[self.index[role]]

    def with_permuted_targets(self, rng: np.random.Generator) -> FoldData:
        """The same fold with the training images' HC targets shuffled among them.

        Why: Adebayo et al.'s data-randomisation test compares the maps of a model trained
        on labels that no longer belong to their images with the real model's. Shuffling
        within the training set keeps its target distribution (the HC scale, the mean-HC
        start) and breaks only the image-label link; validation and test keep their true
        targets, so the test MAE shows whether anything about the images was learned.
        """
        hc_px = self.data.hc_px.copy()
        rows = self.index["train"]
        hc_px[rows] = hc_px[rng.permutation(rows)]
        return replace(self, data=replace(self.data, hc_px=hc_px))


def read_predictions_file(path: str, test_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One fold's predictions.csv (rule train), checked: each image once, finite numbers,
    and with `test_ids` a test prediction for each of them."""
    predictions = read_table(path, PREDICTIONS, rule="train", unique=["image_id"])
    tested = set(predictions.loc[predictions["role"] == "test", "image_id"])
    missing = [image_id for image_id in test_ids or () if image_id not in tested]
    if missing:
        raise damaged_file(
            path, f"has no test prediction for image(s) {missing[:5]} of the fold", "train"
        )
    return predictions


def load_fold(dataset_path: str, splits_path: str, fold: int) -> FoldData:
    data = load_dataset(dataset_path)
    splits = read_splits(splits_path, data.image_id)
    index = {role: data.index_of(fold_ids(splits, fold, role)) for role in ROLES}
    return FoldData(data, index, float(data.hc_px[index["train"]].max()))


def compile_model(
    backbone: str, fold: FoldData, training: dict[str, Any], augment_factor: int
) -> Any:
    """The regression network, starting from the mean-HC predictor, compiled with Adam."""
    import tensorflow as tf

    image_size = fold.data.images.shape[-1]
    model = build_model(backbone, image_size, training["weights"], training["dropout"])
    # Start from the mean-HC predictor: training then only has to learn deviations.
    target_mean = float((fold.hc_px("train") / fold.hc_scale_px).mean())
    model.get_layer("hc").bias.assign([target_mean])
    images_per_epoch = len(fold.index["train"]) * augment_factor
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate(training, images_per_epoch)),
        loss=make_loss(training),
    )
    return model


def epoch_inputs(
    fold: FoldData, augment_factor: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The training images plus `augment_factor - 1` augmented copies, and their targets."""
    images, target = fold.images("train"), fold.hc_px("train") / fold.hc_scale_px
    rows = fold.index["train"]
    epoch_images, epoch_target = [images], [target]
    for _ in range(augment_factor - 1):
        augmented, ratio = augment_batch(
            images, fold.data.ellipse_resized[rows], rng, fold.data.original_scale(rows)
        )
        epoch_images.append(augmented)
        epoch_target.append(target * ratio)
    return network_input(np.concatenate(epoch_images)), np.concatenate(epoch_target).astype(
        np.float32
    )


def fit(
    model: Any,
    fold: FoldData,
    fold_number: int,
    training: dict[str, Any],
    augment: int,
    keep_best: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Epochs until `patience` epochs bring no better val MAE; the best weights are kept.
    `keep_best=False`: every epoch, the last weights kept (a model meant to fit its
    training targets, whatever the validation error).

    Returns the history (loss and val MAE per epoch) and the kept epoch.
    """
    seed = int(training["seed"])
    val_x, val_true = network_input(fold.images("val")), fold.hc_px("val")
    best_mae, best_weights, best_epoch, waited = np.inf, model.get_weights(), 0, 0
    history = []
    for epoch in range(1, training["epochs"] + 1):
        rng = stream(seed, TRAINING, fold_number, epoch)
        x, y = epoch_inputs(fold, augment, rng)
        start = time.perf_counter()
        loss = train_epoch(model, x, y, training["batch_size"], rng)
        seconds = time.perf_counter() - start
        val_mae = float(np.mean(np.abs(predict_hc_px(model, val_x, fold.hc_scale_px) - val_true)))
        history.append({"epoch": epoch, "loss": loss, "val_mae_px": val_mae})
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
        if keep_best and waited >= training["patience"]:
            log.info("early stop: no val improvement for %d epochs", waited)
            break
    if not keep_best:
        return pd.DataFrame(history), len(history)
    model.set_weights(best_weights)
    return pd.DataFrame(history), best_epoch


def predictions_table(model: Any, fold: FoldData) -> pd.DataFrame:
    """Predicted HC and errors (px, mm) of every val and test image."""
    rows = []
    for role in ("val", "test"):
        idx = fold.index[role]
        pred = predict_hc_px(model, network_input(fold.images(role)), fold.hc_scale_px)
        err = np.abs(pred - fold.data.hc_px[idx])
        rows.append(
            pd.DataFrame(
                {
                    "image_id": fold.data.image_id[idx],
                    "role": role,
                    "hc_true_px": fold.data.hc_px[idx],
                    "hc_pred_px": pred,
                    "abs_err_px": err,
                    "abs_err_mm": err * fold.data.pixel_size_mm[idx],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[PREDICTION_COLUMNS]


def fold_metrics(
    fold: FoldData, predictions: pd.DataFrame, history: pd.DataFrame, best_epoch: int
) -> dict[str, Any]:
    """Test MAE and SD (px, mm), the mean-HC baseline, and how training went."""
    test = predictions[predictions["role"] == "test"]
    baseline_err = np.abs(fold.hc_px("train").mean() - test["hc_true_px"])
    return {
        "image_size": int(fold.data.images.shape[-1]),
        **{f"n_{role}": len(fold.index[role]) for role in ROLES},
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_mae_px": float(history["val_mae_px"].min()),
        "test_mae_px": float(test["abs_err_px"].mean()),
        "test_sd_px": float(test["abs_err_px"].std()),
        "test_mae_mm": float(test["abs_err_mm"].mean()),
        "test_sd_mm": float(test["abs_err_mm"].std()),
        "baseline_mae_px": float(baseline_err.mean()),
        "hc_scale_px": fold.hc_scale_px,
    }


def write_outputs(
    outputs: dict[str, str], model: Any, tables: dict[str, Any], **attributes: Any
) -> None:
    """model.h5 (with hcxai's attributes), history.csv, predictions.csv, metrics.json."""
    import tensorflow as tf

    with atomic_output(outputs["model"]) as tmp:
        model.save(tmp, include_optimizer=False)
        write_model_attributes(
            tmp,
            **attributes,
            normalisation=NORMALISATION_NOTE,
            hcxai_version=hcxai.__version__,
            tensorflow_version=tf.__version__,
        )
    for key in ("history", "predictions"):
        with atomic_output(outputs[key]) as tmp:
            tables[key].to_csv(tmp, index=False)
    with atomic_output(outputs["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(tables["metrics"], indent=2))


def train_fold(
    dataset_path: str,
    splits_path: str,
    backbone: str,
    fold: int,
    outputs: dict[str, str],
    training: dict[str, Any],
    augment_factor: int,
    threads: int = 1,
    permute_labels: bool = False,
) -> None:
    """Train `backbone` with `training["loss"]` on one fold; write model.h5, history.csv,
    predictions.csv, metrics.json.

    `permute_labels`: the sanity check's data-randomisation model, trained on the training
    targets shuffled among the training images (`FoldData.with_permuted_targets`), for
    every epoch (the last weights, no early stopping on a validation error it cannot
    lower), without augmentation (a copy's target is scaled with its image, which would
    tie the shuffled target to the image again). Its predictions and metrics are against
    the true validation and test targets.
    """
    make_loss(training)  # fail on a bad name or delta before any work
    learning_rate_schedule_check(training)
    data = load_fold(dataset_path, splits_path, fold)
    if permute_labels:
        data = data.with_permuted_targets(stream(int(training["seed"]), PERMUTED_LABELS, fold))
        augment_factor = 1
        log.info(
            "data randomisation: training targets shuffled among the training images; "
            "no augmentation, all %d epochs, the last weights kept",
            training["epochs"],
        )
    image_size = data.data.images.shape[-1]
    check_backbone(backbone, image_size)
    weights = resolve_weights(backbone, training["weights"])  # fail before any work
    configure_tensorflow(threads, int(training["seed"]))
    model = compile_model(backbone, data, training, augment_factor)
    log.info(
        "%s, %s loss, fold %d: %d train (x%d augmented) / %d val / %d test images at %d px, "
        "HC scale %.1f px",
        backbone,
        training["loss"],
        fold,
        len(data.index["train"]),
        augment_factor,
        len(data.index["val"]),
        len(data.index["test"]),
        image_size,
        data.hc_scale_px,
    )
    history, best_epoch = fit(
        model, data, fold, training, augment_factor, keep_best=not permute_labels
    )
    predictions = predictions_table(model, data)
    metrics = {
        "backbone": backbone,
        "loss": training["loss"],
        "fold": fold,
        "augment_factor": augment_factor,
        "permuted_labels": permute_labels,
        **fold_metrics(data, predictions, history, best_epoch),
        "training": training,
        # Which file the backbone started from, so a result names its pretraining.
        "weights": {
            "setting": training["weights"],
            "file": None if weights is None else str(weights.resolve()),
            "sha256": None if weights is None else sha256(weights),
        },
    }
    log.info(
        "%s, %s loss, fold %d: test MAE %.2f +- %.2f px (%.2f +- %.2f mm); "
        "mean-HC baseline %.2f px",
        backbone,
        training["loss"],
        fold,
        metrics["test_mae_px"],
        metrics["test_sd_px"],
        metrics["test_mae_mm"],
        metrics["test_sd_mm"],
        metrics["baseline_mae_px"],
    )
    tables = {"history": history, "predictions": predictions, "metrics": metrics}
    write_outputs(
        outputs,
        model,
        tables,
        hc_scale_px=data.hc_scale_px,
        backbone=backbone,
        loss=training["loss"],
        fold=fold,
        image_size=image_size,
        permuted_labels=permute_labels,
    )
