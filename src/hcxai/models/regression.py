"""Regression CNNs: a Keras backbone whose softmax is replaced by one linear unit.

The paper (section 3.1) uses VGG16 and ResNet50 without their classifier, and
one linear output for the HC. The model is one flat functional graph (the
backbone's layers are the model's own), because iNNvestigate cannot analyze
nested models. The model file carries what later steps need to read it: the
HC scale (largest training HC in px), backbone, loss, input size and normalisation.
A model's identity in every table is its backbone and training loss (MODEL_KEYS).
TensorFlow is imported inside the functions so `import hcxai.models.regression` is cheap.
"""

from __future__ import annotations

import json
import logging
import math
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from hcxai.core.io import InputError, damaged_file, read_hdf5, require_contents
from hcxai.data.hc18 import MIN_IMAGE_SIZE
from hcxai.models.weights import check_weights_file, fetch_imagenet, weights_path

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import tensorflow as tf

# Inference batch (validation, predictions, perturbation): one size everywhere,
# so the training stage and the perturbation stage predict the same numbers.
PREDICT_BATCH = 256
BATCHNORM_MOMENTUM = 0.9
# Attributes written into model.h5 next to Keras' own; later stages need these.
ATTR_PREFIX = "hcxai_"
REQUIRED_ATTRIBUTES = ("hc_scale_px", "image_size")
RULE = "train"  # the rule that writes model.h5
# Layer classes a model file may hold: VGG16, ResNet50, the regression head and
# plain layers of the same kind. A `Lambda` (or a custom class) is refused before
# Keras reads the file: loading it would run code stored in the file.
ALLOWED_LAYERS = frozenset(
    {
        "Functional",
        "Sequential",
        "Model",
        "InputLayer",
        "Conv2D",
        "Dense",
        "BatchNormalization",
        "Activation",
        "ReLU",
        "Add",
        "ZeroPadding2D",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "Flatten",
        "Dropout",
    }
)


def _vgg16(**kwargs: Any) -> tf.keras.Model:
    import tensorflow as tf

    return tf.keras.applications.VGG16(**kwargs)


def _resnet50(**kwargs: Any) -> tf.keras.Model:
    import tensorflow as tf

    return tf.keras.applications.ResNet50(**kwargs)


BACKBONES: dict[str, Callable[..., tf.keras.Model]] = {"vgg16": _vgg16, "resnet50": _resnet50}


def configure_tensorflow(threads: int, seed: int) -> None:
    """Thread count and the seeds/determinism that make a rerun reproduce the model."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already running in this process (tests): keep its threads
        pass
    log.info(
        "TensorFlow %s: %d intra-op thread(s)",
        tf.__version__,
        tf.config.threading.get_intra_op_parallelism_threads(),
    )
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def check_backbone(backbone: str, image_size: int) -> None:
    """Fail before any work on an unknown backbone or an input too small for it."""
    if backbone not in BACKBONES:
        raise InputError(f"backbone {backbone!r} is unknown; choose one of {sorted(BACKBONES)}")
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(
            f"image_size {image_size} is too small for {backbone}: its five poolings need "
            f">= {MIN_IMAGE_SIZE} px"
        )


def _network_is_reachable(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_weights(backbone: str, weights: str) -> Path | None:
    """The checked backbone weights file that `weights` names (None: random initialisation).

    `imagenet` is Keras' notop file in its cache; where it is absent and the
    network is open, it is downloaded; where the network is closed (compute
    nodes often are), fail at once and say which file to place where, instead
    of hanging in a download.
    """
    path = weights_path(backbone, weights)
    if weights == "imagenet" and not path.is_file() and _network_is_reachable():
        fetch_imagenet([backbone], path.parent)
    return check_weights_file(backbone, weights)


def build_model(
    backbone: str, image_size: int, weights: str = "none", dropout: float = 0.0
) -> tf.keras.Model:
    """The regression network: backbone -> global average pooling -> (dropout) -> Dense(1).

    `weights` loads a backbone weights file in Keras' notop layout: ImageNet or,
    as a path, any other pretraining of the same architecture.
    """
    import tensorflow as tf

    check_backbone(backbone, image_size)
    weights_file = resolve_weights(backbone, weights)
    base = BACKBONES[backbone](
        include_top=False, weights=None, input_shape=(image_size, image_size, 3)
    )
    if weights_file is not None:
        try:
            base.load_weights(str(weights_file))
        except (ValueError, OSError, KeyError) as error:
            raise InputError(
                f"training.weights: {weights_file} does not match the {backbone} backbone "
                f"({error}); give a notop weights file of {backbone}"
            ) from None
    features = tf.keras.layers.GlobalAveragePooling2D(name="global_pool")(base.output)
    if dropout > 0:
        features = tf.keras.layers.Dropout(dropout, name="dropout")(features)
    # Zero kernel: the untrained model predicts its bias (set to the mean target
    # by training), so the first steps cannot blow the output up.
    hc = tf.keras.layers.Dense(1, activation="linear", kernel_initializer="zeros", name="hc")(
        features
    )
    model = tf.keras.Model(base.input, hc, name=f"reg_{backbone}")
    for layer in model.layers:
        # Keras' 0.99 suits ImageNet-length training; with a few hundred steps the
        # moving statistics would still be far from the data at test time.
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = BATCHNORM_MOMENTUM
    return model


def write_model_attributes(path: str | Path, **attributes: Any) -> None:
    """Store hcxai's metadata (HC scale, backbone, ...) in a saved model.h5."""
    with h5py.File(path, "a") as h5:
        for key, value in attributes.items():
            h5.attrs[ATTR_PREFIX + key] = value


def read_model_attributes(path: str | Path) -> dict[str, Any]:
    """hcxai's metadata of a model.h5; InputError if the file is not a readable hcxai model."""
    found = read_hdf5(
        path,
        lambda h5: {
            key[len(ATTR_PREFIX) :]: (value.item() if hasattr(value, "item") else value)
            for key, value in h5.attrs.items()
            if key.startswith(ATTR_PREFIX)
        },
        RULE,
    )
    missing = [ATTR_PREFIX + key for key in REQUIRED_ATTRIBUTES if key not in found]
    if missing:
        raise damaged_file(path, f"is not an hcxai model (no {missing} attribute)", RULE)
    scale = found["hc_scale_px"]
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise damaged_file(path, f"has the HC scale {scale!r}, expected a positive number", RULE)
    return found


def check_image_size(model_path: str | Path, dataset_path: str | Path, image_size: int) -> None:
    """Refuse a model trained at another image size than the data set it is given."""
    trained = int(read_model_attributes(model_path)["image_size"])
    if trained != image_size:
        raise InputError(
            f"{model_path} takes {trained} px images but {dataset_path} holds "
            f"{image_size} px; rerun training for this image_size"
        )


def _layer_classes(model_config: dict[str, Any]) -> Iterator[str]:
    """The class of a model and of every layer in it, nested models included."""
    yield model_config["class_name"]
    for layer in model_config["config"].get("layers", []):
        if "layers" in layer.get("config", {}):
            yield from _layer_classes(layer)
        else:
            yield layer["class_name"]


def _model_config(h5: h5py.File, path: str | Path) -> dict[str, Any]:
    """The architecture Keras stored in the file; the file must hold weights too."""
    try:
        config = json.loads(h5.attrs["model_config"])
        if not isinstance(config, dict):
            raise TypeError(f"a {type(config).__name__}, not an object")
    except (KeyError, TypeError, ValueError) as error:
        raise damaged_file(path, f"is not a Keras HDF5 model file ({error!r})", RULE) from None
    require_contents(h5, path, "a Keras model file with weights", RULE, ["model_weights"])
    return config


def check_model_file(path: str | Path) -> None:
    """Refuse a model file whose architecture holds code (a Lambda) or unknown classes."""
    config = read_hdf5(path, lambda h5: _model_config(h5, path), RULE)
    try:
        classes = set(_layer_classes(config))
    except (KeyError, TypeError, AttributeError) as error:
        raise damaged_file(path, f"has an unreadable architecture ({error!r})", RULE) from None
    refused = sorted(classes - ALLOWED_LAYERS)
    if refused:
        raise InputError(
            f"{path}: refusing to load a model with layer class(es) {refused}: a Lambda layer "
            "runs code stored in the file, and hcxai models hold only "
            f"{sorted(ALLOWED_LAYERS)}; retrain it with the workflow's train rule"
        )


def load_model(path: str | Path) -> tuple[tf.keras.Model, dict[str, Any]]:
    """Load a trained model (without its optimizer) and its hcxai metadata.

    The file is vetted first (`check_model_file`): nothing in it runs as code. Weights
    Keras cannot read (a damaged file) or that are not finite are an InputError.
    """
    import tensorflow as tf

    attributes = read_model_attributes(path)
    check_model_file(path)
    try:
        model = tf.keras.models.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise damaged_file(path, f"cannot be loaded by Keras ({error})", RULE) from None
    if not all(np.isfinite(weights).all() for weights in model.get_weights()):
        raise damaged_file(path, "holds NaN or infinite weights", RULE)
    return model, attributes


def predict_hc_px(
    model: tf.keras.Model, x: np.ndarray, hc_scale_px: float, *, once: bool = False
) -> np.ndarray:
    """Predicted HC in px at the original resolution for network inputs `x`.

    `once`: a process's only prediction (a perturbation job): call the model
    eagerly in the same batches, which skips `predict`'s tf.function tracing
    (0.5-0.8 s; the same numbers, tests/tf/test_predict.py).
    """
    if once:
        scaled = np.concatenate(
            [
                model(x[start : start + PREDICT_BATCH], training=False).numpy()
                for start in range(0, len(x), PREDICT_BATCH)
            ]
        )
    else:
        scaled = model.predict(x, batch_size=PREDICT_BATCH, verbose=0)
    return scaled[:, 0].astype(np.float64) * hc_scale_px
