"""The sanity-check maps contract: `results/sanity/{backbone}/{loss}/{analyzer}.h5`
(h5py only).

Datasets `maps` ((S + 1) x N x s x s float32: stage 0 is the trained network,
stage k the network whose output-side groups 1..k of weighted layers were
re-initialised), `image_ids`, and `permuted_label_maps` (N x s x s: the same
analyzer on the model trained on shuffled targets, the data-randomisation
test). Attributes: `analyzer`, `params` (JSON), `backbone`, `loss`, `fold`,
`seed`, `model_sha256`, `permuted_model_sha256`, `stages` (JSON: for every
stage the names of the layers with re-initialised weights, cumulative, [] for
stage 0), `layers` (JSON: every layer with weights, input first). Written by the
TensorFlow side (`hcxai.evaluate.randomisation.model_maps`), read by the workflow side
(`hcxai.evaluate.randomisation.similarity`, `hcxai.figures.inputs`).
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

DATASETS = ("maps", "image_ids", "permuted_label_maps")
JSON_ATTRIBUTES = ("params", "stages", "layers")
RULE = "sanity_maps"  # the rule that writes these files


@dataclass(frozen=True)
class SanityMaps:
    """One model (backbone x loss) x analyzer's maps at every randomisation stage."""

    maps: np.ndarray  # (S + 1, N, s, s)
    image_ids: list[str]
    stages: list[list[str]]  # re-initialised layers per stage (cumulative), [] for stage 0
    attributes: dict[str, Any]  # analyzer, params, backbone, loss, fold, seed, ...
    permuted_label_maps: np.ndarray  # (N, s, s): the model trained on shuffled targets

    @property
    def analyzer(self) -> str:
        return str(self.attributes["analyzer"])

    @property
    def backbone(self) -> str:
        return str(self.attributes["backbone"])

    @property
    def loss(self) -> str:
        return str(self.attributes["loss"])


def write_sanity_maps(path: str | Path, content: SanityMaps) -> None:
    """Write one file atomically; dict/list attributes are stored as JSON."""
    n_stages, n_images = content.maps.shape[:2]
    if n_stages != len(content.stages) or n_images != len(content.image_ids):
        raise ValueError(
            f"maps shaped {content.maps.shape} for {len(content.stages)} stages and "
            f"{len(content.image_ids)} images"
        )
    if content.permuted_label_maps.shape != content.maps.shape[1:]:
        raise ValueError(
            f"permuted-label maps shaped {content.permuted_label_maps.shape}, expected "
            f"{content.maps.shape[1:]}"
        )
    size = content.maps.shape[-1]
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(
            "maps",
            data=content.maps.astype(np.float32),
            chunks=(1, 1, size, size),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        h5.create_dataset("image_ids", data=content.image_ids, dtype=h5py.string_dtype())
        h5.create_dataset(
            "permuted_label_maps", data=content.permuted_label_maps.astype(np.float32)
        )
        attributes = {
            key: json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
            for key, value in content.attributes.items()
        }
        h5.attrs.update(attributes | {"stages": json.dumps(content.stages)})


def read_sanity_maps(path: str | Path) -> SanityMaps:
    """Read one file; a damaged or foreign file is one InputError naming it and the fix."""
    maps, image_ids, attributes, permuted = read_hdf5(path, lambda h5: _read(h5, path), RULE)
    for key in JSON_ATTRIBUTES:
        if key in attributes:
            try:
                attributes[key] = json.loads(attributes[key])
            except (TypeError, ValueError):
                raise damaged_file(path, f"has an unreadable {key} attribute", RULE) from None
    stages = attributes.pop("stages")
    shape = maps.shape
    if len(shape) != 4 or shape[1] != len(image_ids) or shape[2] != shape[3]:
        raise damaged_file(
            path,
            f"has maps shaped {shape} for {len(image_ids)} image ids, expected (stages, n, s, s)",
            RULE,
        )
    described = len(stages) if isinstance(stages, list) else "no list of"
    if described != shape[0]:
        raise damaged_file(
            path, f"has {shape[0]} stages of maps but {described} stage descriptions", RULE
        )
    if permuted.shape != shape[1:]:
        raise damaged_file(
            path, f"has permuted-label maps shaped {permuted.shape}, expected {shape[1:]}", RULE
        )
    require_finite(maps, "maps", path, RULE)
    require_finite(permuted, "permuted_label_maps", path, RULE)
    return SanityMaps(maps, image_ids, stages, attributes, permuted)


def _read(
    h5: h5py.File, path: str | Path
) -> tuple[np.ndarray, list[str], dict[str, Any], np.ndarray]:
    require_contents(
        h5,
        path,
        "a sanity-check maps file",
        RULE,
        DATASETS,
        ("stages", "analyzer", *MODEL_KEYS),
    )
    ids = read_ids(h5, "image_ids", path, RULE)
    return h5["maps"][:], ids, dict(h5.attrs), h5["permuted_label_maps"][:]
