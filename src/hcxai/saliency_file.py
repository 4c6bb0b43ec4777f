"""The saliency cache contract: `results/saliency/{backbone}/fold{fold}/{analyzer}.h5`.

Datasets `maps` (N x s x s float32, relevance summed over the 3 channels),
`image_ids`, `hc_true_px`, `hc_pred_px`; attributes name the analyzer, its
parameters, the model's SHA-256 and the library versions. h5py only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hcxai.io import InputError, atomic_output

DATASETS = ("maps", "image_ids", "hc_true_px", "hc_pred_px")


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
    """Read a cache file; a damaged or foreign file is an InputError naming it."""
    try:
        with h5py.File(path, "r") as h5:
            missing = [name for name in DATASETS if name not in h5]
            if missing:
                raise InputError(
                    f"{path} is not a saliency file (no {missing}); delete it and rerun its "
                    "saliency job"
                )
            return SaliencyFile(
                maps=h5["maps"][:],
                image_ids=[s.decode() for s in h5["image_ids"][:]],
                hc_true_px=h5["hc_true_px"][:],
                hc_pred_px=h5["hc_pred_px"][:],
                attributes=dict(h5.attrs),
            )
    except OSError as error:
        raise InputError(
            f"{path} cannot be read ({error}); delete it and rerun its saliency job"
        ) from None
