"""Rule map_metric_summary: every registered metric per model x analyzer, against the edge
detector and the random map (hcxai.evaluate.map_metrics)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.map_metrics import write_summary

run_job(
    snakemake.log[0],
    write_summary,
    per_image_files=list(snakemake.input),
    out_path=snakemake.output[0],
    **json.loads(snakemake.params.settings),
)
