"""The catalogue of result files: each file the stages hand each other, declared once.

An entry gives the path pattern (Snakemake wildcards; the model levels from `MODEL_KEYS`,
so a new model dimension changes every model's path here and nowhere else), the rule
that writes it, and, for a table, where its column schema lives ("module:NAME", resolved
only when asked, so this lowest layer imports nothing above it). The rules take every
path from here (`result`), the readers name the writing rule from here, and the tests
check each table a run writes against its schema.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from hcxai.core.keys import MODEL_KEYS

# A model's path levels: "{backbone}/{loss}".
MODEL = "/".join(f"{{{key}}}" for key in MODEL_KEYS)


@dataclass(frozen=True)
class ResultFile:
    path: str  # pattern; wildcards in braces
    rule: str  # the rule that writes it
    columns: str | None = None  # "module:NAME" of its table schema (a dict or list of names)


def _entries() -> dict[str, ResultFile]:
    models = f"results/models/{MODEL}"
    faithfulness = "hcxai.evaluate.faithfulness"
    return {
        "effective_config": ResultFile("results/config.effective.yaml", "effective_config"),
        "dataset": ResultFile("resources/dataset_{image_size}.h5", "ingest"),
        "splits": ResultFile("results/splits.csv", "split", "hcxai.data.splits:COLUMNS"),
        "model": ResultFile(f"{models}/fold{{fold}}/model.h5", "train"),
        "history": ResultFile(f"{models}/fold{{fold}}/history.csv", "train"),
        "predictions": ResultFile(
            f"{models}/fold{{fold}}/predictions.csv",
            "train",
            "hcxai.models.training:PREDICTIONS",
        ),
        "training_metrics": ResultFile(f"{models}/fold{{fold}}/metrics.json", "train"),
        **{
            f"permuted_labels_{name}": ResultFile(
                f"{models}/permuted_labels/{file}", "train_permuted_labels"
            )
            for name, file in (
                ("model", "model.h5"),
                ("history", "history.csv"),
                ("predictions", "predictions.csv"),
                ("training_metrics", "metrics.json"),
            )
        },
        "mae_table": ResultFile(
            "results/mae_table.csv", "mae_table", "hcxai.models.accuracy:MAE_TABLE"
        ),
        "saliency": ResultFile(
            f"results/saliency/{MODEL}/fold{{fold}}/{{analyzer}}.h5", "saliency"
        ),
        "random_order_shard": ResultFile(
            f"results/perturbation/{MODEL}/fold{{fold}}/random_order/shard{{shard}}.csv",
            "random_order",
            f"{faithfulness}.perturbation:RANDOM_ORDER_TABLE",
        ),
        "perturbation_shard": ResultFile(
            f"results/perturbation/{MODEL}/fold{{fold}}/{{analyzer}}/shard{{shard}}.csv",
            "perturb",
            f"{faithfulness}.perturbation:SHARD_TABLE",
        ),
        "aopc_per_image": ResultFile(
            f"results/aopc/{MODEL}/{{analyzer}}.csv",
            "aopc_per_image",
            f"{faithfulness}.aopc:PER_IMAGE_TABLE",
        ),
        "curves_per_analyzer": ResultFile(
            f"results/curves/{MODEL}/{{analyzer}}.csv",
            "aopc_per_image",
            f"{faithfulness}.aopc:CURVES_TABLE",
        ),
        "aopc_per_imputation": ResultFile(
            f"results/faithfulness/{MODEL}/{{analyzer}}.csv",
            "aopc_per_image",
            f"{faithfulness}.aopc:IMPUTATIONS_TABLE",
        ),
        "aopc": ResultFile("results/aopc.csv", "aopc_summary"),
        "aopc_table": ResultFile("results/aopc_table.csv", "aopc_summary"),
        "perturbation_curves": ResultFile("results/perturbation_curves.csv", "aopc_summary"),
        "aopc_stats": ResultFile(
            "results/aopc_stats.csv",
            "aopc_statistics",
            f"{faithfulness}.aopc_statistics:STATS_TABLE",
        ),
        "aopc_pairwise": ResultFile(
            "results/aopc_pairwise.csv",
            "aopc_statistics",
            f"{faithfulness}.aopc_statistics:PAIRWISE_TABLE",
        ),
        "aopc_friedman": ResultFile("results/aopc_friedman.csv", "aopc_statistics"),
        "faithfulness": ResultFile(
            "results/faithfulness.csv",
            "faithfulness",
            f"{faithfulness}.across_imputations:TABLE",
        ),
        "faithfulness_agreement": ResultFile(
            "results/faithfulness_agreement.csv",
            "faithfulness",
            f"{faithfulness}.across_imputations:AGREEMENT_TABLE",
        ),
        "faithfulness_tau": ResultFile("results/faithfulness_tau.csv", "faithfulness"),
        "localization_scores": ResultFile(
            f"results/localization/{MODEL}/fold{{fold}}/{{analyzer}}.csv",
            "localization",
            "hcxai.evaluate.localization.skull:PER_IMAGE",
        ),
        "localization": ResultFile(
            "results/localization.csv",
            "localization_summary",
            "hcxai.evaluate.localization.skull:SUMMARY",
        ),
        "sanity_maps": ResultFile(f"results/sanity/{MODEL}/{{analyzer}}.h5", "sanity_maps"),
        "sanity_pair": ResultFile(
            f"results/sanity/{MODEL}/{{analyzer}}.csv",
            "sanity_similarity",
            "hcxai.evaluate.randomisation.similarity:STAGE_TABLE",
        ),
        "sanity": ResultFile(
            "results/sanity.csv",
            "sanity_summary",
            "hcxai.evaluate.randomisation.similarity:SUMMARY_TABLE",
        ),
        "meta_table": ResultFile(
            f"results/meta/{MODEL}/{{analyzer}}.csv",
            "meta_explanation",
            "hcxai.evaluate.meta.spray:META_TABLE",
        ),
        "meta_figure": ResultFile(f"results/meta/{MODEL}/{{analyzer}}.png", "meta_explanation"),
        "meta_stability": ResultFile(
            f"results/meta/{MODEL}/stability.csv",
            "meta_explanation",
            "hcxai.evaluate.meta.spray:STABILITY_TABLE",
        ),
        "meta": ResultFile("results/meta.csv", "meta_summary"),
        "error_explanation": ResultFile("results/error_explanation.csv", "error_explanation"),
        "robustness_maps": ResultFile(
            f"results/robustness/{MODEL}/{{analyzer}}.h5", "robustness_maps"
        ),
        "metric_scores": ResultFile(
            f"results/metrics/{MODEL}/{{metric}}.csv",
            "map_metric",
            "hcxai.evaluate.map_metrics:PER_IMAGE",
        ),
        "map_metrics": ResultFile(
            "results/map_metrics.csv",
            "map_metric_summary",
            "hcxai.evaluate.map_metrics:SUMMARY",
        ),
        "scorecard": ResultFile("results/scorecard.csv", "scorecard"),
        "ranking_agreement": ResultFile(
            "results/ranking_agreement.csv",
            "scorecard",
            "hcxai.evaluate.scorecard:AGREEMENT_COLUMNS",
        ),
        "figure": ResultFile("results/figures/{figure}.png", "figure"),
    }


RESULTS = _entries()


def result(name: str) -> str:
    """The path pattern of result file `name`."""
    return RESULTS[name].path


def writer(name: str) -> str:
    """The rule that writes result file `name` (for a reader's rebuild hint)."""
    return RESULTS[name].rule


def columns(name: str) -> list[str]:
    """The column names result table `name` declares (its schema's keys, in order)."""
    reference = RESULTS[name].columns
    if reference is None:
        raise KeyError(f"{name} is not a table with a declared schema")
    module, attribute = reference.split(":")
    return list(getattr(importlib.import_module(module), attribute))
