"""Rule faithfulness_figure: analyzer ranks per imputation x measure (hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_faithfulness_figure

run_job(
    snakemake.log[0],
    write_faithfulness_figure,
    table_path=snakemake.input.table,
    agreement_path=snakemake.input.agreement,
    out_path=snakemake.output[0],
)
