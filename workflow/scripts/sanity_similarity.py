"""Rule sanity_similarity: each stage's maps against the trained maps (hcxai.sanity_metrics)."""

import json

from hcxai.io import run_job
from hcxai.sanity_metrics import write_pair

run_job(
    snakemake.log[0],
    write_pair,
    maps_path=snakemake.input.maps,
    dataset_path=snakemake.input.dataset,
    out_path=snakemake.output[0],
    statistics=json.loads(snakemake.params.statistics),
    band_px=snakemake.params.band_px,
)
