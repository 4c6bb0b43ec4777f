"""Pretrained weights on a cluster without internet: the file is checked before any job.

The weights files here are made in the test with h5py, in Keras' save_weights layout
(root attribute `layer_names`), with the backbones' real layer names.
"""

import hashlib
import logging

import h5py
import numpy as np
import pytest
from conftest import run_snakemake, write_config

from hcxai.core.io import InputError
from hcxai.models.weights import IMAGENET_FILES, check_weights_file, fetch_imagenet, sha256

CONVS_PER_BLOCK = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}
VGG16_LAYERS = [f"block{b}_conv{c}" for b, n in CONVS_PER_BLOCK.items() for c in range(1, n + 1)]
RESNET50_LAYERS = ["conv1_conv", "conv1_bn", "conv2_block1_1_conv", "conv5_block3_3_conv"]


def weights_file(path, layers):
    """A small HDF5 file in Keras' save_weights layout with these layer names."""
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = [name.encode() for name in layers]
        for name in layers:
            group = h5.create_group(name)
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=np.ones((3, 3)))
    return path


def test_no_weights_needs_no_file():
    assert check_weights_file("vgg16", "none") is None


def test_a_weights_file_of_the_backbone_is_accepted_and_hashed(tmp_path):
    path = weights_file(tmp_path / "vgg16.h5", ["input_1", *VGG16_LAYERS, "block5_pool"])
    assert check_weights_file("vgg16", str(path)) == path
    assert sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_backbones_file_is_refused_naming_the_layers(tmp_path):
    path = weights_file(tmp_path / "vgg16.h5", VGG16_LAYERS)
    with pytest.raises(InputError, match=r"vgg16.h5 is not a resnet50 weights file.*conv1_conv"):
        check_weights_file("resnet50", str(path))
    check_weights_file("resnet50", str(weights_file(tmp_path / "r.h5", RESNET50_LAYERS)))


def test_the_classifier_file_is_refused_for_the_notop_one(tmp_path):
    path = weights_file(tmp_path / "vgg16_top.h5", [*VGG16_LAYERS, "fc1", "fc2", "predictions"])
    with pytest.raises(
        InputError, match=f"holds the ImageNet classifier.*{IMAGENET_FILES['vgg16']}"
    ):
        check_weights_file("vgg16", str(path))


def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "vgg16.h5"
    path.write_bytes(b"<html>404 Not Found</html>")  # what a failed download often leaves
    with pytest.raises(InputError, match="not a readable HDF5 weights file"):
        check_weights_file("vgg16", str(path))


def test_missing_imagenet_names_the_file_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(InputError) as error:
        check_weights_file("resnet50", "imagenet")
    message = str(error.value)
    assert str(tmp_path / "keras" / "models" / IMAGENET_FILES["resnet50"]) in message
    assert "make weights" in message
    with pytest.raises(InputError, match="neither none, imagenet nor an existing file"):
        check_weights_file("vgg16", str(tmp_path / "missing.h5"))


def test_fetch_downloads_checks_and_keeps_nothing_bad(tmp_path, caplog):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    weights_file(mirror / IMAGENET_FILES["vgg16"], VGG16_LAYERS)
    (mirror / IMAGENET_FILES["resnet50"]).write_bytes(b"not hdf5")
    target = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="hcxai.models.weights"):
        [path] = fetch_imagenet(["vgg16"], target, base_url=mirror.as_uri() + "/")
    assert path.read_bytes() == (mirror / IMAGENET_FILES["vgg16"]).read_bytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() in caplog.text
    with pytest.raises(InputError, match="not a readable HDF5"):
        fetch_imagenet(["resnet50"], target, base_url=mirror.as_uri() + "/")
    assert sorted(p.name for p in target.iterdir()) == [IMAGENET_FILES["vgg16"]]


def test_the_workflow_checks_the_weights_before_any_job(tmp_path):
    missing = tmp_path / "shared" / "vgg16_notop.h5"
    config = write_config(
        tmp_path / "config.yaml",
        backbones=["vgg16"],
        training={"weights": "none", "backbone_overrides": {"vgg16": {"weights": str(missing)}}},
    )
    run_snakemake(tmp_path / "work", config, "-n", "--cores", "1")  # a dry run needs no file
    result = run_snakemake(tmp_path / "work", config, "--cores", "1", check=False)
    assert result.returncode != 0
    assert str(missing) in result.stderr and "neither none, imagenet" in result.stderr
    assert not (tmp_path / "work" / "resources" / "phantom").exists()  # no job ran
    # A target that trains nothing needs no weights.
    run_snakemake(tmp_path / "work", config, "--cores", "1", "results/splits.csv")
