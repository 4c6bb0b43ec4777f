"""ROAD's noisy linear imputation against a forward pass, per image and step.

Run with the TensorFlow env: `.venv-tf/bin/python benchmarks/road_imputation.py`.
Per image size (4x4 grid, 15 MoRF steps of a random map, as the default run):
* road: `NoisyLinear` builds the 15 variants of an image (a sparse solve per step);
* gaussian_add: the paper's additive noise builds them (today's cost);
* a forward pass of each variant through VGG16 and ResNet50 (`weights: none`), eager
  in batches of `PREDICT_BATCH` as a perturbation job predicts, on the same variants.
One thread everywhere (a perturbation job's), interleaved repeats, best of them.
"""

import argparse
import logging
import time
from collections.abc import Callable

import numpy as np

from hcxai.core.seeding import PERTURBATION_NOISE, image_rng
from hcxai.data.hc18 import network_input
from hcxai.evaluate.faithfulness.imputation import IMPUTATIONS, Parameters
from hcxai.evaluate.faithfulness.perturbation import (
    perturbed_areas,
    ranking,
    region_masks,
    region_scores,
)
from hcxai.models.regression import PREDICT_BATCH, build_model, configure_tensorflow

log = logging.getLogger("benchmarks.road_imputation")
BACKBONES = ("vgg16", "resnet50")
IMPUTED = ("road", "gaussian_add")


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(size: int, images: int, steps: int, repeats: int) -> dict[str, float]:
    """Milliseconds per image and step of each imputation and each forward pass."""
    rng = np.random.default_rng(0)
    x = network_input(rng.integers(0, 256, (images, size, size), dtype=np.uint8))
    window = size // 4
    scores = region_scores(rng.standard_normal((images, size, size)), window)
    masks = region_masks(size, window)
    removed = [perturbed_areas(ranking(s, "morf"), masks, steps) for s in scores]
    parameters = Parameters(std=0.3, subwindow=window)
    imputations = {name: IMPUTATIONS[name](parameters) for name in IMPUTED}

    def impute(name: str) -> np.ndarray:
        return np.concatenate(
            [
                imputations[name](x[k], removed[k], image_rng(2020, f"{k:03d}", PERTURBATION_NOISE))
                for k in range(images)
            ]
        )

    variants = impute("road")
    models = {b: build_model(b, size) for b in BACKBONES}

    def forward(backbone: str) -> None:
        for start in range(0, len(variants), PREDICT_BATCH):
            models[backbone](variants[start : start + PREDICT_BATCH], training=False).numpy()

    for backbone in BACKBONES:
        forward(backbone)  # warm-up: the first call builds the eager kernels
    seconds = {name: [] for name in (*IMPUTED, *BACKBONES)}
    for _ in range(repeats):  # interleaved: this machine is shared and noisy
        for name in IMPUTED:
            seconds[name].append(best_seconds(lambda n=name: impute(n), 1))
        for backbone in BACKBONES:
            seconds[backbone].append(best_seconds(lambda b=backbone: forward(b), 1))
    return {name: 1000 * min(s) / (images * steps) for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[36, 64, 128])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configure_tensorflow(args.threads, seed=0)
    log.info(
        "%d images x %d MoRF steps, 4x4 grid; ms per image and step, best of %d",
        args.images,
        args.steps,
        args.repeats,
    )
    log.info(
        "| size (px) | road | gaussian_add | vgg16 forward | resnet50 forward "
        "| road / vgg16 | road / resnet50 |"
    )
    log.info("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        ms = measure(size, args.images, args.steps, args.repeats)
        log.info(
            "| %d | %.2f | %.3f | %.2f | %.2f | %.2fx | %.2fx |",
            size,
            ms["road"],
            ms["gaussian_add"],
            ms["vgg16"],
            ms["resnet50"],
            ms["road"] / ms["vgg16"],
            ms["road"] / ms["resnet50"],
        )


if __name__ == "__main__":
    main()
