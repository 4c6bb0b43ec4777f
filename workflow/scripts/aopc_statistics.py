"""Rule aopc_statistics: CIs, paired tests, Friedman's test of per-image AOPCs (hcxai.stats)."""

import json

from hcxai.io import run_job
from hcxai.stats import write_statistics

settings = json.loads(snakemake.params.settings)
run_job(
    snakemake.log[0],
    write_statistics,
    pair_files=list(snakemake.input.pairs),
    stats_path=snakemake.output.stats,
    pairwise_path=snakemake.output.pairwise,
    friedman_path=snakemake.output.friedman,
    bootstrap_samples=settings["bootstrap_samples"],
    confidence=settings["confidence"],
    alpha=settings["alpha"],
    seed=settings["seed"],
)
