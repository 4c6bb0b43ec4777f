"""Rule localization: one saliency file's maps against the annotated skull
(hcxai.evaluate.localization.skull)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.localization.skull import write_localization

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_localization,
    saliency_path=job["input"]["saliency"],
    dataset_path=job["input"]["dataset"],
    band_px=job["band_px"],
    out_path=job["output"]["scores"],
    **job["wildcards"],
)
