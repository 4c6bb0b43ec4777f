"""The saliency stage: one analyzer's maps of one fold's test images, cached as HDF5.

What each analyzer is lives in `hcxai.explain.analyzers`, how it runs on TensorFlow in
`hcxai.explain.innvestigate_backend`, the file contract in `hcxai.explain.saliency_file`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from hcxai.core.provenance import library_versions, sha256
from hcxai.data.hc18 import NORMALISATION_NOTE, Dataset, load_dataset
from hcxai.data.splits import fold_ids, read_splits
from hcxai.explain.analyzers import AnalyzerSpec, resolve
from hcxai.explain.innvestigate_backend import Explainer, build_explainer
from hcxai.explain.saliency_file import SaliencyFile, write_saliency
from hcxai.models.regression import check_image_size
from hcxai.models.training import read_predictions_file

log = logging.getLogger(__name__)


def training_predictions(predictions_path: str, ids: list[str]) -> np.ndarray:
    """Predicted HC (px) of `ids` from the training stage's predictions.csv."""
    predictions = read_predictions_file(predictions_path, ids).set_index("image_id")
    return predictions.loc[ids, "hc_pred_px"].to_numpy(dtype=np.float64)


def file_attributes(
    spec: AnalyzerSpec,
    explainer: Explainer,
    model_path: str,
    backbone: str,
    loss: str,
    fold: int,
) -> dict[str, Any]:
    """What a saliency file says about how it was made."""
    recorded = dict(spec.params)
    if explainer.data_range is not None and spec.method.startswith("deep_taylor"):
        recorded |= {"low": explainer.data_range[0], "high": explainer.data_range[1]}
    return {
        "analyzer": spec.name,
        "innvestigate_method": spec.method,
        "params": json.dumps(recorded, sort_keys=True),
        "backbone": backbone,
        "loss": loss,
        "fold": fold,
        "model_sha256": sha256(model_path),
        "model_path": str(model_path),
        "versions": json.dumps(library_versions(), sort_keys=True),
        "normalisation": NORMALISATION_NOTE,
        "canonization": "batchnorm merged into convolutions"
        if spec.params.get("canonize")
        else "none",
        "channel_reduction": "sum over the 3 channels",
    }


def model_dataset(model_path: str, dataset_path: str) -> Dataset:
    """The data set a model explains: read, and checked to be at the model's input size
    (every stage that explains with a model starts here)."""
    data = load_dataset(dataset_path)
    check_image_size(model_path, dataset_path, data.images.shape[-1])
    return data


def compute_saliency(
    model_path: str,
    predictions_path: str,
    dataset_path: str,
    splits_path: str,
    out_path: str,
    analyzer: str,
    params: dict[str, Any],
    backbone: str,
    loss: str,
    fold: int,
    memory_budget_mb: int,
    max_images: int | None = None,
    graph_optimization: bool = True,
    threads: int = 1,
) -> None:
    """Write `results/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.h5` for the fold's test
    images.

    `max_images` keeps the first n test images of the fold (a CPU budget; None = all).
    The predicted HC stored beside the maps is the training stage's
    (`predictions.csv` of the same model), so both stages report one number.
    """
    data = model_dataset(model_path, dataset_path)
    ids = fold_ids(read_splits(splits_path, data.image_id), fold, "test")[:max_images]
    index = data.index_of(ids)
    spec = resolve(analyzer, params)
    explainer = build_explainer(
        model_path, spec, data.images, memory_budget_mb, graph_optimization, threads
    )
    built = (
        f"built in {explainer.build_seconds:.1f} s, {explainer.rows_per_pass} rows per pass"
        if explainer.model is not None
        else "a seeded map, no model"
    )
    log.info(
        "%s on %s (%s loss) fold %d: %d test images; %s",
        analyzer,
        backbone,
        loss,
        fold,
        len(ids),
        built,
    )
    start = time.perf_counter()
    maps = explainer.explain(data.images[index], ids)
    seconds = time.perf_counter() - start
    log.info(
        "%s: %d maps in %.1f s (%.1f images/s)", analyzer, len(ids), seconds, len(ids) / seconds
    )
    content = SaliencyFile(
        maps=maps,
        image_ids=ids,
        hc_true_px=data.hc_px[index],
        hc_pred_px=training_predictions(predictions_path, ids),
        attributes=file_attributes(spec, explainer, model_path, backbone, loss, fold),
    )
    write_saliency(out_path, content)
