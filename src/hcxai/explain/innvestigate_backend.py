"""The TensorFlow side of saliency: one iNNvestigate analyzer built on one model.

For a regression network with one linear output every method explains that
single output. What an analyzer is comes from its registry entry
(`hcxai.explain.analyzers`); this module only builds and runs it. Three things
iNNvestigate 2.1.2 does not do right here are handled here:

* SmoothGrad's noise layer ignores `noise_scale` (always sigma = 1), and its
  Integrated Gradients fails on ResNet50 (a duplicate input name; neuron
  selection on the path batch). We make the noisy samples and the path points
  in NumPy and run iNNvestigate's own `gradient` on them: the same estimators,
  with the configured sigma.
* Building an analyzer in graph mode made Keras evaluate every constant of the
  new graph through a new session callable (minutes on ResNet50). Keras'
  `_UNSAFE_GRAPH_OP_LAYER_CREATION` switch skips that evaluation; its stated
  costs (get_config serialisation, in-graph random ops) do not apply to an
  analyzer model. Each analyzer gets a fresh graph.
* In graph mode Keras builds every BatchNormalization (and Dropout) around its
  learning-phase placeholder, a `tf.cond` per layer whose gradient graphs
  iNNvestigate then walks once per layer: on ResNet50 a third of the model
  load and three quarters of a gradient analyzer's build. The graph is built in
  inference mode instead (learning phase 0), with bit-identical maps.
* `analyze()` takes a whole batch in one pass; SmoothGrad and Integrated
  Gradients multiply it. We run passes of at most `rows_per_pass` samples,
  derived from a memory budget, with the same result as one pass.

A built analyzer can be given new weights (`set_model_weights`, the sanity
check's cascading randomisation) without a rebuild: the analyzer graph reads the
model's Dense/Conv variables when it runs. iNNvestigate's LRP rule for
BatchNormalization does not (it takes the BN weights when it is built), which is
why canonized analyzers are given the merged weights instead.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hcxai.core.io import InputError
from hcxai.core.seeding import RANDOM_MAP, SMOOTHGRAD_NOISE, image_rng
from hcxai.data.hc18 import black_in_network_units, network_input, network_input_range
from hcxai.explain.analyzers import AnalyzerSpec
from hcxai.explain.canonize import batchnorm_merges, merge_batchnorm, merged_assignments
from hcxai.models.regression import configure_tensorflow, load_model, read_model_attributes

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
# SmoothGrad's noise: the image's `SMOOTHGRAD_NOISE` stream with this seed, whatever the config.
SMOOTHGRAD_NOISE_SEED = 0


def random_maps(seed: int, image_ids: Sequence[str], shape: tuple[int, ...]) -> np.ndarray:
    """The `random` analyzer's relevance (N, *shape): standard normal draws from each
    image's own `RANDOM_MAP` stream, so its ranking is independent of the perturbation
    noise and of the random order even when the seeds are equal."""
    return np.stack([image_rng(seed, i, RANDOM_MAP).standard_normal(shape) for i in image_ids])


def rows_per_pass(model: Any, memory_budget_mb: int, relevance: bool) -> int:
    """How many input rows one analyzer pass may hold within `memory_budget_mb`."""
    transient = () if relevance else GRADIENT_TRANSIENT
    values = 0
    for layer in model.layers:
        if type(layer).__name__ in transient:
            continue
        shapes = (
            layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        )
        values += sum(math.prod(d for d in shape[1:] if d) for shape in shapes)
    return max(1, int(memory_budget_mb * 2**20 // (values * BYTES_PER_ACTIVATION)))


def build_in_inference_mode() -> None:
    """Fix Keras' learning phase of the current graph to 0 (see module doc)."""
    import tensorflow as tf

    with warnings.catch_warnings():  # deprecated, but the only graph-mode switch
        warnings.simplefilter("ignore", UserWarning)
        tf.compat.v1.keras.backend.set_learning_phase(0)


@contextlib.contextmanager
def fast_graph_construction() -> Iterator[None]:
    """Skip Keras' per-constant session evaluation while wrapping raw TF ops (see module doc)."""
    from keras.src.engine import base_layer_utils

    previous = base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION
    base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION = True
    try:
        yield
    finally:
        base_layer_utils._UNSAFE_GRAPH_OP_LAYER_CREATION = previous


def innvestigate_kwargs(spec: AnalyzerSpec, data_range: tuple[float, float] | None) -> dict:
    """The keyword arguments of `innvestigate.create_analyzer` for this analyzer."""
    kwargs = {k: spec.params[k] for k in spec.analyzer.innvestigate_kwargs if k in spec.params}
    if spec.method.startswith("deep_taylor.bounded"):
        if data_range is None:
            raise ValueError("deep_taylor needs the data range of the normalised input")
        kwargs |= {"low": float(data_range[0]), "high": float(data_range[1])}
    return kwargs


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
        # The network as the file holds it (before canonization), its weights as
        # NumPy by layer name (read once, on demand), and which BN each merged
        # layer absorbed.
        self.source_model: Any = None
        self._source_weights: dict[str, list[np.ndarray]] | None = None
        self._merged_into: dict[str, str] = {}
        self.build_seconds = 0.0
        self.rows_per_pass = 0
        if spec.analyzer.inputs == "none":  # a seeded map: no model, no TensorFlow
            return
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        import innvestigate

        tf.keras.backend.clear_session()  # one analyzer, one graph
        build_in_inference_mode()
        # Grappler rewrites the analyzer graph on its first run: ~2 s on ResNet50,
        # repaid only over many images (saliency.graph_optimization).
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": not graph_optimization}
        )
        start = time.perf_counter()
        model, _ = load_model(model_path)  # vetted: nothing in the file runs as code
        self.source_model = model
        if spec.params.get("canonize"):
            self._merged_into = batchnorm_merges(model)
            model = merge_batchnorm(model)  # relevance rules as defined; see hcxai.explain.canonize
        self.model = model
        with fast_graph_construction():
            self._analyzer = innvestigate.create_analyzer(
                spec.method, model, **innvestigate_kwargs(spec, data_range)
            )
            self._analyzer.create_analyzer_model()
        self.build_seconds = time.perf_counter() - start
        self.rows_per_pass = rows_per_pass(model, memory_budget_mb, spec.analyzer.relevance)

    @property
    def canonized(self) -> bool:
        return self.model is not None and self.model is not self.source_model

    def model_weights(self) -> dict[str, list[np.ndarray]]:
        """The current weights of the file's network (before canonization), by layer name.

        Layers with weights only, each as its `layer.weights` list; read with one
        session run the first time, then kept (and updated by `set_model_weights`).
        """
        if self.source_model is None:
            raise RuntimeError(f"{self.spec.name} runs no model")
        if self._source_weights is None:
            import tensorflow as tf

            layers = [layer for layer in self.source_model.layers if layer.weights]
            read = iter(
                tf.keras.backend.batch_get_value([v for layer in layers for v in layer.weights])
            )
            self._source_weights = {
                layer.name: [next(read) for _ in layer.weights] for layer in layers
            }
        return {name: list(values) for name, values in self._source_weights.items()}

    def set_model_weights(self, weights: Mapping[str, Sequence[np.ndarray]]) -> None:
        """Give the built analyzer new weights for some layers of the file's network.

        `weights` maps a layer name of the model file to all its weights (in
        `layer.weights` order); other layers keep theirs. One `batch_set_value`
        (one session run), no rebuild. A canonized analyzer's network has no
        BatchNormalization: it gets the merged kernel and bias of every
        convolution whose own or whose BN's weights changed.
        """
        import tensorflow as tf

        current = self.model_weights()
        for name, values in weights.items():
            layer = self.source_model.get_layer(name)  # ValueError for an unknown name
            shapes = [tuple(v.shape) for v in layer.weights]
            if [np.shape(v) for v in values] != shapes:
                raise ValueError(f"{name}: weights shaped {shapes} expected")
            current[name] = [np.asarray(v, dtype=np.float32) for v in values]
        if not self.canonized:
            batchnorms = [
                name
                for name in weights
                if type(self.source_model.get_layer(name)).__name__ == "BatchNormalization"
            ]
            if self.spec.analyzer.relevance and batchnorms:
                raise InputError(
                    f"analyzer_params.{self.spec.name}.canonize is false: iNNvestigate's "
                    "relevance rule for BatchNormalization reads its weights when the analyzer "
                    f"is built, so new weights of {batchnorms[:3]} would not reach it; set "
                    "canonize: true"
                )
            assignments = [
                (variable, value)
                for name in weights
                for variable, value in zip(
                    self.model.get_layer(name).weights, current[name], strict=True
                )
            ]
        else:
            absorbed = {bn: conv for conv, bn in self._merged_into.items()}
            touched = dict.fromkeys(absorbed.get(name, name) for name in weights)
            values = {
                id(variable): value
                for layer in self.source_model.layers
                if layer.weights
                for variable, value in zip(layer.weights, current[layer.name], strict=True)
            }
            assignments = merged_assignments(
                self.source_model, self.model, self._merged_into, values, touched
            )
        tf.keras.backend.batch_set_value(assignments)
        self._source_weights = current

    def _analyze_rows(self, rows: np.ndarray) -> np.ndarray:
        """Equal passes of at most `rows_per_pass` rows: 32 rows, 29 at most, go as 16 + 16."""
        if self._analyzer is None:
            raise RuntimeError(f"{self.spec.name} runs no analyzer")
        passes = -(-len(rows) // self.rows_per_pass)
        bounds = np.linspace(0, len(rows), passes + 1).round().astype(int)
        return np.concatenate(
            [self._analyzer.analyze(rows[a:b]) for a, b in itertools.pairwise(bounds)]
        )

    def _augmented(self, count: int, n: int, rows_of: Callable, reduce: Callable) -> np.ndarray:
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

    def _noise_samples(self, x: np.ndarray, image_ids: list[str]) -> np.ndarray:
        """SmoothGrad: the mean gradient over noisy copies, sd a fraction of the input range."""
        n = self.spec.params["augment_by_n"]
        sigma = self.spec.params["noise_scale"] * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))

        def noise(i: int) -> np.ndarray:
            rng = image_rng(SMOOTHGRAD_NOISE_SEED, image_ids[i], SMOOTHGRAD_NOISE)
            return rng.standard_normal((n, *x.shape[1:]), dtype=np.float32)

        def noisy(idx: np.ndarray) -> np.ndarray:
            return np.concatenate([x[i] + sigma[i] * noise(i) for i in idx])

        return self._augmented(len(x), n, noisy, lambda idx, g: g.mean(axis=1))

    def _path_points(self, x: np.ndarray, images: np.ndarray) -> np.ndarray:
        """Integrated Gradients: the mean gradient on the straight path x (input - reference)."""
        steps = self.spec.params["steps"]
        black = self.spec.params["reference"] == "black"
        reference = black_in_network_units(images) if black else np.zeros_like(x)
        # The straight path from the reference to the input, ends included (as iNNvestigate).
        alphas = np.linspace(0, 1, steps, dtype=np.float32)[:, None, None, None]

        def path(idx: np.ndarray) -> np.ndarray:
            return np.concatenate([reference[i] + alphas * (x[i] - reference[i]) for i in idx])

        return self._augmented(
            len(x), steps, path, lambda idx, g: g.mean(axis=1) * (x[idx] - reference[idx])
        )

    def relevance(
        self, images: np.ndarray, image_ids: list[str], offset: np.ndarray | None = None
    ) -> np.ndarray:
        """Maps (N, s, s, 3) in the network's input space for uint8 images (N, s, s).

        `offset` (N, s, s) is added to the network input on all three channels (a
        robustness perturbation); SmoothGrad's noise and IG's black reference stay the
        unperturbed image's, so only the input changes.
        """
        x = network_input(images)
        if offset is not None:
            x = x + offset[..., np.newaxis].astype(np.float32)
        inputs = self.spec.analyzer.inputs
        if inputs == "none":
            return random_maps(self.spec.params["seed"], image_ids, x.shape[1:]).astype(np.float32)
        if inputs == "noise_samples":
            return self._noise_samples(x, image_ids)
        if inputs == "path_points":
            return self._path_points(x, images)
        return self._analyze_rows(x).astype(np.float32)

    def explain(
        self, images: np.ndarray, image_ids: list[str], offset: np.ndarray | None = None
    ) -> np.ndarray:
        """Saliency maps (N, s, s): relevance summed over the 3 replicated channels."""
        maps = self.relevance(images, image_ids, offset).sum(axis=-1)
        bad = ~np.isfinite(maps).all(axis=(1, 2))
        if bad.any():
            raise ValueError(
                f"{self.spec.name}: non-finite saliency map for image(s) "
                f"{[image_ids[i] for i in np.flatnonzero(bad)][:5]}"
            )
        return maps


def build_explainer(
    model_path: str | Path,
    spec: AnalyzerSpec,
    dataset_images: np.ndarray,
    memory_budget_mb: int,
    graph_optimization: bool,
    threads: int,
) -> Explainer:
    """The stages' one way to build an analyzer: threads and seeds set, Deep Taylor's
    bounds the network input's range over the whole data set (`dataset_images`), so an
    image's map does not depend on which other images share its job."""
    if spec.analyzer.inputs != "none":
        configure_tensorflow(threads, seed=0)
    return Explainer(
        model_path,
        spec,
        memory_budget_mb,
        data_range=network_input_range(dataset_images),
        graph_optimization=graph_optimization,
    )
