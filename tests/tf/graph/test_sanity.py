"""Cascading model randomisation: an analyzer built once and given each stage's weights
gives the maps of an analyzer built FRESH on a model file saved with that stage's weights
(the oracle: hcxai's ordinary saliency path on an ordinary file, no weight swapping), on a
small conv net with a BatchNorm and on ResNet50; the fully randomised network's gradient
maps no longer resemble the trained ones. Graph mode (its own pytest run)."""

import logging
import shutil

import h5py
import numpy as np
import pytest
import tensorflow as tf

from hcxai.core.io import InputError
from hcxai.data.hc18 import network_input
from hcxai.evaluate.randomisation.maps_file import read_sanity_maps
from hcxai.evaluate.randomisation.model_maps import (
    cascade,
    compute_sanity_maps,
    cumulative_stages,
    file_weights,
    reinitialised_weights,
    stage_groups,
    stage_weights,
    weighted_layers,
)
from hcxai.explain.analyzers import PAPER_ORDER, resolve
from hcxai.explain.innvestigate_backend import Explainer
from hcxai.models.regression import build_model, load_model, write_model_attributes

log = logging.getLogger(__name__)
SIZE = 32
IDS = [f"{i:03d}_HC" for i in range(3)]
SEED = 11
# Maps of the built-once analyzer vs a fresh build: float32 noise only.
RTOL = 1e-5


def save_model(model: tf.keras.Model, path, backbone: str):
    model.save(path)
    write_model_attributes(path, hc_scale_px=1000.0, backbone=backbone, fold=0, image_size=SIZE)
    return path


def batchnorm_values(channels: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """gamma, beta, moving mean, moving variance far from identity and from each other (a
    swapped gamma/variance or beta/mean would show in the maps)."""
    return [
        rng.uniform(0.5, 1.5, channels).astype(np.float32),
        rng.normal(0.0, 0.2, channels).astype(np.float32),
        rng.normal(0.0, 0.2, channels).astype(np.float32),
        rng.uniform(0.5, 2.0, channels).astype(np.float32),
    ]


def randomise_batchnorm(model: tf.keras.Model, rng: np.random.Generator) -> None:
    """BatchNorm statistics far from identity (as tests/tf/graph/test_canonize.py)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.set_weights(batchnorm_values(layer.get_weights()[0].shape, rng))


def small_net() -> tf.keras.Model:
    """conv -> BN -> ReLU -> pool -> conv -> GAP -> hc: a BN between stage boundaries."""
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    x = tf.keras.layers.Conv2D(6, 3, padding="same", name="conv1")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn1")(x)
    x = tf.keras.layers.Activation("relu", name="relu1")(x)
    x = tf.keras.layers.MaxPooling2D(name="pool1")(x)
    x = tf.keras.layers.Conv2D(6, 3, activation="relu", padding="same", name="conv2")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    # A zero kernel, as hcxai's head: the re-initialisation must not keep it zero.
    outputs = tf.keras.layers.Dense(1, kernel_initializer="zeros", name="hc")(x)
    return tf.keras.Model(inputs, outputs)


def trained_model(kind: str, folder) -> tuple[str, object]:
    """A 'trained' model: random weights, BN statistics randomised, a non-zero positive head."""
    tf.compat.v1.disable_eager_execution()
    tf.keras.utils.set_random_seed(5)
    model = small_net() if kind == "small" else build_model("resnet50", SIZE)
    rng = np.random.default_rng(5)
    randomise_batchnorm(model, rng)
    head = model.get_layer("hc")
    # Positive weights: Deep Taylor explains positive outputs.
    head.set_weights([rng.uniform(0.05, 0.2, head.get_weights()[0].shape), np.ones(1)])
    return kind, save_model(model, folder / "model.h5", kind)


@pytest.fixture(scope="module", params=["small", "resnet50"])
def trained(request, tmp_path_factory):
    return trained_model(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small net alone, for what one architecture settles."""
    return trained_model("small", tmp_path_factory.mktemp("small"))[1]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (len(IDS), SIZE, SIZE), dtype=np.uint8)


def build(path, name, images, **params) -> Explainer:
    x = network_input(images)
    return Explainer(path, resolve(name, params), 4096, data_range=(float(x.min()), float(x.max())))


def save_stage(model_path, weights, out_path):
    """A copy of the model file with `weights` (layer name -> values) written in by h5py."""
    shutil.copy(model_path, out_path)
    with h5py.File(out_path, "a") as h5:
        group = h5["model_weights"]
        for name, values in weights.items():
            names = [
                n.decode() if isinstance(n, bytes) else n for n in group[name].attrs["weight_names"]
            ]
            for weight_name, value in zip(names, values, strict=True):
                group[name][weight_name][...] = value
    return out_path


def run_cascade(path, name, images, stages, **params):
    """The sanity check's way: one build, each stage's weights set into it."""
    explainer = build(path, name, images, **params)
    layers = weighted_layers(path)
    groups = stage_groups([n for _, n in layers], stages, path)
    reinitialised = reinitialised_weights(explainer.source_model, layers, SEED)
    trained_weights = explainer.model_weights()
    maps, seconds = cascade(explainer, images, IDS, groups, reinitialised)
    log.info("%s cascade: build %.1f s, stages %s", name, explainer.build_seconds, seconds)
    return maps, groups, trained_weights, reinitialised


def fresh_maps(path, name, images, stages, groups, trained_weights, reinitialised, tmp_path, **p):
    """The oracle: per stage, a model file with that stage's weights, a fresh analyzer on it."""
    out = []
    for stage in stages:
        weights = stage_weights(trained_weights, reinitialised, groups, stage)
        stage_path = save_stage(path, weights, tmp_path / f"stage{stage}.h5")
        out.append(build(stage_path, name, images, **p).explain(images, IDS))
    return np.stack(out)


def assert_same_maps(got, want):
    for stage, (g, w) in enumerate(zip(got, want, strict=True)):
        # A map's own scale; an all-zero map (Deep Taylor of a negative output) must stay zero.
        scale = np.abs(w).max(axis=(1, 2), keepdims=True)
        error = np.where(scale > 0, np.abs(g - w) / np.where(scale > 0, scale, 1), np.abs(g))
        assert error.max() <= RTOL, f"stage {stage}: max error {error.max():.2e} of the map's scale"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two maps (no ties in float maps): Pearson of the ranks."""
    ra, rb = (np.argsort(np.argsort(m.ravel())).astype(float) for m in (a, b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("name", ["gradient", "lrp"])
def test_each_stage_equals_a_fresh_build_on_that_stages_weights(trained, images, name, tmp_path):
    backbone, path = trained
    # Small net: one layer per stage (hc, conv2, bn1 alone, conv1), so a stage changes a
    # BatchNorm whose convolution is still trained. ResNet50: 3 stages of ~36 layers.
    stages = 4 if backbone == "small" else 3
    maps, groups, trained_weights, reinitialised = run_cascade(path, name, images, stages)
    if backbone == "small":
        assert groups == [["hc"], ["conv2"], ["bn1"], ["conv1"]]
    # Stage 0 is the ordinary saliency path (tests/tf/graph/test_saliency.py): on ResNet50
    # only the re-initialised stages get an oracle build (~15 s each).
    checked = range(stages + 1) if backbone == "small" else range(1, stages + 1)
    oracle = fresh_maps(
        path, name, images, checked, groups, trained_weights, reinitialised, tmp_path
    )
    assert_same_maps(maps[list(checked)], oracle)
    # Every stage changed the maps: the weights did reach the analyzer.
    for stage in range(1, stages + 1):
        assert not np.allclose(maps[stage], maps[stage - 1], rtol=1e-3)


@pytest.mark.parametrize("name", [n for n in PAPER_ORDER if n not in ("gradient", "lrp", "random")])
def test_every_other_analyzer_sees_each_stages_weights(small, images, name, tmp_path):
    """Same oracle for the remaining analyzers, on the small net only (cheap; gradient and
    lrp cover ResNet50, the others share their mechanisms)."""
    path = small
    params = {"smoothgrad": {"augment_by_n": 3}, "integrated_gradients": {"steps": 3}}
    p = params.get(name, {})
    maps, groups, trained_weights, reinitialised = run_cascade(path, name, images, 4, **p)
    oracle = fresh_maps(
        path, name, images, range(5), groups, trained_weights, reinitialised, tmp_path, **p
    )
    assert_same_maps(maps, oracle)


# Spearman of |gradient|, trained vs fully re-initialised, per image. ResNet50's strided
# convolutions stamp an input-independent pattern on |gradient| (at 32 px two different noise
# images on one random ResNet50 give 0.78, two random ResNet50s on one image 0.78-0.81), so
# two independent networks stay rank-correlated in |map| there (the signs decorrelate).
MAX_ABS_SIMILARITY = {"small": 0.5, "resnet50": 0.9}
MAX_SIGNED_SIMILARITY = 0.5


def test_fully_randomised_gradient_maps_differ_from_the_trained_ones(trained, images):
    backbone, path = trained
    magnitude, *_ = run_cascade(path, "gradient", images, 2)
    signed, *_ = run_cascade(path, "gradient", images, 2, postprocess=None)
    similarity = [spearman(magnitude[0][i], magnitude[-1][i]) for i in range(len(IDS))]
    signs = [spearman(signed[0][i], signed[-1][i]) for i in range(len(IDS))]
    log.info(
        "%s: Spearman trained vs fully randomised: |map| %s, signed %s", backbone, similarity, signs
    )
    assert max(similarity) < MAX_ABS_SIMILARITY[backbone]
    assert max(np.abs(signs)) < MAX_SIGNED_SIMILARITY
    assert min(spearman(m, m) for m in magnitude[0]) == pytest.approx(1.0)  # the measure


def test_reinitialisation_follows_the_layers_initialisers(small):
    path = small
    model, _ = load_model(path)
    layers = weighted_layers(path)
    first = reinitialised_weights(model, layers, SEED)
    again = reinitialised_weights(model, layers, SEED)
    kernel, bias = first["hc"]
    assert np.abs(kernel).max() > 0 and not bias.any()  # zero kernel -> GlorotUniform
    limit = np.sqrt(6 / sum(kernel.shape))
    assert np.abs(kernel).max() <= limit  # Glorot's bound
    gamma, beta, mean, variance = first["bn1"]
    assert (gamma == 1).all() and not beta.any() and not mean.any() and (variance == 1).all()
    for name in first:  # seeded: the same values every time
        for a, b in zip(first[name], again[name], strict=True):
            np.testing.assert_array_equal(a, b)
    # seed + layer index: two equally shaped kernels of different layers differ.
    assert not np.array_equal(first["conv2"][0][:, :, :3], first["conv1"][0][:, :, :3])


def test_a_relevance_analyzer_on_unmerged_batchnorm_is_refused(small, images, tmp_path):
    """iNNvestigate's LRP reads BN weights at build time: swapping them would be silent."""
    path = small
    explainer = build(path, "lrp", images, canonize=False)
    new_bn = [np.full(6, 2.0, np.float32) for _ in range(4)]
    with pytest.raises(InputError, match="canonize: true"):
        explainer.set_model_weights({"bn1": new_bn})
    # Why: written straight into the variables, new BN weights do not give the maps of a
    # fresh build on a model with those weights.
    stage_weights_ = explainer.model_weights() | {"bn1": new_bn}
    tf.keras.backend.batch_set_value(
        list(zip(explainer.model.get_layer("bn1").weights, new_bn, strict=True))
    )
    stale = explainer.explain(images, IDS)
    stage_path = save_stage(path, stage_weights_, tmp_path / "bn.h5")
    fresh = build(stage_path, "lrp", images, canonize=False).explain(images, IDS)
    assert not np.allclose(stale, fresh, rtol=1e-3)


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    tf.compat.v1.disable_eager_execution()
    tf.keras.utils.set_random_seed(2)
    path = tmp_path_factory.mktemp("job") / "model.h5"
    return save_model(small_net(), path, "small")


def permuted_copy(model_path, out_path):
    """A copy of a model file marked as rule train_permuted_labels marks its model."""
    shutil.copy(model_path, out_path)
    write_model_attributes(out_path, permuted_labels=True)
    return out_path


def sanity_job(
    model_path, tiny_dataset, out, analyzer, n_images, stages, permuted_model_path=None
) -> None:
    """The sanity_maps job of fold 0 on the small net, with the analyzer's defaults; the
    permuted-label model is a marked copy of the trained model unless given."""
    if permuted_model_path is None:
        permuted_model_path = permuted_copy(model_path, out.parent / f"{out.stem}_permuted.h5")
    dataset, splits = tiny_dataset
    compute_sanity_maps(
        model_path=str(model_path),
        permuted_model_path=str(permuted_model_path),
        dataset_path=dataset,
        splits_path=splits,
        out_path=str(out),
        analyzer=analyzer,
        params={},
        backbone="small",
        loss="mae",
        fold=0,
        n_images=n_images,
        stages=stages,
        seed=SEED,
        memory_budget_mb=512,
    )


@pytest.mark.parametrize("name", ["gradient", "random"])
def test_the_job_writes_every_stage(small_model_file, tiny_dataset, tmp_path, caplog, name):
    out = tmp_path / f"{name}.h5"  # tiny_dataset: 12 images, 3 folds: 4 test images in fold 0
    sanity_job(small_model_file, tiny_dataset, out, name, n_images=8, stages=2)
    assert "sanity.n_images is 8 but fold 0 has 4 test images" in caplog.text
    found = read_sanity_maps(out)
    assert found.maps.shape == (3, 4, SIZE, SIZE) and len(found.image_ids) == 4
    assert found.stages == [[], ["hc", "conv2"], ["hc", "conv2", "bn1", "conv1"]]
    assert found.stages == cumulative_stages([["hc", "conv2"], ["bn1", "conv1"]])
    assert found.attributes["layers"] == ["conv1", "bn1", "conv2", "hc"]
    assert found.analyzer == name and found.attributes["params"] == resolve(name).params
    assert (found.backbone, found.loss) == ("small", "mae")
    with h5py.File(out) as h5:
        assert len(h5.attrs["model_sha256"]) == 64
    identical = [np.array_equal(found.maps[0], stage) for stage in found.maps[1:]]
    assert identical == ([True, True] if name == "random" else [False, False])
    # The permuted-label model is a copy of the trained model here: the same maps.
    np.testing.assert_allclose(found.permuted_label_maps, found.maps[0], rtol=RTOL)


@pytest.mark.parametrize("name", ["gradient", "lrp", "deep_taylor"])
def test_the_permuted_label_maps_equal_a_fresh_build_on_the_permuted_model(
    small, tiny_dataset, tmp_path, name
):
    """The data-randomisation maps come from the trained model's analyzer given the other
    model's weights; the oracle is stage 0 of a job on the other model's file (an analyzer
    built fresh on it, no weight swapping)."""
    model, _ = load_model(small)
    other = reinitialised_weights(model, weighted_layers(small), SEED + 100)
    head = other["hc"]  # positive, as the trained head: Deep Taylor explains positive outputs
    other["hc"] = [np.abs(head[0]) + 0.05, np.ones_like(head[1])]
    other["bn1"] = batchnorm_values(other["bn1"][0].shape, np.random.default_rng(3))
    oracle_model = save_stage(small, other, tmp_path / "other.h5")
    permuted = permuted_copy(oracle_model, tmp_path / "permuted.h5")
    sanity_job(small, tiny_dataset, tmp_path / "job.h5", name, 4, 1, permuted)
    sanity_job(oracle_model, tiny_dataset, tmp_path / "oracle.h5", name, 4, 1)
    found, oracle = read_sanity_maps(tmp_path / "job.h5"), read_sanity_maps(tmp_path / "oracle.h5")
    assert found.image_ids == oracle.image_ids
    assert_same_maps(found.permuted_label_maps[np.newaxis], oracle.maps[:1])
    assert not np.allclose(found.permuted_label_maps, found.maps[0], rtol=1e-3)
    with h5py.File(tmp_path / "job.h5") as h5:
        assert h5.attrs["permuted_model_sha256"] != h5.attrs["model_sha256"]


def test_file_weights_are_the_keras_layers_weights(small):
    model, _ = load_model(small)
    read = file_weights(small)
    assert list(read) == [name for _, name in weighted_layers(small)]
    for name, values in read.items():
        for got, want in zip(values, model.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_permuted_label_model_of_another_architecture_is_refused(small, tiny_dataset, tmp_path):
    inputs = tf.keras.Input((SIZE, SIZE, 3))
    x = tf.keras.layers.Conv2D(4, 3, name="other_conv")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    other = tf.keras.Model(inputs, tf.keras.layers.Dense(1, name="hc")(x))
    path = permuted_copy(save_model(other, tmp_path / "o.h5", "small"), tmp_path / "other.h5")
    with pytest.raises(InputError, match=r"other layers .* rule train_permuted_labels"):
        sanity_job(small, tiny_dataset, tmp_path / "x.h5", "gradient", 4, 1, path)
    assert not (tmp_path / "x.h5").exists()


def test_the_permuted_label_model_must_be_marked_and_of_the_same_fold(
    small, tiny_dataset, tmp_path
):
    """The two model inputs swapped, or a model of another fold, are refused before any map."""
    unmarked = shutil.copy(small, tmp_path / "unmarked.h5")
    with pytest.raises(InputError, match=r"must be the model trained on shuffled labels"):
        sanity_job(small, tiny_dataset, tmp_path / "x.h5", "gradient", 4, 1, unmarked)
    permuted = permuted_copy(small, tmp_path / "permuted.h5")
    with pytest.raises(InputError, match=r"must be the model trained on shuffled labels"):
        sanity_job(permuted, tiny_dataset, tmp_path / "x.h5", "gradient", 4, 1, permuted)
    write_model_attributes(permuted, fold=2)
    with pytest.raises(InputError, match=r"has fold 2, but .* has 0; rerun rule train_perm"):
        sanity_job(small, tiny_dataset, tmp_path / "x.h5", "gradient", 4, 1, permuted)
    assert not (tmp_path / "x.h5").exists()


def test_bad_settings_name_the_key(small_model_file, tiny_dataset, tmp_path):
    dataset, splits = tiny_dataset
    common = dict(
        model_path=str(small_model_file),
        permuted_model_path=str(small_model_file),
        dataset_path=dataset,
        splits_path=splits,
        out_path=str(tmp_path / "x.h5"),
        analyzer="random",
        params={},
        backbone="small",
        loss="mae",
        n_images=2,
        seed=0,
        memory_budget_mb=512,
    )
    with pytest.raises(InputError, match=r"sanity\.fold"):
        compute_sanity_maps(**common, fold=3, stages=2)
    with pytest.raises(InputError, match=r"sanity\.stages is 5 .* 4 layers with weights"):
        compute_sanity_maps(**common, fold=0, stages=5)
    assert not (tmp_path / "x.h5").exists()


def test_an_images_deep_taylor_map_does_not_depend_on_the_other_images_of_its_job(
    small, tiny_dataset, tmp_path
):
    """Deep Taylor's input bounds are the data set's range, not the job's images':
    the first test image explained alone and among four gives the same map."""
    maps = {}
    for n_images in (1, 4):
        out = tmp_path / f"deep_taylor_{n_images}.h5"
        sanity_job(small, tiny_dataset, out, "deep_taylor", n_images=n_images, stages=1)
        maps[n_images] = read_sanity_maps(out).maps[0]
    alone, among = maps[1][0], maps[4][0]
    assert np.ptp(alone) > 0  # a relevance map, not Deep Taylor's zero map of a negative output
    np.testing.assert_allclose(alone, among, rtol=1e-5, atol=1e-7 * np.abs(among).max())
