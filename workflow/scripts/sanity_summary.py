"""Rule sanity_summary: every model x analyzer's stage table in results/sanity.csv."""

from hcxai.core.io import run_job
from hcxai.evaluate.randomisation.similarity import write_summary

run_job(
    snakemake.log[0],
    write_summary,
    pair_files=list(snakemake.input),
    out_path=snakemake.output[0],
)
