"""Rule aopc_critical_difference_figure: mean ranks and Holm-Wilcoxon bars
(hcxai.figures.inputs)."""

import json

from hcxai.core.io import run_job
from hcxai.figures.inputs import write_critical_difference_figure

run_job(
    snakemake.log[0],
    write_critical_difference_figure,
    stats_path=snakemake.input.stats,
    pairwise_path=snakemake.input.pairwise,
    alpha=json.loads(snakemake.params.settings)["alpha"],
    out_path=snakemake.output[0],
)
