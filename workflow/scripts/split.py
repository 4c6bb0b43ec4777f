"""Rule split: K-fold splits of the data set (hcxai.data.splits)."""

from hcxai.core.io import run_job
from hcxai.data.splits import write_splits

run_job(
    snakemake.log[0],
    write_splits,
    dataset_path=snakemake.input[0],
    out_path=snakemake.output[0],
    folds=snakemake.params.folds,
    seed=snakemake.params.seed,
    group_by=snakemake.params.group_by,
)
