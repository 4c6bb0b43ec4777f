"""Rule loss_comparison_figure: AOPC, skull focus and MAE per backbone and loss
(hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_loss_comparison_figure

run_job(
    snakemake.log[0],
    write_loss_comparison_figure,
    stats_path=snakemake.input.stats,
    localization_path=snakemake.input.localization,
    mae_path=snakemake.input.mae,
    out_path=snakemake.output[0],
)
