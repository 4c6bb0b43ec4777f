"""Rule perturbation_process_figure: paper Fig. 3 for one test image (hcxai.report)."""

import json

from hcxai.io import run_job
from hcxai.perturbation import Settings
from hcxai.report import write_process_figure

run_job(
    snakemake.log[0],
    write_process_figure,
    shard_path=snakemake.input.shard,
    saliency_path=snakemake.input.saliency,
    dataset_path=snakemake.input.dataset,
    settings=Settings.from_config(json.loads(snakemake.params.perturbation)),
    out_path=snakemake.output[0],
)
