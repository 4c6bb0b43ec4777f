"""The sanity check's maps: cascading model randomisation (Adebayo et al., NeurIPS 2018).

An explanation that explains the model must change when the model's weights
are destroyed. The layers with weights, ordered from the output (`hc`) towards
the input, are split into S contiguous groups; stage 0 is the trained network,
stage k the network whose groups 1..k are re-initialised (cumulative). Each
stage's maps come from the same analyzer, built once
(`hcxai.explain.innvestigate_backend.Explainer`,
5-25 s on ResNet50): a stage only writes its new weights into the built graph
(`Explainer.set_model_weights`, one session run) and recomputes the maps.

Re-initialisation uses each layer's own Keras initialisers, seeded with
`sanity.seed` + the layer's index in `model.layers`, all evaluated in one
session run; a zero-initialised kernel (the `hc` head's) gets GlorotUniform
instead, so the randomised network's output is not constant. BatchNormalization
gets gamma and beta from its initialisers, moving mean 0 and variance 1.

Adebayo et al.'s data-randomisation test rides along: the same analyzer gets the
weights of the sanity fold's model trained on shuffled HC targets (rule
train_permuted_labels) and explains the same images (`permuted_label_maps`).

The stage plan (`weighted_layers`, `stage_groups`) is read from the model file
with h5py, so the model-free `random` analyzer needs no TensorFlow. TensorFlow
is imported inside functions only; the similarity of the maps is computed in the
workflow env (`hcxai.evaluate.randomisation.similarity`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hcxai.core.io import InputError, damaged_file, read_hdf5
from hcxai.data.splits import first_test_ids
from hcxai.evaluate.randomisation.maps_file import SanityMaps, write_sanity_maps
from hcxai.explain.analyzers import resolve
from hcxai.explain.innvestigate_backend import Explainer, build_explainer
from hcxai.explain.saliency import file_attributes, model_dataset
from hcxai.models.regression import read_model_attributes
from hcxai.models.weights import sha256

log = logging.getLogger(__name__)

Weights = dict[str, list[np.ndarray]]  # layer name -> its weights in `layer.weights` order


def check_settings(sanity: Mapping[str, Any], folds: int) -> None:
    """Refuse a `sanity` config block that cannot work with this config (before any job)."""
    if sanity["fold"] >= folds:
        raise InputError(
            f"sanity.fold is {sanity['fold']} but the config has folds: {folds} "
            f"(folds 0..{folds - 1}); set sanity.fold below {folds}"
        )


PERMUTED_RULE = "train_permuted_labels"  # writes the data-randomisation model


def weighted_layers(model_path: str | Path, rule: str = "train") -> list[tuple[int, str]]:
    """(index in `model.layers`, name) of every layer with weights, input first (h5py only);
    `rule` wrote the file (named in the error of a damaged one)."""

    def read(h5: h5py.File) -> list[tuple[int, str]]:
        group = h5["model_weights"]
        names = [_text(n) for n in group.attrs["layer_names"]]
        return [(i, n) for i, n in enumerate(names) if len(group[n].attrs["weight_names"])]

    try:
        found = read_hdf5(model_path, read, rule)
    except KeyError as error:
        raise damaged_file(
            model_path, f"is not a Keras HDF5 model file with weights ({error!r})", rule
        ) from None
    if not found:
        raise InputError(f"{model_path}: the model has no layer with weights to randomise")
    return found


def file_weights(model_path: str | Path, rule: str = "train") -> Weights:
    """Every weighted layer's weights as stored in a Keras HDF5 model file (h5py only), in
    the file's `weight_names` order, which is Keras' `layer.weights` order."""

    def read(h5: h5py.File) -> Weights:
        group = h5["model_weights"]
        return {
            name: [group[name][_text(w)][()] for w in group[name].attrs["weight_names"]]
            for _, name in weighted_layers(model_path, rule)
        }

    return read_hdf5(model_path, read, rule)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def stage_groups(
    layers: Sequence[str], stages: int, model_path: str | Path = ""
) -> list[list[str]]:
    """`layers` (input first) from the output backwards, in `stages` contiguous groups.

    Group sizes differ by at most one, the larger groups nearest the output.
    """
    if not 1 <= stages <= len(layers):
        raise InputError(
            f"sanity.stages is {stages} but {model_path or 'the model'} has "
            f"{len(layers)} layers with weights; set sanity.stages between 1 and {len(layers)}"
        )
    backwards = list(reversed(layers))
    return [list(group) for group in np.array_split(np.array(backwards, dtype=object), stages)]


def cumulative_stages(groups: Sequence[Sequence[str]]) -> list[list[str]]:
    """The layers re-initialised at every stage: [] for stage 0, groups 1..k for stage k."""
    return [[name for group in groups[:k] for name in group] for k in range(len(groups) + 1)]


def stage_weights(
    trained: Weights, reinitialised: Weights, groups: Sequence[Sequence[str]], stage: int
) -> Weights:
    """The whole network's weights at `stage`: groups 1..stage re-initialised, the rest trained."""
    fresh = set(cumulative_stages(groups)[stage])
    return {
        name: list(reinitialised[name] if name in fresh else values)
        for name, values in trained.items()
    }


def _initialiser(layer: Any, variable: Any, seed: int) -> Any:
    """The seeded Keras initialiser of one weight of `layer` (or its NumPy value)."""
    import tensorflow as tf

    shape = tuple(variable.shape)
    if variable is getattr(layer, "moving_mean", None):
        return np.zeros(shape, np.float32)
    if variable is getattr(layer, "moving_variance", None):
        return np.ones(shape, np.float32)
    for attribute in ("kernel", "bias", "gamma", "beta"):
        if variable is getattr(layer, attribute, None):
            initialiser = getattr(layer, f"{attribute}_initializer")
            break
    else:
        raise InputError(
            f"layer {layer.name!r}: no initialiser known for its weight {variable.name!r}; the "
            "sanity check re-initialises Conv2D, Dense and BatchNormalization weights only"
        )
    if attribute == "kernel" and isinstance(initialiser, tf.keras.initializers.Zeros):
        initialiser = tf.keras.initializers.GlorotUniform()  # else the output is constant
    config = initialiser.get_config()
    if "seed" in config:
        initialiser = type(initialiser).from_config({**config, "seed": seed})
    return initialiser


def reinitialised_weights(model: Any, layers: Sequence[tuple[int, str]], seed: int) -> Weights:
    """Fresh weights of `layers` ((index, name)) from their initialisers, seeded seed + index.

    Every initialiser's tensor is evaluated in one session run (in graph mode a
    run costs ~0.1 s on ResNet50, whatever it computes).
    """
    import tensorflow as tf

    values: dict[str, list[Any]] = {}
    pending: list[tuple[str, int, Any]] = []
    for index, name in layers:
        layer = model.get_layer(name)
        values[name] = []
        for variable in layer.weights:
            made = _initialiser(layer, variable, seed + index)
            if not isinstance(made, np.ndarray):
                pending.append((name, len(values[name]), made(tuple(variable.shape), "float32")))
                made = None
            values[name].append(made)
    evaluated = tf.keras.backend.batch_get_value([tensor for _, _, tensor in pending])
    for (name, k, _), value in zip(pending, evaluated, strict=True):
        values[name][k] = np.asarray(value, dtype=np.float32)
    return values


def cascade(
    explainer: Explainer,
    images: np.ndarray,
    image_ids: list[str],
    groups: Sequence[Sequence[str]],
    reinitialised: Weights,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Maps (S + 1, N, s, s) of every stage, and (set-weights s, maps s) per stage.

    Stages are cumulative, so stage k only writes group k's weights into the
    analyzer built on the trained network.
    """
    maps, seconds = [], []
    for stage in range(len(groups) + 1):
        start = time.perf_counter()
        if stage:
            explainer.set_model_weights({name: reinitialised[name] for name in groups[stage - 1]})
        set_at = time.perf_counter()
        maps.append(explainer.explain(images, image_ids))
        seconds.append((set_at - start, time.perf_counter() - set_at))
    return np.stack(maps), seconds


def _stage_maps(
    explainer: Explainer,
    images: np.ndarray,
    ids: list[str],
    layers: list[tuple[int, str]],
    groups: list[list[str]],
    seed: int,
    model_path: str,
) -> np.ndarray:
    """The maps of every stage from one built analyzer; logs what each stage cost."""
    loaded = enumerate(explainer.source_model.layers)
    if [(i, layer.name) for i, layer in loaded if layer.weights] != layers:
        raise ValueError(f"{model_path}: the loaded model's layers differ from the file's")
    start = time.perf_counter()
    reinitialised = reinitialised_weights(explainer.source_model, layers, seed)
    prepared = time.perf_counter() - start
    maps, seconds = cascade(explainer, images, ids, groups, reinitialised)
    log.info(
        "%s: built in %.2f s; %d images; re-initialised weights made in %.2f s",
        explainer.spec.name,
        explainer.build_seconds,
        len(ids),
        prepared,
    )
    for stage, (set_s, map_s) in enumerate(seconds):
        log.info(
            "stage %d (%d layers re-initialised): set weights %.2f s, maps %.2f s, stage %.2f s",
            stage,
            sum(len(g) for g in groups[:stage]),
            set_s,
            map_s,
            set_s + map_s,
        )
    return maps


def check_permuted_model(
    model_path: str, permuted_model_path: str, layers: list[tuple[int, str]]
) -> None:
    """The data-randomisation model's weights go into the trained model's analyzer: it must
    be a permuted-label model of the same fold with the same layers (`layers`, the trained
    model's `weighted_layers`, already read)."""
    trained = read_model_attributes(model_path)
    permuted = read_model_attributes(permuted_model_path)
    fix = f"rerun rule {PERMUTED_RULE} for this backbone and loss"
    if not permuted.get("permuted_labels") or trained.get("permuted_labels"):
        raise InputError(
            f"{permuted_model_path} must be the model trained on shuffled labels and "
            f"{model_path} the model trained on the real ones; check the inputs or {fix}"
        )
    for key in ("backbone", "fold", "image_size"):
        if permuted.get(key) != trained.get(key):
            raise InputError(
                f"{permuted_model_path} has {key} {permuted.get(key)!r}, but {model_path} "
                f"has {trained.get(key)!r}; {fix}"
            )
    if weighted_layers(permuted_model_path, PERMUTED_RULE) != layers:
        raise InputError(f"{permuted_model_path} has other layers than {model_path}; {fix}")


def permuted_label_maps(
    explainer: Explainer, images: np.ndarray, image_ids: list[str], permuted_model_path: str
) -> np.ndarray:
    """The maps of the model trained on shuffled targets, from the analyzer built on the
    trained model: its weights are written in like a randomisation stage's."""
    explainer.set_model_weights(file_weights(permuted_model_path, PERMUTED_RULE))
    return explainer.explain(images, image_ids)


def compute_sanity_maps(
    model_path: str,
    permuted_model_path: str,
    dataset_path: str,
    splits_path: str,
    out_path: str,
    analyzer: str,
    params: dict[str, Any],
    backbone: str,
    loss: str,
    fold: int,
    n_images: int,
    stages: int,
    seed: int,
    memory_budget_mb: int,
    graph_optimization: bool = False,
    threads: int = 1,
) -> None:
    """Write `results/sanity/{backbone}/{loss}/{analyzer}.h5`: the maps of every stage and
    of the permuted-label model (`permuted_model_path`, rule train_permuted_labels)."""
    spec = resolve(analyzer, params)
    data = model_dataset(model_path, dataset_path)
    ids = first_test_ids(splits_path, fold, n_images, data.image_id, block="sanity")
    images = data.images[data.index_of(ids)]
    layers = weighted_layers(model_path)
    groups = stage_groups([name for _, name in layers], stages, model_path)
    check_permuted_model(model_path, permuted_model_path, layers)
    explainer = build_explainer(
        model_path, spec, data.images, memory_budget_mb, graph_optimization, threads
    )
    if explainer.model is None:  # `random`: the same seeded maps whatever the weights
        maps = np.stack([explainer.explain(images, ids)] * (stages + 1))
        permuted = maps[0]
        log.info(
            "%s on %s (%s loss): a seeded map, no model; %d stages",
            analyzer,
            backbone,
            loss,
            stages,
        )
    else:
        maps = _stage_maps(explainer, images, ids, layers, groups, seed, model_path)
        permuted = permuted_label_maps(explainer, images, ids, permuted_model_path)
    attributes = file_attributes(spec, explainer, model_path, backbone, loss, fold) | {
        "permuted_model_sha256": sha256(Path(permuted_model_path)),
        "seed": seed,
        "layers": [name for _, name in layers],
        "reinitialisation": "each layer's Keras initialisers seeded seed + layer index; zero "
        "kernels GlorotUniform; BatchNorm moving mean 0, variance 1",
    }
    write_sanity_maps(
        out_path, SanityMaps(maps, ids, cumulative_stages(groups), attributes, permuted)
    )
