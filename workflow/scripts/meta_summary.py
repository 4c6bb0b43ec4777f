"""Rule meta_summary: cluster sizes and errors of every model x analyzer (hcxai.meta)."""

from hcxai.io import run_job
from hcxai.meta import write_meta_summary

run_job(
    snakemake.log[0],
    write_meta_summary,
    table_paths=list(snakemake.input),
    out_path=snakemake.output[0],
)
