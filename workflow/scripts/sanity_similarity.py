"""Rule sanity_similarity: each stage's maps against the trained maps
(hcxai.evaluate.randomisation.similarity)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.randomisation.similarity import write_pair

run_job(
    snakemake.log[0],
    write_pair,
    maps_path=snakemake.input.maps,
    dataset_path=snakemake.input.dataset,
    out_path=snakemake.output[0],
    statistics=json.loads(snakemake.params.statistics),
    band_px=snakemake.params.band_px,
)
