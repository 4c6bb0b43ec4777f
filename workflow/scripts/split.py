"""Rule split: K-fold splits of the data set (hcxai.data.splits)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.data.splits import write_splits

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_splits,
    dataset_path=job["input"]["dataset"],
    out_path=job["output"]["splits"],
    folds=job["folds"],
    seed=job["seed"],
    group_by=job["group_by"],
)
