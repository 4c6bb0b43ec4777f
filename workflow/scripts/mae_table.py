"""Rule mae_table: MAE per model and fold, Bland-Altman limits (hcxai.models.accuracy)."""

from hcxai.core.io import run_job
from hcxai.models.accuracy import write_mae_table

run_job(
    snakemake.log[0],
    write_mae_table,
    prediction_files=list(snakemake.input.predictions),
    metrics_files=list(snakemake.input.metrics),
    table_path=snakemake.output[0],
)
