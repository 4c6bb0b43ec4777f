# Shared names and helpers of the rules.
import csv
import functools
import json
import os
import re
from pathlib import Path

from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod

from hcxai.core.catalogue import result
from hcxai.core.io import InputError
from hcxai.core.keys import MODEL_DIMENSIONS
from hcxai.data.hc18 import CSV_NAME, IMAGE_FOLDER
from hcxai.data.splits import fold_sizes
from hcxai.evaluate.faithfulness.perturbation import Settings
from hcxai.evaluate.registry import METRICS, metric
from hcxai.explain.analyzers import resolve
from hcxai.figures.registry import FIGURES
from hcxai.models.weights import check_weights_file

# Jobs import hcxai from this checkout whatever environment runs them (a venv,
# a conda env made by --sdm conda, a SLURM node sharing the file system).
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (str(HCXAI_ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )
)

DATA_ROOT = config["dataset"]["path"]
DATA_CSV = f"{DATA_ROOT}/{CSV_NAME}"
DATA_IMAGES = f"{DATA_ROOT}/{IMAGE_FOLDER}"
IS_PHANTOM = config["dataset"]["source"] == "phantom"
DATASET = result("dataset").format(image_size=config["image_size"])
SPLITS = result("splits")
EFFECTIVE_CONFIG = result("effective_config")
FOLDS = list(range(config["folds"]))
# What an interval needs of the `statistics` block (so a changed alpha reruns only tests).
STATISTICS_CI = {
    key: config["statistics"][key] for key in ("confidence", "bootstrap_samples", "seed")
}
# Each model dimension's values (backbone, loss, ...: hcxai.core.keys.MODEL_DIMENSIONS).
MODELS = {key: config[setting] for key, setting in MODEL_DIMENSIONS.items()}
BACKBONES = MODELS["backbone"]
LOSSES = MODELS["loss"]
ANALYZERS = config["analyzers"]
SCRIPTS = HCXAI_ROOT / "workflow" / "scripts"


wildcard_constraints:
    **{key: "|".join(values) for key, values in MODELS.items()},
    fold=r"\d+",


def tensorflow_python() -> str:
    """The interpreter of the TensorFlow rules.

    TensorFlow 2.14 + iNNvestigate and Snakemake 9 need separate environments
    (README, *Two environments*). Under `--sdm conda` the rule's conda env is active, so plain
    `python` is right; otherwise HCXAI_TF_PYTHON, or the repository's .venv-tf
    that `make env` builds, so plain `.venv/bin/snakemake` needs no flag.
    """
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python"
    override = os.environ.get("HCXAI_TF_PYTHON")
    if override:
        return override
    local = HCXAI_ROOT / ".venv-tf" / "bin" / "python"
    if not local.exists():
        logger.warning(
            f"{local} not found: run `make env`, set HCXAI_TF_PYTHON, or use --sdm conda "
            "before running the TensorFlow rules (train, saliency, perturb)"
        )
    return str(local)


# The one command of every TensorFlow rule, which runs its script (input `script`)
# in the TensorFlow env with the job's files and settings as JSON (see `job_files`
# and `job_settings`).
TF_COMMAND = (
    f"{tensorflow_python()} {{input.script}} --threads {{threads}} "
    "{params.files:q} {params.settings:q} > {log} 2>&1"
)


def analyzer_params(analyzer: str) -> dict:
    """An analyzer's parameters as its jobs run them: hcxai's defaults + `analyzer_params`."""
    return resolve(analyzer, config["analyzer_params"].get(analyzer, {})).params


# Settings the schema cannot check, checked before any job runs.
Settings.from_config(config["perturbation"]).check(config["image_size"])
if config["image_size"] % config["meta"]["block"]:
    raise InputError(
        f"meta.block {config['meta']['block']} does not divide image_size {config['image_size']}; "
        "choose a divisor"
    )
for analyzer in dict.fromkeys([*config["analyzers"], *config["analyzer_params"]]):
    analyzer_params(analyzer)
config.setdefault("metrics", list(METRICS))  # left out: every registered map metric
for name in config["metrics"]:
    metric(name)  # an unknown name stops the run here, naming the registered ones


def check_weights(backbones: set[str]) -> None:
    """Each backbone's weights file exists and is that backbone's, on the submit host.

    Called before any job starts (not on a dry run, which needs no weights) for
    the backbones that have a training job to run: a cluster whose nodes have no
    internet fails here, with the file and the command that fetches it, instead
    of in every queued training job.
    """
    training = config["training"]
    for backbone in sorted(backbones):
        overrides = training["backbone_overrides"].get(backbone, {})
        path = check_weights_file(backbone, overrides.get("weights", training["weights"]))
        if path is not None:
            logger.info(f"{backbone} starts from {path}")


def ingest_input() -> dict[str, str | list[str]]:
    """What ingest reads: the CSV, the image folder and, for a real HC18 folder, every scan.

    Declared so that a changed data folder is ingested again instead of a stale
    cache being trusted: an added or removed file changes the folder's mtime and
    the list, an edited scan its own mtime. The phantom folder is the phantoms
    rule's directory output, so it is named alone. A real HC18 folder that is
    absent is left out, so a dry run (`-n`) works before the data are in place;
    ingest then fails with a message that names the missing folder.
    """
    if IS_PHANTOM:
        return {"csv": DATA_CSV, "images": DATA_IMAGES}
    if not Path(DATA_CSV).exists() or not Path(DATA_IMAGES).is_dir():
        logger.warning(f"{DATA_CSV} not found: place HC18 there or set dataset.path")
        return {}
    scans = sorted(p.name for p in Path(DATA_IMAGES).iterdir() if p.suffix == ".png")
    return {
        "csv": DATA_CSV,
        "images": DATA_IMAGES,
        "scans": [f"{DATA_IMAGES}/{name}" for name in scans],
    }


def job_files(wildcards, input, output) -> str:
    """A `params:` function: a TensorFlow job's named inputs, outputs and wildcards as JSON.

    Those scripts run in the TensorFlow env, outside Snakemake's Python, so
    they cannot use `script:`; they get the same information as two JSON
    arguments, this one and `job_settings`. (Derived from files, this param is
    not a rerun trigger; the files themselves are.)
    """
    return json.dumps(
        {
            "input": dict(input.items()),
            "output": dict(output.items()),
            "wildcards": dict(wildcards.items()),
        },
        sort_keys=True,
    )


def job_settings(**settings):
    """A `params:` function of the wildcards only: the job's settings as sorted JSON.

    Snakemake compares such params between runs (params of input/output are
    "derived" and not compared), so changing a setting reruns exactly the jobs
    it reaches. A setting may be a function of the wildcards.
    """

    def resolve(wildcards) -> str:
        return json.dumps(
            {k: v(wildcards) if callable(v) else v for k, v in settings.items()},
            sort_keys=True,
        )

    return resolve


def training_settings(wildcards) -> dict:
    """The training block with this backbone's overrides applied, and the job's loss.

    `huber_delta` is a setting of the Huber loss only: changing it reruns the
    Huber models and leaves the others alone.
    """
    training = config["training"]
    settings = {k: v for k, v in training.items() if k not in ("backbone_overrides", "huber_delta")}
    settings |= training["backbone_overrides"].get(wildcards.backbone, {})
    settings["loss"] = wildcards.loss
    if wildcards.loss == "huber":
        settings["huber_delta"] = training["huber_delta"]
    return settings


def dataset_image_ids() -> list[str]:
    """The scans' ids, known when the DAG is built (the folds, so the shards, depend on them)."""
    if IS_PHANTOM:
        return [f"{i:03d}_HC" for i in range(config["dataset"]["n_images"])]
    if Path(DATA_CSV).exists():
        with open(DATA_CSV, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))[1:]
        return [Path(row[0].strip()).stem for row in rows if row and row[0].strip()]
    # A dry run before the data are in place: HC18's size, one scan per group.
    return [f"scan{i}" for i in range(HC18_SIZE)]


HC18_SIZE = 999


@functools.cache
def test_images_per_fold() -> list[int]:
    dataset = config["dataset"]
    return fold_sizes(dataset_image_ids(), config["folds"], dataset["seed"], dataset["group_by"])


def explained_images(fold: int) -> int:
    """Test images of a fold that get saliency maps, and so are perturbed."""
    n = test_images_per_fold()[fold]
    cap = config["saliency"]["max_images_per_fold"]
    return min(n, cap) if cap else n


def shard_files(backbone: str, loss: str, analyzer: str) -> list[str]:
    """Every perturbation shard of one model (backbone x loss) x analyzer, over all folds."""
    per_job = config["perturbation"]["images_per_job"]
    return [
        result("perturbation_shard").format(
            backbone=backbone, loss=loss, fold=fold, analyzer=analyzer, shard=shard
        )
        for fold in FOLDS
        for shard in range(-(-explained_images(fold) // per_job))
    ]


def over_models(pattern: str, **wildcards) -> list[str]:
    """`pattern` for every model (backbone x loss x ...), expanded over `wildcards` too."""
    return expand(pattern, **MODELS, **wildcards)


def of_fold(name: str, fold: int) -> str:
    """Result file `name` of one fold (the model a per-model stage explains)."""
    return result(name).replace("{fold}", str(fold))


def metric_maps(wildcards) -> list[str]:
    """The maps one metric reads for one model: its registry source's files."""
    pattern = result(metric(wildcards.metric).source)
    return expand(pattern, fold=FOLDS, analyzer=ANALYZERS, allow_missing=True)


def instances(needed) -> str | list[str]:
    """The files a registry `Input` names: its result file for every value of the
    wildcards in its path (the run's models, folds, analyzers, shards, metrics), or the
    first of them; one path when the pattern has no wildcard but the run's image size."""
    pattern = result(needed.result)
    analyzers = ANALYZERS
    if needed.analyzer is not None:
        analyzers = [needed.analyzer if needed.analyzer in ANALYZERS else ANALYZERS[0]]
    if needed.result == "perturbation_shard":
        files = [
            path
            for values in expand("{backbone} {loss}", **MODELS)
            for analyzer in analyzers
            for path in shard_files(*values.split(), analyzer)
        ]
    else:
        used = set(re.findall(r"{(\w+)}", pattern))
        fixed = {"image_size": config["image_size"]}  # one value per run: one file
        if used <= set(fixed):
            return pattern.format(**fixed)
        values = {"fold": FOLDS, "analyzer": analyzers, "metric": config["metrics"], **MODELS}
        files = expand(pattern, **{k: v for k, v in values.items() if k in used})
    return files[0] if needed.first else files


def figure_inputs(wildcards) -> dict[str, str | list[str]]:
    return {
        argument: instances(needed) for argument, needed in FIGURES[wildcards.figure].inputs.items()
    }


# The results `rule all` builds besides the figures (hcxai.core.catalogue names).
FINAL_RESULTS = (
    "effective_config",
    "splits",
    "mae_table",
    "aopc",
    "aopc_table",
    "perturbation_curves",
    "aopc_stats",
    "aopc_pairwise",
    "faithfulness",
    "localization",
    "sanity",
    "scorecard",
    "meta",
    "error_explanation",
)


def final_targets() -> list[str]:
    """Everything the target `all` builds: the final results, the map metrics' summary when any
    metric runs, and every enabled figure of the figure registry."""
    metrics = [result("map_metrics")] if config["metrics"] else []
    figures = [
        result("figure").format(figure=name)
        for name, figure in FIGURES.items()
        if figure.enabled(config)
    ]
    return [DATASET, *map(result, FINAL_RESULTS), *metrics, *figures]
