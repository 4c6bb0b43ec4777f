"""Rule perturb (TensorFlow env): one shard of an analyzer x model x fold."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.perturbation import Settings, run_shard

job, threads = job_arguments()
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    run_shard,
    model_path=job["input"]["model"],
    saliency_path=job["input"]["saliency"],
    dataset_path=job["input"]["dataset"],
    out_path=job["output"]["shard"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
    fold=int(job["wildcards"]["fold"]),
    analyzer=job["wildcards"]["analyzer"],
    shard=int(job["wildcards"]["shard"]),
    images_per_job=job["perturbation"]["images_per_job"],
    settings=Settings.from_config(job["perturbation"]),
    random_order_path=job["input"].get("random_order") or None,
    threads=threads,
)
