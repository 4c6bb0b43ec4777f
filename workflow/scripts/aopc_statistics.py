"""Rule aopc_statistics: CIs, paired tests, Friedman's test of per-image AOPCs
(hcxai.stats.inference)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.faithfulness.aopc_statistics import write_statistics

# The `statistics` block: bootstrap_samples, confidence, alpha, seed.
settings = json.loads(snakemake.params.settings)
run_job(
    snakemake.log[0],
    write_statistics,
    pair_files=list(snakemake.input.pairs),
    stats_path=snakemake.output.stats,
    pairwise_path=snakemake.output.pairwise,
    friedman_path=snakemake.output.friedman,
    **settings,
)
