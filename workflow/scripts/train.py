"""Rule train (TensorFlow env): one backbone x loss x fold (hcxai.train)."""

from hcxai.io import job_arguments, run_job
from hcxai.train import train_fold

job, threads = job_arguments()
run_job(
    None,  # the rule sends stdout and stderr to its log
    train_fold,
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    backbone=job["wildcards"]["backbone"],
    fold=int(job["wildcards"]["fold"]),
    outputs=job["output"],
    training=job["training"],
    augment_factor=job["augment_factor"],
    threads=threads,
)
