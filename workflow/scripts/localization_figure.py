"""Rule localization_figure: skull focus and rank accuracy per analyzer (hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_localization_figure

run_job(
    snakemake.log[0],
    write_localization_figure,
    summary_path=snakemake.input.summary,
    sanity_path=snakemake.input.sanity,
    out_path=snakemake.output[0],
)
