"""Rule ingest: HC18-layout folder -> resources/dataset_{size}.h5 (hcxai.data)."""

import json

from hcxai.data import ingest
from hcxai.io import run_job

dataset = json.loads(snakemake.params.dataset)
run_job(
    snakemake.log[0],
    ingest,
    root=dataset["path"],
    out_path=snakemake.output[0],
    image_size=int(snakemake.wildcards.size),
    source=dataset["source"],
)
