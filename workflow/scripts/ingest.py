"""Rule ingest: HC18-layout folder -> resources/dataset_{size}.h5 (hcxai.data.hc18)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.data.hc18 import ingest

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    ingest,
    root=job["dataset"]["path"],
    out_path=job["output"]["dataset"],
    image_size=int(job["wildcards"]["size"]),
    source=job["dataset"]["source"],
)
