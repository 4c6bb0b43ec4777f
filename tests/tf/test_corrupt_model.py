"""A damaged model.h5 stops `load_model` with one InputError naming the file and the rebuild.

Oracle: the damage planted here, on a model the train stage's own writer saved
(VGG16 at 32 px, no pretrained weights): truncated, garbage, weights missing
(all, or one layer's), a kernel of the wrong shape, a NaN weight, or no hcxai
attributes. Keras reads the weights last, so the checks before it and the
errors inside it are both exercised.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from hcxai.core.io import InputError
from hcxai.models.regression import build_model, load_model
from hcxai.models.training import write_outputs


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.h5 as the train stage writes it (treat as read-only)."""
    root = tmp_path_factory.mktemp("model")
    outputs = {key: str(root / name) for key, name in (
        ("model", "model.h5"), ("history", "history.csv"),
        ("predictions", "predictions.csv"), ("metrics", "metrics.json"),
    )}  # fmt: skip
    tables = {"history": pd.DataFrame(), "predictions": pd.DataFrame(), "metrics": {}}
    attributes = {"hc_scale_px": 200.0, "backbone": "vgg16", "fold": 0, "image_size": 32}
    write_outputs(outputs, build_model("vgg16", 32), tables, **attributes)
    return Path(outputs["model"])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def edit(change: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as h5:
            change(h5)

    return damage


def kernel(h5: h5py.File) -> str:
    """The path of the first convolution's kernel in the file."""
    name = h5["model_weights/block1_conv1"].attrs["weight_names"][0]
    return f"model_weights/block1_conv1/{name.decode() if isinstance(name, bytes) else name}"


def wrong_shape(h5: h5py.File) -> None:
    name = kernel(h5)
    shape = h5[name].shape
    del h5[name]
    h5[name] = np.zeros((*shape[:-1], shape[-1] + 1), np.float32)


def nan_weight(h5: h5py.File) -> None:
    h5[kernel(h5)][0, 0, 0, 0] = np.nan


def no_hcxai_attributes(h5: h5py.File) -> None:
    for key in [k for k in h5.attrs if k.startswith("hcxai_")]:
        del h5.attrs[key]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (truncate, "cannot be read"),
        (garbage, "cannot be read"),
        (edit(lambda h5: h5.__delitem__("model_weights")), "missing ['model_weights']"),
        (edit(lambda h5: h5.__delitem__("model_weights/block1_conv1")), "cannot be loaded"),
        (edit(wrong_shape), "cannot be loaded"),
        (edit(nan_weight), "NaN or infinite weights"),
        (edit(no_hcxai_attributes), "not an hcxai model"),
    ],
    ids=[
        "truncated",
        "garbage",
        "no_weights",
        "layer_weights_missing",
        "wrong_shape",
        "nan",
        "not_hcxai",
    ],
)
def test_a_damaged_model_file_is_one_input_error_naming_it_and_the_rebuild(
    saved_model: Path, tmp_path: Path, damage: Callable[[Path], None], expected: str
):
    path = tmp_path / "model.h5"
    shutil.copy(saved_model, path)
    damage(path)
    with pytest.raises(InputError) as error:
        load_model(path)
    message = str(error.value)
    assert expected in message and str(path) in message, message
    assert "rerun" in message or "rebuild" in message, message


def test_the_intact_model_loads(saved_model: Path):
    model, attributes = load_model(saved_model)
    assert model.output_shape == (None, 1) and attributes["image_size"] == 32
