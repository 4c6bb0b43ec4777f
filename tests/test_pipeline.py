"""The whole workflow on config/test.yaml: every file contract of design.md, checked."""

import hashlib
import json
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, write_config

CONFIG = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
BACKBONES, FOLDS, ANALYZERS = CONFIG["backbones"], range(CONFIG["folds"]), CONFIG["analyzers"]
K = CONFIG["perturbation"]["steps"]
RUNS = sum(
    CONFIG["perturbation"]["random_repeats"] if o == "random" else 1
    for o in CONFIG["perturbation"]["orders"]
)


def fold_test_ids(run, fold):
    splits = pd.read_csv(run / "results" / "splits.csv")
    return splits[(splits["fold"] == fold) & (splits["role"] == "test")]["image_id"].tolist()


def test_predictions_cover_every_test_image_once(local_run):
    for backbone in BACKBONES:
        for fold in FOLDS:
            predictions = pd.read_csv(
                local_run / f"results/models/{backbone}/fold{fold}/predictions.csv"
            )
            tested = predictions[predictions["role"] == "test"]["image_id"]
            assert sorted(tested) == sorted(fold_test_ids(local_run, fold)) and tested.is_unique


def test_saliency_files_hold_one_finite_map_per_test_image(local_run):
    for backbone in BACKBONES:
        for fold in FOLDS:
            model = local_run / f"results/models/{backbone}/fold{fold}/model.h5"
            digest = hashlib.sha256(model.read_bytes()).hexdigest()
            predicted = pd.read_csv(
                local_run / f"results/models/{backbone}/fold{fold}/predictions.csv"
            ).set_index("image_id")["hc_pred_px"]
            for analyzer in ANALYZERS:
                with h5py.File(
                    local_run / f"results/saliency/{backbone}/fold{fold}/{analyzer}.h5"
                ) as h5:
                    ids = [s.decode() for s in h5["image_ids"][:]]
                    assert ids == fold_test_ids(local_run, fold)
                    maps = h5["maps"][:]
                    assert maps.shape == (len(ids), CONFIG["image_size"], CONFIG["image_size"])
                    assert np.isfinite(maps).all()
                    assert h5.attrs["model_sha256"] == digest
                    np.testing.assert_allclose(h5["hc_pred_px"][:], predicted[ids], rtol=1e-12)
                    assert h5.attrs["analyzer"] == analyzer and h5.attrs["fold"] == fold
                    assert "innvestigate" in json.loads(h5.attrs["versions"])


def shards(run):
    files = sorted((run / "results" / "perturbation").glob("*/fold*/*/shard*.csv"))
    return pd.concat(
        [pd.read_csv(f) for f in files if f.parent.name != "random_order"], ignore_index=True
    )


def test_every_analyzer_shares_one_random_order_baseline(local_run):
    rows = shards(local_run)
    random = rows[rows["order"] == "random"].set_index(
        ["backbone", "fold", "analyzer", "image_id", "repeat", "step"]
    )["error_px"]
    by_analyzer = random.unstack("analyzer")
    assert list(by_analyzer.columns) == sorted(ANALYZERS)
    assert len(by_analyzer) == len(BACKBONES) * CONFIG["dataset"]["n_images"] * (
        CONFIG["perturbation"]["random_repeats"] * (K + 1)
    )
    for analyzer in ANALYZERS:
        np.testing.assert_array_equal(by_analyzer[analyzer], by_analyzer[ANALYZERS[0]])
    # Not a constant: perturbing random regions moves the prediction.
    assert random.groupby(level="step").mean().iloc[1:].std() > 0


def test_shards_have_every_step_of_every_run(local_run):
    rows = shards(local_run)
    assert list(rows.columns) == [
        "backbone",
        "fold",
        "analyzer",
        "image_id",
        "order",
        "repeat",
        "step",
        "error_px",
    ]
    per_image = rows.groupby(["backbone", "fold", "analyzer", "image_id"]).size()
    assert (per_image == (K + 1) * RUNS).all()
    assert len(per_image) == len(BACKBONES) * len(ANALYZERS) * CONFIG["dataset"]["n_images"]


def test_step_zero_is_the_training_stage_error(local_run):
    rows = shards(local_run)
    step0 = rows[rows["step"] == 0]
    for (backbone, fold), group in step0.groupby(["backbone", "fold"]):
        predictions = pd.read_csv(
            local_run / f"results/models/{backbone}/fold{fold}/predictions.csv"
        )
        expected = predictions.set_index("image_id")["abs_err_px"]
        np.testing.assert_allclose(
            group["error_px"], expected[group["image_id"]].to_numpy(), atol=1e-3
        )


def test_aopc_recomputed_from_the_shards_equals_aopc_csv(local_run):
    rows = shards(local_run)
    curve = rows.sort_values("step").groupby(
        ["backbone", "analyzer", "fold", "image_id", "order", "repeat"]
    )["error_px"]
    per_run = curve.agg(lambda e: e.iloc[0] - e.mean()).rename("aopc").reset_index()
    per_image = per_run.groupby(["backbone", "analyzer", "fold", "image_id", "order"])[
        "aopc"
    ].mean()
    expected = per_image.groupby(["backbone", "analyzer", "order"]).mean()
    table = pd.read_csv(local_run / "results" / "aopc.csv", dtype={"fold": str})
    got = table[table["fold"] == "all"].set_index(["backbone", "analyzer", "order"])["aopc_mean"]
    np.testing.assert_allclose(got.loc[expected.index], expected, atol=1e-4)


def test_table1_has_the_papers_shape(local_run):
    table = pd.read_csv(local_run / "results" / "aopc_table.csv")
    assert table["backbone"].tolist() == BACKBONES
    assert table.columns.tolist() == ["backbone", *ANALYZERS, "best_analyzer"]
    explained = table[[a for a in ANALYZERS if a != "random"]]
    assert (table["best_analyzer"] == explained.idxmin(axis=1)).all()
    for backbone in BACKBONES:
        assert (local_run / f"results/aopc/{backbone}/gradient.csv").exists()


def test_mae_table_and_figures(local_run):
    mae = pd.read_csv(local_run / "results" / "mae_table.csv", dtype={"fold": str})
    assert set(mae[mae["fold"] == "all"]["backbone"]) == set(BACKBONES)
    assert {"mae_px", "sd_px", "mae_mm", "sd_mm", "baseline_mae_px", "ba_loa_low_px"} <= set(mae)
    for name in (
        "hc_agreement",
        "saliency_comparison",
        "saliency_best_worst",
        "perturbation_curves",
        "perturbation_process",
    ):
        assert (local_run / "results" / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_changing_one_analyzers_parameters_reruns_only_its_jobs(local_run, tmp_path):
    config = write_config(
        tmp_path / "c.yaml", analyzer_params={"integrated_gradients": {"steps": 5}}
    )
    result = run_snakemake(local_run, config, "-n", "--cores", "1", "--quiet", "rules")
    counts = dict(
        line.split()
        for line in result.stdout.splitlines()
        if line.strip() and line.split()[-1].isdigit() and len(line.split()) == 2
    )
    assert counts["saliency"] == str(len(BACKBONES) * len(FOLDS))
    assert "train" not in counts
    assert counts["aopc_pair"] == str(len(BACKBONES))


def test_a_saliency_file_from_another_model_is_refused(local_run, tmp_path):
    source = local_run / "results/saliency/vgg16/fold0/gradient.h5"
    tampered = tmp_path / "gradient.h5"
    tampered.write_bytes(source.read_bytes())
    with h5py.File(tampered, "a") as h5:
        h5.attrs["model_sha256"] = "0" * 64
    files = {
        "input": {
            "model": str(local_run / "results/models/vgg16/fold0/model.h5"),
            "saliency": str(tampered),
            "dataset": str(local_run / "resources/dataset_32.h5"),
        },
        "output": {"shard": str(tmp_path / "shard0.csv")},
        "wildcards": {"backbone": "vgg16", "fold": "0", "analyzer": "gradient", "shard": "0"},
    }
    settings = {"perturbation": CONFIG["perturbation"]}
    result = subprocess.run(
        [
            str(REPO / ".venv-tf/bin/python"),
            str(REPO / "workflow/scripts/perturb.py"),
            json.dumps(files),
            json.dumps(settings),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "computed from another model" in result.stderr
    assert not (tmp_path / "shard0.csv").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"perturbation": {"subwindow": 7}}, "does not divide image_size 32"),
        ({"perturbation": {"steps": 20}}, "exceeds the 4 regions of a 2x2 grid"),
        ({"analyzer_params": {"smoothgrad": {"sigma": 1}}}, "unknown parameter(s) ['sigma']"),
    ],
)
def test_bad_settings_stop_the_workflow_before_any_job(overrides, message, tmp_path):
    config = write_config(tmp_path / "c.yaml", **overrides)
    result = run_snakemake(tmp_path, config, "-n", "--cores", "1", check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr
