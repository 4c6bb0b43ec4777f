"""Rule mae_table: MAE per model and fold, Bland-Altman limits (hcxai.models.accuracy)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.models.accuracy import write_mae_table

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_mae_table,
    prediction_files=job["input"]["predictions"],
    metrics_files=job["input"]["metrics"],
    table_path=job["output"]["table"],
)
