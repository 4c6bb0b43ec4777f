"""Figures of saliency maps from the cached HDF5 files (workflow env, no TensorFlow)."""

from __future__ import annotations

import logging
import re

from hcxai.data import load_dataset
from hcxai.figures import plot_best_worst, plot_saliency_comparison
from hcxai.saliency import read_saliency

log = logging.getLogger(__name__)

SALIENCY_PATH = re.compile(
    r"saliency/(?P<backbone>[^/]+)/fold(?P<fold>\d+)/(?P<analyzer>[^/]+)\.h5$"
)
BEST_WORST_ANALYZER = "input_x_gradient"  # the paper's Fig. 5


def write_saliency_figures(
    map_files: list[str],
    dataset_path: str,
    comparison_path: str,
    best_worst_path: str,
    images_in_comparison: int = 2,
) -> None:
    """Fig. 2 (fold 0's first test images, every analyzer) and Fig. 5 (best/worst, all folds)."""
    data = load_dataset(dataset_path)
    images = dict(zip(data.image_id, data.images, strict=True))
    parsed = [(SALIENCY_PATH.search(f).groupdict(), f) for f in map_files]
    fold0 = {
        (p["backbone"], p["analyzer"]): read_saliency(f) for p, f in parsed if p["fold"] == "0"
    }
    first = next(iter(fold0.values()))
    plot_saliency_comparison(fold0, images, first.image_ids[:images_in_comparison], comparison_path)
    analyzers = [p["analyzer"] for p, _ in parsed]
    analyzer = BEST_WORST_ANALYZER if BEST_WORST_ANALYZER in analyzers else analyzers[0]
    by_backbone: dict[str, list] = {}
    for p, f in parsed:
        if p["analyzer"] == analyzer:
            by_backbone.setdefault(p["backbone"], []).append(read_saliency(f))
    plot_best_worst(by_backbone, images, analyzer, best_worst_path)
    log.info("saliency figures: %s, %s", comparison_path, best_worst_path)
