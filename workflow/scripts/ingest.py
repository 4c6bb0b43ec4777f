"""Rule ingest: HC18-layout folder -> resources/dataset_{size}.h5 (hcxai.data)."""

from hcxai.data import ingest
from hcxai.io import run_job

run_job(
    snakemake.log[0],
    ingest,
    root=snakemake.params.dataset["path"],
    out_path=snakemake.output[0],
    image_size=int(snakemake.wildcards.size),
    source=snakemake.params.dataset["source"],
)
