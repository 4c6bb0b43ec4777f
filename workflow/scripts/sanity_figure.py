"""Rule sanity_figure: the randomisation maps and similarity curves (hcxai.figures.inputs)."""

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_sanity_figure

run_job(
    snakemake.log[0],
    write_sanity_figure,
    map_files=list(snakemake.input.maps),
    summary_path=snakemake.input.summary,
    dataset_path=snakemake.input.dataset,
    out_path=snakemake.output[0],
)
