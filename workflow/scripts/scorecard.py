"""Rule scorecard: every view of an analyzer side by side (hcxai.evaluate.scorecard)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.scorecard import write_scorecard

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_scorecard,
    stats_path=job["input"]["stats"],
    localization_path=job["input"]["localization"],
    sanity_path=job["input"]["sanity"],
    faithfulness_path=job["input"]["faithfulness"],
    pair_files=job["input"]["pairs"],
    imputation_files=job["input"]["imputations"],
    score_files=job["input"]["scores"],
    card_path=job["output"]["card"],
    agreement_path=job["output"]["agreement"],
    metrics_path=job["input"]["metrics"] or None,  # [] when no metric runs
    **job["statistics"],
)
