"""Rule random_order (TensorFlow env): one shard's random-order baseline, shared by analyzers."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.perturbation import Settings, run_random_order_shard

job, threads = job_arguments()
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    run_random_order_shard,
    model_path=job["input"]["model"],
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    out_path=job["output"]["shard"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
    fold=int(job["wildcards"]["fold"]),
    shard=int(job["wildcards"]["shard"]),
    images_per_job=job["perturbation"]["images_per_job"],
    max_images=job["max_images_per_fold"],
    settings=Settings.from_config(job["perturbation"]),
    threads=threads,
)
