"""The figure registry: each figure of a run, declared once.

An entry names the function of `hcxai.figures.inputs` that draws it, the result files it
reads (catalogue names, `hcxai.core.catalogue`; every instance of the file's wildcards
unless `first`), the config it needs, and its section of the HTML report; its caption is
`workflow/report/figures/{name}.rst`. One rule (`figure`) draws every entry, and the
run's targets include each enabled one. Adding a figure is its `plot_*`/`write_*` pair,
one entry below and its caption.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Input:
    """A result file a figure reads: every instance of its pattern's wildcards, or only the
    first (first model, fold and shard), of `analyzer` only when given (or, if that analyzer
    is not run, of the first one configured)."""

    result: str
    first: bool = False
    analyzer: str | None = None


def _nothing(config: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _always(config: Mapping[str, Any]) -> bool:
    return True


@dataclass(frozen=True)
class Figure:
    name: str  # results/figures/{name}.png
    category: str  # its section of the HTML report
    draw: str  # the function of hcxai.figures.inputs: inputs + settings + out_path
    inputs: dict[str, Input]  # the draw function's argument -> what it reads
    settings: Callable[[Mapping[str, Any]], dict[str, Any]] = field(default=_nothing)
    enabled: Callable[[Mapping[str, Any]], bool] = field(default=_always)


FIGURES = {
    figure.name: figure
    for figure in (
        Figure(
            "hc_bland_altman",
            "1 Prediction",
            "write_hc_agreement_figure",
            {
                "prediction_files": Input("predictions"),
                "metrics_files": Input("training_metrics"),
                "table_path": Input("mae_table"),
            },
        ),
        Figure(
            "saliency_comparison",
            "2 Saliency",
            "write_saliency_comparison",
            {"map_files": Input("saliency"), "dataset_path": Input("dataset")},
        ),
        Figure(
            "saliency_best_worst",
            "2 Saliency",
            "write_saliency_best_worst",
            {"map_files": Input("saliency"), "dataset_path": Input("dataset")},
        ),
        Figure(
            "perturbation_process",
            "3 AOPC",
            "write_process_figure",
            {
                # The paper's Fig. 3: the first image of the first model's first shard.
                "shard_path": Input("perturbation_shard", first=True, analyzer="gradient"),
                "saliency_path": Input("saliency", first=True, analyzer="gradient"),
                "dataset_path": Input("dataset"),
            },
            settings=lambda config: {"perturbation": config["perturbation"]},
        ),
        Figure(
            "perturbation_curves",
            "3 AOPC",
            "write_perturbation_curves_figure",
            {"curves_path": Input("perturbation_curves")},
        ),
        Figure(
            "faithfulness_ranks",
            "3 AOPC",
            "write_faithfulness_figure",
            {
                "table_path": Input("faithfulness"),
                "agreement_path": Input("faithfulness_agreement"),
            },
        ),
        Figure(
            "aopc_critical_difference",
            "4 Statistics",
            "write_critical_difference_figure",
            {"stats_path": Input("aopc_stats"), "pairwise_path": Input("aopc_pairwise")},
            settings=lambda config: {"alpha": config["statistics"]["alpha"]},
        ),
        Figure(
            "localization",
            "5 Localization",
            "write_localization_figure",
            {"summary_path": Input("localization"), "sanity_path": Input("sanity")},
        ),
        Figure(
            "sanity",
            "6 Sanity",
            "write_sanity_figure",
            {
                "map_files": Input("sanity_maps"),
                "summary_path": Input("sanity"),
                "dataset_path": Input("dataset"),
            },
        ),
        Figure(
            "loss_comparison",
            "8 Losses",
            "write_loss_comparison_figure",
            {
                "stats_path": Input("aopc_stats"),
                "localization_path": Input("localization"),
                "mae_path": Input("mae_table"),
            },
        ),
        Figure(
            "map_metrics",
            "9 Complexity and robustness",
            "write_map_metrics_figure",
            {"summary_path": Input("map_metrics")},
            enabled=lambda config: bool(config["metrics"]),
        ),
    )
}


def draw(name: str, inputs: dict[str, str | list[str]], settings: dict, out_path: str) -> None:
    """Draw figure `name` from its `inputs` (argument -> file or files) and `settings`."""
    function = getattr(importlib.import_module("hcxai.figures.inputs"), FIGURES[name].draw)
    function(**inputs, **settings, out_path=out_path)
    log.info("figure %s: %s", name, out_path)
