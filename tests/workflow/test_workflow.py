"""The Snakemake workflow: config validation, dry runs, and the data stage for real."""

import csv
import os
import re
import shutil

import h5py
import numpy as np
import pytest
from conftest import REPO, run_snakemake, write_config
from PIL import Image


@pytest.mark.parametrize("name", ["test.yaml", "config.yaml", "hc18.yaml"])
def test_dry_run_builds_the_dag(name, tmp_path):
    result = run_snakemake(tmp_path, REPO / "config" / name, "-n", "--cores", "2")
    assert "ingest" in result.stdout
    assert "split" in result.stdout


def test_shards_follow_the_explained_images_and_images_per_job(tmp_path):
    # HC18's 999 scans in 5 folds (200 test images, 199 in the last): 20 explained per fold.
    config = write_config(
        tmp_path / "c.yaml",
        base="hc18.yaml",
        saliency={"max_images_per_fold": 20},
        perturbation={"images_per_job": 7},
    )
    result = run_snakemake(tmp_path, config, "-n", "results/aopc_table.csv")
    counts = dict(re.findall(r"^(perturb|random_order|saliency)\s+(\d+)$", result.stdout, re.M))
    shards = 3  # ceil(20 / 7)
    assert counts == {
        "saliency": str(5 * 2 * 9),
        "random_order": str(5 * 2 * shards),
        "perturb": str(5 * 2 * 9 * shards),
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"imgae_size": 64}, "'imgae_size' was unexpected"),
        ({"image_size": 16}, "16 is less than the minimum of 32"),
        ({"folds": 2}, "2 is less than the minimum of 3"),
        ({"backbones": ["alexnet"]}, "'alexnet' is not one of"),
        ({"analyzers": ["gradient", "occlusion"]}, "'occlusion' is not one of"),
        ({"dataset": {"source": "kaggle"}}, "'kaggle' is not one of"),
        ({"training": {"los": "mae"}}, "'los' was unexpected"),
        ({"training": {"loss": "mae"}}, "'loss' was unexpected"),  # now the list `losses`
        ({"losses": ["mae", "hinge"]}, "'hinge' is not one of"),
        ({"losses": ["mae", "mae"]}, "has non-unique elements"),
        ({"training": {"huber_delta": 0}}, "0 is less than or equal to the minimum of 0"),
        ({"perturbation": {"steps": 0}}, "0 is less than the minimum of 1"),
        ({"analyzer_params": {"smoothgrd": {}}}, "'smoothgrd' is not one of"),
    ],
)
def test_config_errors_name_the_key(overrides, expected, tmp_path):
    config = write_config(tmp_path / "bad.yaml", **overrides)
    result = run_snakemake(tmp_path, config, "-n", "--cores", "1", check=False)
    assert result.returncode != 0
    assert expected in result.stderr + result.stdout


def test_data_stage_runs_and_rejects_bad_hc18(tmp_path):
    config = write_config(tmp_path / "c.yaml", dataset={"n_images": 9})
    run_snakemake(tmp_path, config, "--cores", "2", "results/splits.csv")
    with h5py.File(tmp_path / "resources" / "dataset_32.h5") as h5:
        assert h5["images"].shape == (9, 32, 32)
    with open(tmp_path / "results" / "splits.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9 * 3

    # The same folder read as real HC18, with one scan's row removed: a clear error, no file.
    hc18 = tmp_path / "HC18"
    (tmp_path / "resources" / "phantom").rename(hc18)
    csv_path = hc18 / "training_set_pixel_size_and_HC.csv"
    csv_path.write_text("\n".join(csv_path.read_text().splitlines()[:-1]) + "\n")
    bad = write_config(
        tmp_path / "hc18.yaml", dataset={"source": "hc18", "path": str(hc18)}, image_size=48
    )
    result = run_snakemake(tmp_path, bad, "--cores", "1", "resources/dataset_48.h5", check=False)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "ingest_48.log").read_text()
    assert "no row for 1 scan(s)" in log and "008_HC.png" in log
    assert not (tmp_path / "resources" / "dataset_48.h5").exists()


def _scheduled(result) -> set[str]:
    """Rule names of the jobs a dry run would run."""
    return set(re.findall(r"^(?:local)?rule (\w+):$", result.stdout, re.M))


def test_a_changed_hc18_folder_is_ingested_again(hc18_copy, tmp_path):
    """Ingest declares the CSV, the image folder and its scans, so a stale cache is rebuilt.

    Oracle: Snakemake's own rerun decision (`-n`) after the folder changes on disk;
    the CSV is left alone, so only the image folder can trigger the rerun.
    """
    config = write_config(tmp_path / "c.yaml", dataset={"source": "hc18", "path": str(hc18_copy)})
    target = "resources/dataset_32.h5"
    run_snakemake(tmp_path, config, "--cores", "1", target)
    assert "ingest" not in _scheduled(run_snakemake(tmp_path, config, "-n", "--cores", "1", target))
    folder = hc18_copy / "training_set"
    old = (tmp_path / target).stat().st_mtime - 3600

    # A scan edited in place: its content and mtime change, the folder's mtime does not.
    scan = folder / "002_HC.png"
    original = scan.read_bytes()
    pixels = np.asarray(Image.open(scan)).copy()
    pixels[:10, :10] = 255 - pixels[:10, :10]
    Image.fromarray(pixels).save(scan)
    os.utime(folder, (old, old))
    assert "ingest" in _scheduled(run_snakemake(tmp_path, config, "-n", "--cores", "1", target))
    scan.write_bytes(original)
    os.utime(scan, (old, old))
    os.utime(folder, (old, old))
    assert "ingest" not in _scheduled(run_snakemake(tmp_path, config, "-n", "--cores", "1", target))

    # A file added with an old mtime (as unzip or cp -p leave it): the folder changed.
    extra = folder / "900_HC_Annotation.png"
    shutil.copy2(folder / "000_HC_Annotation.png", extra)
    os.utime(extra, (old, old))
    result = run_snakemake(tmp_path, config, "-n", "--cores", "1", target)
    assert "ingest" in _scheduled(result)
