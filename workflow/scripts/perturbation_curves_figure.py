"""Rule perturbation_curves_figure: paper Fig. 4 from perturbation_curves.csv
(hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_perturbation_curves_figure

run_job(
    snakemake.log[0],
    write_perturbation_curves_figure,
    curves_path=snakemake.input[0],
    out_path=snakemake.output[0],
)
