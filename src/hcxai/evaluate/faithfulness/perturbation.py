"""Region perturbation (Samek et al. 2017) adapted to regression, section 2.2 of the paper.

The input is cut into a grid of `subwindow` x `subwindow` regions, ranked by
the summed relevance of an analyzer's map; step k perturbs the k first regions
of the ranking (MoRF: most relevant first). The error |prediction - true HC|
in px at the original resolution is recorded for steps 0 (the unperturbed
image) to K. How perturbed pixels are filled is an imputation
(`hcxai.evaluate.faithfulness.imputation`);
its random draws for an image come once from the (seed, image id) noise stream, so
they are the same for every analyzer and order: analyzers differ only in ranking.
The random order's rankings come from a stream of their own per repeat
(`hcxai.core.seeding`), shared by the analyzers and independent of the noise.

NumPy only, except `run_shard` which predicts with the model (TensorFlow).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from hcxai.core.io import InputError, atomic_output, damaged_file, read_table
from hcxai.core.keys import MODEL_COLUMNS
from hcxai.core.provenance import sha256
from hcxai.core.seeding import PERTURBATION_NOISE, RANDOM_ORDER, image_rng
from hcxai.data.hc18 import Dataset, load_dataset, network_input
from hcxai.data.splits import fold_ids, read_splits
from hcxai.evaluate.faithfulness.imputation import Imputation, Parameters, imputation_name, make
from hcxai.explain.saliency_file import check_fits, read_saliency
from hcxai.models.regression import check_image_size

log = logging.getLogger(__name__)

ORDERS = ("morf", "lerf", "random")
# What a curve measures at step k, from the same forward passes: the paper's error
# |f(x_k) - y| (Table 1) and the output change |f(x_k) - f(x_0)| (deletion, needs no
# label; Rong et al. 2022). Shard files carry both.
MEASURES = ("error_px", "output_change_px")

# A perturbation curve row; shard files add the job's model (backbone, loss), fold (and analyzer).
STEP_TABLE = {"image_id": "id", "order": ORDERS, "repeat": "int", "step": "int"}
CURVE_TABLE = {"imputation": "id", **STEP_TABLE, **dict.fromkeys(MEASURES, "number")}
SHARD_TABLE = {**MODEL_COLUMNS, "fold": "int", "analyzer": "id", **CURVE_TABLE}
RANDOM_ORDER_TABLE = {**MODEL_COLUMNS, "fold": "int", **CURVE_TABLE}
CURVE_COLUMNS, SHARD_COLUMNS = list(CURVE_TABLE), list(SHARD_TABLE)
RANDOM_ORDER_COLUMNS = list(RANDOM_ORDER_TABLE)

RANK_BY = ("sum", "abs_sum")


@dataclass(frozen=True)
class Settings:
    """The `perturbation` config block, as validated by the schema.

    No field has a default here: the schema (workflow/schemas/config.schema.yaml)
    is the one place that holds them, and a job gets the validated block.
    """

    subwindow: int
    steps: int
    rank_by: str
    kind: str
    mode: str
    std: float
    orders: tuple[str, ...]
    random_repeats: int
    seed: int
    # Every imputation a job scores: the `noise` block's first (Table 1's), then
    # `perturbation.imputations` (the comparison in `across_imputations`).
    imputations: tuple[str, ...]

    @staticmethod
    def from_config(block: dict[str, Any]) -> Settings:
        """From a schema-validated `perturbation` block (every key present)."""
        noise = block["noise"]
        table1 = imputation_name(noise["kind"], noise["mode"])
        return Settings(
            subwindow=block["subwindow"],
            steps=block["steps"],
            rank_by=block["rank_by"],
            kind=noise["kind"],
            mode=noise["mode"],
            std=noise["std"],
            orders=tuple(block["orders"]),
            random_repeats=block["random_repeats"],
            seed=block["seed"],
            imputations=tuple(dict.fromkeys([table1, *block["imputations"]])),
        )

    def check(self, image_size: int) -> int:
        """Fail before any work on a grid that does not fit; return the number of regions."""
        if image_size % self.subwindow:
            raise InputError(
                f"perturbation.subwindow {self.subwindow} does not divide image_size {image_size}; "
                f"choose a divisor (e.g. {image_size // 4} for the paper's 4x4 grid)"
            )
        regions = (image_size // self.subwindow) ** 2
        if self.steps > regions:
            raise InputError(
                f"perturbation.steps {self.steps} exceeds the {regions} regions of a "
                f"{image_size // self.subwindow}x{image_size // self.subwindow} grid; "
                f"use at most {regions}"
            )
        unknown = set(self.orders) - set(ORDERS)
        if unknown:
            raise InputError(f"perturbation.orders: unknown {sorted(unknown)}; use {ORDERS}")
        if self.rank_by not in RANK_BY:
            raise InputError(
                f"perturbation.rank_by {self.rank_by!r} is unknown; use one of {RANK_BY}"
            )
        imputation_name(self.kind, self.mode)
        self.scored_imputations()
        return regions

    def imputation(self) -> Imputation:
        """The imputation the `noise` block names (kind, and mode for the noise kinds)."""
        return make(
            imputation_name(self.kind, self.mode),
            Parameters(std=self.std, subwindow=self.subwindow),
            "perturbation.noise.kind",
        )

    def scored_imputations(self) -> dict[str, Imputation]:
        """Every imputation a job scores, by name, Table 1's first."""
        parameters = Parameters(std=self.std, subwindow=self.subwindow)
        return {
            name: make(name, parameters, "perturbation.imputations") for name in self.imputations
        }

    def runs(self) -> list[tuple[str, int]]:
        """(order, repeat) pairs: one for morf and lerf, random_repeats for random."""
        return [
            (o, r) for o in self.orders for r in range(self.random_repeats if o == "random" else 1)
        ]


def region_scores(maps: np.ndarray, subwindow: int, rank_by: str = "sum") -> np.ndarray:
    """Summed (or summed absolute) relevance per region: (N, s, s) -> (N, regions), row-major."""
    if rank_by not in RANK_BY:
        raise InputError(f"perturbation.rank_by {rank_by!r} is unknown; use one of {RANK_BY}")
    n, size, _ = maps.shape
    grid = size // subwindow
    values = np.abs(maps) if rank_by == "abs_sum" else maps
    blocks = values.reshape(n, grid, subwindow, grid, subwindow)
    return blocks.sum(axis=(2, 4)).reshape(n, grid * grid)


def ranking(scores: np.ndarray, order: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Region indices of one image, first perturbed first. Ties keep the grid order."""
    if order == "morf":
        return np.argsort(-scores, kind="stable")
    if order == "lerf":
        return np.argsort(scores, kind="stable")
    if order == "random":
        if rng is None:
            raise InputError("the random order needs a random generator (rng)")
        return rng.permutation(len(scores))
    raise InputError(f"perturbation.orders: {order!r} is unknown; use one of {ORDERS}")


def region_masks(size: int, subwindow: int) -> np.ndarray:
    """(regions, s, s) booleans, row-major like `region_scores`."""
    grid = size // subwindow
    masks = np.zeros((grid * grid, size, size), dtype=bool)
    for r in range(grid * grid):
        row, col = divmod(r, grid)
        masks[
            r, row * subwindow : (row + 1) * subwindow, col * subwindow : (col + 1) * subwindow
        ] = True
    return masks


def perturbed_areas(order: np.ndarray, masks: np.ndarray, steps: int) -> np.ndarray:
    """(K, s, s) booleans: what steps 1..K have perturbed, the first k regions of `order`."""
    return np.cumsum(masks[order[:steps]], axis=0) > 0


def perturbed_variants(
    x: np.ndarray,
    image_id: str,
    removed: np.ndarray,
    settings: Settings,
    imputation: Imputation | None = None,
) -> np.ndarray:
    """x (s, s, 3) with the pixels of each mask of `removed` (n, s, s) imputed: (n, s, s, 3).

    The imputation (default: the settings') draws once from the image's noise stream,
    whatever the masks: every analyzer and order of an image meets the same noise.
    """
    imputation = settings.imputation() if imputation is None else imputation
    return imputation(x, removed, image_rng(settings.seed, image_id, PERTURBATION_NOISE))


def shard_image_ids(test_ids: list[str], shard: int, images_per_job: int) -> list[str]:
    ids = test_ids[shard * images_per_job : (shard + 1) * images_per_job]
    if not ids:
        raise InputError(f"shard {shard} is past the {len(test_ids)} test images of this fold")
    return ids


def perturbation_curves(
    predict_hc_px: Any,
    x: np.ndarray,
    true: np.ndarray,
    maps: np.ndarray,
    image_ids: list[str],
    settings: Settings,
    imputation: Imputation | None = None,
    measures: tuple[str, ...] = ("error_px",),
) -> tuple[pd.DataFrame, int]:
    """The `measures` at steps 0..K of every (order, repeat) run of every image, and the
    pass count.

    The frame has the columns of `STEP_TABLE` and one per measure (by default
    `CURVE_COLUMNS`), a run's steps in order, runs image by image. `imputation` defaults
    to the settings' (a job may score several with one model). All variants go through
    `predict_hc_px` in one call (it batches), and step 0 is predicted once per image and
    shared by its runs; every measure comes from these predictions.
    """
    if not measures or not set(measures) <= set(MEASURES):
        raise InputError(f"measures {measures}: use one or more of {MEASURES}")
    imputation = settings.imputation() if imputation is None else imputation  # once per call
    size = x.shape[1]
    masks = region_masks(size, settings.subwindow)
    scores = region_scores(maps, settings.subwindow, settings.rank_by)
    batches, meta = [x], []
    for k, image_id in enumerate(image_ids):
        areas = []
        for order, repeat in settings.runs():
            rng = image_rng(settings.seed, image_id, RANDOM_ORDER, repeat)
            regions = ranking(scores[k], order, rng)
            areas.append(perturbed_areas(regions, masks, settings.steps))
            meta.append((k, image_id, order, repeat))
        removed = np.array(areas, dtype=bool).reshape(-1, size, size)
        batches.append(perturbed_variants(x[k], image_id, removed, settings, imputation))
    variants = np.concatenate(batches)
    predictions = predict_hc_px(variants)
    step0 = predictions[: len(image_ids)]
    runs = pd.DataFrame(meta, columns=["k", "image_id", "order", "repeat"])
    of_run = runs["k"].to_numpy(dtype=int)  # each run's image
    outputs = np.column_stack(
        [step0[of_run], predictions[len(image_ids) :].reshape(len(meta), settings.steps)]
    )
    reference = {"error_px": true, "output_change_px": step0}
    points = settings.steps + 1
    curves = runs.loc[runs.index.repeat(points), ["image_id", "order", "repeat"]].assign(
        step=np.tile(np.arange(points), len(runs)),
        **{m: np.abs(outputs - reference[m][of_run, np.newaxis]).ravel() for m in measures},
    )
    return curves.reset_index(drop=True)[[*STEP_TABLE, *measures]], len(variants)


def _load_inputs(
    model_path: str, dataset_path: str, data: Dataset, ids: list[str], settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs and true HC of `ids`; checks the grid and the model's input size."""
    size = data.images.shape[-1]
    settings.check(size)
    check_image_size(model_path, dataset_path, size)
    index = data.index_of(ids)
    return network_input(data.images[index]), data.hc_px[index]


def _model_curves(
    model_path: str,
    x: np.ndarray,
    true: np.ndarray,
    maps: np.ndarray | None,
    ids: list[str],
    settings: Settings,
    threads: int,
    label: str,
) -> pd.DataFrame:
    """`perturbation_curves` with the trained model (loaded once); logs the throughput."""
    from hcxai.models.regression import configure_tensorflow, load_model, predict_hc_px

    configure_tensorflow(threads, seed=0)
    model, attributes = load_model(model_path)
    scale = float(attributes["hc_scale_px"])

    if maps is None:  # random orders only: relevance plays no part
        maps = np.zeros(x.shape[:3], dtype=np.float32)
    frames = []
    for name, imputation in settings.scored_imputations().items():
        start = time.perf_counter()
        curves, passes = perturbation_curves(
            lambda batch: predict_hc_px(model, batch, scale, once=True),
            x,
            true,
            maps,
            ids,
            settings,
            imputation,
            MEASURES,
        )
        seconds = time.perf_counter() - start
        log.info(
            "%s, %s: %d images x %d runs x %d steps (%d regions): %d forward passes in %.1f s "
            "(%.0f images/s)",
            label,
            name,
            len(ids),
            len(settings.runs()),
            settings.steps,
            (x.shape[1] // settings.subwindow) ** 2,
            passes,
            seconds,
            passes / seconds,
        )
        frames.append(curves.assign(imputation=name))
    return pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]


def run_random_order_shard(
    model_path: str,
    dataset_path: str,
    splits_path: str,
    out_path: str,
    backbone: str,
    loss: str,
    fold: int,
    shard: int,
    images_per_job: int,
    max_images: int | None,
    settings: Settings,
    threads: int = 1,
) -> None:
    """The random-order baseline of one shard, written once and shared by every analyzer.

    A random ranking ignores the saliency map, and the noise depends only on
    the image, so its curves are the same for every analyzer: computing them
    per analyzer would repeat `random_repeats` runs of forward passes each time.
    """
    data = load_dataset(dataset_path)
    test_ids = fold_ids(read_splits(splits_path, data.image_id), fold, "test")[:max_images]
    ids = shard_image_ids(test_ids, shard, images_per_job)
    x, true = _load_inputs(model_path, dataset_path, data, ids, settings)
    random_only = replace(settings, orders=("random",))
    label = f"{backbone} {loss} random order fold {fold} shard {shard}"
    curves = _model_curves(model_path, x, true, None, ids, random_only, threads, label)
    with atomic_output(out_path) as tmp:
        curves.assign(backbone=backbone, loss=loss, fold=fold)[RANDOM_ORDER_COLUMNS].to_csv(
            tmp, index=False
        )


def read_random_order(path: str, ids: list[str], settings: Settings, shard: str) -> pd.DataFrame:
    """A random-order baseline file, checked against its shard: exactly its images, with
    every repeat and step of the current settings."""
    run = ["imputation", "image_id", "repeat", "step"]
    baseline = read_table(path, RANDOM_ORDER_TABLE, rule="random_order", unique=run)
    found = set(baseline[run].itertuples(index=False, name=None))
    runs = itertools.product(
        settings.imputations, ids, range(settings.random_repeats), range(settings.steps + 1)
    )
    if set(baseline["image_id"]) != set(ids):
        what = f"covers other images than {shard} (same splits and settings?)"
    elif found != set(runs) or set(baseline["order"]) != {"random"}:
        what = (
            f"lacks runs of {settings.random_repeats} repeat(s) x steps 0..{settings.steps} "
            f"x imputations {list(settings.imputations)}"
        )
    else:
        return baseline
    raise damaged_file(path, what, "random_order")


def _shard_maps(
    saliency_path: str,
    model_path: str,
    dataset_path: str,
    data: Dataset,
    shard: int,
    images_per_job: int,
) -> tuple[list[str], np.ndarray]:
    """The image ids and maps of one shard of a saliency file made by this model on this data."""
    maps_file = read_saliency(saliency_path)
    if maps_file.attributes.get("model_sha256") != sha256(model_path):
        raise damaged_file(
            saliency_path,
            f"was computed from another model than {model_path} (SHA-256 differs)",
            "saliency",
        )
    check_fits(maps_file, saliency_path, data.image_id, data.images.shape[-1], dataset_path)
    ids = shard_image_ids(maps_file.image_ids, shard, images_per_job)
    position = {image_id: k for k, image_id in enumerate(maps_file.image_ids)}
    return ids, maps_file.maps[[position[i] for i in ids]]


def run_shard(
    model_path: str,
    saliency_path: str,
    dataset_path: str,
    out_path: str,
    backbone: str,
    loss: str,
    fold: int,
    analyzer: str,
    shard: int,
    images_per_job: int,
    settings: Settings,
    random_order_path: str | None = None,
    threads: int = 1,
) -> None:
    """Perturb one shard of a fold's explained test images for one analyzer; write its rows.

    The analyzer's own orders (morf, lerf) are computed here; the random-order
    rows come from the shard's shared baseline file (`run_random_order_shard`).
    """
    data = load_dataset(dataset_path)
    ids, maps = _shard_maps(saliency_path, model_path, dataset_path, data, shard, images_per_job)
    x, true = _load_inputs(model_path, dataset_path, data, ids, settings)
    baseline = None
    if "random" in settings.orders:
        if not random_order_path:
            raise InputError("perturbation.orders has random but no random-order file was given")
        shard_name = f"shard {shard} of {saliency_path}"
        baseline = read_random_order(random_order_path, ids, settings, shard_name)
    own = replace(settings, orders=tuple(o for o in settings.orders if o != "random"))
    label = f"{backbone} {loss} {analyzer} fold {fold} shard {shard}"
    shard_rows = _model_curves(model_path, x, true, maps, ids, own, threads, label)
    if baseline is not None:
        shard_rows = pd.concat([shard_rows, baseline[CURVE_COLUMNS]], ignore_index=True)
    shard_rows = shard_rows.assign(backbone=backbone, loss=loss, fold=fold, analyzer=analyzer)
    with atomic_output(out_path) as tmp:
        shard_rows[SHARD_COLUMNS].to_csv(tmp, index=False)
