"""The effective config: a config file given on the command line is the whole truth.

The oracle is the file itself plus the schema's `default:` values, filled in by a walk of
the schema written here (not Snakemake's validator), and the paper's numbers as literals.
"""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, run_snakemake

from hcxai.evaluate.registry import METRICS

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
EFFECTIVE = "results/config.effective.yaml"


def with_schema_defaults(instance: dict, schema: dict) -> dict:
    """`instance` with every absent property that has a schema default filled in, recursively."""
    out = copy.deepcopy(instance)
    for key, subschema in schema.get("properties", {}).items():
        if key not in out and "default" in subschema:
            out[key] = copy.deepcopy(subschema["default"])
        if isinstance(out.get(key), dict) and "properties" in subschema:
            out[key] = with_schema_defaults(out[key], subschema)
    return out


def effective_config(workdir: Path, configfile: Path | None) -> dict:
    if configfile is None:  # the embedded default: no --configfile at all
        subprocess.run(
            [
                str(SNAKEMAKE),
                "-s",
                str(REPO / "Snakefile"),
                "-d",
                str(workdir),
                "--cores",
                "1",
                EFFECTIVE,
            ],
            check=True,
            capture_output=True,
        )
    else:
        run_snakemake(workdir, configfile, "--cores", "1", EFFECTIVE)
    return yaml.safe_load((workdir / EFFECTIVE).read_text())


def expected_effective(given: dict) -> dict:
    """A config file's effective config: the schema's defaults filled in, and `metrics`, left
    out, every registered map metric (the run writes which it used)."""
    return with_schema_defaults(given, SCHEMA) | {"metrics": given.get("metrics", list(METRICS))}


USER_FILE = {
    "dataset": {"source": "phantom", "path": "resources/phantom", "n_images": 30},
    "image_size": 64,
    "folds": 3,
    "backbones": ["resnet50"],
    "analyzers": ["smoothgrad", "lrp"],
    "training": {"epochs": 3},
    "perturbation": {"subwindow": 16, "steps": 4},
}


@pytest.mark.parametrize("name", ["config.yaml", "hc18.yaml", "test.yaml", "user"])
def test_effective_config_is_the_file_plus_schema_defaults(name, tmp_path):
    if name == "user":
        path = tmp_path / "user.yaml"
        path.write_text(yaml.safe_dump(USER_FILE))
    else:
        path = REPO / "config" / name
    given = yaml.safe_load(path.read_text())
    effective = effective_config(tmp_path, path)
    assert effective == expected_effective(given)


def test_a_file_with_few_keys_inherits_nothing_from_the_default_config(tmp_path):
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(USER_FILE))
    effective = effective_config(tmp_path, path)
    # config/config.yaml sets both; the schema's defaults are empty.
    assert effective["analyzer_params"] == {}
    assert effective["training"]["backbone_overrides"] == {}
    assert effective["training"]["learning_rate"] == 0.0001
    assert effective["training"]["patience"] == 10


def test_without_a_config_file_the_default_config_is_used(tmp_path):
    given = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert effective_config(tmp_path, None) == expected_effective(given)


def job_settings(dry_run_output: str, script: str, output_fragment: str) -> dict:
    """The settings JSON (last argument) of the `script` job that writes `output_fragment`."""
    for line in dry_run_output.splitlines():
        if f"/{script} " in line and output_fragment in line:
            return json.loads(re.findall(r"'(\{.*?\})'", line)[-1])
    raise AssertionError(f"no {script} job writing {output_fragment} in the dry run")


def test_papers_config_runs_the_papers_settings(tmp_path):
    out = run_snakemake(tmp_path, REPO / "config/hc18.yaml", "-n", "-p", "--cores", "1").stdout
    training = job_settings(out, "train.py", "models/resnet50/mae/fold0/model.h5")["training"]
    assert (training["epochs"], training["learning_rate"], training["lr_schedule"]) == (
        100,
        0.0001,
        "constant",
    )
    smoothgrad = job_settings(out, "saliency.py", "resnet50/mae/fold0/smoothgrad.h5")
    assert smoothgrad["params"]["augment_by_n"] == 64
    integrated = job_settings(out, "saliency.py", "resnet50/mae/fold0/integrated_gradients.h5")
    assert integrated["params"]["steps"] == 64 and smoothgrad["graph_optimization"] is True
    lrp = job_settings(out, "saliency.py", "resnet50/mae/fold0/lrp.h5")
    assert lrp["params"]["canonize"] is True


def test_test_config_trains_resnet50_with_its_own_epochs(tmp_path):
    out = run_snakemake(tmp_path, REPO / "config/test.yaml", "-n", "-p", "--cores", "1").stdout
    training = job_settings(out, "train.py", "models/resnet50/mae/fold0/model.h5")["training"]
    assert training["epochs"] == 2 and training["lr_schedule"] == "constant"


def test_each_loss_trains_its_own_models_and_only_huber_gets_the_delta(tmp_path):
    """The loss is a path level: one train job per backbone x loss x fold, each with the
    loss of its path; huber_delta reaches the Huber jobs only (changing it reruns them alone)."""
    given = yaml.safe_load((REPO / "config/test.yaml").read_text())
    assert given["losses"] == ["mae", "huber"]
    out = run_snakemake(tmp_path, REPO / "config/test.yaml", "-n", "-p", "--cores", "1").stdout
    for backbone in given["backbones"]:
        for loss in given["losses"]:
            for fold in range(given["folds"]):
                path = f"models/{backbone}/{loss}/fold{fold}/model.h5"
                training = job_settings(out, "train.py", path)["training"]
                assert training["loss"] == loss
                assert ("huber_delta" in training) == (loss == "huber")
    huber = job_settings(out, "train.py", "models/vgg16/huber/fold0/model.h5")["training"]
    assert huber["huber_delta"] == 0.05  # the schema's default: test.yaml does not set it


def test_the_losses_overlay_is_the_default_with_three_losses(tmp_path):
    """`make run CONFIG="config/config.yaml config/losses.yaml"`: the default config with
    `losses` replaced (Snakemake merges the files in order), so its mae jobs are the
    default run's own: the same paths and the same settings."""
    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    overlay = yaml.safe_load((REPO / "config/losses.yaml").read_text())
    assert overlay == {"losses": ["mae", "mse", "huber"]}
    files = [str(REPO / "config/config.yaml"), str(REPO / "config/losses.yaml")]
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--configfile", *files, "--cores", "1"]  # fmt: skip
    subprocess.run([*command, EFFECTIVE], check=True, capture_output=True)
    effective = yaml.safe_load((tmp_path / EFFECTIVE).read_text())
    assert effective == expected_effective({**default, **overlay})
    out = subprocess.run([*command, "-n", "-p"], check=True, capture_output=True, text=True).stdout
    alone = run_snakemake(tmp_path, REPO / "config/config.yaml", "-n", "-p", "--cores", "1").stdout
    for backbone in default["backbones"]:
        for loss in overlay["losses"]:
            for fold in range(default["folds"]):
                path = f"models/{backbone}/{loss}/fold{fold}/model.h5"
                settings = job_settings(out, "train.py", path)
                assert settings["training"]["loss"] == loss
                if loss != "mae":
                    continue
                assert settings == job_settings(alone, "train.py", path)
                for script, output in (
                    ("saliency.py", f"saliency/{backbone}/mae/fold{fold}/lrp.h5"),
                    ("perturb.py", f"perturbation/{backbone}/mae/fold{fold}/lrp/shard0.csv"),
                    ("sanity_maps.py", f"sanity/{backbone}/mae/lrp.h5"),
                ):
                    assert job_settings(out, script, output) == job_settings(alone, script, output)
