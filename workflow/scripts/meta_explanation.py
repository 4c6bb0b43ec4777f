"""Rule meta_explanation: SpRAy over each analyzer's maps of one model
(hcxai.evaluate.meta.spray)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.meta.spray import write_meta_explanations
from hcxai.figures.plots import draw_meta_explanation

job, threads = job_arguments(snakemake)
maps, tables = job["input"]["maps"], job["output"]["tables"]
per_analyzer = len(maps) // len(tables)
run_job(
    job["log"],
    write_meta_explanations,
    saliency_paths=[maps[i : i + per_analyzer] for i in range(0, len(maps), per_analyzer)],
    table_paths=tables,
    figure_paths=job["output"]["figures"],
    stability_path=job["output"]["stability"],
    settings=job["meta"],
    draw=draw_meta_explanation,
)
