"""Rule faithfulness: the analyzers under every imputation x measure (hcxai.faithfulness)."""

import json

from hcxai.faithfulness import write_faithfulness
from hcxai.io import run_job

# The `statistics` block: bootstrap_samples, confidence, alpha, seed.
settings = json.loads(snakemake.params.settings)
run_job(
    snakemake.log[0],
    write_faithfulness,
    imputation_files=list(snakemake.input.pairs),
    table_path=snakemake.output.table,
    agreement_path=snakemake.output.agreement,
    tau_path=snakemake.output.tau,
    **settings,
)
