"""Maps, images and shard rows stay aligned end to end, checked on a planted-relevance model.

The model's output depends on one known region only: it sums |x| over region
`PLANTED` of the normalised input (a 1x1 convolution into ReLU(x) and ReLU(-x),
then a 16x16 stride-16 convolution of ones, then a one-hot Dense layer). The
saliency file ranks that region first for one image and last for all others,
so with `zeros` perturbation and MoRF the error of exactly that image moves,
to a value the test computes in NumPy from the dataset alone.
"""

import hashlib
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from hcxai.evaluate.faithfulness.perturbation import Settings, run_shard
from hcxai.models.regression import write_model_attributes

SIZE, WINDOW = 32, 16  # a 2x2 grid of regions, row-major: 0 1 / 2 3
PLANTED = 2  # bottom left
WEIGHT = 1e-3  # output = WEIGHT * sum |x| over the planted region, in units of the HC scale
STEPS = 3  # every region but the last-ranked one
TARGET = 5  # the one image whose map ranks the planted region first
PER_JOB = 3  # shards of 3, 3 and 2 images: the target sits in the second shard


def planted_model() -> tf.keras.Model:
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    split = tf.keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", name="split")(inputs)
    regions = tf.keras.layers.Conv2D(1, WINDOW, strides=WINDOW, use_bias=False, name="region_sum")(
        split
    )
    flat = tf.keras.layers.Flatten()(regions)
    hc = tf.keras.layers.Dense(1, name="hc")(flat)
    model = tf.keras.Model(inputs, hc)
    split_kernel = np.zeros((1, 1, 3, 2), np.float32)
    split_kernel[0, 0, 0] = [1.0, -1.0]  # channel 0 only: ReLU(x) + ReLU(-x) = |x|
    model.get_layer("split").set_weights([split_kernel])
    model.get_layer("region_sum").set_weights([np.ones((WINDOW, WINDOW, 2, 1), np.float32)])
    dense = np.zeros((4, 1), np.float32)
    dense[PLANTED] = WEIGHT
    model.get_layer("hc").set_weights([dense, np.zeros(1, np.float32)])
    return model


def zscore(images: np.ndarray) -> np.ndarray:
    """The documented normalisation, written out: per-image (x - mean) / population sd."""
    x = images.astype(np.float64)
    return (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)


def write_saliency(path, ids, model_path, hc_true) -> None:
    """A saliency file in the documented layout; image TARGET ranks PLANTED first, others last."""
    maps = np.zeros((len(ids), SIZE, SIZE), np.float32)
    for k in range(len(ids)):
        # Distinct region scores, so the ranking has no ties.
        scores = [4.0, 3.0, 2.0, 1.0]
        scores[PLANTED] = 10.0 if k == TARGET else -10.0
        for region, score in enumerate(scores):
            row, col = divmod(region, SIZE // WINDOW)
            maps[k, row * WINDOW : (row + 1) * WINDOW, col * WINDOW : (col + 1) * WINDOW] = (
                score / WINDOW**2
            )
    with open(model_path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with h5py.File(path, "w") as h5:
        h5.create_dataset("maps", data=maps)
        h5.create_dataset("image_ids", data=ids, dtype=h5py.string_dtype())
        h5.create_dataset("hc_true_px", data=hc_true)
        h5.create_dataset("hc_pred_px", data=np.zeros(len(ids)))
        h5.attrs.update(
            {
                "analyzer": "planted",
                "params": json.dumps({}),
                "backbone": "planted",
                "fold": 0,
                "model_sha256": digest,
            }
        )


@pytest.fixture(scope="module")
def perturbed(tiny_dataset, tmp_path_factory):
    """Rows of every shard; the dataset's HC and images by id; the ids in file order; scale."""
    dataset_path, _ = tiny_dataset
    root = tmp_path_factory.mktemp("alignment")
    with h5py.File(dataset_path) as h5:
        all_ids = [s.decode() for s in h5["image_id"][:]]
        hc_px = dict(zip(all_ids, h5["hc_px"][:], strict=True))
        images = dict(zip(all_ids, h5["images"][:], strict=True))
    # Not the dataset's order, and not all of it: positions in the file must be followed.
    ids = [all_ids[i] for i in (7, 2, 10, 0, 5, 11, 3, 8)]
    # sum |z| over 256 of 1024 pixels whose z sum of squares is 1024 is at most
    # sqrt(256 * 1024) = 512 (Cauchy-Schwarz): every prediction stays under the true HC.
    scale = 0.9 * min(hc_px.values()) / (WEIGHT * 512)
    model_path = root / "model.h5"
    planted_model().save(model_path)
    write_model_attributes(
        model_path, hc_scale_px=scale, backbone="planted", fold=0, image_size=SIZE
    )
    saliency_path = root / "planted.h5"
    write_saliency(saliency_path, ids, model_path, np.array([hc_px[i] for i in ids]))
    settings = Settings(
        subwindow=WINDOW,
        steps=STEPS,
        rank_by="sum",
        kind="zeros",
        mode="replace",
        std=0.3,
        orders=("morf",),
        random_repeats=1,
        seed=7,
        imputations=("zeros",),
    )
    shards = []
    for shard in range(-(-len(ids) // PER_JOB)):
        out = root / f"shard{shard}.csv"
        run_shard(
            str(model_path),
            str(saliency_path),
            dataset_path,
            str(out),
            backbone="planted",
            loss="mae",
            fold=0,
            analyzer="planted",
            shard=shard,
            images_per_job=PER_JOB,
            settings=settings,
        )
        shards.append(pd.read_csv(out, dtype={"image_id": str}))
    return pd.concat(shards, ignore_index=True), hc_px, images, ids, scale


def test_every_image_appears_once_with_every_step(perturbed):
    rows, _, _, ids, _ = perturbed
    assert sorted(rows["image_id"]) == sorted(ids * (STEPS + 1))
    for image_id, group in rows.groupby("image_id"):
        assert sorted(group["step"]) == list(range(STEPS + 1)), image_id


def test_only_the_image_whose_map_ranks_the_planted_region_first_moves(perturbed):
    """Oracle: step 0 predicts WEIGHT * sum |z-score| over the planted region (NumPy, from the
    dataset's uint8 images); zeroing that region makes the prediction 0, so the error becomes
    the true HC. Every other image loses only regions the model ignores: a flat curve."""
    rows, hc_px, images, ids, scale = perturbed
    curves = rows[rows["order"] == "morf"].pivot(
        index="image_id", columns="step", values="error_px"
    )
    row, col = divmod(PLANTED, SIZE // WINDOW)
    for k, image_id in enumerate(ids):
        z = zscore(images[image_id][np.newaxis])[0]
        predicted = (
            scale
            * WEIGHT
            * np.abs(z[row * WINDOW : (row + 1) * WINDOW, col * WINDOW : (col + 1) * WINDOW]).sum()
        )
        true = hc_px[image_id]
        curve = curves.loc[image_id].to_numpy()
        assert curve[0] == pytest.approx(true - predicted, rel=1e-4), image_id
        if k == TARGET:
            np.testing.assert_allclose(curve[1:], true, rtol=1e-5, err_msg=image_id)
            assert curve[1] - curve[0] > 0.02 * true  # the jump, far above rounding
        else:
            np.testing.assert_allclose(curve[1:], curve[0], rtol=1e-5, err_msg=image_id)
