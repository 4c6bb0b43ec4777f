"""Rule hc_agreement_figure: predicted vs true HC and Bland-Altman (hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_hc_agreement_figure

run_job(
    snakemake.log[0],
    write_hc_agreement_figure,
    prediction_files=list(snakemake.input.predictions),
    metrics_files=list(snakemake.input.metrics),
    table_path=snakemake.input.table,
    out_path=snakemake.output[0],
)
