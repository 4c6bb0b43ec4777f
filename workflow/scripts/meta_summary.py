"""Rule meta_summary: cluster sizes, errors and stability of every model x analyzer
(hcxai.evaluate.meta.spray)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.meta.spray import write_meta_summary

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_meta_summary,
    table_paths=job["input"]["tables"],
    stability_paths=job["input"]["stability"],
    out_path=job["output"]["summary"],
    alpha=job["statistics"]["alpha"],
)
