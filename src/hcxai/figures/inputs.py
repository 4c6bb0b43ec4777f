"""The figure stage: reads what the computing stages wrote and hands it to `hcxai.figures.plots`.

Drawing lives in `hcxai.figures.plots` only; this module only gathers its data
(workflow env, no TensorFlow).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from hcxai.core.io import damaged_file, read_table
from hcxai.core.keys import MODEL_KEYS, model_label
from hcxai.data.hc18 import Dataset, load_dataset, network_input
from hcxai.evaluate.faithfulness.aopc import CURVES_TABLE, read_shard
from hcxai.evaluate.faithfulness.aopc_statistics import PAIRWISE_TABLE, STATS_TABLE
from hcxai.evaluate.faithfulness.perturbation import (
    Settings,
    perturbed_areas,
    perturbed_variants,
    ranking,
    region_masks,
    region_scores,
)
from hcxai.evaluate.localization.skull import SUMMARY as LOCALIZATION
from hcxai.explain.saliency_file import SaliencyFile, check_fits, read_labels, read_saliency
from hcxai.figures.plots import (
    plot_best_worst,
    plot_critical_difference,
    plot_faithfulness_ranks,
    plot_hc_agreement,
    plot_localization,
    plot_loss_comparison,
    plot_map_metrics,
    plot_perturbation_curves,
    plot_perturbation_process,
    plot_saliency_comparison,
    plot_sanity,
)
from hcxai.models.accuracy import MAE_TABLE, read_predictions

log = logging.getLogger(__name__)

BEST_WORST_ANALYZER = "input_x_gradient"  # the paper's Fig. 5


def with_model(table: pd.DataFrame) -> pd.DataFrame:
    """`table` (with MODEL_KEYS columns) plus the figures' `model` column: each row's label."""
    keys = table[MODEL_KEYS].itertuples(index=False, name=None)
    return table.assign(model=[model_label(dict(zip(MODEL_KEYS, k, strict=True))) for k in keys])


def _saliency_of(path: str, data: Dataset, dataset_path: str) -> SaliencyFile:
    """A saliency file whose maps are of `data`'s images at its size."""
    content = read_saliency(path)
    check_fits(content, path, data.image_id, data.images.shape[-1], dataset_path)
    return content


def _saliency_panels(
    map_files: list[str], dataset_path: str, folds: set[str] | None, analyzer: str | None
) -> tuple[dict[str, SaliencyFile], dict[str, dict[str, str]], dict[str, np.ndarray]]:
    """The maps of the saliency files of `folds` (None: all) or of `analyzer`, their
    labels, and the data set's images by id; only the files drawn are read."""
    data = load_dataset(dataset_path)
    images = dict(zip(data.image_id, data.images, strict=True))
    labels = {path: read_labels(path) for path in map_files}
    maps = {
        path: _saliency_of(path, data, dataset_path)
        for path, label in labels.items()
        if (folds is not None and label["fold"] in folds) or label["analyzer"] == analyzer
    }
    return maps, {path: labels[path] for path in maps}, images


def write_saliency_comparison(
    map_files: list[str], dataset_path: str, out_path: str, images_in_comparison: int = 2
) -> None:
    """Fig. 2: fold 0's first test images, every analyzer of every model."""
    maps, labels, images = _saliency_panels(map_files, dataset_path, {"0"}, None)
    fold0 = {(model_label(label), label["analyzer"]): maps[path] for path, label in labels.items()}
    first = next(iter(fold0.values()))
    plot_saliency_comparison(fold0, images, first.image_ids[:images_in_comparison], out_path)


def write_saliency_best_worst(map_files: list[str], dataset_path: str, out_path: str) -> None:
    """Fig. 5: the best and worst predicted images of all folds, one analyzer
    (`BEST_WORST_ANALYZER`, or the first there is)."""
    analyzers = [read_labels(path)["analyzer"] for path in map_files]
    analyzer = BEST_WORST_ANALYZER if BEST_WORST_ANALYZER in analyzers else analyzers[0]
    maps, labels, images = _saliency_panels(map_files, dataset_path, None, analyzer)
    by_model: dict[str, list] = {}
    for path, label in labels.items():
        by_model.setdefault(model_label(label), []).append(maps[path])
    plot_best_worst(by_model, images, analyzer, out_path)


def write_process_figure(
    shard_path: str, saliency_path: str, dataset_path: str, perturbation: dict, out_path: str
) -> None:
    """Fig. 3: the first image of a shard through its MoRF steps, with the recorded errors
    (`perturbation`: the config block the shard was made with)."""
    settings = Settings.from_config(perturbation)
    shard = read_shard(shard_path)
    curve = shard[
        (shard["order"] == "morf")
        & (shard["repeat"] == 0)
        & (shard["imputation"] == settings.imputations[0])  # Table 1's, drawn here
    ]
    image_id = str(curve["image_id"].iloc[0])
    errors = curve[curve["image_id"] == image_id].sort_values("step")["error_px"].tolist()
    data = load_dataset(dataset_path)
    maps = _saliency_of(saliency_path, data, dataset_path)
    if image_id not in maps.image_ids:
        raise damaged_file(
            shard_path, f"has image {image_id}, which {saliency_path} lacks", "perturb"
        )
    x = network_input(data.images[data.index_of([image_id])])[0]
    size = x.shape[0]
    saliency = maps.maps[maps.image_ids.index(image_id)][np.newaxis]
    order = ranking(region_scores(saliency, settings.subwindow, settings.rank_by)[0], "morf")
    masks = region_masks(size, settings.subwindow)
    areas = perturbed_areas(order, masks, settings.steps)
    steps = np.concatenate([x[np.newaxis], perturbed_variants(x, image_id, areas, settings)])
    perturbed = np.concatenate([np.zeros((1, size, size), bool), areas])
    label = read_labels(saliency_path)
    plot_perturbation_process(
        steps[..., 0],
        perturbed,
        errors,
        f"MoRF perturbation of {image_id} ranked by {label['analyzer']} (Reg-{model_label(label)})",
        out_path,
    )


def write_hc_agreement_figure(
    prediction_files: list[str], metrics_files: list[str], table_path: str, out_path: str
) -> None:
    """Predicted vs true HC and Bland-Altman per model, from the test predictions."""
    predictions, _ = read_predictions(prediction_files, metrics_files)
    predictions = with_model(predictions)
    table = with_model(
        read_table(table_path, MAE_TABLE, rule="mae_table", unique=[*MODEL_KEYS, "fold"])
    )
    lacking = set(predictions["model"]) - set(table.loc[table["fold"] == "all", "model"])
    if lacking:
        raise damaged_file(table_path, f"lacks the 'all' row of {sorted(lacking)}", "mae_table")
    plot_hc_agreement(predictions[predictions["role"] == "test"], table, out_path)


def write_perturbation_curves_figure(curves_path: str, out_path: str) -> None:
    """Fig. 4 from perturbation_curves.csv."""
    curves = read_table(
        curves_path,
        CURVES_TABLE,
        rule="aopc_summary",
        unique=[*MODEL_KEYS, "analyzer", "order", "step"],
    )
    plot_perturbation_curves(with_model(curves), out_path)


def write_localization_figure(summary_path: str, sanity_path: str, out_path: str) -> None:
    """Skull focus and rank accuracy per model x analyzer from results/localization.csv,
    with the fully randomised model's skull focus from results/sanity.csv."""
    from hcxai.evaluate.randomisation.similarity import (  # scikit-image: only here
        SUMMARY_TABLE,
        fully_randomised,
    )

    keys = [*MODEL_KEYS, "analyzer"]
    summary = read_table(summary_path, LOCALIZATION, rule="localization_summary", unique=keys)
    sanity = read_table(sanity_path, SUMMARY_TABLE, rule="sanity_summary", unique=[*keys, "stage"])
    randomised = fully_randomised(sanity)[[*keys, "skull_focus_mean"]].rename(
        columns={"skull_focus_mean": "randomised_skull_focus_mean"}
    )
    plot_localization(with_model(summary.merge(randomised, on=keys, how="left")), out_path)


def write_faithfulness_figure(table_path: str, agreement_path: str, out_path: str) -> None:
    """Each analyzer's rank under each imputation x measure, a panel per model."""
    from hcxai.evaluate.faithfulness.across_imputations import CONDITION, TABLE, read_agreement

    table = read_table(
        table_path, TABLE, rule="faithfulness", unique=[*MODEL_KEYS, *CONDITION, "analyzer"]
    )
    plot_faithfulness_ranks(with_model(table), with_model(read_agreement(agreement_path)), out_path)


def write_critical_difference_figure(
    stats_path: str, pairwise_path: str, alpha: float, out_path: str
) -> None:
    """Critical-difference diagram per model: the Friedman mean ranks of aopc_stats.csv
    and the Holm-adjusted Wilcoxon p-values of aopc_pairwise.csv, both on the tested order.
    """
    pairs = read_table(pairwise_path, PAIRWISE_TABLE, rule="aopc_statistics", allow_empty=True)
    pairs = with_model(pairs)
    stats = read_table(
        stats_path, STATS_TABLE, rule="aopc_statistics", unique=[*MODEL_KEYS, "analyzer", "order"]
    )
    stats = with_model(stats)
    order = str(pairs["order"].iloc[0]) if len(pairs) else "morf"
    ranks, p_values = {}, {}
    for model, rows in stats[stats["order"] == order].groupby("model", sort=False):
        rank = rows.set_index("analyzer")["friedman_mean_rank"]
        matrix = pd.DataFrame(1.0, index=rank.index, columns=rank.index)
        for pair in pairs[pairs["model"] == model].itertuples():
            matrix.loc[pair.analyzer_a, pair.analyzer_b] = pair.p_holm
            matrix.loc[pair.analyzer_b, pair.analyzer_a] = pair.p_holm
        ranks[model], p_values[model] = rank, matrix
    label = {"morf": "MoRF", "lerf": "LeRF"}.get(order, order)
    test = f"a Wilcoxon signed-rank test of the {label} AOPCs, Holm-adjusted"
    plot_critical_difference(ranks, p_values, alpha, test, out_path)
    log.info("critical-difference diagram (%s): %s", test, out_path)


def write_sanity_figure(
    map_files: list[str], summary_path: str, dataset_path: str, out_path: str
) -> None:
    """The sanity check's figure: every pair's first image per stage, and the similarity curves."""
    from hcxai.evaluate.randomisation.maps_file import read_sanity_maps
    from hcxai.evaluate.randomisation.similarity import (  # scikit-image: only this figure
        METRIC_LABELS,
        SUMMARY_TABLE,
    )

    data = load_dataset(dataset_path)
    maps, images = {}, {}
    for path in map_files:
        content = read_sanity_maps(path)
        image_id = content.image_ids[0]
        if image_id not in set(data.image_id):
            raise damaged_file(
                path, f"has image {image_id}, which {dataset_path} lacks", "sanity_maps"
            )
        model = model_label({"backbone": content.backbone, "loss": content.loss})
        maps[(model, content.analyzer)] = content.maps[:, 0]
        images.setdefault(model, data.images[data.index_of([image_id])][0])
    keys = [*MODEL_KEYS, "analyzer", "stage"]
    summary = read_table(summary_path, SUMMARY_TABLE, rule="sanity_summary", unique=keys)
    plot_sanity(maps, images, with_model(summary), METRIC_LABELS, out_path)
    log.info("sanity figure: %s (%d model x analyzer pairs)", out_path, len(maps))


def write_loss_comparison_figure(
    stats_path: str, localization_path: str, mae_path: str, out_path: str
) -> None:
    """AOPC, skull focus and MAE per backbone and loss, from the three summary tables."""
    stats = read_table(
        stats_path, STATS_TABLE, rule="aopc_statistics", unique=[*MODEL_KEYS, "analyzer", "order"]
    )
    if "morf" not in set(stats["order"]):
        raise damaged_file(
            stats_path, "has no MoRF rows; add morf to perturbation.orders", "aopc_statistics"
        )
    localization = read_table(
        localization_path,
        LOCALIZATION,
        rule="localization_summary",
        unique=[*MODEL_KEYS, "analyzer"],
    )
    mae = read_table(mae_path, MAE_TABLE, rule="mae_table", unique=[*MODEL_KEYS, "fold"])
    plot_loss_comparison(stats, localization, mae, out_path)
    log.info(
        "loss comparison: %s (%d backbone x loss models)", out_path, len(mae[mae["fold"] == "all"])
    )


def write_map_metrics_figure(summary_path: str, out_path: str) -> None:
    """The registered map metrics per analyzer against their baselines (map_metrics.csv)."""
    from hcxai.evaluate.map_metrics import SUMMARY_TABLE

    summary = read_table(
        summary_path,
        SUMMARY_TABLE,
        rule="map_metric_summary",
        unique=[*MODEL_KEYS, "metric", "analyzer"],
    )
    plot_map_metrics(with_model(summary), out_path)
