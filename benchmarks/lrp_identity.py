"""LRP-z against Input x Gradient on a run's trained models, with and without canonization.

For a ReLU network whose BatchNorm is affine, LRP-z equals Input x Gradient
(Ancona et al., ICLR 2018). This measures how far each LRP build is from that
identity on the explained test images of every fold:

    .venv-tf/bin/python benchmarks/lrp_identity.py --run . --backbone resnet50

Per image: Spearman correlation of |LRP| with |Input x Gradient|, the share of
pixels that differ by more than 1e-3 of the Input x Gradient map's maximum, and
the ratio of the relevance sums. Prints one line per fold and build (medians
and ranges over images). Runs in the TensorFlow env (graph mode).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger("lrp_identity")
# Label -> (analyzer, parameters): the oracle and the two LRP builds.
BUILDS = {
    "Input x Gradient": ("input_x_gradient", {}),
    "LRP raw": ("lrp", {"canonize": False}),
    "LRP canonized": ("lrp", {"canonize": True}),
}


def compare(lrp: np.ndarray, oracle: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image agreement of maps (N, s, s) with the Input x Gradient maps."""
    pairs = zip(np.abs(lrp), np.abs(oracle), strict=True)
    spearman = np.array([stats.spearmanr(a.ravel(), b.ravel())[0] for a, b in pairs])
    scale = np.abs(oracle).max(axis=(1, 2), keepdims=True)
    differ = (np.abs(lrp - oracle) > 1e-3 * scale).mean(axis=(1, 2))
    sums = lrp.sum(axis=(1, 2)) / oracle.sum(axis=(1, 2))
    return {"spearman": spearman, "pixels_differ": differ, "sum_ratio": sums}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("."), help="the workflow's directory")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--images", type=int, default=16, help="first test images per fold")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from hcxai.data.hc18 import load_dataset, network_input
    from hcxai.data.splits import fold_ids
    from hcxai.explain.analyzers import resolve
    from hcxai.explain.innvestigate_backend import Explainer

    data = load_dataset(next((args.run / "resources").glob("dataset_*.h5")))
    splits = pd.read_csv(args.run / "results" / "splits.csv")
    for model in sorted((args.run / "results" / "models" / args.backbone).glob("fold*/model.h5")):
        fold = int(model.parent.name.removeprefix("fold"))
        ids = fold_ids(splits, fold, "test")[: args.images]
        images = data.images[data.index_of(ids)]
        x = network_input(images)
        data_range = (float(x.min()), float(x.max()))
        maps = {
            label: Explainer(model, resolve(name, params), 4096, data_range=data_range).explain(
                images, ids
            )
            for label, (name, params) in BUILDS.items()
        }
        for label in ("LRP raw", "LRP canonized"):
            measured = compare(maps[label], maps["Input x Gradient"])
            log.info(
                "%s fold %d %s: Spearman |LRP| vs |IxG| median %.3f (%.3f-%.3f); "
                "pixels off by >1e-3 of max: median %.1f%%; sum ratio LRP/IxG %.3g-%.3g",
                args.backbone,
                fold,
                label,
                np.median(measured["spearman"]),
                measured["spearman"].min(),
                measured["spearman"].max(),
                100 * np.median(measured["pixels_differ"]),
                measured["sum_ratio"].min(),
                measured["sum_ratio"].max(),
            )


if __name__ == "__main__":
    main()
