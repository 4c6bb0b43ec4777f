"""Rule aopc_per_image: every image's AOPC and the mean curve of one model x analyzer
(hcxai.evaluate.faithfulness.aopc),
Table 1's and under every scored imputation x measure."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.aopc import write_per_image

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_per_image,
    shard_files=job["input"]["shards"],
    aopc_path=job["output"]["aopc"],
    curves_path=job["output"]["curves"],
    imputations_path=job["output"]["imputations"],
    imputations=job["imputations"],
)
