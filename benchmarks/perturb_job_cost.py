"""What scoring more imputations and orders costs one perturbation job, side by side.

Run with the workflow env in a finished run's directory (it reads the run's effective
config, a model, its saliency file and the dataset; it writes only to a temporary folder):

    .venv/bin/python benchmarks/perturb_job_cost.py --backbone vgg16 --analyzer gradient

One `perturb` job (`hcxai.evaluate.faithfulness.perturbation.run_shard`: loads the model, perturbs
the
shard's images, predicts) is timed in a fresh process of the TensorFlow env (.venv-tf,
or HCXAI_TF_PYTHON) per repeat, as the workflow starts it, so TensorFlow's import and
the model load count as they do in the workflow, under each setting:
* paper: MoRF with Table 1's additive noise (the job before imputations were a dimension);
* default: the default config's MoRF + LeRF under additive noise and ROAD.
Settings alternate (paper, default, paper, ...); the median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger("benchmarks.perturb_job_cost")

SETTINGS = {
    "paper": {"orders": ["morf"], "imputations": []},
    "default": {"orders": ["morf", "lerf"], "imputations": ["road"]},
}

JOB = """
import json, sys
from hcxai.evaluate.faithfulness.perturbation import Settings, run_shard
args = json.loads(sys.argv[1])
run_shard(settings=Settings.from_config(args.pop("perturbation")), **args)
"""


def job_arguments(args: argparse.Namespace, name: str, out: Path) -> dict:
    """run_shard's arguments for shard 0 of fold 0 under one of SETTINGS."""
    import yaml

    config = yaml.safe_load(Path("results/config.effective.yaml").read_text())
    model = f"results/models/{args.backbone}/{args.loss}/fold0"
    saliency = f"results/saliency/{args.backbone}/{args.loss}/fold0/{args.analyzer}.h5"
    return {
        "model_path": f"{model}/model.h5",
        "saliency_path": saliency,
        "dataset_path": f"resources/dataset_{config['image_size']}.h5",
        "out_path": str(out),
        "backbone": args.backbone,
        "loss": args.loss,
        "fold": 0,
        "analyzer": args.analyzer,
        "shard": 0,
        "images_per_job": config["perturbation"]["images_per_job"],
        "perturbation": config["perturbation"] | SETTINGS[name],
        "threads": 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--loss", default="mae")
    parser.add_argument("--analyzer", default="gradient")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tf_python = os.environ.get("HCXAI_TF_PYTHON", ".venv-tf/bin/python")
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name in SETTINGS:
                job = json.dumps(job_arguments(args, name, Path(tmp) / f"{name}.csv"))
                start = time.perf_counter()
                subprocess.run([tf_python, "-c", JOB, job], check=True, env=env)
                seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    log.info("| setting | orders | imputations | job (s, median of %d) | ratio |", args.repeats)
    log.info("|---|---|---|---|---|")
    for name, value in median.items():
        log.info(
            "| %s | %s | %s | %.1f | %.2fx |",
            name,
            " + ".join(SETTINGS[name]["orders"]),
            " + ".join(["gaussian_add", *SETTINGS[name]["imputations"]]),
            value,
            value / median["paper"],
        )


if __name__ == "__main__":
    main()
