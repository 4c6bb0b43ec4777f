"""Rule figure: one figure of the registry from its inputs (hcxai.figures.registry)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.figures.registry import draw

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    draw,
    name=job["wildcards"]["figure"],
    inputs=job["input"],
    settings=job["draw"],
    out_path=job["output"]["figure"],
)
