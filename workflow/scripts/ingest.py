"""Rule ingest: HC18-layout folder -> resources/dataset_{size}.h5 (hcxai.data.hc18)."""

import json

from hcxai.core.io import run_job
from hcxai.data.hc18 import ingest

dataset = json.loads(snakemake.params.dataset)
run_job(
    snakemake.log[0],
    ingest,
    root=dataset["path"],
    out_path=snakemake.output[0],
    image_size=int(snakemake.wildcards.size),
    source=dataset["source"],
)
