"""Rule sanity_summary: every model x analyzer's stage table in results/sanity.csv."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.randomisation.similarity import write_summary

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_summary,
    pair_files=job["input"]["pairs"],
    out_path=job["output"]["summary"],
)
