"""Rule saliency (TensorFlow env): one analyzer on one model x fold (hcxai.explain.saliency)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.explain.saliency import compute_saliency

job, threads = job_arguments()
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    compute_saliency,
    model_path=job["input"]["model"],
    predictions_path=job["input"]["predictions"],
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    out_path=job["output"]["maps"],
    analyzer=job["wildcards"]["analyzer"],
    params=job["params"],
    backbone=job["wildcards"]["backbone"],
    loss=job["wildcards"]["loss"],
    fold=int(job["wildcards"]["fold"]),
    memory_budget_mb=job["memory_budget_mb"],
    max_images=job["max_images_per_fold"],
    graph_optimization=job["graph_optimization"],
    threads=threads,
)
