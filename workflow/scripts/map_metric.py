"""Rule map_metric: one registered metric's per-image scores of one model's maps
(hcxai.evaluate.map_metrics)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.map_metrics import write_metric_scores

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_metric_scores,
    metric_name=job["wildcards"]["metric"],
    map_paths=job["input"]["maps"],
    dataset_path=job["input"]["dataset"],
    out_path=job["output"]["scores"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
)
