"""Rule localization_summary: results/localization.csv, means and CIs
(hcxai.evaluate.localization.skull)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.localization.skull import write_summary

statistics = json.loads(snakemake.params.statistics)
run_job(
    snakemake.log[0],
    write_summary,
    per_image_files=list(snakemake.input),
    out_path=snakemake.output[0],
    confidence=statistics["confidence"],
    n_resamples=statistics["bootstrap_samples"],
    seed=statistics["seed"],
)
