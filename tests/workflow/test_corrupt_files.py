"""A damaged file at every stage boundary stops its reader with one InputError.

Oracle: the damage planted here. Every file a stage hands the next is built with
the project's own NumPy-side writers from six phantoms (no TensorFlow, no
Snakemake), then one file is truncated, overwritten with garbage, or loses a
column/dataset, gets a wrong shape, a NaN or ids that do not match; the real
reader of the next stage must raise an InputError naming that file and the
rebuild, and write nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from hcxai.core.io import InputError
from hcxai.data.hc18 import ingest, load_dataset, network_input
from hcxai.data.splits import fold_ids, make_splits, read_splits, write_splits
from hcxai.evaluate.faithfulness import aopc
from hcxai.evaluate.faithfulness.across_imputations import write_faithfulness
from hcxai.evaluate.faithfulness.aopc_statistics import write_statistics
from hcxai.evaluate.faithfulness.perturbation import (
    CURVE_COLUMNS,
    MEASURES,
    RANDOM_ORDER_COLUMNS,
    SHARD_COLUMNS,
    Settings,
    perturbation_curves,
    read_random_order,
)
from hcxai.evaluate.localization import skull as localization
from hcxai.evaluate.meta import spray as meta
from hcxai.evaluate.randomisation import similarity as sanity_metrics
from hcxai.evaluate.randomisation.maps_file import SanityMaps, write_sanity_maps
from hcxai.evaluate.scorecard import write_scorecard
from hcxai.explain.saliency_file import SaliencyFile, write_saliency
from hcxai.figures.inputs import write_critical_difference_figure
from hcxai.models.accuracy import write_mae_table
from hcxai.models.training import fold_metrics, load_fold, predictions_table, read_predictions_file

ANALYZERS = ("gradient", "input_x_gradient", "random")
SETTINGS = Settings(
    subwindow=8,
    steps=4,
    rank_by="sum",
    kind="gaussian",
    mode="add",
    std=1.0,
    orders=("morf", "lerf", "random"),
    random_repeats=2,
    seed=1,
    imputations=("gaussian_add",),
)
STATISTICS = {"bootstrap_samples": 200, "confidence": 0.95, "seed": 1}
FOLD0 = "results/models/vgg16/mae/fold0"
# Fold 0's test images of the six phantoms (000_HC ... 005_HC) split 3 ways with seed 3.
FIRST, SECOND = fold_ids(make_splits([f"{i:03d}_HC" for i in range(6)], 3, 3), 0, "test")
DATASET, SPLITS = "resources/dataset_32.h5", "results/splits.csv"


def saliency(a: str) -> str:
    return f"results/saliency/vgg16/mae/fold0/{a}.h5"


def shard(a: str, k: int) -> str:
    return f"results/perturbation/vgg16/mae/fold0/{a}/shard{k}.csv"


def pair(a: str) -> str:
    return f"results/aopc/vgg16/mae/{a}.csv"


def curves_per_analyzer(a: str) -> str:
    return f"results/curves/vgg16/mae/{a}.csv"


def aopc_per_imputation(a: str) -> str:
    return f"results/faithfulness/vgg16/mae/{a}.csv"


def scores(a: str) -> str:
    return f"results/localization/vgg16/mae/fold0/{a}.csv"


def sanity(a: str, suffix: str) -> str:
    return f"results/sanity/vgg16/mae/{a}.{suffix}"


def meta_table(a: str) -> str:
    return f"results/meta/vgg16/mae/{a}.csv"


META_STABILITY = "results/meta/vgg16/mae/stability.csv"


def predict(batch: np.ndarray) -> np.ndarray:
    """A stand-in network: HC in px from the mean intensity of the input."""
    return 150.0 + 10.0 * batch[..., 0].mean(axis=(1, 2)).astype(np.float64)


def scored_curves(
    x: np.ndarray, true: np.ndarray, maps: np.ndarray, ids: list[str], settings: Settings
) -> pd.DataFrame:
    """Both measures under every scored imputation, as a perturb job writes them."""
    frames = [
        perturbation_curves(predict, x, true, maps, ids, settings, imputation, MEASURES)[0].assign(
            imputation=name
        )
        for name, imputation in settings.scored_imputations().items()
    ]
    return pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]


class LinearModel:
    """What `predict_hc_px` needs of a Keras model, without TensorFlow."""

    def predict(self, x: np.ndarray, batch_size: int, verbose: int) -> np.ndarray:
        return (predict(x) / 1000.0)[:, np.newaxis]


def build_training_stage(phantoms: Path, root: Path) -> None:
    """dataset, splits, and fold 0's predictions.csv + metrics.json."""
    ingest(phantoms, root / DATASET, image_size=32, source="phantom")
    write_splits(str(root / DATASET), str(root / SPLITS), folds=3, seed=3)
    assert fold_ids(read_splits(root / SPLITS), 0, "test") == [FIRST, SECOND]
    fold = load_fold(str(root / DATASET), str(root / SPLITS), 0)
    predictions = predictions_table(LinearModel(), fold)
    history = pd.DataFrame({"epoch": [1], "loss": [0.1], "val_mae_px": [5.0]})
    metrics = {
        "backbone": "vgg16",
        "loss": "mae",
        "fold": 0,
        **fold_metrics(fold, predictions, history, 1),
    }
    (root / FOLD0).mkdir(parents=True)
    predictions.to_csv(root / FOLD0 / "predictions.csv", index=False)
    (root / FOLD0 / "metrics.json").write_text(json.dumps(metrics))


def build_perturbation_stage(root: Path) -> None:
    """Saliency files, the random-order and analyzer shards (one image each), pair files."""
    ids = [FIRST, SECOND]
    data = load_dataset(root / DATASET)
    index = data.index_of(ids)
    x, true = network_input(data.images[index]), data.hc_px[index]
    rng = np.random.default_rng(5)
    for a in ANALYZERS:
        maps = rng.standard_normal((len(ids), 32, 32)).astype(np.float32)
        attributes = {"analyzer": a, "backbone": "vgg16", "loss": "mae", "fold": 0}
        attributes["model_sha256"] = "0" * 64
        write_saliency(root / saliency(a), SaliencyFile(maps, ids, true, true + 1, attributes))
        for k, image_id in enumerate(ids):
            own = replace(SETTINGS, orders=("morf", "lerf"))
            curves = scored_curves(x[[k]], true[[k]], maps[[k]], [image_id], own)
            random_path = root / shard("random_order", k)
            if not random_path.exists():
                random_only = replace(SETTINGS, orders=("random",))
                baseline = scored_curves(x[[k]], true[[k]], maps[[k]], [image_id], random_only)
                random_path.parent.mkdir(parents=True, exist_ok=True)
                frame = baseline.assign(backbone="vgg16", loss="mae", fold=0)[RANDOM_ORDER_COLUMNS]
                frame.to_csv(random_path, index=False)
            baseline = read_random_order(str(random_path), [image_id], SETTINGS, "shard")
            rows = pd.concat([curves, baseline[CURVE_COLUMNS]], ignore_index=True)
            (root / shard(a, k)).parent.mkdir(parents=True, exist_ok=True)
            rows = rows.assign(backbone="vgg16", loss="mae", fold=0, analyzer=a)[SHARD_COLUMNS]
            rows.to_csv(root / shard(a, k), index=False)
        shards = [str(root / shard(a, k)) for k in range(len(ids))]
        aopc.write_per_image(
            shards,
            str(root / pair(a)),
            str(root / curves_per_analyzer(a)),
            str(root / aopc_per_imputation(a)),
            list(SETTINGS.imputations),
        )


def build_summary_stages(root: Path) -> None:
    """AOPC statistics, localization, sanity and faithfulness tables: the scorecard's inputs."""
    ids = [FIRST, SECOND]
    write_statistics(
        [str(root / pair(a)) for a in ANALYZERS],
        root / "results/aopc_stats.csv",
        root / "results/aopc_pairwise.csv",
        root / "results/aopc_friedman.csv",
        alpha=0.05,
        **STATISTICS,
    )
    write_faithfulness(
        [str(root / aopc_per_imputation(a)) for a in ANALYZERS],
        root / "results/faithfulness.csv",
        root / "results/faithfulness_agreement.csv",
        root / "results/faithfulness_tau.csv",
        alpha=0.05,
        **STATISTICS,
    )
    rng = np.random.default_rng(6)
    for a in ANALYZERS:
        localization.write_localization(
            str(root / saliency(a)), str(root / DATASET), 2.0, str(root / scores(a)),
            "vgg16", "mae", "0", a,
        )  # fmt: skip
        maps = rng.standard_normal((3, len(ids), 32, 32)).astype(np.float32)
        attributes = {"analyzer": a, "backbone": "vgg16", "loss": "mae", "params": {}}
        attributes["layers"] = ["c1", "hc"]
        stages = [[], ["hc"], ["hc", "c1"]]
        write_sanity_maps(
            root / sanity(a, "h5"), SanityMaps(maps, ids, stages, attributes, maps[-1])
        )
        sanity_metrics.write_stage_similarity(
            root / sanity(a, "h5"), root / DATASET, root / sanity(a, "csv"), STATISTICS, 2.0
        )
    localization.write_summary(
        [str(root / scores(a)) for a in ANALYZERS], str(root / "results/localization.csv"),
        0.95, 200, 1,
    )  # fmt: skip
    sanity_metrics.write_summary(
        [root / sanity(a, "csv") for a in ANALYZERS], root / "results/sanity.csv"
    )
    # SpRAy's per-image tables and stability rows, as rule meta_explanation writes them
    # (SpRAy itself needs more than two maps).
    (root / META_STABILITY).parent.mkdir(parents=True)
    model = {"backbone": "vgg16", "loss": "mae"}
    for a in ANALYZERS:
        table = pd.DataFrame({**model, "analyzer": a, "fold": 0, "image_id": ids, "cluster": 0})
        table.assign(tsne_x=0.0, tsne_y=1.0, abs_error_px=[2.0, 3.0]).to_csv(
            root / meta_table(a), index=False
        )
    stability = {"stability_subsamples": 20, "stability_ari_mean": 1.0}
    pd.DataFrame(
        {**model, "analyzer": ANALYZERS, **stability, "stability_same_k_share": 1.0}
    ).to_csv(root / META_STABILITY, index=False)


@pytest.fixture(scope="module")
def pristine(phantom_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every stage's files of one tiny run, intact (treat as read-only)."""
    root = tmp_path_factory.mktemp("pristine") / "run"
    build_training_stage(phantom_root, root)
    build_perturbation_stage(root)
    build_summary_stages(root)
    return root


# --- the readers: each stage's real entry point, writing into `out` ----------------------


def read_as_split(root: Path, out: Path) -> None:
    write_splits(str(root / DATASET), str(out / "splits.csv"), folds=3, seed=3)


def read_as_training(root: Path, out: Path) -> None:
    load_fold(str(root / DATASET), str(root / SPLITS), 0)


def read_as_saliency_and_mae(root: Path, out: Path) -> None:
    read_predictions_file(str(root / FOLD0 / "predictions.csv"), [FIRST, SECOND])
    write_mae_table(
        [str(root / FOLD0 / "predictions.csv")],
        [str(root / FOLD0 / "metrics.json")],
        str(out / "mae_table.csv"),
    )


def read_as_localization(root: Path, out: Path) -> None:
    localization.write_localization(
        str(root / saliency("gradient")), str(root / DATASET), 2.0, str(out / "scores.csv"),
        "vgg16", "mae", "0", "gradient",
    )  # fmt: skip


def read_as_perturb(root: Path, out: Path) -> None:
    read_random_order(str(root / shard("random_order", 0)), [FIRST], SETTINGS, "shard 0")


def read_as_aopc_pair(root: Path, out: Path) -> None:
    shards = [str(root / shard("gradient", k)) for k in (0, 1)]
    aopc.write_per_image(
        shards,
        str(out / "aopc.csv"),
        str(out / "curves.csv"),
        str(out / "imputations.csv"),
        list(SETTINGS.imputations),
    )


def read_as_aopc_summary(root: Path, out: Path) -> None:
    aopc.write_summary(
        [str(root / pair(a)) for a in ANALYZERS],
        [str(root / curves_per_analyzer(a)) for a in ANALYZERS],
        str(out / "aopc.csv"),
        str(out / "table.csv"),
        str(out / "curves.csv"),
    )


def read_as_localization_summary(root: Path, out: Path) -> None:
    files = [str(root / scores(a)) for a in ANALYZERS]
    localization.write_summary(files, str(out / "localization.csv"), 0.95, 200, 1)


def read_as_sanity_similarity(root: Path, out: Path) -> None:
    sanity_metrics.write_stage_similarity(
        root / sanity("gradient", "h5"), root / DATASET, out / "pair.csv", STATISTICS, 2.0
    )


def read_as_sanity_summary(root: Path, out: Path) -> None:
    files = [root / sanity(a, "csv") for a in ANALYZERS]
    sanity_metrics.write_summary(files, out / "sanity.csv")


def read_as_scorecard(root: Path, out: Path) -> None:
    write_scorecard(
        str(root / "results/aopc_stats.csv"),
        str(root / "results/localization.csv"),
        str(root / "results/sanity.csv"),
        str(root / "results/faithfulness.csv"),
        [str(root / pair(a)) for a in ANALYZERS],
        [str(root / aopc_per_imputation(a)) for a in ANALYZERS],
        [str(root / scores(a)) for a in ANALYZERS],
        str(out / "scorecard.csv"),
        str(out / "agreement.csv"),
        alpha=0.05,
        **STATISTICS,
    )


def read_as_meta_summary(root: Path, out: Path) -> None:
    tables = [str(root / meta_table(a)) for a in ANALYZERS]
    meta.write_meta_summary(tables, [str(root / META_STABILITY)], str(out / "meta.csv"), 0.05)


def read_as_figure(root: Path, out: Path) -> None:
    write_critical_difference_figure(
        str(root / "results/aopc_stats.csv"),
        str(root / "results/aopc_pairwise.csv"),
        0.05,
        str(out / "cd.png"),
    )


@dataclass(frozen=True)
class Kind:
    """A file one stage writes and another reads: where it is and who reads it."""

    name: str
    path: str
    read: Callable[[Path, Path], None]


KINDS = {
    kind.name: kind
    for kind in (
        Kind("dataset", DATASET, read_as_split),
        Kind("splits", SPLITS, read_as_training),
        Kind("predictions", f"{FOLD0}/predictions.csv", read_as_saliency_and_mae),
        Kind("metrics", f"{FOLD0}/metrics.json", read_as_saliency_and_mae),
        Kind("saliency", saliency("gradient"), read_as_localization),
        Kind("random_order", shard("random_order", 0), read_as_perturb),
        Kind("shard", shard("gradient", 1), read_as_aopc_pair),
        Kind("aopc_per_image", pair("input_x_gradient"), read_as_aopc_summary),
        Kind("curves_per_analyzer", curves_per_analyzer("input_x_gradient"), read_as_aopc_summary),
        Kind("localization_scores", scores("input_x_gradient"), read_as_localization_summary),
        Kind("sanity_maps", sanity("gradient", "h5"), read_as_sanity_similarity),
        Kind("sanity_pair", sanity("input_x_gradient", "csv"), read_as_sanity_summary),
        Kind("aopc_stats", "results/aopc_stats.csv", read_as_scorecard),
        Kind("localization_summary", "results/localization.csv", read_as_scorecard),
        Kind("sanity_summary", "results/sanity.csv", read_as_scorecard),
        Kind("aopc_pairwise", "results/aopc_pairwise.csv", read_as_figure),
        Kind("meta_table", meta_table("random"), read_as_meta_summary),
        Kind("meta_stability", META_STABILITY, read_as_meta_summary),
    )
}


# --- the damage ------------------------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def cut_in_last_value(path: Path) -> None:
    """The last value loses its final digit and the line end: it still parses, as the wrong
    number."""
    path.write_bytes(path.read_bytes()[:-2])


def garbage(path: Path) -> None:
    """Random bytes, ending in a line end as a whole table would (the parser must see it)."""
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size - 1) + b"\n")


def edit_csv(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    """Rewrite a CSV through `change`, every cell kept as its text."""

    def damage(path: Path) -> None:
        change(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False)

    return damage


def drop_column(name: str) -> Callable[[Path], None]:
    return edit_csv(lambda frame: frame.drop(columns=name))


def blank(name: str) -> Callable[[Path], None]:
    """The first row's `name` empty: NaN to pandas."""

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, name] = ""
        return frame

    return edit_csv(change)


def extra_field(path: Path) -> None:
    """The first data line one field longer than the header."""
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].rstrip("\n") + ",1\n"
    path.write_text("".join(lines))


def edit_h5(change: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as h5:
            change(h5)

    return damage


def remove(name: str) -> Callable[[Path], None]:
    return edit_h5(lambda h5: h5.__delitem__(name))


def reshape(name: str, make: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def change(h5: h5py.File) -> None:
        old, dtype = h5[name][:], h5[name].dtype
        del h5[name]
        h5.create_dataset(name, data=make(old), dtype=dtype)

    return edit_h5(change)


def set_nan(name: str, where: tuple[int, ...]) -> Callable[[Path], None]:
    def change(h5: h5py.File) -> None:
        h5[name][where] = np.nan

    return edit_h5(change)


def rename_ids(name: str, make: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return reshape(name, lambda old: np.array(make([s.decode() for s in old]), dtype=object))


def rename_in_csv(column: str, old: str, new: str) -> Callable[[Path], None]:
    return edit_csv(lambda frame: frame.replace({column: {old: new}}))


def first_row_twice(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[0]]], ignore_index=True)


def json_edit(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return damage


CSV_DAMAGE = {  # kind: (column to drop, column to blank, the mismatched-ids damage)
    "splits": ("role", "fold", rename_in_csv("image_id", FIRST, "999_HC")),
    "predictions": ("hc_pred_px", "hc_pred_px", edit_csv(lambda f: f[f["role"] == "val"])),
    "random_order": ("error_px", "error_px", rename_in_csv("image_id", FIRST, SECOND)),
    "shard": ("step", "error_px", rename_in_csv("image_id", SECOND, FIRST)),
    "aopc_per_image": ("aopc", "aopc", edit_csv(lambda f: f[f["image_id"] != FIRST])),
    "curves_per_analyzer": (
        "error_mean",
        "error_mean",
        rename_in_csv("analyzer", "input_x_gradient", "gradient"),
    ),
    "localization_scores": ("skull_focus", "band_share", edit_csv(first_row_twice)),
    "sanity_pair": ("spearman_abs_mean", "stage", edit_csv(first_row_twice)),
    "aopc_stats": ("aopc_mean", "aopc_mean", edit_csv(first_row_twice)),
    "localization_summary": (
        "skull_focus_mean",
        "n_images",
        rename_in_csv("analyzer", "random", "lrp"),
    ),
    "sanity_summary": ("verdict", "stage", rename_in_csv("analyzer", "random", "lrp")),
    "aopc_pairwise": ("p_holm", "p", edit_csv(lambda f: f.assign(order="sideways"))),
    "meta_table": ("abs_error_px", "cluster", edit_csv(first_row_twice)),
    "meta_stability": (
        "stability_ari_mean",
        "stability_subsamples",
        rename_in_csv("analyzer", "random", "lrp"),
    ),
}
STEP_GAP = edit_csv(lambda frame: frame[frame["step"] != "2"])  # one step of every run lost

H5_DAMAGE = {  # kind: {corruption: damage}
    "dataset": {
        "missing_dataset": remove("ellipse_resized"),
        "wrong_shape": reshape("images", lambda old: old[:, :, :-1]),
        "nan": set_nan("hc_px", (0,)),
        "mismatched_ids": rename_ids("image_id", lambda ids: [ids[1], *ids[1:]]),
    },
    "saliency": {
        "missing_dataset": remove("hc_pred_px"),
        "wrong_shape": reshape("maps", lambda old: old[:, :, :-1]),
        "wrong_length": rename_ids("image_ids", lambda ids: ids[:1]),
        "nan": set_nan("maps", (0, 3, 4)),
        "mismatched_ids": rename_ids("image_ids", lambda ids: [f"x{i}" for i in ids]),
    },
    "sanity_maps": {
        "missing_dataset": remove("image_ids"),
        "wrong_shape": reshape("maps", lambda old: old[0]),
        "nan": set_nan("maps", (1, 0, 3, 4)),
        "mismatched_ids": rename_ids("image_ids", lambda ids: [ids[0]] * len(ids)),
        "missing_permuted_label_maps": remove("permuted_label_maps"),
        "permuted_label_maps_wrong_shape": reshape("permuted_label_maps", lambda old: old[:-1]),
        "permuted_label_maps_nan": set_nan("permuted_label_maps", (0, 3, 4)),
    },
}
JSON_DAMAGE = {
    "missing_key": json_edit(lambda metrics: {k: v for k, v in metrics.items() if k != "n_test"}),
    "wrong_shape": json_edit(lambda metrics: list(metrics.values())),
    "nan": json_edit(lambda metrics: metrics | {"baseline_mae_px": float("nan")}),
}


def cases() -> list:
    """(kind, corruption, damage) for every file kind."""
    found = []
    for name in KINDS:
        found += [(name, "truncated", truncate), (name, "garbage", garbage)]
    for name, (column, value, ids) in CSV_DAMAGE.items():
        found += [
            (name, "missing_column", drop_column(column)),
            (name, "wrong_shape", extra_field),
            (name, "nan", blank(value)),
            (name, "mismatched_ids", ids),
            (name, "cut_in_last_value", cut_in_last_value),
        ]
    found += [(name, "missing_step", STEP_GAP) for name in ("random_order", "shard")]
    found += [(n, c, d) for n, damages in H5_DAMAGE.items() for c, d in damages.items()]
    found += [("metrics", c, d) for c, d in JSON_DAMAGE.items()]
    return [pytest.param(n, d, id=f"{n}-{c}") for n, c, d in found]


@pytest.fixture
def run(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the intact run, to damage."""
    root = tmp_path / "run"
    shutil.copytree(pristine, root)
    return root


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_reader_takes_the_intact_files(run: Path, tmp_path: Path, kind: str):
    out = tmp_path / "out"
    out.mkdir()
    KINDS[kind].read(run, out)


@pytest.mark.parametrize(("kind", "damage"), cases())
def test_a_damaged_file_is_one_input_error_naming_it_and_the_rebuild(
    run: Path, tmp_path: Path, kind: str, damage: Callable[[Path], None]
):
    target = run / KINDS[kind].path
    before = target.read_bytes()
    damage(target)
    assert target.read_bytes() != before  # the damage took
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as error:
        KINDS[kind].read(run, out)
    message = str(error.value)
    assert str(target) in message, message
    assert "rerun" in message or "rebuild" in message, message
    assert not list(out.iterdir()), "a reader of a damaged file wrote an output"
