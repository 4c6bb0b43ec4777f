"""Rule mae_table: MAE per model and fold, Bland-Altman limits (hcxai.agreement)."""

from hcxai.agreement import write_mae_table
from hcxai.io import run_job

run_job(
    snakemake.log[0],
    write_mae_table,
    prediction_files=list(snakemake.input.predictions),
    metrics_files=list(snakemake.input.metrics),
    table_path=snakemake.output[0],
)
