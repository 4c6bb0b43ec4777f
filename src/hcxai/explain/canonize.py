"""Canonization for relevance methods: every BatchNormalization merged into its convolution.

LRP's rules are written for "linear layer + activation" networks. An inference-
mode BatchNormalization is the affine map y = a * x + c per channel (a = gamma /
sqrt(var + eps), c = beta - a * mean), so the convolution before it and the BN
together are one convolution with kernel W * a and bias (b - mean) * a + beta.
Zennit calls this the MergeBatchNorm canonizer (PyTorch); this is its Keras form.

Why it matters: iNNvestigate 2.1.2 propagates relevance through a BN layer as
R_in = x * (y - beta) / ((x - mean) * y) * R, i.e. it recovers the scale a as the
ratio of two float32 differences (+-1e-7 against division by zero) instead of
using gamma / sqrt(var + eps). Where x is close to the moving mean both
differences are dominated by rounding, and the ratio, hence the relevance, is
arbitrary; see the README's method notes for what that did to ResNet50. On the
merged network LRP-z is the z-rule on convolutions only, and for ReLU networks
it equals Input x Gradient (Ancona et al., ICLR 2018), which the tests check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hcxai.core.io import InputError

if TYPE_CHECKING:
    import tensorflow as tf

MERGEABLE = ("Conv2D", "Dense")


def _inbound_names(layer_config: dict[str, Any]) -> list[str]:
    return [entry[0] for node in layer_config["inbound_nodes"] for entry in node]


def _batchnorm_sources(config: dict[str, Any]) -> dict[str, str]:
    """BN layer name -> the convolution (or dense) layer it follows and may be merged into.

    A BN is merged only when it reads a linear (activation-free) convolution
    whose output nothing else reads and normalises the channel axis; any other
    BN would make the merged model differ from the original, so it is refused.
    """
    layers = {layer["name"]: layer for layer in config["layers"]}
    readers: dict[str, int] = {}
    for layer in config["layers"]:
        for name in _inbound_names(layer):
            readers[name] = readers.get(name, 0) + 1
    sources = {}
    for layer in config["layers"]:
        if layer["class_name"] != "BatchNormalization":
            continue
        inbound = _inbound_names(layer)
        source = layers[inbound[0]] if len(inbound) == 1 else None
        axis = layer["config"]["axis"]
        axis = axis if isinstance(axis, list) else [axis]
        if (
            source is None
            or source["class_name"] not in MERGEABLE
            or source["config"].get("activation", "linear") != "linear"
            or readers[source["name"]] != 1
            or len(source["inbound_nodes"]) != 1
            or axis not in ([-1], [3], [1])
        ):
            raise InputError(
                f"cannot merge BatchNormalization {layer['name']!r} into the layer before it "
                "(it must directly follow a linear Conv2D/Dense read by nothing else); set "
                "analyzer_params.<analyzer>.canonize: false to explain this model unmerged"
            )
        sources[layer["name"]] = source["name"]
    return sources


def merged_kernel_and_bias(
    kernel: np.ndarray,
    bias: np.ndarray | None,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    mean: np.ndarray,
    variance: np.ndarray,
    epsilon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The kernel and bias of `BN(conv(x))` as one layer (float64 arithmetic, float32 out)."""
    scale = (1.0 if gamma is None else gamma.astype(np.float64)) / np.sqrt(
        variance.astype(np.float64) + epsilon
    )
    shift = 0.0 if beta is None else beta.astype(np.float64)
    conv_bias = 0.0 if bias is None else bias.astype(np.float64)
    return (
        (kernel.astype(np.float64) * scale).astype(np.float32),
        ((conv_bias - mean.astype(np.float64)) * scale + shift).astype(np.float32),
    )


def merge_batchnorm(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of `model` without BatchNormalization layers that computes the same function.

    The original is left untouched. A model without BN is returned as a copy too,
    so callers can treat the result uniformly.
    """
    import tensorflow as tf

    config = model.get_config()
    sources = _batchnorm_sources(config)
    kept = []
    for layer in config["layers"]:
        if layer["name"] in sources:
            continue
        for node in layer["inbound_nodes"]:
            for entry in node:
                entry[0] = sources.get(entry[0], entry[0])
        if layer["name"] in sources.values():
            layer["config"]["use_bias"] = True
        kept.append(layer)
    config["layers"] = kept
    config["output_layers"] = [
        [sources.get(name, name), *rest] for name, *rest in config["output_layers"]
    ]
    merged = tf.keras.Model.from_config(config)
    # One read and one write of all weights: in graph mode every get/set is a
    # session run (~0.1 s each on ResNet50's graph, 50 s in all when done per layer).
    variables = [v for layer in model.layers for v in layer.weights]
    read = tf.keras.backend.batch_get_value(variables)
    values = {id(v): value for v, value in zip(variables, read, strict=True)}
    assignments = merged_assignments(
        model, merged, {conv: bn for bn, conv in sources.items()}, values
    )
    tf.keras.backend.batch_set_value(assignments)
    return merged


def batchnorm_merges(model: tf.keras.Model) -> dict[str, str]:
    """Layer name -> the BatchNormalization that `merge_batchnorm` folds into it."""
    return {conv: bn for bn, conv in _batchnorm_sources(model.get_config()).items()}


def merged_assignments(
    model: tf.keras.Model,
    merged: tf.keras.Model,
    merged_into: Mapping[str, str],
    values: Mapping[int, np.ndarray],
    layers: Iterable[str] | None = None,
) -> list[tuple[Any, np.ndarray]]:
    """(variable of `merged`, value) pairs for `merged`'s `layers` (default: all of them).

    `values` maps `id(variable)` of every weight of the original `model` that a
    layer needs to its value; `merged_into` is `batchnorm_merges(model)`. A layer
    that absorbed a BatchNormalization gets `merged_kernel_and_bias` of its own
    and the BN's values, any other layer its original values. NumPy only: the
    caller writes them with one `batch_set_value`.
    """

    def value(variable: Any) -> np.ndarray:
        return values[id(variable)]

    names = [layer.name for layer in merged.layers] if layers is None else list(layers)
    assignments = []
    for name in names:
        layer, original = merged.get_layer(name), model.get_layer(name)
        if name in merged_into:
            bn = model.get_layer(merged_into[name])
            weights = merged_kernel_and_bias(
                value(original.kernel),
                value(original.bias) if original.use_bias else None,
                value(bn.gamma) if bn.scale else None,
                value(bn.beta) if bn.center else None,
                value(bn.moving_mean),
                value(bn.moving_variance),
                bn.epsilon,
            )
        else:
            weights = tuple(value(v) for v in original.weights)
        assignments.extend(zip(layer.weights, weights, strict=True))
    return assignments
