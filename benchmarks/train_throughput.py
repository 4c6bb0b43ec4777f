"""Training throughput (images/s) per backbone and input size, on this machine.

Run with the TensorFlow env: `.venv-tf/bin/python benchmarks/train_throughput.py`.
Each measurement is one epoch of 256 random images (batch 32) after a warm-up, with
the threads and deterministic ops the train rule uses. `--epoch-loop` compares
an epoch through `model.fit` with hcxai's `train_epoch` loop.
"""

import argparse
import logging
import time

import numpy as np

from hcxai.models.regression import build_model, configure_tensorflow

log = logging.getLogger("benchmarks.train_throughput")


def measure(backbone: str, size: int, batch: int, images: int = 256) -> tuple[float, float]:
    import tensorflow as tf

    model = build_model(backbone, size)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4), loss="mae")
    x = np.random.default_rng(0).random((images, size, size, 3), dtype=np.float32)
    y = np.random.default_rng(1).random(images, dtype=np.float32)
    model.fit(x[:64], y[:64], batch_size=batch, verbose=0)  # warm-up: graph tracing
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, verbose=0)
    train = images / (time.perf_counter() - start)
    start = time.perf_counter()
    model.predict(x, batch_size=64, verbose=0)
    predict = images / (time.perf_counter() - start)
    return train, predict


def epoch_loop(backbone: str, size: int, batch: int, images: int = 200) -> tuple[float, float]:
    """Seconds per epoch: one `fit(epochs=1)` call vs hcxai's `train_epoch`, best of 3 each.

    As in training: every epoch gets a new array (fresh augmentation) and is
    followed by the validation `predict` (untimed). A per-call cost of `fit`
    is then paid every epoch.
    """
    import tensorflow as tf

    from hcxai.models.training import train_epoch

    model = build_model(backbone, size)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-4), loss="mae")
    x = np.random.default_rng(0).random((images, size, size, 3), dtype=np.float32)
    y = np.random.default_rng(1).random(images, dtype=np.float32)
    rng = np.random.default_rng(2)
    model.fit(x, y, batch_size=batch, verbose=0)  # warm-up: both paths traced
    train_epoch(model, x, y, batch, rng)
    fit, loop = [], []
    for _ in range(3):  # interleaved: the machine's noise hits both alike
        start = time.perf_counter()
        model.fit(x.copy(), y.copy(), batch_size=batch, epochs=1, shuffle=True, verbose=0)
        fit.append(time.perf_counter() - start)
        model.predict(x, batch_size=batch, verbose=0)
        start = time.perf_counter()
        train_epoch(model, x.copy(), y.copy(), batch, rng)
        loop.append(time.perf_counter() - start)
        model.predict(x, batch_size=batch, verbose=0)
    return min(fit), min(loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--backbones", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--epoch-loop",
        action="store_true",
        help="compare seconds per epoch of fit() and hcxai's train_epoch (200 images)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configure_tensorflow(args.threads, seed=0)
    if args.epoch_loop:
        log.info("| backbone | size (px) | batch | fit s/epoch | train_epoch s/epoch | ratio |")
        log.info("|---|---|---|---|---|---|")
        for backbone in args.backbones:
            for size in args.sizes:
                fit, loop = epoch_loop(backbone, size, args.batch)
                log.info(
                    "| %s | %d | %d | %.2f | %.2f | %.2f |",
                    backbone,
                    size,
                    args.batch,
                    fit,
                    loop,
                    fit / loop,
                )
        return
    log.info("| backbone | size (px) | train (images/s) | predict (images/s) |")
    log.info("|---|---|---|---|")
    for backbone in args.backbones:
        for size in args.sizes:
            train, predict = measure(backbone, size, args.batch)
            log.info("| %s | %d | %.1f | %.1f |", backbone, size, train, predict)


if __name__ == "__main__":
    main()
