"""Rule effective_config: the validated config of this run, for provenance
(hcxai.core.provenance)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.core.provenance import write_effective_config

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_effective_config,
    config=job["config"],
    out_path=job["output"]["config"],
)
