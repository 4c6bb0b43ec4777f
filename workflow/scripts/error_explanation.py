"""Rule error_explanation: |error| vs skull focus and AOPC
(hcxai.evaluate.meta.error_explanation)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.meta.error_explanation import write_error_explanation

statistics = json.loads(snakemake.params.statistics)
run_job(
    snakemake.log[0],
    write_error_explanation,
    meta_files=list(snakemake.input.meta),
    localization_files=list(snakemake.input.localization),
    aopc_files=list(snakemake.input.aopc),
    out_path=snakemake.output[0],
    confidence=statistics["confidence"],
    n_resamples=statistics["bootstrap_samples"],
    seed=statistics["seed"],
)
