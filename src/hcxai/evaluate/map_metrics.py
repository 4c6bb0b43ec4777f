"""The registered map metrics, run: per-image scores of one model, and their summary.

One job per model (backbone x loss) x metric scores every analyzer's maps of that model
(`results/metrics/{backbone}/{loss}/{metric}.csv`), plus the model-free `edge`
baseline on the same images: the Sobel map of the network's input (and, for a
robustness metric, of the same perturbed inputs). The summary (`results/map_metrics.csv`)
gives per model x metric x analyzer the mean with its bootstrap CI and the paired
difference to each baseline (`hcxai.evaluate.registry.BASELINES`) with its CI, its
Wilcoxon p, Holm's adjustment over the model's analyzers, and `better_than_{baseline}`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from hcxai.core.catalogue import writer
from hcxai.core.io import InputError, atomic_output, read_table
from hcxai.core.keys import IMAGE, MODEL_KEYS
from hcxai.data.hc18 import load_dataset, network_input
from hcxai.evaluate.localization.skull import edge_map
from hcxai.evaluate.registry import BASELINES, METRICS, MapSet, metric
from hcxai.evaluate.robustness.max_sensitivity import input_perturbations, read_robustness_maps
from hcxai.explain.analyzers import PAPER_ORDER
from hcxai.explain.saliency_file import read_saliency

log = logging.getLogger(__name__)

RULE = "map_metric"
EDGE = "edge"
PER_IMAGE = {
    **dict.fromkeys(MODEL_KEYS, "id"),
    "metric": tuple(METRICS),
    "analyzer": "id",
    "fold": "int",
    "image_id": "id",
    "score": "number_or_nan",
}


def comparison_columns(baseline: str) -> list[str]:
    """The summary's columns of one baseline comparison."""
    return [
        f"minus_{baseline}",
        f"minus_{baseline}_ci_low",
        f"minus_{baseline}_ci_high",
        f"p_vs_{baseline}",
        f"p_vs_{baseline}_holm",
        f"better_than_{baseline}",
    ]


SUMMARY = [
    *MODEL_KEYS,
    "metric",
    "category",
    "better",
    "analyzer",
    "n_images",
    "mean",
    "ci_low",
    "ci_high",
    *(column for baseline in BASELINES for column in comparison_columns(baseline)),
    "min_p_holm",
]
SUMMARY_TABLE = {
    **dict.fromkeys(MODEL_KEYS, "id"),
    "metric": tuple(METRICS),
    "analyzer": "id",
    "n_images": "int",
    "mean": "number_or_nan",
    "ci_low": "number_or_nan",
    "ci_high": "number_or_nan",
    **{f"better_than_{baseline}": "bool" for baseline in BASELINES},
}


def _saliency_maps(paths: list[str]) -> dict[str, tuple[list[tuple[int, str]], MapSet]]:
    """Per analyzer: its images (fold, id) and maps, over the folds' saliency files."""
    found: dict[str, list] = {}
    for path in paths:
        content = read_saliency(path)
        labels = content.attributes
        keys = [(int(labels["fold"]), image_id) for image_id in content.image_ids]
        found.setdefault(str(labels["analyzer"]), []).append((keys, content.maps))
    return {
        analyzer: (
            [key for keys, _ in parts for key in keys],
            MapSet(np.concatenate([maps for _, maps in parts])),
        )
        for analyzer, parts in found.items()
    }


def _robustness_maps(
    paths: list[str],
) -> tuple[dict[str, tuple[list[tuple[int, str]], MapSet]], dict]:
    """Per analyzer: its images (fold, id), maps and the maps of the perturbed inputs; and
    the perturbation settings every file shares."""
    found = {}
    for path in paths:
        content = read_robustness_maps(path)
        fold = int(content.attributes["fold"])
        found[str(content.attributes["analyzer"])] = (
            [(fold, image_id) for image_id in content.image_ids],
            MapSet(content.maps, content.perturbed_maps),
            content.attributes,
        )
    settings = {
        tuple(str(attributes[key]) for key in ("radius", "samples", "seed"))
        for *_, attributes in found.values()
    }
    if len(settings) > 1:
        raise InputError(
            f"the robustness files {paths[0]}, ... were made with different radius/samples/"
            f"seed {sorted(settings)}; rerun rule robustness_maps"
        )
    per_analyzer = {analyzer: (keys, maps) for analyzer, (keys, maps, _) in found.items()}
    return per_analyzer, next(iter(found.values()))[2]


def perturbations(image_ids: list[str], size: int, robustness: dict) -> np.ndarray:
    """The input perturbations (N, samples, s, s) a robustness file's maps were made with,
    drawn again from its settings (radius, samples, seed): the streams are per image."""
    offsets = input_perturbations(
        image_ids,
        size,
        radius=float(robustness["radius"]),
        samples=int(robustness["samples"]),
        seed=int(robustness["seed"]),
    )
    return offsets.transpose(1, 0, 2, 3)


def edge_maps(images: np.ndarray, image_ids: list[str], robustness: dict | None = None) -> MapSet:
    """The model-free baseline: Sobel maps of the network input of uint8 `images` and, with
    `robustness` settings (radius, samples, seed), of the same perturbed inputs."""
    x = network_input(images)[..., 0]
    maps = np.stack([edge_map(image) for image in x])
    if robustness is None:
        return MapSet(maps)
    offsets = perturbations(image_ids, x.shape[-1], robustness)
    perturbed = np.stack(
        [[edge_map(image + offset) for offset in offsets[i]] for i, image in enumerate(x)]
    )
    return MapSet(maps, perturbed)


def score_metric(
    metric_name: str, map_paths: list[str], dataset_path: str, backbone: str, loss: str
) -> pd.DataFrame:
    """Per image: every analyzer's score on its maps, and the edge baseline's."""
    entry = metric(metric_name)
    if entry.source == "saliency":
        per_analyzer = _saliency_maps(map_paths)
        robustness = None
    else:
        per_analyzer, robustness = _robustness_maps(map_paths)
    images = {tuple(keys) for keys, _ in per_analyzer.values()}
    if len(images) != 1:
        raise InputError(
            f"the {entry.source} files {map_paths[0]}, ... explain different images per "
            f"analyzer; rerun rule {writer(entry.source)}"
        )
    keys = list(images.pop())
    ids = [image_id for _, image_id in keys]
    data = load_dataset(dataset_path)
    per_analyzer[EDGE] = (keys, edge_maps(data.images[data.index_of(ids)], ids, robustness))
    frames = []
    for analyzer, (image_keys, maps) in per_analyzer.items():
        scores = entry.score(maps)
        frames.append(
            pd.DataFrame(
                {
                    "backbone": backbone,
                    "loss": loss,
                    "metric": metric_name,
                    "analyzer": analyzer,
                    "fold": [fold for fold, _ in image_keys],
                    "image_id": [image_id for _, image_id in image_keys],
                    "score": scores,
                }
            )
        )
        log.info(
            "%s/%s %s %s: %d images, mean %.4g (%d undefined)",
            backbone,
            loss,
            metric_name,
            analyzer,
            len(scores),
            np.nanmean(scores) if np.isfinite(scores).any() else np.nan,
            int(np.isnan(scores).sum()),
        )
    return pd.concat(frames, ignore_index=True)[list(PER_IMAGE)]


def write_metric_scores(
    metric_name: str,
    map_paths: list[str],
    dataset_path: str,
    out_path: str,
    backbone: str,
    loss: str,
) -> None:
    """`results/metrics/{backbone}/{loss}/{metric}.csv` (see `score_metric`)."""
    table = score_metric(metric_name, map_paths, dataset_path, backbone, loss)
    with atomic_output(out_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def _versus(
    scores: pd.Series,
    baseline: pd.Series,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> dict[str, float]:
    """One analyzer against one baseline on the same images: the mean paired difference
    (analyzer - baseline) with its CI and the Wilcoxon p (pairs with a NaN left out)."""
    from hcxai.stats.inference import mean_ci, signed_rank_test

    baseline = baseline.reindex(scores.index)
    both = scores.notna() & baseline.notna()
    difference = mean_ci((scores - baseline)[both].to_numpy(), confidence, n_resamples, seed)
    _, p, _ = signed_rank_test(scores[both].to_numpy(), baseline[both].to_numpy())
    return {
        "minus": difference.mean,
        "minus_ci_low": difference.low,
        "minus_ci_high": difference.high,
        "p_vs": p if both.sum() else np.nan,
    }


def summarise(
    per_image: pd.DataFrame, *, confidence: float, n_resamples: int, seed: int, alpha: float
) -> pd.DataFrame:
    """Per model x metric x analyzer (edge baseline included, analyzers in the paper's
    order): see the module docstring. A baseline is not compared with itself (NaN)."""
    from hcxai.stats.inference import holm, mean_ci, significantly_better

    rows = []
    key = [*MODEL_KEYS, "metric"]
    for group_key, group in per_image.groupby(key, sort=False):
        entry = metric(group_key[-1])
        scores = {
            analyzer: rows_of.set_index(IMAGE)["score"]
            for analyzer, rows_of in group.groupby("analyzer", sort=False)
        }
        missing = [b for b in BASELINES if b not in scores]
        if missing:
            raise InputError(
                f"{'/'.join(group_key)} has no {missing} scores; add `random` to `analyzers` "
                "(the control every map metric is compared with)"
            )
        order = [a for a in PAPER_ORDER if a in scores] + [EDGE]
        order += [a for a in scores if a not in order]
        for analyzer in order:
            values = scores[analyzer]
            ci = mean_ci(values.to_numpy(), confidence, n_resamples, seed)
            row = dict(zip(key, group_key, strict=True)) | {
                "category": entry.category,
                "better": entry.better,
                "analyzer": analyzer,
                "n_images": int(values.notna().sum()),
                "mean": ci.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
            }
            for baseline in BASELINES:
                versus = (
                    {
                        "minus": np.nan,
                        "minus_ci_low": np.nan,
                        "minus_ci_high": np.nan,
                        "p_vs": np.nan,
                    }
                    if analyzer in BASELINES
                    else _versus(values, scores[baseline], confidence, n_resamples, seed)
                )
                row |= {
                    f"minus_{baseline}": versus["minus"],
                    f"minus_{baseline}_ci_low": versus["minus_ci_low"],
                    f"minus_{baseline}_ci_high": versus["minus_ci_high"],
                    f"p_vs_{baseline}": versus["p_vs"],
                }
            rows.append(row)
    summary = pd.DataFrame(rows)
    groups = summary.groupby(key, sort=False)
    for baseline in BASELINES:
        summary[f"p_vs_{baseline}_holm"] = groups[f"p_vs_{baseline}"].transform(holm)
        improvement = np.where(
            summary["better"] == "higher",
            summary[f"minus_{baseline}"],
            -summary[f"minus_{baseline}"],
        )
        summary[f"better_than_{baseline}"] = significantly_better(
            summary[f"p_vs_{baseline}_holm"], pd.Series(improvement, index=summary.index), alpha
        )
    family = groups["analyzer"].transform(lambda names: int((~names.isin(BASELINES)).sum()))
    summary["min_p_holm"] = smallest_holm_p(summary["n_images"], family)
    for model_metric, rows_of in summary.groupby(key, sort=False):
        if rows_of["min_p_holm"].min() >= alpha:
            log.warning(
                "%s: with %d images and %d analyzers no comparison can reach alpha %g (the "
                "smallest Holm-adjusted Wilcoxon p is %.3g); score more images "
                "(robustness.n_images, saliency.max_images_per_fold)",
                "/".join(model_metric),
                int(rows_of["n_images"].max()),
                int((~rows_of["analyzer"].isin(BASELINES)).sum()),
                alpha,
                rows_of["min_p_holm"].min(),
            )
    return summary[SUMMARY]


def smallest_holm_p(n_images: pd.Series, family: pd.Series) -> pd.Series:
    """The smallest Holm-adjusted p a two-sided exact Wilcoxon test of n paired images can
    reach in a family of `family` tests: family x 2 / 2^n (every difference on one side).
    At or above alpha, no analyzer can be called better, whatever its maps: the test's
    power is the config's (8 images and 8 analyzers give 0.0625)."""
    return np.minimum(1.0, family * 2.0 ** (1 - n_images.astype(float)))


def write_summary(
    per_image_files: list[str],
    out_path: str,
    *,
    confidence: float,
    bootstrap_samples: int,
    seed: int,
    alpha: float,
) -> None:
    """`results/map_metrics.csv` from the per-image tables of rule map_metric."""
    per_image = pd.concat(
        [
            read_table(path, PER_IMAGE, rule=RULE, unique=["analyzer", *IMAGE])
            for path in per_image_files
        ],
        ignore_index=True,
    )
    summary = summarise(
        per_image, confidence=confidence, n_resamples=bootstrap_samples, seed=seed, alpha=alpha
    )
    with atomic_output(out_path) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    shown = [*MODEL_KEYS, "metric", "analyzer", "mean", "better_than_edge", "better_than_random"]
    log.info("map metrics:\n%s", summary[shown].to_string(index=False))
