"""Rules train and train_permuted_labels (TensorFlow env): one backbone x loss x fold
(hcxai.models.training); the second trains the sanity fold on shuffled targets."""

from hcxai.core.io import job_arguments, run_job
from hcxai.models.training import train_fold

job, threads = job_arguments()
permuted_fold = job.get("permuted_labels_fold")  # set by rule train_permuted_labels only
run_job(
    job["log"],  # None: the rule sends stdout and stderr to its log
    train_fold,
    dataset_path=job["input"]["dataset"],
    splits_path=job["input"]["splits"],
    backbone=job["wildcards"]["backbone"],
    fold=int(job["wildcards"]["fold"]) if permuted_fold is None else permuted_fold,
    outputs=job["output"],
    training=job["training"],
    augment_factor=job["augment_factor"],
    threads=threads,
    permute_labels=permuted_fold is not None,
)
