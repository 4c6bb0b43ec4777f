"""Rule aopc_summary: AOPC long table, Table 1 and the curves table (hcxai.aopc)."""

from hcxai.aopc import write_summary
from hcxai.io import run_job

run_job(
    snakemake.log[0],
    write_summary,
    pair_files=list(snakemake.input.pairs),
    pair_curve_files=list(snakemake.input.curves),
    aopc_path=snakemake.output.aopc,
    table_path=snakemake.output.table,
    curves_path=snakemake.output.curves,
)
