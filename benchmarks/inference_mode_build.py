"""Analyzer build in Keras' inference mode (learning phase 0) against its default, side by side.

In graph mode Keras wraps every BatchNormalization in a `tf.cond` on its
learning-phase placeholder unless the phase is fixed; iNNvestigate then builds
gradients through every cond. `hcxai.explain.innvestigate_backend` fixes the phase to 0. This times
both ways, each in a fresh process (graph mode is process-wide), on one saved
ResNet50 model, and checks that the maps are bit-identical:

    .venv-tf/bin/python benchmarks/inference_mode_build.py \
        --model results/models/resnet50/mae/fold0/model.h5

Prints, per analyzer: model load, analyzer build and first-pass seconds of each
way, their ratio, and the largest difference between the two maps.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = "child"
log = logging.getLogger("inference_mode_build")


def measure(model_path: str, method: str, inference_mode: bool, out: str) -> None:
    """In this (fresh) process: load, build and run one analyzer; write timings and maps."""
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    from hcxai.explain.innvestigate_backend import build_in_inference_mode, fast_graph_construction

    if inference_mode:
        build_in_inference_mode()
    import innvestigate

    from hcxai.models.regression import configure_tensorflow, load_model

    configure_tensorflow(1, 0)
    start = time.perf_counter()
    model, _ = load_model(model_path)
    loaded = time.perf_counter()
    with fast_graph_construction():
        analyzer = innvestigate.create_analyzer(method, model)
        analyzer.create_analyzer_model()
    built = time.perf_counter()
    size = model.input_shape[1]
    x = np.random.default_rng(0).uniform(-1, 1, (16, size, size, 3)).astype(np.float32)
    maps = analyzer.analyze(x)
    done = time.perf_counter()
    np.save(out + ".npy", maps)
    seconds = {"load": loaded - start, "build": built - loaded, "first pass": done - built}
    Path(out + ".json").write_text(json.dumps(seconds))


def run(model_path: str, method: str, inference_mode: bool, out: str) -> dict[str, float]:
    subprocess.run(
        [sys.executable, __file__, CHILD, model_path, method, str(int(inference_mode)), out],
        check=True,
        capture_output=True,
    )
    return json.loads(Path(out + ".json").read_text())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        measure(sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--methods", nargs="+", default=["gradient", "deconvnet", "lrp.z"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods:
            default = run(args.model, method, False, f"{tmp}/{method}-0")
            fixed = run(args.model, method, True, f"{tmp}/{method}-1")
            difference = np.abs(np.load(f"{tmp}/{method}-0.npy") - np.load(f"{tmp}/{method}-1.npy"))
            parts = ", ".join(
                f"{k} {default[k]:.2f} -> {fixed[k]:.2f} s (x{default[k] / fixed[k]:.1f})"
                for k in default
            )
            total = sum(default.values()) / sum(fixed.values())
            log.info(
                "%s: %s; total x%.1f; max |map difference| %.3g",
                method,
                parts,
                total,
                difference.max(),
            )


if __name__ == "__main__":
    main()
