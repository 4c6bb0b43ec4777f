"""Rule meta_summary: cluster sizes, errors and stability of every model x analyzer
(hcxai.evaluate.meta.spray)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.meta.spray import write_meta_summary

run_job(
    snakemake.log[0],
    write_meta_summary,
    table_paths=list(snakemake.input.tables),
    stability_paths=list(snakemake.input.stability),
    out_path=snakemake.output[0],
    alpha=json.loads(snakemake.params.statistics)["alpha"],
)
