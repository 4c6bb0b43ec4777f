"""Rule localization_summary: results/localization.csv, means and CIs
(hcxai.evaluate.localization.skull)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.localization.skull import write_summary

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_summary,
    per_image_files=job["input"]["scores"],
    out_path=job["output"]["summary"],
    confidence=job["statistics"]["confidence"],
    n_resamples=job["statistics"]["bootstrap_samples"],
    seed=job["statistics"]["seed"],
)
