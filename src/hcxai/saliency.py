"""Saliency maps of the regression CNN: the paper's eight analyzers (+ a random baseline).

Config names map to iNNvestigate 2.1.2 methods with the authors' settings as
defaults (`ANALYZERS`); `analyzer_params` overrides them. For a regression
network with one linear output, every method explains that single output.

Three things iNNvestigate 2.1.2 does not do right here are handled here:

* SmoothGrad and Integrated Gradients are iNNvestigate wrappers that augment
  the batch inside the graph. SmoothGrad's noise layer ignores `noise_scale`
  (always sigma = 1), and Integrated Gradients fails on ResNet50 (a duplicate
  input name; neuron selection on the path batch). We build the noisy samples
  and the path points in NumPy and run iNNvestigate's own `gradient` analyzer on
  them; the result is the same estimator, with the configured sigma.
* Building an analyzer in graph mode made Keras evaluate every constant of the
  new graph through a new session callable (minutes on ResNet50). Keras'
  `_UNSAFE_GRAPH_OP_LAYER_CREATION` switch skips that evaluation; its stated
  costs (get_config serialisation, in-graph random ops) do not apply to an
  analyzer model. Each analyzer gets a fresh graph. (The weights must be loaded
  before the build: LRP folds BatchNorm statistics into its rules then.)
* `analyze()` takes a whole batch in one pass; SmoothGrad and Integrated
  Gradients multiply it. We run passes of at most `rows_per_pass` samples,
  derived from a memory budget, with the same result as one pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

import hcxai
from hcxai.canonize import merge_batchnorm
from hcxai.data import NORMALISATION_NOTE, black_in_network_units, load_dataset, network_input
from hcxai.io import InputError, atomic_output
from hcxai.models import check_image_size, configure_tensorflow, read_model_attributes
from hcxai.splits import fold_ids

log = logging.getLogger(__name__)

# Config name -> (iNNvestigate method, default parameters). The order is the paper's.
ANALYZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "gradient": ("gradient", {"postprocess": "abs"}),
    "smoothgrad": ("smoothgrad", {"noise_scale": 0.1, "augment_by_n": 64, "postprocess": "square"}),
    "deconvnet": ("deconvnet", {}),
    "deep_taylor": ("deep_taylor.bounded", {"canonize": True}),
    "guided_backprop": ("guided_backprop", {}),
    "input_x_gradient": ("input_t_gradient", {}),
    "integrated_gradients": ("integrated_gradients", {"steps": 64, "reference": "black"}),
    "lrp": ("lrp.z", {"variant": "lrp.z", "canonize": True}),
    "random": ("random", {"seed": 2020}),
}
PAPER_ORDER = list(ANALYZERS)
POSTPROCESS = (None, "abs", "square")
# Peak memory per input row, as bytes per kept activation value. LRP and Deep
# Taylor rules read every layer's input and output, so they keep all of them;
# a gradient's backward pass does not keep the outputs of `GRADIENT_TRANSIENT`
# layers (inference-mode BatchNorm is a per-channel affine map, Add passes the
# gradient on), which TensorFlow frees once the next layer has read them.
# Calibrated at 128 px on the peak RSS of raw iNNvestigate against hcxai
# (docs/benchmarks.md): VGG16 gradients 19-29 MB per row, ResNet50 gradients
# 16-28 MB, ResNet50 LRP 70-74 MB and Deep Taylor 60-63 MB; 7 B gives 33, 46 and
# 81 MB. (Counting every output for gradients made ResNet50 run 32 rows as two
# passes, 6-11% slower than one.)
BYTES_PER_ACTIVATION = 7
GRADIENT_TRANSIENT = ("BatchNormalization", "Add")
RELEVANCE_METHODS = ("deep_taylor", "lrp")


@dataclass(frozen=True)
class AnalyzerSpec:
    """An analyzer as configured: its name, iNNvestigate method and full parameters."""

    name: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)


def resolve(name: str, overrides: dict[str, Any] | None = None) -> AnalyzerSpec:
    """Defaults + overrides, checked before any work."""
    if name not in ANALYZERS:
        raise InputError(f"analyzers: {name!r} is unknown; choose from {PAPER_ORDER}")
    method, defaults = ANALYZERS[name]
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults) - ({"epsilon"} if name == "lrp" else set()))
    if unknown:
        raise InputError(
            f"analyzer_params.{name}: unknown parameter(s) {unknown}; "
            f"{name} takes {sorted(defaults) or 'no parameters'}"
        )
    params = {**defaults, **overrides}
    if "postprocess" in params and params["postprocess"] not in POSTPROCESS:
        raise InputError(
            f"analyzer_params.{name}.postprocess must be one of {POSTPROCESS}, "
            f"got {params['postprocess']!r}"
        )
    for key in ("augment_by_n", "steps"):
        if key in params and (not isinstance(params[key], int) or params[key] < 1):
            raise InputError(f"analyzer_params.{name}.{key} must be a positive integer")
    if "canonize" in params and not isinstance(params["canonize"], bool):
        raise InputError(
            f"analyzer_params.{name}.canonize must be true (merge BatchNorm into the "
            "convolutions, LRP as defined) or false (iNNvestigate's own BatchNorm rule)"
        )
    if name == "smoothgrad" and not params["noise_scale"] >= 0:
        raise InputError("analyzer_params.smoothgrad.noise_scale must be >= 0")
    if name == "integrated_gradients" and params["reference"] not in ("black", "zeros"):
        raise InputError(
            "analyzer_params.integrated_gradients.reference must be 'black' (a black image in "
            "normalised units, the paper's) or 'zeros'"
        )
    if name == "lrp":
        try:
            import innvestigate
        except ImportError:  # the workflow env checks the rest; the job checks the variant
            return AnalyzerSpec(name, params["variant"], params)
        variant = params["variant"]
        known = sorted(k for k in innvestigate.analyzer.analyzers if k.startswith("lrp"))
        if variant not in known:
            raise InputError(
                f"analyzer_params.lrp.variant {variant!r} is not an iNNvestigate LRP rule; "
                f"choose one of {known}"
            )
        method = variant
    return AnalyzerSpec(name, method, params)


def rows_per_pass(model: Any, memory_budget_mb: int, analyzer: str) -> int:
    """How many input rows one pass of `analyzer` may hold within `memory_budget_mb`."""
    transient = () if analyzer in RELEVANCE_METHODS else GRADIENT_TRANSIENT
    values = 0
    for layer in model.layers:
        if type(layer).__name__ in transient:
            continue
        shapes = (
            layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        )
        values += sum(math.prod(d for d in shape[1:] if d) for shape in shapes)
    return max(1, int(memory_budget_mb * 2**20 // (values * BYTES_PER_ACTIVATION)))


@contextlib.contextmanager
def _fast_graph_construction() -> Iterator[None]:
    """Skip Keras' per-constant session evaluation while wrapping raw TF ops (see module doc)."""
    from keras.src.engine import base_layer_utils

    previous = base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION
    base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION = True
    try:
        yield
    finally:
        base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION = previous


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, image id): chunking cannot change a map."""
    return np.random.default_rng([seed, zlib.crc32(image_id.encode())])


class Explainer:
    """One analyzer on one model, built once; `explain` maps uint8 images to saliency maps."""

    def __init__(
        self,
        model_path: str | Path,
        spec: AnalyzerSpec,
        memory_budget_mb: int = 2048,
        data_range: tuple[float, float] | None = None,
        graph_optimization: bool = True,
    ) -> None:
        self.spec = spec
        read_model_attributes(model_path)  # refuse a model that is not ours before any work
        self.data_range = data_range
        self.model = self._analyzer = None
        self.build_seconds = 0.0
        self.rows_per_pass = 0
        if spec.name == "random":  # a seeded map: no model, no TensorFlow
            return
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        import innvestigate

        tf.keras.backend.clear_session()  # one analyzer, one graph
        # Grappler rewrites the analyzer graph on its first run: ~2 s on ResNet50,
        # repaid only over many images (saliency.graph_optimization).
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": not graph_optimization}
        )
        start = time.perf_counter()
        model = tf.keras.models.load_model(model_path, compile=False)
        if spec.params.get("canonize"):
            model = merge_batchnorm(model)  # relevance rules as defined; see hcxai.canonize
        self.model = model
        kwargs: dict[str, Any] = {}
        method = spec.method
        if spec.name == "gradient":
            kwargs["postprocess"] = spec.params["postprocess"]
        elif spec.name == "smoothgrad":
            method, kwargs = "gradient", {"postprocess": spec.params["postprocess"]}
        elif spec.name == "integrated_gradients":
            method = "gradient"
        elif spec.name == "deep_taylor":
            if data_range is None:
                raise ValueError("deep_taylor needs the data range of the normalised input")
            kwargs = {"low": float(data_range[0]), "high": float(data_range[1])}
        elif spec.name == "lrp" and "epsilon" in spec.params:
            kwargs["epsilon"] = spec.params["epsilon"]
        with _fast_graph_construction():
            self._analyzer = innvestigate.create_analyzer(method, model, **kwargs)
            self._analyzer.create_analyzer_model()
        self.build_seconds = time.perf_counter() - start
        self.rows_per_pass = rows_per_pass(model, memory_budget_mb, spec.name)

    def _analyze_rows(self, rows: np.ndarray) -> np.ndarray:
        """Equal passes of at most `rows_per_pass` rows: 32 rows, 29 at most, go as 16 + 16."""
        assert self._analyzer is not None
        passes = -(-len(rows) // self.rows_per_pass)
        bounds = np.linspace(0, len(rows), passes + 1).round().astype(int)
        return np.concatenate(
            [self._analyzer.analyze(rows[a:b]) for a, b in itertools.pairwise(bounds)]
        )

    def _augmented(self, count: int, n: int, rows_of: Any, reduce: Any) -> np.ndarray:
        """Gradients of `n` NumPy-made rows per image, reduced per image.

        `rows_of(idx)` gives the rows of images `idx` (image-major), `reduce(idx,
        grads)` their maps from gradients shaped (len(idx), n, ...). Whole images
        go into a chunk, so a chunk's rows never depend on its neighbours.
        """
        out = []
        images_per_chunk = max(1, self.rows_per_pass // n)
        for start in range(0, count, images_per_chunk):
            idx = np.arange(start, min(start + images_per_chunk, count))
            rows = rows_of(idx)
            grads = self._analyze_rows(rows).reshape(len(idx), n, *rows.shape[1:])
            out.append(reduce(idx, grads))
        return np.concatenate(out)

    def relevance(self, images: np.ndarray, image_ids: list[str]) -> np.ndarray:
        """Maps (N, s, s, 3) in the network's input space for uint8 images (N, s, s)."""
        x = network_input(images)
        name, params = self.spec.name, self.spec.params
        if name == "random":
            return np.stack(
                [image_rng(params["seed"], i).standard_normal(x.shape[1:]) for i in image_ids]
            ).astype(np.float32)
        if name == "smoothgrad":
            n = params["augment_by_n"]
            # Noise sd as a fraction of each image's input range (Smilkov et al.).
            sigma = params["noise_scale"] * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))

            def noisy(idx: np.ndarray) -> np.ndarray:
                return np.concatenate(
                    [
                        x[i]
                        + sigma[i]
                        * image_rng(0, image_ids[i]).standard_normal(
                            (n, *x.shape[1:]), dtype=np.float32
                        )
                        for i in idx
                    ]
                )

            return self._augmented(len(x), n, noisy, lambda idx, g: g.mean(axis=1))
        if name == "integrated_gradients":
            steps = params["steps"]
            reference = black_in_network_units(images) if params["reference"] == "black" else 0 * x
            # The straight path from the reference to the input, ends included (as iNNvestigate).
            alphas = np.linspace(0, 1, steps, dtype=np.float32)[:, None, None, None]

            def path(idx: np.ndarray) -> np.ndarray:
                return np.concatenate([reference[i] + alphas * (x[i] - reference[i]) for i in idx])

            return self._augmented(
                len(x), steps, path, lambda idx, g: g.mean(axis=1) * (x[idx] - reference[idx])
            )
        return self._analyze_rows(x).astype(np.float32)

    def explain(self, images: np.ndarray, image_ids: list[str]) -> np.ndarray:
        """Saliency maps (N, s, s): relevance summed over the 3 replicated channels."""
        maps = self.relevance(images, image_ids).sum(axis=-1)
        bad = ~np.isfinite(maps).all(axis=(1, 2))
        if bad.any():
            raise ValueError(
                f"{self.spec.name}: non-finite saliency map for image(s) "
                f"{[image_ids[i] for i in np.flatnonzero(bad)][:5]}"
            )
        return maps


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("tensorflow", "innvestigate", "numpy", "h5py")} | {
        "hcxai": hcxai.__version__
    }


def compute_saliency(
    model_path: str,
    predictions_path: str,
    dataset_path: str,
    splits_path: str,
    out_path: str,
    analyzer: str,
    params: dict[str, Any],
    backbone: str,
    fold: int,
    memory_budget_mb: int,
    max_images: int | None = None,
    graph_optimization: bool = True,
    threads: int = 1,
) -> None:
    """Write `results/saliency/{backbone}/fold{fold}/{analyzer}.h5` for the fold's test images.

    `max_images` keeps the first n test images of the fold (a CPU budget; None = all).
    The predicted HC stored beside the maps is the training stage's
    (`predictions.csv` of the same model), so both stages report one number.
    """
    spec = resolve(analyzer, params)
    if spec.name != "random":
        configure_tensorflow(threads, seed=0)
    data = load_dataset(dataset_path)
    check_image_size(model_path, dataset_path, data.images.shape[-1])
    ids = fold_ids(pd.read_csv(splits_path), fold, "test")[:max_images]
    index = data.index_of(ids)
    images = data.images[index]
    x_all = network_input(images)
    explainer = Explainer(
        model_path,
        spec,
        memory_budget_mb,
        data_range=(float(x_all.min()), float(x_all.max())),
        graph_optimization=graph_optimization,
    )
    log.info(
        "%s on %s fold %d: %d test images; %s",
        analyzer,
        backbone,
        fold,
        len(ids),
        f"built in {explainer.build_seconds:.1f} s, {explainer.rows_per_pass} rows per pass"
        if explainer.model is not None
        else "a seeded map, no model",
    )
    start = time.perf_counter()
    maps = explainer.explain(images, ids)
    seconds = time.perf_counter() - start
    log.info(
        "%s: %d maps in %.1f s (%.1f images/s)", analyzer, len(ids), seconds, len(ids) / seconds
    )
    hc_pred = training_predictions(predictions_path, ids)
    size = images.shape[-1]
    recorded = dict(spec.params)
    if spec.name == "deep_taylor":
        recorded |= {"low": explainer.data_range[0], "high": explainer.data_range[1]}
    with atomic_output(out_path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "maps",
            data=maps,
            chunks=(1, size, size),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        h5.create_dataset("image_ids", data=ids, dtype=h5py.string_dtype())
        h5.create_dataset("hc_true_px", data=data.hc_px[index])
        h5.create_dataset("hc_pred_px", data=hc_pred)
        h5.attrs.update(
            {
                "analyzer": analyzer,
                "innvestigate_method": spec.method,
                "params": json.dumps(recorded, sort_keys=True),
                "backbone": backbone,
                "fold": fold,
                "model_sha256": sha256(model_path),
                "model_path": str(model_path),
                "versions": json.dumps(library_versions(), sort_keys=True),
                "normalisation": NORMALISATION_NOTE,
                "canonization": "batchnorm merged into convolutions"
                if spec.params.get("canonize")
                else "none",
                "channel_reduction": "sum over the 3 channels",
                "build_seconds": explainer.build_seconds,
                "images_per_s": len(ids) / seconds,
            }
        )


def training_predictions(predictions_path: str, ids: list[str]) -> np.ndarray:
    """Predicted HC (px) of `ids` from the training stage's predictions.csv."""
    predictions = pd.read_csv(predictions_path, dtype={"image_id": str}).set_index("image_id")
    missing = sorted(set(ids) - set(predictions.index))
    if missing:
        raise InputError(
            f"{predictions_path} has no prediction for test image(s) {missing[:5]}; "
            "rerun the train job of this backbone and fold"
        )
    return predictions.loc[ids, "hc_pred_px"].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class SaliencyFile:
    """A saliency cache file in memory."""

    maps: np.ndarray
    image_ids: list[str]
    hc_true_px: np.ndarray
    hc_pred_px: np.ndarray
    attributes: dict[str, Any]


def read_saliency(path: str | Path) -> SaliencyFile:
    with h5py.File(path, "r") as h5:
        return SaliencyFile(
            maps=h5["maps"][:],
            image_ids=[s.decode() for s in h5["image_ids"][:]],
            hc_true_px=h5["hc_true_px"][:],
            hc_pred_px=h5["hc_pred_px"][:],
            attributes=dict(h5.attrs),
        )
