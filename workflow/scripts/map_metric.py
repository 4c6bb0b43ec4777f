"""Rule map_metric: one registered metric's per-image scores of one model's maps
(hcxai.evaluate.map_metrics)."""

from hcxai.core.io import run_job
from hcxai.evaluate.map_metrics import write_metric_scores

run_job(
    snakemake.log[0],
    write_metric_scores,
    metric_name=snakemake.wildcards.metric,
    map_paths=list(snakemake.input.maps),
    dataset_path=snakemake.input.dataset,
    out_path=snakemake.output.scores,
    backbone=snakemake.wildcards.backbone,
    loss=snakemake.wildcards.loss,
)
