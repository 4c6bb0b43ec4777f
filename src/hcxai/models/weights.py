"""Pretrained backbone weights: which file a setting names, whether it fits, its hash.

`training.weights` is `none`, `imagenet` (Keras' notop file in its cache) or a
path. Compute nodes often have no internet, so the workflow checks the file on
the submit host before any job starts, and `make weights` (this module's
command line) fetches the ImageNet files on a machine that has internet. The
SHA-256 of the file a model started from goes into its metrics.json.
Workflow side: h5py only, no TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import h5py

from hcxai.core.io import InputError, atomic_output

log = logging.getLogger(__name__)

# Keras' ImageNet files without the classifier, as keras.applications fetches them.
IMAGENET_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# Layers whose names identify a backbone's weights file (its first and last convolution).
FINGERPRINT = {
    "vgg16": ("block1_conv1", "block5_conv3"),
    "resnet50": ("conv1_conv", "conv5_block3_3_conv"),
}
# The ImageNet classifier's layers: a file with them is the include_top variant.
CLASSIFIER_LAYERS = ("fc1", "fc2", "predictions")
FETCH_COMMAND = "make weights"


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def weights_path(backbone: str, weights: str) -> Path | None:
    """The file `training.weights` names for `backbone` (None: random initialisation)."""
    if weights == "none":
        return None
    if weights == "imagenet":
        return keras_cache_dir() / IMAGENET_FILES[backbone]
    return Path(weights)


def _missing(backbone: str, weights: str, path: Path) -> InputError:
    if weights == "imagenet":
        return InputError(
            f"training.weights: imagenet needs {path}, which is absent. On a machine with "
            f"internet (a login node) run `{FETCH_COMMAND}` (it downloads "
            f"{IMAGENET_URL}{IMAGENET_FILES[backbone]} there); on a cluster whose nodes do "
            "not share that home directory, put the file on the shared file system and set "
            "training.weights to its path; or set training.weights: none"
        )
    return InputError(
        f"training.weights: {weights!r} is neither none, imagenet nor an existing file; "
        f"give the path of a notop {backbone} weights file (`{FETCH_COMMAND}` fetches "
        "ImageNet's)"
    )


def layer_names(h5: h5py.File) -> list[str]:
    """The layer names of a Keras weights file (save_weights) or a whole saved model."""
    group = h5.get("model_weights", h5)
    names = group.attrs.get("layer_names")
    if names is None:
        return list(group.keys())
    return [name.decode() if isinstance(name, bytes) else str(name) for name in names]


def check_weights_file(backbone: str, weights: str) -> Path | None:
    """The weights file for `backbone`, checked: it exists, is HDF5 and is this backbone's."""
    path = weights_path(backbone, weights)
    if path is None:
        return None
    if not path.is_file():
        raise _missing(backbone, weights, path)
    try:
        with h5py.File(path, "r") as h5:
            names = layer_names(h5)
    except OSError as error:
        raise InputError(
            f"training.weights: {path} is not a readable HDF5 weights file ({error}); "
            f"fetch it again (`{FETCH_COMMAND}` for ImageNet's)"
        ) from None
    absent = [name for name in FINGERPRINT[backbone] if name not in names]
    if absent:
        raise InputError(
            f"training.weights: {path} is not a {backbone} weights file: it lacks the "
            f"layer(s) {absent} (its layers begin {names[:3]}); give a notop {backbone} file"
        )
    classifier = [name for name in CLASSIFIER_LAYERS if name in names]
    if classifier:
        raise InputError(
            f"training.weights: {path} holds the ImageNet classifier (layers {classifier}); "
            f"the regression network needs the notop file ({IMAGENET_FILES[backbone]})"
        )
    return path


def sha256(path: str | Path) -> str:
    """The file's SHA-256, hex: which weights a model started from."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fetch_imagenet(
    backbones: Sequence[str], directory: Path | None = None, base_url: str = IMAGENET_URL
) -> list[Path]:
    """Download each backbone's ImageNet notop file into Keras' cache (or `directory`).

    A file already there and valid is kept; a download is checked before it is
    renamed into place, so an interrupted one leaves nothing a run would trust.
    """
    directory = keras_cache_dir() if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for backbone in backbones:
        if backbone not in IMAGENET_FILES:
            raise InputError(
                f"backbone {backbone!r} is unknown; choose from {list(IMAGENET_FILES)}"
            )
        path = directory / IMAGENET_FILES[backbone]
        if not path.is_file():
            log.info("downloading %s%s to %s", base_url, IMAGENET_FILES[backbone], path)
            url = base_url + IMAGENET_FILES[backbone]
            with atomic_output(path) as tmp:
                with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
                check_weights_file(backbone, str(tmp))
        check_weights_file(backbone, str(path))
        log.info("%s: %s (sha256 %s)", backbone, path, sha256(path))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m hcxai.models.weights",
        description="Fetch the ImageNet notop weights of the backbones (run where there is "
        "internet, e.g. a login node); then set training.weights: imagenet, or the file's path.",
    )
    parser.add_argument("backbones", nargs="*", default=list(IMAGENET_FILES))
    parser.add_argument("--dir", type=Path, help="target folder (default: Keras' cache)")
    parser.add_argument("--url", default=IMAGENET_URL, help="base URL of the files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        fetch_imagenet(args.backbones, args.dir, args.url)
    except InputError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
