"""Rule robustness_maps (TensorFlow env): one analyzer's maps of a few images and of their
perturbed copies (hcxai.evaluate.robustness.perturbed_maps)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.robustness.perturbed_maps import compute_robustness_maps

job, threads = job_arguments()
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    compute_robustness_maps,
    model_path=job["input"]["model"],
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    out_path=job["output"]["maps"],
    analyzer=job["wildcards"]["analyzer"],
    params=job["params"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
    **job["robustness"],
    memory_budget_mb=job["memory_budget_mb"],
    graph_optimization=job["graph_optimization"],
    threads=threads,
)
