"""Rule faithfulness: the analyzers under every imputation x measure
(hcxai.evaluate.faithfulness.across_imputations)."""

from hcxai.core.io import job_arguments, run_job
from hcxai.evaluate.faithfulness.across_imputations import write_faithfulness

job, threads = job_arguments(snakemake)
run_job(
    job["log"],
    write_faithfulness,
    imputation_files=job["input"]["pairs"],
    table_path=job["output"]["table"],
    agreement_path=job["output"]["agreement"],
    tau_path=job["output"]["tau"],
    **job["statistics"],
)
