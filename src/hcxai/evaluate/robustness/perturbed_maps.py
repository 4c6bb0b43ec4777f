"""The TensorFlow side of max-sensitivity: one analyzer's maps of a few images and of their
perturbed copies, for `results/robustness/{backbone}/{loss}/{analyzer}.h5`.

The analyzer is built once (as the saliency stage builds it) and run on the unperturbed
inputs and on each of `samples` perturbed ones (`input_perturbations`: per-image streams,
so every analyzer sees the same noise). The score itself is pure NumPy
(`hcxai.evaluate.robustness.max_sensitivity`), computed in the workflow env.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from hcxai.data.splits import first_test_ids
from hcxai.evaluate.robustness.max_sensitivity import (
    RobustnessMaps,
    input_perturbations,
    write_robustness_maps,
)
from hcxai.explain.analyzers import resolve
from hcxai.explain.innvestigate_backend import build_explainer
from hcxai.explain.saliency import file_attributes, model_dataset

log = logging.getLogger(__name__)


def compute_robustness_maps(
    model_path: str,
    dataset_path: str,
    splits_path: str,
    out_path: str,
    analyzer: str,
    params: dict[str, Any],
    backbone: str,
    loss: str,
    fold: int,
    n_images: int,
    radius: float,
    samples: int,
    seed: int,
    memory_budget_mb: int,
    graph_optimization: bool = False,
    threads: int = 1,
) -> None:
    """Write the maps of the first `n_images` test images of `fold` and of `samples`
    perturbed copies of each (uniform noise in [-radius, radius], network units)."""
    data = model_dataset(model_path, dataset_path)
    ids = first_test_ids(splits_path, fold, n_images, data.image_id, block="robustness")
    images = data.images[data.index_of(ids)]
    spec = resolve(analyzer, params)
    explainer = build_explainer(
        model_path, spec, data.images, memory_budget_mb, graph_optimization, threads
    )
    start = time.perf_counter()
    maps = explainer.explain(images, ids)
    offsets = input_perturbations(ids, images.shape[-1], radius=radius, samples=samples, seed=seed)
    perturbed = np.stack([explainer.explain(images, ids, offset) for offset in offsets], axis=1)
    log.info(
        "%s on %s (%s loss) fold %d: %d images x %d perturbations (radius %g) in %.1f s",
        analyzer,
        backbone,
        loss,
        fold,
        len(ids),
        samples,
        radius,
        time.perf_counter() - start,
    )
    attributes = file_attributes(spec, explainer, model_path, backbone, loss, fold) | {
        "radius": radius,
        "samples": samples,
        "seed": seed,
    }
    write_robustness_maps(out_path, RobustnessMaps(maps, perturbed, ids, attributes))
