"""Rule aopc_pair: every image's AOPC and the mean curve of one model x analyzer (hcxai.aopc)."""

from hcxai.aopc import write_pair
from hcxai.io import run_job

run_job(
    snakemake.log[0],
    write_pair,
    shard_files=list(snakemake.input),
    aopc_path=snakemake.output.aopc,
    curves_path=snakemake.output.curves,
)
