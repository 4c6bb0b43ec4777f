"""Rule saliency_figures: paper Fig. 2 and Fig. 5 from the cached maps (hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_saliency_figures

run_job(
    snakemake.log[0],
    write_saliency_figures,
    map_files=list(snakemake.input.maps),
    dataset_path=snakemake.input.dataset,
    comparison_path=snakemake.output.comparison,
    best_worst_path=snakemake.output.best_worst,
)
