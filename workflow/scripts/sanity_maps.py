"""Rule sanity_maps (TensorFlow env): one analyzer's maps at every randomisation stage
and of the permuted-label model."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.randomisation.model_maps import compute_sanity_maps

job, threads = job_arguments()
sanity = job["sanity"]
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    compute_sanity_maps,
    model_path=job["input"]["model"],
    permuted_model_path=job["input"]["permuted_model"],
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    out_path=job["output"]["maps"],
    analyzer=job["wildcards"]["analyzer"],
    params=job["params"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
    fold=sanity["fold"],
    n_images=sanity["n_images"],
    stages=sanity["stages"],
    seed=sanity["seed"],
    memory_budget_mb=job["memory_budget_mb"],
    graph_optimization=job["graph_optimization"],
    threads=threads,
)
