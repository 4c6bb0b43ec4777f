"""Rule phantoms: synthetic HC18-layout scans (hcxai.data.phantom)."""

from pathlib import Path

from hcxai.core.io import job_arguments, run_job
from hcxai.data.phantom import generate

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    generate,
    out_dir=Path(job["output"]["csv"]).parent,
    n_images=job["n_images"],
    seed=job["seed"],
    workers=threads,
)
