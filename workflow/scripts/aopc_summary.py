"""Rule aopc_summary: AOPC long table, Table 1 and the curves table
(hcxai.evaluate.faithfulness.aopc)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.aopc import write_summary

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_summary,
    pair_files=job["input"]["pairs"],
    pair_curve_files=job["input"]["curves"],
    aopc_path=job["output"]["aopc"],
    table_path=job["output"]["table"],
    curves_path=job["output"]["curves"],
)
