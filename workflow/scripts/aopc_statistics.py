"""Rule aopc_statistics: CIs, paired tests, Friedman's test of per-image AOPCs
(hcxai.stats.inference)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.aopc_statistics import write_statistics

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_statistics,
    pair_files=job["input"]["pairs"],
    stats_path=job["output"]["stats"],
    pairwise_path=job["output"]["pairwise"],
    friedman_path=job["output"]["friedman"],
    **job["statistics"],
)
