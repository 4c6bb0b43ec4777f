"""Saliency: build time, steady-state images/s and peak RSS, hcxai vs raw iNNvestigate.

Run with the TensorFlow env: `.venv-tf/bin/python benchmarks/saliency_speed.py`.
Each (implementation, backbone, analyzer) runs in a fresh process, so peak RSS
is its own. "raw" is iNNvestigate 2.1.2 as documented: `create_analyzer` on
the loaded model and `analyze()` on the whole batch (its SmoothGrad and
Integrated Gradients wrappers included). Raw builds on ResNet50 take minutes
(see --raw-slow-build); by default raw gets hcxai's fast graph construction so
that its steady state and memory can be measured in reasonable time.
"""

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("benchmarks.saliency_speed")
ANALYZERS = [
    "gradient",
    "smoothgrad",
    "deconvnet",
    "deep_taylor",
    "guided_backprop",
    "input_x_gradient",
    "integrated_gradients",
    "lrp",
]
AUGMENT = 8  # SmoothGrad samples and IG steps for both implementations
RAW_WRAPPERS = ("smoothgrad", "integrated_gradients")  # iNNvestigate augments in-graph


def model_file(backbone: str, size: int, folder: Path) -> Path:
    from hcxai.models.regression import build_model, write_model_attributes

    path = folder / f"{backbone}_{size}.h5"
    if not path.exists():
        model = build_model(backbone, size)
        rng = np.random.default_rng(0)
        width = model.get_layer("hc").input_shape[-1]
        model.get_layer("hc").set_weights(
            [rng.random((width, 1), dtype=np.float32) * 1e-2, np.ones(1, np.float32)]
        )
        model.save(path)
        write_model_attributes(path, hc_scale_px=1000.0, backbone=backbone, fold=0, image_size=size)
    return path


def one(kind: str, model_path: str, analyzer: str, images: int, slow: bool) -> dict:
    from hcxai.data.hc18 import network_input
    from hcxai.explain.analyzers import resolve
    from hcxai.explain.innvestigate_backend import Explainer, fast_graph_construction

    size = int(Path(model_path).stem.split("_")[1])
    raw_images = np.random.default_rng(1).integers(0, 256, (images, size, size), dtype=np.uint8)
    ids = [str(i) for i in range(images)]
    x = network_input(raw_images)
    params = {"smoothgrad": {"augment_by_n": AUGMENT}, "integrated_gradients": {"steps": AUGMENT}}
    spec = resolve(analyzer, params.get(analyzer, {}))
    start = time.perf_counter()
    if kind == "hcxai":
        explainer = Explainer(model_path, spec, 2048, data_range=(float(x.min()), float(x.max())))
        run = lambda: explainer.explain(raw_images, ids)  # noqa: E731
    else:
        import contextlib

        import innvestigate
        import tensorflow as tf

        tf.compat.v1.disable_eager_execution()
        model = tf.keras.models.load_model(model_path, compile=False)
        kwargs = {k: v for k, v in spec.params.items() if k in ("postprocess", "augment_by_n")}
        if analyzer == "smoothgrad":
            kwargs["noise_scale"] = spec.params["noise_scale"]
        if analyzer == "integrated_gradients":
            kwargs = {"steps": AUGMENT, "reference_inputs": float(x.min())}
        if analyzer == "deep_taylor":
            kwargs = {"low": float(x.min()), "high": float(x.max())}
        builder = contextlib.nullcontext() if slow else fast_graph_construction()
        with builder:
            # iNNvestigate's own SmoothGrad and IG, where hcxai runs `gradient` on its samples.
            method = analyzer if analyzer in RAW_WRAPPERS else spec.method
            raw = innvestigate.create_analyzer(method, model, **kwargs)
            raw.create_analyzer_model()
        run = lambda: raw.analyze(x)  # noqa: E731
    build = time.perf_counter() - start
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    steady = 0.0
    for _ in range(2):  # best of two: this machine is noisy
        start = time.perf_counter()
        run()
        steady = max(steady, images / (time.perf_counter() - start))
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"build_s": build, "first_batch_s": first, "images_per_s": steady, "peak_rss_gb": rss_gb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbones", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--analyzers", nargs="+", default=ANALYZERS)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument(
        "--raw-slow-build",
        action="store_true",
        help="build raw analyzers without hcxai's fast graph construction",
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("KIND", "MODEL", "ANALYZER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one, args.images, args.raw_slow_build)))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = Path(tempfile.mkdtemp(prefix="hcxai-bench-"))
    log.info(
        "%d images at %d px; SmoothGrad/IG with %d samples/steps", args.images, args.size, AUGMENT
    )
    log.info(
        "| backbone | analyzer | hcxai build s | hcxai build + first batch s | raw build s "
        "| hcxai img/s | raw img/s | hcxai time / raw time | hcxai RSS GB | raw RSS GB |"
    )
    log.info("|---|---|---|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        path = (
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from benchmarks.saliency_speed import model_file; "
                    f"from pathlib import Path; print(model_file({backbone!r}, {args.size}, "
                    f"Path({str(folder)!r})))",
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).parents[1],
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for analyzer in args.analyzers:
            result = {}
            for kind in ("hcxai", "raw"):
                command = [
                    sys.executable,
                    __file__,
                    "--images",
                    str(args.images),
                    "--one",
                    kind,
                    path,
                    analyzer,
                ]
                if args.raw_slow_build:
                    command.append("--raw-slow-build")
                out = subprocess.run(command, capture_output=True, text=True, check=False)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
                result[kind] = json.loads(lines[-1]) if lines else None
            h, r = result["hcxai"], result["raw"]
            if r is None:
                log.info(
                    "| %s | %s | %.1f | %.1f | fails | %.1f | fails | - | %.2f | - |",
                    backbone,
                    analyzer,
                    h["build_s"],
                    h["build_s"] + h["first_batch_s"],
                    h["images_per_s"],
                    h["peak_rss_gb"],
                )
                continue
            log.info(
                "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |",
                backbone,
                analyzer,
                h["build_s"],
                h["build_s"] + h["first_batch_s"],
                r["build_s"],
                h["images_per_s"],
                r["images_per_s"],
                r["images_per_s"] / h["images_per_s"],
                h["peak_rss_gb"],
                r["peak_rss_gb"],
            )


if __name__ == "__main__":
    main()
