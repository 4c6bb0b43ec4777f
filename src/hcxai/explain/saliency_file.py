"""The saliency cache contract: `results/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.h5`.

Datasets `maps` (N x s x s float32, relevance summed over the 3 channels),
`image_ids`, `hc_true_px`, `hc_pred_px`; attributes name the analyzer, its
parameters, the model's SHA-256 and the library versions. h5py only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hcxai.core.io import (
    atomic_output,
    damaged_file,
    read_hdf5,
    read_ids,
    require_contents,
    require_finite,
)
from hcxai.core.keys import MODEL_KEYS

DATASETS = ("maps", "image_ids", "hc_true_px", "hc_pred_px")
# What a file is of: the stages that gather many files (figures, SpRAy) group them by these.
LABELS = (*MODEL_KEYS, "fold", "analyzer")
RULE = "saliency"  # the rule that writes these files


@dataclass(frozen=True)
class SaliencyFile:
    """A saliency cache file in memory."""

    maps: np.ndarray
    image_ids: list[str]
    hc_true_px: np.ndarray
    hc_pred_px: np.ndarray
    attributes: dict[str, Any]


def write_saliency(path: str | Path, content: SaliencyFile) -> None:
    """Write one cache file atomically (a chunk per map, compressed)."""
    size = content.maps.shape[-1]
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "maps",
            data=content.maps,
            chunks=(1, size, size),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        h5.create_dataset("image_ids", data=content.image_ids, dtype=h5py.string_dtype())
        h5.create_dataset("hc_true_px", data=content.hc_true_px)
        h5.create_dataset("hc_pred_px", data=content.hc_pred_px)
        h5.attrs.update(content.attributes)


def read_saliency(path: str | Path) -> SaliencyFile:
    """Read a cache file; a damaged or foreign file is one InputError naming it and the fix."""
    content = read_hdf5(path, lambda h5: _read(h5, path), RULE)
    n, shape = len(content.image_ids), content.maps.shape
    if len(shape) != 3 or shape[0] != n or shape[1] != shape[2]:
        raise damaged_file(
            path, f"has maps shaped {shape} for {n} image ids, expected (n, s, s)", RULE
        )
    for name in ("hc_true_px", "hc_pred_px"):
        if getattr(content, name).shape != (n,):
            raise damaged_file(
                path, f"has {name} shaped {getattr(content, name).shape} for {n} image ids", RULE
            )
    for name in ("maps", "hc_true_px", "hc_pred_px"):
        require_finite(getattr(content, name), name, path, RULE)
    return content


def check_fits(
    content: SaliencyFile,
    path: str | Path,
    dataset_ids: Collection[str],
    image_size: int,
    dataset_path: str | Path,
) -> None:
    """The maps are of this data set's images, at its size; else another run's file."""
    unknown = sorted(set(content.image_ids) - set(dataset_ids))
    if unknown:
        raise damaged_file(
            path,
            f"has image id(s) {unknown[:3]} that are not in the data set {dataset_path}: maps "
            "of another data set",
            RULE,
        )
    size = content.maps.shape[-1]
    if size != image_size:
        raise damaged_file(
            path,
            f"has {size}x{size} px maps but {dataset_path} holds {image_size}x{image_size} "
            f"images: maps made at another image_size (or set image_size to {size})",
            RULE,
        )


def read_labels(path: str | Path) -> dict[str, str]:
    """A saliency file's LABELS (its model, fold and analyzer) without reading its maps."""

    def labels(h5: h5py.File) -> dict[str, str]:
        require_contents(h5, path, "a saliency file", RULE, DATASETS, LABELS)
        return {key: str(h5.attrs[key]) for key in LABELS}

    return read_hdf5(path, labels, RULE)


def _read(h5: h5py.File, path: str | Path) -> SaliencyFile:
    require_contents(h5, path, "a saliency file", RULE, DATASETS)
    return SaliencyFile(
        maps=h5["maps"][:],
        image_ids=read_ids(h5, "image_ids", path, RULE),
        hc_true_px=h5["hc_true_px"][:],
        hc_pred_px=h5["hc_pred_px"][:],
        attributes=dict(h5.attrs),
    )
