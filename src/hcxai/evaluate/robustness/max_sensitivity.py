"""Max-sensitivity (Yeh et al., NeurIPS 2019): the largest relative change of a map over a
few small input perturbations (pure NumPy; the maps come from the TensorFlow side).

For an image x with map m(x), draw `samples` perturbations d_k with every pixel uniform
in [-radius, radius] (network input units: the per-image z-score; the same offset on the
three replicated channels, so the input stays a grayscale scan) and score

    max_k ||m(x + d_k) - m(x)||_F / ||m(x)||_F.

Lower is more robust; `avg_sensitivity` takes the mean over the samples instead.
(A local Lipschitz estimate, ||m(x + d_k) - m(x)|| / ||d_k||, is left out: in map units it
cannot compare analyzers whose maps differ in scale, nor an analyzer with the edge
detector, and divided by ||m(x)|| it is max-sensitivity over a near-constant ||d_k||.)
Max-sensitivity is Quantus' `MaxSensitivity` with `normalise=False`, Frobenius
norms and the same draws (tests/tf/test_quantus_agreement.py checks that). For a linear
model f(x) = w.x, Gradient's map is w whatever x is, so its max-sensitivity is 0, and
Input x Gradient's is max_k ||d_k * w|| / ||x * w||: both are tests' closed forms.

A map that ignores its input (the `random` analyzer) scores 0 too: robustness alone is
no verdict, which is why the summary puts every analyzer beside that control and beside
a model-free edge detector's sensitivity to the same noise.

File contract: `results/robustness/{backbone}/{loss}/{analyzer}.h5`, datasets `maps`
(N x s x s, the unperturbed input's), `perturbed_maps` (N x samples x s x s), `image_ids`;
attributes `analyzer`, `backbone`, `loss`, `fold`, `radius`, `samples`, `seed`, `params`.
"""

from __future__ import annotations

import json
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
from hcxai.core.seeding import ROBUSTNESS_NOISE, image_rng

RULE = "robustness_maps"  # the rule that writes these files
SETTINGS = ("radius", "samples", "seed", "fold")


def input_perturbations(
    image_ids: list[str], size: int, *, radius: float, samples: int, seed: int
) -> np.ndarray:
    """The offsets (samples, N, size, size) added to each image's network input.

    One stream per image (seed, purpose, image id): an image gets the same noise whichever
    analyzer, job or batch explains it, so the analyzers are compared on the same inputs.
    """
    offsets = np.stack(
        [
            image_rng(seed, image_id, ROBUSTNESS_NOISE).uniform(
                -radius, radius, (samples, size, size)
            )
            for image_id in image_ids
        ],
        axis=1,
    )
    return offsets.astype(np.float32)


def relative_changes(maps: np.ndarray, perturbed_maps: np.ndarray) -> np.ndarray:
    """Per image and sample (N, samples): ||perturbed - map|| / ||map|| (Frobenius norms).

    `maps` (N, ...), `perturbed_maps` (N, samples, ...). An all-zero map has no relative
    change: NaN.
    """
    maps = np.asarray(maps, dtype=np.float64)
    perturbed = np.asarray(perturbed_maps, dtype=np.float64)
    if perturbed.shape[0] != maps.shape[0] or perturbed.shape[2:] != maps.shape[1:]:
        raise ValueError(f"perturbed maps {perturbed.shape} do not fit maps {maps.shape}")
    n, samples = perturbed.shape[:2]
    change = np.linalg.norm((perturbed - maps[:, None]).reshape(n, samples, -1), axis=-1)
    norm = np.linalg.norm(maps.reshape(n, -1), axis=-1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, change / norm, np.nan)


def max_sensitivity(maps: np.ndarray, perturbed_maps: np.ndarray) -> np.ndarray:
    """Per image (N,): the largest relative change over the samples (Yeh et al.'s SENS_MAX)."""
    return relative_changes(maps, perturbed_maps).max(axis=1)


def avg_sensitivity(maps: np.ndarray, perturbed_maps: np.ndarray) -> np.ndarray:
    """Per image (N,): the mean relative change over the samples (Yeh et al.'s average
    sensitivity): less driven by one unlucky draw than the maximum."""
    return relative_changes(maps, perturbed_maps).mean(axis=1)


@dataclass(frozen=True)
class RobustnessMaps:
    """One model x analyzer's maps of a few images and of their perturbed copies."""

    maps: np.ndarray  # (N, s, s)
    perturbed_maps: np.ndarray  # (N, samples, s, s)
    image_ids: list[str]
    attributes: dict[str, Any]  # analyzer, backbone, loss, fold, radius, samples, seed, params


def write_robustness_maps(path: str | Path, content: RobustnessMaps) -> None:
    """Write one file atomically; `params` is stored as JSON."""
    n = len(content.perturbed_maps)
    if content.maps.shape[0] != len(content.image_ids) or n != len(content.image_ids):
        raise ValueError(f"maps for {n} images but {len(content.image_ids)} image ids")
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5["maps"] = content.maps.astype(np.float32)
        h5["perturbed_maps"] = content.perturbed_maps.astype(np.float32)
        h5.create_dataset("image_ids", data=content.image_ids, dtype=h5py.string_dtype())
        h5.attrs.update(
            {
                key: json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                for key, value in content.attributes.items()
            }
        )


def read_robustness_maps(path: str | Path) -> RobustnessMaps:
    """Read one file; a damaged or foreign file is one InputError naming it and the fix."""

    def read(h5: h5py.File) -> RobustnessMaps:
        require_contents(
            h5,
            path,
            "a robustness maps file",
            RULE,
            ("maps", "perturbed_maps", "image_ids"),
            ("analyzer", *MODEL_KEYS, *SETTINGS),
        )
        ids = read_ids(h5, "image_ids", path, RULE)
        return RobustnessMaps(h5["maps"][:], h5["perturbed_maps"][:], ids, dict(h5.attrs))

    content = read_hdf5(path, read, RULE)
    maps, perturbed = content.maps, content.perturbed_maps
    if (
        maps.ndim != 3
        or perturbed.ndim != 4
        or maps.shape[0] != len(content.image_ids)
        or perturbed.shape[0] != maps.shape[0]
        or perturbed.shape[2:] != maps.shape[1:]
        or perturbed.shape[1] != int(content.attributes["samples"])
    ):
        raise damaged_file(
            path,
            f"has maps shaped {maps.shape} and perturbed maps {perturbed.shape} for "
            f"{len(content.image_ids)} image ids and {content.attributes['samples']} samples",
            RULE,
        )
    require_finite(maps, "maps", path, RULE)
    require_finite(perturbed, "perturbed_maps", path, RULE)
    return content
