"""Rule aopc_summary: AOPC long table, Table 1 and the curves table
(hcxai.evaluate.faithfulness.aopc)."""

from hcxai.core.io import run_job
from hcxai.evaluate.faithfulness.aopc import write_summary

run_job(
    snakemake.log[0],
    write_summary,
    pair_files=list(snakemake.input.pairs),
    pair_curve_files=list(snakemake.input.curves),
    aopc_path=snakemake.output.aopc,
    table_path=snakemake.output.table,
    curves_path=snakemake.output.curves,
)
