"""Rule faithfulness: the analyzers under every imputation x measure
(hcxai.evaluate.faithfulness.across_imputations)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.faithfulness.across_imputations import write_faithfulness

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
