"""Rule localization: one saliency file's maps against the annotated skull
(hcxai.evaluate.localization.skull)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.localization.skull import write_localization

run_job(
    snakemake.log[0],
    write_localization,
    saliency_path=snakemake.input.saliency,
    dataset_path=snakemake.input.dataset,
    band_px=json.loads(snakemake.params.settings)["band_px"],
    out_path=snakemake.output.scores,
    **dict(snakemake.wildcards.items()),
)
