"""Rule mae_table: MAE table and agreement figure over all folds (hcxai.agreement)."""

from hcxai.agreement import write_mae_outputs
from hcxai.io import run_job

run_job(
    snakemake.log[0],
    write_mae_outputs,
    prediction_files=list(snakemake.input.predictions),
    metrics_files=list(snakemake.input.metrics),
    dataset_path=snakemake.input.dataset,
    table_path=snakemake.output.table,
    figure_path=snakemake.output.figure,
)
