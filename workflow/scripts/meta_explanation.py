"""Rule meta_explanation: SpRAy over one backbone x analyzer's maps (hcxai.meta)."""

import json

from hcxai.io import run_job
from hcxai.meta import write_meta_explanation

run_job(
    snakemake.log[0],
    write_meta_explanation,
    saliency_paths=list(snakemake.input.maps),
    table_path=snakemake.output.table,
    figure_path=snakemake.output.figure,
    settings=json.loads(snakemake.params.settings),
)
