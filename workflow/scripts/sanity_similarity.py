"""Rule sanity_similarity: each stage's maps against the trained maps
(hcxai.evaluate.randomisation.similarity)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.randomisation.similarity import write_stage_similarity

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_stage_similarity,
    maps_path=job["input"]["maps"],
    dataset_path=job["input"]["dataset"],
    out_path=job["output"]["pair"],
    statistics=job["statistics"],
    band_px=job["band_px"],
)
