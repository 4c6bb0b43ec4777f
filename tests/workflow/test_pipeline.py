"""The whole workflow on config/test.yaml: every file contract, checked against oracles.

The oracles are computed here, not copied from the workflow: a forward pass of
each saved model in a separate TensorFlow process (`forward`), the HC from the
phantom CSV (`truth`), region rankings from the maps, and AOPC, curves and
Table 1 recomputed from the raw shard rows with explicit loops.
"""

import csv
import hashlib
import json
import os
import re
import statistics
import subprocess
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, write_config
from PIL import Image

from hcxai.evaluate.registry import METRICS

CONFIG = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
BACKBONES, FOLDS, ANALYZERS = CONFIG["backbones"], range(CONFIG["folds"]), CONFIG["analyzers"]
LOSSES = CONFIG["losses"]
MODELS = [(b, loss) for b in BACKBONES for loss in LOSSES]  # backbone x loss, as the rules
K = CONFIG["perturbation"]["steps"]
WINDOW = CONFIG["perturbation"]["subwindow"]
SIZE = CONFIG["image_size"]
RUNS = sum(
    CONFIG["perturbation"]["random_repeats"] if o == "random" else 1
    for o in CONFIG["perturbation"]["orders"]
)
NOISE = CONFIG["perturbation"]["noise"]
TABLE1_IMPUTATION = f"{NOISE['kind']}_{NOISE['mode']}"  # the noise kinds: kind_mode
IMPUTATIONS = [TABLE1_IMPUTATION, *CONFIG["perturbation"]["imputations"]]
TF_PYTHON = os.environ.get("HCXAI_TF_PYTHON", str(REPO / ".venv-tf/bin/python"))

# Every saved model on every image of the data set, in a fresh TensorFlow process:
# the normalisation written out, the HC scale read from the file's attribute.
FORWARD = """
import json
import sys

import h5py
import numpy as np
import tensorflow as tf

run, out = sys.argv[1], sys.argv[2]
models = json.loads(sys.argv[3])
with h5py.File(f"{run}/resources/dataset_{sys.argv[4]}.h5") as h5:
    ids = [s.decode() for s in h5["image_id"][:]]
    images = h5["images"][:].astype(np.float64)
mean = images.mean(axis=(1, 2), keepdims=True)
x = np.repeat(((images - mean) / images.std(axis=(1, 2), keepdims=True))[..., None], 3, -1)
predictions = {}
for name in models:
    path = f"{run}/results/models/{name}/model.h5"
    with h5py.File(path) as h5:
        scale = float(h5.attrs["hcxai_hc_scale_px"])
    model = tf.keras.models.load_model(path, compile=False)
    output = model(x.astype(np.float32), training=False).numpy()[:, 0]
    predictions[name] = (output.astype(np.float64) * scale).tolist()
with open(out, "w") as handle:
    json.dump({"ids": ids, "predictions": predictions}, handle)
"""


@pytest.fixture(scope="module")
def forward(local_run, tmp_path_factory):
    """{(backbone, loss, fold): predicted HC px per image id}, from an independent forward
    pass."""
    names = [f"{b}/{loss}/fold{f}" for b, loss in MODELS for f in FOLDS]
    out = tmp_path_factory.mktemp("forward") / "predictions.json"
    done = subprocess.run(
        [TF_PYTHON, "-c", FORWARD, str(local_run), str(out), json.dumps(names), str(SIZE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    return {
        (b, loss, f): pd.Series(result["predictions"][f"{b}/{loss}/fold{f}"], index=result["ids"])
        for b, loss in MODELS
        for f in FOLDS
    }


@pytest.fixture(scope="module")
def truth(local_run):
    """HC px (HC mm / pixel size) and pixel size per image id, from the phantoms' own CSV."""
    rows = {}
    path = local_run / CONFIG["dataset"]["path"] / "training_set_pixel_size_and_HC.csv"
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            pixel = float(row["pixel size(mm)"])
            rows[Path(row["filename"]).stem] = (
                float(row["head circumference (mm)"]) / pixel,
                pixel,
            )
    return pd.DataFrame.from_dict(rows, orient="index", columns=["hc_px", "pixel_size_mm"])


def fold_test_ids(run, fold):
    splits = pd.read_csv(run / "results" / "splits.csv")
    return splits[(splits["fold"] == fold) & (splits["role"] == "test")]["image_id"].tolist()


def test_predictions_cover_every_test_image_once(local_run):
    for backbone, loss in MODELS:
        for fold in FOLDS:
            predictions = pd.read_csv(
                local_run / f"results/models/{backbone}/{loss}/fold{fold}/predictions.csv"
            )
            tested = predictions[predictions["role"] == "test"]["image_id"]
            assert sorted(tested) == sorted(fold_test_ids(local_run, fold)) and tested.is_unique


def test_predictions_are_the_saved_models_own(local_run, forward, truth):
    """predictions.csv, row by row: the model's forward pass and the CSV's HC."""
    for backbone, loss in MODELS:
        for fold in FOLDS:
            rows = pd.read_csv(
                local_run / f"results/models/{backbone}/{loss}/fold{fold}/predictions.csv",
                dtype={"image_id": str},
            )
            ids = rows["image_id"]
            predicted = forward[(backbone, loss, fold)][ids].to_numpy()
            true = truth.loc[ids, "hc_px"].to_numpy()
            np.testing.assert_allclose(rows["hc_pred_px"], predicted, rtol=1e-5)
            np.testing.assert_allclose(rows["hc_true_px"], true, rtol=1e-9)
            np.testing.assert_allclose(rows["abs_err_px"], np.abs(predicted - true), atol=0.05)
            np.testing.assert_allclose(
                rows["abs_err_mm"],
                np.abs(predicted - true) * truth.loc[ids, "pixel_size_mm"].to_numpy(),
                atol=0.01,
            )
            # Not a constant model: the check above could not tell images apart otherwise.
            assert np.ptp(predicted) > 1e-3


def test_each_loss_trains_its_own_models(local_run, forward):
    """The {loss} level of a path is the loss its model was trained with (metrics.json,
    the model file's attribute), and the losses give different models."""
    for backbone, loss in MODELS:
        for fold in FOLDS:
            folder = local_run / f"results/models/{backbone}/{loss}/fold{fold}"
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["loss"] == metrics["training"]["loss"] == loss
            assert ("huber_delta" in metrics["training"]) == (loss == "huber")
            with h5py.File(folder / "model.h5") as h5:
                assert h5.attrs["hcxai_loss"] == loss
    for backbone in BACKBONES:
        for fold in FOLDS:
            first, second = (forward[(backbone, loss, fold)] for loss in LOSSES[:2])
            assert np.abs(first - second).max() > 1e-3, (backbone, fold)


def test_saliency_files_hold_one_finite_map_per_test_image(local_run, forward, truth):
    for backbone, loss in MODELS:
        for fold in FOLDS:
            model = local_run / f"results/models/{backbone}/{loss}/fold{fold}/model.h5"
            digest = hashlib.sha256(model.read_bytes()).hexdigest()
            for analyzer in ANALYZERS:
                with h5py.File(
                    local_run / f"results/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.h5"
                ) as h5:
                    ids = [s.decode() for s in h5["image_ids"][:]]
                    assert ids == fold_test_ids(local_run, fold)
                    maps = h5["maps"][:]
                    assert maps.shape == (len(ids), SIZE, SIZE)
                    assert np.isfinite(maps).all()
                    assert h5.attrs["model_sha256"] == digest
                    np.testing.assert_allclose(
                        h5["hc_pred_px"][:], forward[(backbone, loss, fold)][ids], rtol=1e-5
                    )
                    np.testing.assert_allclose(h5["hc_true_px"][:], truth.loc[ids, "hc_px"])
                    assert h5.attrs["analyzer"] == analyzer and h5.attrs["fold"] == fold
                    assert (h5.attrs["backbone"], h5.attrs["loss"]) == (backbone, loss)
                    assert "innvestigate" in json.loads(h5.attrs["versions"])


def shards(run, imputation=TABLE1_IMPUTATION):
    """Every analyzer's shard rows under one imputation (all of them: None)."""
    files = sorted((run / "results" / "perturbation").glob("*/*/fold*/*/shard*.csv"))
    rows = pd.concat(
        [pd.read_csv(f, dtype={"image_id": str}) for f in files if f.parent.name != "random_order"],
        ignore_index=True,
    )
    return rows if imputation is None else rows[rows["imputation"] == imputation]


def test_every_analyzer_shares_one_random_order_baseline(local_run):
    rows = shards(local_run)
    random = rows[rows["order"] == "random"].set_index(
        ["backbone", "loss", "fold", "analyzer", "image_id", "repeat", "step"]
    )["error_px"]
    by_analyzer = random.unstack("analyzer")
    assert list(by_analyzer.columns) == sorted(ANALYZERS)
    assert len(by_analyzer) == len(MODELS) * CONFIG["dataset"]["n_images"] * (
        CONFIG["perturbation"]["random_repeats"] * (K + 1)
    )
    for analyzer in ANALYZERS:
        np.testing.assert_array_equal(by_analyzer[analyzer], by_analyzer[ANALYZERS[0]])
    # Not a constant: perturbing random regions moves the prediction.
    assert random.groupby(level="step").mean().iloc[1:].std() > 0


def test_shards_have_every_step_of_every_run(local_run):
    rows = shards(local_run, None)
    assert list(rows.columns) == [
        "backbone",
        "loss",
        "fold",
        "analyzer",
        "imputation",
        "image_id",
        "order",
        "repeat",
        "step",
        "error_px",
        "output_change_px",
    ]
    assert sorted(set(rows["imputation"])) == sorted(IMPUTATIONS)
    per_image = rows.groupby(["backbone", "loss", "fold", "analyzer", "image_id"]).size()
    assert (per_image == (K + 1) * RUNS * len(IMPUTATIONS)).all()
    assert len(per_image) == len(MODELS) * len(ANALYZERS) * CONFIG["dataset"]["n_images"]


def test_step_zero_is_the_models_error_in_every_run(local_run, forward, truth):
    """Step 0 of every order and imputation (the random-order job's rows too) = |forward
    pass - true HC|, and no output change yet."""
    step0 = shards(local_run, None).query("step == 0")
    for (backbone, loss, fold), group in step0.groupby(["backbone", "loss", "fold"]):
        ids = group["image_id"]
        expected = np.abs(forward[(backbone, loss, fold)][ids].to_numpy() - truth.loc[ids, "hc_px"])
        np.testing.assert_allclose(group["error_px"], expected, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(group["output_change_px"], 0.0)


def test_output_change_is_the_error_change_when_the_sign_holds(local_run, forward, truth):
    """|f(x_k) - f(x_0)| against the error: where the prediction stays on one side of the
    truth, |f(x_k) - f(x_0)| = ||f(x_k) - y| - |f(x_0) - y||; always >= that (triangle)."""
    rows = shards(local_run, None)
    first = rows.groupby(
        ["backbone", "loss", "analyzer", "imputation", "image_id", "order", "repeat"]
    )["error_px"].transform("first")
    change = (rows["error_px"] - first).abs()
    assert (rows["output_change_px"] >= change - 1e-3).all()
    assert rows.query("step > 0")["output_change_px"].max() > 0


def region_order(saliency_map: np.ndarray, order: str) -> list[int]:
    """Regions (row-major) by summed relevance, written out; ties keep the grid order."""
    grid = SIZE // WINDOW
    scores = []
    for region in range(grid * grid):
        row, col = divmod(region, grid)
        block = saliency_map[row * WINDOW : (row + 1) * WINDOW, col * WINDOW : (col + 1) * WINDOW]
        scores.append(float(np.sum(block, dtype=np.float64)))
    sign = -1 if order == "morf" else 1
    return sorted(range(grid * grid), key=lambda r: (sign * scores[r], r))


def test_the_same_perturbed_regions_give_the_same_error(local_run):
    """The error at step k depends only on the image and the set of its k perturbed regions.

    The set comes from each analyzer's map (ranked here); runs of different
    analyzers and orders, computed in different jobs, that perturb the same set
    must agree. A shard row attached to the wrong image or map, or noise that
    depends on the analyzer, breaks this.
    """
    rows = shards(local_run)
    errors: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for (backbone, loss, fold, analyzer), group in rows[rows["order"] != "random"].groupby(
        ["backbone", "loss", "fold", "analyzer"]
    ):
        saliency = local_run / f"results/saliency/{backbone}/{loss}/fold{fold}/{analyzer}.h5"
        with h5py.File(saliency) as h5:
            maps = dict(zip([s.decode() for s in h5["image_ids"][:]], h5["maps"][:], strict=True))
        for (image_id, order), run in group.groupby(["image_id", "order"]):
            ranked = region_order(maps[image_id], order)
            curve = run.sort_values("step")["error_px"].to_numpy()
            for k in range(K + 1):
                key = (backbone, loss, image_id, frozenset(ranked[:k]))
                errors[key].append((f"{analyzer} {order}", curve[k]))
    shared = 0
    for key, found in errors.items():
        values = [e for _, e in found]
        np.testing.assert_allclose(values, values[0], rtol=1e-6, atol=1e-3, err_msg=str(found))
        shared += len(key[3]) > 0 and len(found) > 1
    assert shared > 20  # enough coincidences for the check to mean something


def read_rows(run, imputation=TABLE1_IMPUTATION) -> list[dict]:
    """Every analyzer's shard rows under one imputation as plain dicts (no pandas in the
    oracle)."""
    out = []
    for path in sorted((run / "results" / "perturbation").glob("*/*/fold*/*/shard*.csv")):
        if path.parent.name == "random_order":
            continue
        with open(path, newline="") as handle:
            out += [row for row in csv.DictReader(handle) if row["imputation"] == imputation]
    return out


def aopc_by_loops(run, imputation=TABLE1_IMPUTATION, measure="error_px") -> tuple[dict, dict]:
    """Per-image AOPC and (mean, sd, n) per (model, analyzer, fold | 'all', order), a model
    being the pair (backbone, loss).

    Per run: (1 / (K+1)) * sum over k = 0..K of (e(0) - e(k)); the random order's
    repeats are averaged per image.
    """
    curves: dict[tuple, dict[int, float]] = defaultdict(dict)
    for row in read_rows(run, imputation):
        model = (row["backbone"], row["loss"])
        key = (model, row["analyzer"], row["fold"], row["image_id"], row["order"])
        curves[(*key, int(row["repeat"]))][int(row["step"])] = float(row[measure])
    by_image: dict[tuple, list[float]] = defaultdict(list)
    for (*key, _), curve in curves.items():
        assert sorted(curve) == list(range(K + 1))
        total = 0.0
        for k in range(K + 1):
            total += curve[0] - curve[k]
        by_image[tuple(key)].append(total / (K + 1))
    per_image = {key: statistics.fmean(values) for key, values in by_image.items()}
    groups: dict[tuple, list[float]] = defaultdict(list)
    for (model, analyzer, fold, _, order), value in per_image.items():
        groups[(model, analyzer, fold, order)].append(value)
        groups[(model, analyzer, "all", order)].append(value)
    summary = {
        key: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else float("nan"), len(v))
        for key, v in groups.items()
    }
    return per_image, summary


def test_aopc_recomputed_from_the_raw_shard_rows(local_run):
    per_image, summary = aopc_by_loops(local_run)
    table = pd.read_csv(local_run / "results" / "aopc.csv", dtype={"fold": str})
    assert len(table) == len(summary)
    for row in table.itertuples():
        model = (row.backbone, row.loss)
        mean, sd, n = summary[(model, row.analyzer, row.fold, row.order)]
        random_mean = summary[(model, row.analyzer, row.fold, "random")][0]
        assert row.n_images == n
        assert row.aopc_mean == pytest.approx(mean, abs=1e-4)
        assert row.aopc_sd == pytest.approx(sd, abs=1e-4)
        assert row.aopc_minus_random == pytest.approx(mean - random_mean, abs=2e-4)
    # Not all zero: the gap to the random order is a number, not a formality.
    assert table.query("order == 'morf'")["aopc_minus_random"].abs().max() > 1e-3
    for backbone, loss in MODELS:
        for analyzer in ANALYZERS:
            pair = pd.read_csv(
                local_run / f"results/aopc/{backbone}/{loss}/{analyzer}.csv",
                dtype={"image_id": str},
            )
            assert len(pair) == CONFIG["dataset"]["n_images"] * len(
                CONFIG["perturbation"]["orders"]
            )
            for row in pair.itertuples():
                model = (row.backbone, row.loss)
                key = (model, row.analyzer, str(row.fold), row.image_id, row.order)
                assert row.aopc == pytest.approx(per_image[key], abs=1e-9)


def test_table1_values_and_best_analyzer(local_run):
    """Table 1 = MoRF AOPC over all folds; best = the lowest after sorting, random skipped."""
    _, summary = aopc_by_loops(local_run)
    table = pd.read_csv(local_run / "results" / "aopc_table.csv")
    assert list(zip(table["backbone"], table["loss"], strict=True)) == MODELS
    assert table.columns.tolist() == ["backbone", "loss", *ANALYZERS, "best_analyzer"]
    for row in table.to_dict("records"):
        model = (row["backbone"], row["loss"])
        for analyzer in ANALYZERS:
            expected = summary[(model, analyzer, "all", "morf")][0]
            assert row[analyzer] == pytest.approx(expected, abs=1e-4)
        ranked = sorted(ANALYZERS, key=lambda a: summary[(model, a, "all", "morf")][0])
        assert row["best_analyzer"] == next(a for a in ranked if a != "random")


def test_faithfulness_table_recomputed_from_the_raw_shard_rows(local_run):
    """Every imputation x measure's MoRF/LeRF AOPC and its gap to random by loops; the
    Wilcoxon p from scipy on the loops' per-image values; ranks by sorting."""
    from scipy.stats import wilcoxon

    table = pd.read_csv(local_run / "results" / "faithfulness.csv")
    assert len(table) == len(MODELS) * len(ANALYZERS) * len(IMPUTATIONS) * 2
    for (imputation, measure), rows in table.groupby(["imputation", "measure"]):
        per_image, summary = aopc_by_loops(local_run, imputation, measure)
        for row in rows.itertuples():
            model = (row.backbone, row.loss)
            morf = summary[(model, row.analyzer, "all", "morf")][0]
            random = summary[(model, row.analyzer, "all", "random")][0]
            lerf = summary[(model, row.analyzer, "all", "lerf")][0]
            assert row.aopc_morf == pytest.approx(morf, abs=1e-4)
            assert row.morf_minus_lerf == pytest.approx(morf - lerf, abs=2e-4)
            assert row.aopc_minus_random == pytest.approx(morf - random, abs=2e-4)
            d = [
                value - per_image[(*key[:-1], "random")]
                for key, value in per_image.items()
                if key[:2] == (model, row.analyzer) and key[-1] == "morf"
            ]
            d = [x for x in d if abs(x) > 1e-9]
            p = wilcoxon(d).pvalue if d else 1.0
            assert row.p_vs_random == pytest.approx(p, rel=1e-3)
            assert row.p_vs_random_holm >= row.p_vs_random - 1e-12
        for _, model_rows in rows.groupby(["backbone", "loss"]):
            by_aopc = model_rows.sort_values("aopc_morf")
            assert by_aopc["rank"].is_monotonic_increasing
    agreement = pd.read_csv(local_run / "results" / "faithfulness_agreement.csv")
    assert set(zip(agreement["backbone"], agreement["loss"], strict=True)) == set(MODELS)
    assert (agreement["n_conditions"] == len(IMPUTATIONS) * 2).all()
    assert agreement["kendall_w"].between(0, 1).all()
    card = pd.read_csv(local_run / "results" / "scorecard.csv")
    beats = table.groupby(["backbone", "loss", "analyzer"])["beats_random"].all()
    flags = card.set_index(["backbone", "loss", "analyzer"])["faithful_across_imputations"]
    assert flags.sort_index().to_dict() == beats.sort_index().to_dict()


def curves_by_loops(run) -> dict[tuple, tuple[float, float, int]]:
    """(backbone/loss, analyzer, order, step) -> mean, sd, n over images of the per-image
    mean error."""
    per_image: dict[tuple, list[float]] = defaultdict(list)
    for row in read_rows(run):
        key = (f"{row['backbone']}/{row['loss']}", row["analyzer"], row["order"], int(row["step"]))
        per_image[(*key, row["fold"], row["image_id"])].append(float(row["error_px"]))
    groups: dict[tuple, list[float]] = defaultdict(list)
    for (*key, _, _), values in per_image.items():
        groups[tuple(key)].append(statistics.fmean(values))
    return {k: (statistics.fmean(v), statistics.stdev(v), len(v)) for k, v in groups.items()}


def test_perturbation_curves_and_figure_4(local_run, tmp_path):
    from hcxai.figures.inputs import with_model
    from hcxai.figures.plots import plot_perturbation_curves

    expected = curves_by_loops(local_run)
    table = pd.read_csv(local_run / "results" / "perturbation_curves.csv")
    assert len(table) == len(expected)
    for row in table.itertuples():
        mean, sd, n = expected[(f"{row.backbone}/{row.loss}", row.analyzer, row.order, row.step)]
        assert (row.error_mean, row.error_sd, row.n_images) == (
            pytest.approx(mean, abs=1e-4),
            pytest.approx(sd, abs=1e-4),
            n,
        )
    figure = plot_perturbation_curves(with_model(table), str(tmp_path / "fig4.png"))
    panels = {axis.get_title().split(":")[0].removeprefix("Reg-"): axis for axis in figure.axes}
    labels = [f"{b}/{loss}" for b, loss in MODELS]
    assert len(figure.axes) == len(MODELS) and sorted(panels) == sorted(labels)
    for model, axis in panels.items():
        lines = {line.get_label(): line for line in axis.get_lines()}
        assert sorted(lines) == sorted(ANALYZERS)
        for analyzer, line in lines.items():
            np.testing.assert_array_equal(line.get_xdata(), range(K + 1))
            np.testing.assert_allclose(
                line.get_ydata(),
                [expected[(model, analyzer, "morf", k)][0] for k in range(K + 1)],
                atol=1e-4,
            )
        assert len(axis.collections) == 1  # the random order's band


def test_mae_table_from_an_independent_forward_pass(local_run, forward, truth):
    mae = pd.read_csv(local_run / "results" / "mae_table.csv", dtype={"fold": str})
    for backbone, loss in MODELS:
        errors_px, errors_mm, differences = [], [], []
        for fold in FOLDS:
            ids = fold_test_ids(local_run, fold)
            predicted = forward[(backbone, loss, fold)][ids].to_numpy()
            true = truth.loc[ids, "hc_px"].to_numpy()
            errors_px += list(np.abs(predicted - true))
            errors_mm += list(np.abs(predicted - true) * truth.loc[ids, "pixel_size_mm"])
            differences += list(predicted - true)
        row = mae[(mae["backbone"] == backbone) & (mae["loss"] == loss) & (mae["fold"] == "all")]
        row = row.iloc[0]
        assert row["n_test"] == len(errors_px) == CONFIG["dataset"]["n_images"]
        assert row["mae_px"] == pytest.approx(statistics.fmean(errors_px), abs=0.01)
        assert row["sd_px"] == pytest.approx(statistics.stdev(errors_px), abs=0.01)
        assert row["mae_mm"] == pytest.approx(statistics.fmean(errors_mm), abs=0.01)
        assert row["ba_mean_diff_px"] == pytest.approx(statistics.fmean(differences), abs=0.01)


FIGURES = (
    "hc_bland_altman",
    "saliency_comparison",
    "saliency_best_worst",
    "perturbation_curves",
    "perturbation_process",
    "loss_comparison",
    "faithfulness_ranks",
)


@pytest.mark.parametrize("name", FIGURES)
def test_figure_files_hold_a_drawing(local_run, name):
    """Decoded, each PNG is a sizeable image with many colours, and ink on over 2% of it
    (a blank figure has one colour and none; the sparsest real one, hc_bland_altman, 5%)."""
    with Image.open(local_run / "results" / "figures" / f"{name}.png") as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    assert width >= 400 and height >= 300
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
    ink = (np.abs(pixels - 255).sum(axis=-1) > 30).mean()  # not near-white
    assert ink > 0.02, f"{name}: {ink:.1%} of the pixels are drawn"


def saliency_files(run, fold=None, analyzer=None):
    """SaliencyFile objects keyed by (backbone, loss, fold, analyzer)."""
    from hcxai.explain.saliency_file import read_saliency

    return {
        (b, loss, f, a): read_saliency(run / f"results/saliency/{b}/{loss}/fold{f}/{a}.h5")
        for b, loss in MODELS
        for f in FOLDS
        for a in ANALYZERS
        if (fold is None or f == fold) and (analyzer is None or a == analyzer)
    }


def dataset_images(run) -> dict[str, np.ndarray]:
    with h5py.File(run / f"resources/dataset_{SIZE}.h5") as h5:
        return dict(zip([s.decode() for s in h5["image_id"][:]], h5["images"][:], strict=True))


def test_figure_2_panels_show_each_images_prediction(local_run, forward, truth, tmp_path):
    """One panel per model x image x (image + analyzers); P and T are the oracle's numbers."""
    from hcxai.figures.plots import plot_saliency_comparison

    maps = {(f"{b}/{loss}", a): f for (b, loss, _, a), f in saliency_files(local_run, 0).items()}
    ids = fold_test_ids(local_run, 0)[:2]
    figure = plot_saliency_comparison(maps, dataset_images(local_run), ids, str(tmp_path / "f.png"))
    assert len(figure.axes) == len(ids) * len(MODELS) * (len(ANALYZERS) + 1)
    titles = [axis.get_title() for axis in figure.axes]
    panels = [(b, loss, i) for i in ids for b, loss in MODELS]
    for row, (backbone, loss, image_id) in enumerate(panels):
        first, *rest = titles[row * (len(ANALYZERS) + 1) : (row + 1) * (len(ANALYZERS) + 1)]
        assert f"{backbone}/{loss}" in first and image_id in first
        for title, analyzer in zip(rest, ANALYZERS, strict=True):
            name, numbers = title.split("\n")
            _, predicted, _, true = numbers.split()
            assert name == analyzer
            assert abs(float(predicted) - forward[(backbone, loss, 0)][image_id]) <= 0.5 + 1e-6
            assert abs(float(true) - truth.loc[image_id, "hc_px"]) <= 0.5 + 1e-6


def test_figure_5_shows_the_best_and_worst_predicted_images(local_run, forward, truth, tmp_path):
    from hcxai.figures.plots import plot_best_worst

    n = 3
    by_model = defaultdict(list)
    for (b, loss, _, _), found in saliency_files(local_run, analyzer="input_x_gradient").items():
        by_model[f"{b}/{loss}"].append(found)
    figure = plot_best_worst(
        dict(by_model), dataset_images(local_run), "input_x_gradient", str(tmp_path / "f.png")
    )
    assert len(figure.axes) == len(MODELS) * 2 * n
    for row, (backbone, loss) in enumerate(MODELS):
        errors = sorted(
            abs(forward[(backbone, loss, fold)][i] - truth.loc[i, "hc_px"])
            for fold in FOLDS
            for i in fold_test_ids(local_run, fold)
        )
        shown = [
            float(axis.get_title().split("|err| ")[1].split(" px")[0])
            for axis in figure.axes[row * 2 * n : (row + 1) * 2 * n]
        ]
        np.testing.assert_allclose(shown, errors[:n] + errors[-n:], atol=0.5 + 1e-6)


def test_changing_one_analyzers_parameters_reruns_only_its_jobs(local_run, tmp_path):
    config = write_config(tmp_path / "c.yaml", analyzer_params={"random": {"seed": 8}})
    result = run_snakemake(local_run, config, "-n", "--cores", "1", "--quiet", "rules")
    counts = dict(
        line.split()
        for line in result.stdout.splitlines()
        if line.strip() and line.split()[-1].isdigit() and len(line.split()) == 2
    )
    assert counts["saliency"] == str(len(MODELS) * len(FOLDS))
    assert "train" not in counts
    assert counts["aopc_per_image"] == str(len(MODELS))


def dry_run_jobs(run, config) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run with `config` would run in `run`."""
    result = run_snakemake(run, config, "-n", "--cores", "1")
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
            jobs.append((rule, {}))
        elif line.strip().startswith("wildcards:") and jobs:
            pairs = line.split(":", 1)[1].split(",")
            jobs[-1][1].update(p.strip().split("=", 1) for p in pairs)
    return jobs


def test_changing_a_setting_of_one_loss_reruns_only_its_models_jobs(local_run, tmp_path):
    """huber_delta belongs to the Huber loss: the mae models and everything made from them
    stay; the Huber models, their maps and perturbation, and the summaries rerun."""
    assert "huber" in LOSSES and len(LOSSES) > 1
    config = write_config(tmp_path / "c.yaml", training={"huber_delta": 0.1})
    jobs = dry_run_jobs(local_run, config)
    per_model = [(rule, w) for rule, w in jobs if "loss" in w]
    assert {w["loss"] for _, w in per_model} == {"huber"}
    trained = sorted((w["backbone"], w["fold"]) for rule, w in per_model if rule == "train")
    assert trained == sorted((b, str(f)) for b in BACKBONES for f in FOLDS)
    saliency = [w for rule, w in per_model if rule == "saliency"]
    assert len(saliency) == len(BACKBONES) * len(FOLDS) * len(ANALYZERS)
    assert {"aopc_summary", "aopc_statistics", "scorecard", "figure"} <= {rule for rule, _ in jobs}


def test_a_saliency_file_from_another_model_is_refused(local_run, tmp_path):
    source = local_run / "results/saliency/vgg16/mae/fold0/gradient.h5"
    tampered = tmp_path / "gradient.h5"
    tampered.write_bytes(source.read_bytes())
    with h5py.File(tampered, "a") as h5:
        h5.attrs["model_sha256"] = "0" * 64
    files = {
        "input": {
            "model": str(local_run / "results/models/vgg16/mae/fold0/model.h5"),
            "saliency": str(tampered),
            "dataset": str(local_run / "resources/dataset_32.h5"),
        },
        "output": {"shard": str(tmp_path / "shard0.csv")},
        "wildcards": {
            **{"backbone": "vgg16", "loss": "mae", "fold": "0"},
            **{"analyzer": "gradient", "shard": "0"},
        },
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
        ({"metrics": ["gini"]}, "unknown metric 'gini' in `metrics`"),
        ({"robustness": {"fold": 3}}, "robustness.fold is 3 but the config has folds: 3"),
    ],
)
def test_bad_settings_stop_the_workflow_before_any_job(overrides, message, tmp_path):
    config = write_config(tmp_path / "c.yaml", **overrides)
    result = run_snakemake(tmp_path, config, "-n", "--cores", "1", check=False)
    assert result.returncode != 0 and message in result.stdout + result.stderr


def test_the_html_report_holds_every_table_and_figure(local_run, tmp_path):
    """`snakemake --report` on the finished run: one file that embeds what the README lists."""
    report = tmp_path / "report.html"
    run_snakemake(local_run, REPO / "config" / "test.yaml", "--report", str(report))
    text = report.read_text(errors="replace")
    for name in (
        "scorecard.csv",
        "aopc_table.csv",
        "aopc_stats.csv",
        "mae_table.csv",
        "localization.png",
        "sanity.png",
        "aopc_critical_difference.png",
        "saliency_comparison.png",
        "meta.csv",
        "error_explanation.csv",
        "loss_comparison.png",
        "faithfulness.csv",
        "faithfulness_agreement.csv",
        "faithfulness_ranks.png",
        "map_metrics.csv",
        "map_metrics.png",
    ):
        assert name in text, name


def test_every_evaluation_table_covers_every_model_and_analyzer(local_run):
    """Every backbone x loss x analyzer, and no other, in each per-analyzer table; every
    model in the per-model ones; one row per model x analyzer where that is the key."""
    expected = {(b, loss, a) for b, loss in MODELS for a in ANALYZERS}
    keys = ["backbone", "loss", "analyzer"]
    for table in (
        "scorecard.csv",
        "localization.csv",
        "meta.csv",
        "error_explanation.csv",
        "aopc_stats.csv",
        "aopc.csv",
        "sanity.csv",
        "faithfulness.csv",
    ):
        frame = pd.read_csv(local_run / "results" / table)
        assert set(frame[keys].itertuples(index=False, name=None)) == expected, table
        if table in ("scorecard.csv", "localization.csv", "error_explanation.csv"):
            assert not frame.duplicated(keys).any(), table
    for table in ("mae_table.csv", "aopc_friedman.csv", "ranking_agreement.csv"):
        frame = pd.read_csv(local_run / "results" / table)
        assert set(zip(frame["backbone"], frame["loss"], strict=True)) == set(MODELS), table
    pairwise = pd.read_csv(local_run / "results" / "aopc_pairwise.csv")
    per_model = pairwise.groupby(["backbone", "loss"]).size()
    assert (per_model == len(ANALYZERS) * (len(ANALYZERS) - 1) // 2).all()
    assert len(per_model) == len(MODELS)
    sanity = pd.read_csv(local_run / "results" / "sanity.csv")
    assert sorted(set(sanity["stage"])) == list(range(CONFIG["sanity"]["stages"] + 1))
    # The random map ignores the model: the check must flag it on every model.
    random = sanity[(sanity["analyzer"] == "random")]
    assert set(random["verdict"]) == {"fails"}
    # ... and the data-randomisation test too: its map is the same whatever the labels.
    assert set(random["data_randomisation_verdict"]) == {"fails"}
    # The fold the run really used (the schema's default when test.yaml does not say).
    effective = yaml.safe_load((local_run / "results/config.effective.yaml").read_text())
    for backbone, loss in MODELS:
        with open(
            local_run / f"results/models/{backbone}/{loss}/permuted_labels/metrics.json"
        ) as f:
            metrics = json.load(f)
        assert metrics["permuted_labels"] is True
        assert metrics["fold"] == effective["sanity"]["fold"]


def test_meta_explanations_cover_every_explained_image_with_its_error(local_run):
    for backbone, loss in MODELS:
        predictions = pd.concat(
            pd.read_csv(
                local_run / f"results/models/{backbone}/{loss}/fold{fold}/predictions.csv",
                dtype={"image_id": str},
            )
            for fold in FOLDS
        )
        test = predictions[predictions["role"] == "test"].set_index("image_id")
        for analyzer in ANALYZERS:
            table = pd.read_csv(
                local_run / f"results/meta/{backbone}/{loss}/{analyzer}.csv",
                dtype={"image_id": str},
            )
            assert sorted(table["image_id"]) == sorted(test.index)  # every test image, once
            expected = (test["hc_pred_px"] - test["hc_true_px"]).abs()
            np.testing.assert_allclose(
                table["abs_error_px"], expected.loc[table["image_id"]], rtol=1e-5
            )
            assert table["cluster"].min() == 0
            assert set(table["cluster"]) == set(range(table["cluster"].max() + 1))


def test_map_metrics_cover_every_model_metric_and_analyzer(local_run):
    """Every model x registered metric x analyzer, plus the model-free edge baseline; the
    scorecard carries each metric's columns."""
    effective = yaml.safe_load((local_run / "results/config.effective.yaml").read_text())
    metrics = effective["metrics"]
    assert len(metrics) >= 3  # left out of test.yaml: every registered metric
    summary = pd.read_csv(local_run / "results/map_metrics.csv")
    expected = {
        (b, loss, m, a) for b, loss in MODELS for m in metrics for a in [*ANALYZERS, "edge"]
    }
    keys = ["backbone", "loss", "metric", "analyzer"]
    assert set(summary[keys].itertuples(index=False, name=None)) == expected
    assert not summary.duplicated(keys).any()
    card = pd.read_csv(local_run / "results/scorecard.csv")
    for metric in metrics:
        for column in (metric, f"{metric}_ci_low", f"{metric}_better_than_edge"):
            assert column in card.columns, column


def test_sparseness_recomputed_from_the_saliency_files(local_run):
    """Gini sparseness of every explained image's |map|, by the mean absolute difference
    over all pixel pairs (another formula than the workflow's sorted sum)."""
    for backbone, loss in MODELS:
        scores = pd.read_csv(
            local_run / f"results/metrics/{backbone}/{loss}/sparseness.csv", dtype={"image_id": str}
        ).set_index(["analyzer", "image_id"])["score"]
        for (b, model_loss, _, analyzer), maps in saliency_files(local_run).items():
            if (b, model_loss) != (backbone, loss):
                continue
            for image_id, one in zip(maps.image_ids, maps.maps, strict=True):
                a = np.abs(one.astype(np.float64).ravel())
                gini = np.abs(a[:, None] - a[None, :]).sum() / (2 * len(a) ** 2 * a.mean())
                assert scores[(analyzer, image_id)] == pytest.approx(gini, rel=1e-4)


def test_max_sensitivity_recomputed_from_the_robustness_files(local_run):
    """max_k ||m(x + d_k) - m(x)|| / ||m(x)|| with explicit loops; the random map ignores its
    input, so its maps do not move at all."""
    settings = CONFIG["robustness"]
    for backbone, loss in MODELS:
        scores = pd.read_csv(
            local_run / f"results/metrics/{backbone}/{loss}/max_sensitivity.csv",
            dtype={"image_id": str},
        ).set_index(["analyzer", "image_id"])["score"]
        for analyzer in ANALYZERS:
            path = local_run / f"results/robustness/{backbone}/{loss}/{analyzer}.h5"
            with h5py.File(path) as h5:
                ids = [s.decode() for s in h5["image_ids"][:]]
                maps, perturbed = h5["maps"][:], h5["perturbed_maps"][:]
            assert len(ids) == settings["n_images"] and perturbed.shape[1] == settings["samples"]
            for i, image_id in enumerate(ids):
                change = max(
                    np.sqrt(((perturbed[i, k] - maps[i]).astype(np.float64) ** 2).sum())
                    for k in range(settings["samples"])
                )
                expected = change / np.sqrt((maps[i].astype(np.float64) ** 2).sum())
                assert scores[(analyzer, image_id)] == pytest.approx(expected, rel=1e-4)
                if analyzer == "random":
                    assert expected == 0.0


def test_changing_the_robustness_radius_reruns_only_the_robustness_jobs(local_run, tmp_path):
    config = write_config(tmp_path / "c.yaml", robustness={**CONFIG["robustness"], "radius": 0.3})
    rules = {rule for rule, _ in dry_run_jobs(local_run, config)}
    assert "robustness_maps" in rules and "map_metric" in rules
    assert not rules & {"train", "saliency", "perturb", "random_order", "sanity_maps"}
    jobs = [w for rule, w in dry_run_jobs(local_run, config) if rule == "map_metric"]
    robustness = {"max_sensitivity", "avg_sensitivity"}
    assert {w["metric"] for w in jobs} == robustness & set(METRICS)


def test_every_table_has_the_columns_its_catalogue_entry_declares(local_run):
    """Each result table the run wrote carries its schema's columns (hcxai.core.catalogue)."""
    from hcxai.core.catalogue import RESULTS, columns

    values = {"analyzer": "|".join(ANALYZERS), "backbone": "|".join(BACKBONES)}
    values |= {"loss": "|".join(LOSSES), "fold": r"\d+", "shard": r"\d+", "metric": r"\w+"}
    checked = 0
    for name, entry in RESULTS.items():
        if entry.columns is None:
            continue
        pattern = re.escape(entry.path).replace(r"\{", "{").replace(r"\}", "}")
        regex = re.sub(r"{(\w+)}", lambda m: f"({values[m.group(1)]})", pattern)
        files = [
            p
            for p in local_run.rglob("*.csv")
            if re.fullmatch(regex, str(p.relative_to(local_run)))
        ]
        assert files, name
        for path in files[:3]:
            header = pd.read_csv(path, nrows=0).columns
            assert set(columns(name)) <= set(header), (name, path)
            checked += 1
    assert checked > 20
