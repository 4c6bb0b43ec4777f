"""Rule perturbation_process_figure: paper Fig. 3 for one test image (hcxai.figures.inputs)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.faithfulness.perturbation import Settings
from hcxai.figures.inputs import write_process_figure

run_job(
    snakemake.log[0],
    write_process_figure,
    shard_path=snakemake.input.shard,
    saliency_path=snakemake.input.saliency,
    dataset_path=snakemake.input.dataset,
    settings=Settings.from_config(json.loads(snakemake.params.perturbation)),
    out_path=snakemake.output[0],
)
