"""Rule map_metric_summary: every registered metric per model x analyzer, against the edge
detector and the random map (hcxai.evaluate.map_metrics)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.map_metrics import write_summary

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_summary,
    per_image_files=job["input"]["scores"],
    out_path=job["output"]["summary"],
    **job["statistics"],
)
