"""Rule error_explanation: |error| vs skull focus and AOPC
(hcxai.evaluate.meta.error_explanation)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.meta.error_explanation import write_error_explanation

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_error_explanation,
    meta_files=job["input"]["meta"],
    localization_files=job["input"]["localization"],
    aopc_files=job["input"]["aopc"],
    out_path=job["output"]["table"],
    confidence=job["statistics"]["confidence"],
    n_resamples=job["statistics"]["bootstrap_samples"],
    seed=job["statistics"]["seed"],
)
