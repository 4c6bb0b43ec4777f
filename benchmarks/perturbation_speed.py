"""Perturbation speed: hcxai vs the forward-pass floor vs iNNvestigate's PerturbationAnalysis.

Run with the TensorFlow env: `.venv-tf/bin/python benchmarks/perturbation_speed.py`.
Same model, images, 4x4 grid and steps for all three, measured side by side:
* hcxai: `perturbation_curves` (build every perturbed variant, predict in batches);
* floor: `model.predict` on pre-built arrays with as many rows as hcxai predicts;
* iNNvestigate 2.1.2: `PerturbationAnalysis` (MoRF, Gaussian noise) on precomputed maps.
"""

import argparse
import logging
import time

import numpy as np

from hcxai.data.hc18 import network_input
from hcxai.evaluate.faithfulness.perturbation import Settings, perturbation_curves
from hcxai.models.regression import PREDICT_BATCH, build_model, configure_tensorflow

log = logging.getLogger("benchmarks.perturbation_speed")


class Precomputed:
    """Stands in for an analyzer: PerturbationAnalysis only calls `analyze`."""

    def __init__(self, maps: np.ndarray) -> None:
        self.maps, self.done = maps, 0

    def analyze(self, x: np.ndarray) -> np.ndarray:
        out = self.maps[self.done : self.done + len(x)]
        self.done += len(x)
        return np.repeat(out[..., np.newaxis], 3, axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configure_tensorflow(args.threads, seed=0)
    import innvestigate.tools.perturbate as perturbate
    import innvestigate.utils.sequence as isequence

    rng = np.random.default_rng(0)
    model = build_model(args.backbone, args.size)
    model.get_layer("hc").set_weights(
        [rng.random((model.layers[-1].input_shape[-1], 1), dtype=np.float32) * 1e-2, np.ones(1)]
    )
    images = rng.integers(0, 256, (args.images, args.size, args.size), dtype=np.uint8)
    x = network_input(images)
    maps = rng.standard_normal((args.images, args.size, args.size)).astype(np.float32)
    ids = [f"{i:03d}" for i in range(args.images)]
    true = np.full(args.images, 1.0)
    settings = Settings(
        subwindow=args.size // 4,
        steps=args.steps,
        rank_by="sum",
        kind="gaussian",
        mode="add",
        std=0.3,
        orders=("morf",),
        random_repeats=1,
        seed=2020,
        imputations=("gaussian_add",),
    )

    def predict(batch: np.ndarray) -> np.ndarray:
        return model.predict(batch, batch_size=PREDICT_BATCH, verbose=0)[:, 0]

    predict(x[:4])  # warm-up
    rows = args.images * (args.steps + 1)
    prebuilt = np.concatenate([x] * (args.steps + 1))
    timings = {"hcxai": [], "floor": [], "innvestigate": []}
    for _ in range(3):  # interleaved repeats: this machine is noisy
        start = time.perf_counter()
        _, passes = perturbation_curves(predict, x, true, maps, ids, settings)
        timings["hcxai"].append(time.perf_counter() - start)
        assert passes == rows
        start = time.perf_counter()
        predict(prebuilt)
        timings["floor"].append(time.perf_counter() - start)
        model.compile(loss="mae")
        generator = isequence.BatchSequence([x, true.astype(np.float32)], batch_size=PREDICT_BATCH)
        analysis = perturbate.PerturbationAnalysis(
            Precomputed(maps),
            model,
            generator,
            perturbate.Perturbation(
                "gaussian", region_shape=(settings.subwindow,) * 2, in_place=False
            ),
            steps=args.steps,
        )
        start = time.perf_counter()
        analysis.compute_perturbation_analysis()
        timings["innvestigate"].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in timings.items()}
    log.info(
        "%s %d px, %d images x %d steps (%d forward passes), best of 3:",
        args.backbone,
        args.size,
        args.images,
        args.steps,
        rows,
    )
    log.info("| method | s per image | vs floor |")
    log.info("|---|---|---|")
    for name, seconds in best.items():
        log.info("| %s | %.3f | %.2fx |", name, seconds / args.images, seconds / best["floor"])


if __name__ == "__main__":
    main()
