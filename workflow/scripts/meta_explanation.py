"""Rule meta_explanation: SpRAy over each analyzer's maps of one model
(hcxai.evaluate.meta.spray)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.meta.spray import write_meta_explanations
from hcxai.figures.plots import draw_meta_explanation

maps = list(snakemake.input.maps)
per_analyzer = len(maps) // len(snakemake.output.tables)
run_job(
    snakemake.log[0],
    write_meta_explanations,
    saliency_paths=[maps[i : i + per_analyzer] for i in range(0, len(maps), per_analyzer)],
    table_paths=list(snakemake.output.tables),
    figure_paths=list(snakemake.output.figures),
    stability_path=snakemake.output.stability,
    settings=json.loads(snakemake.params.settings),
    draw=draw_meta_explanation,
)
