"""Rule scorecard: every view of an analyzer side by side (hcxai.evaluate.scorecard)."""

import json

from hcxai.core.io import run_job
from hcxai.evaluate.scorecard import write_scorecard

# The `statistics` block: bootstrap_samples, confidence, alpha, seed.
settings = json.loads(snakemake.params.settings)
run_job(
    snakemake.log[0],
    write_scorecard,
    stats_path=snakemake.input.stats,
    localization_path=snakemake.input.localization,
    sanity_path=snakemake.input.sanity,
    faithfulness_path=snakemake.input.faithfulness,
    pair_files=list(snakemake.input.pairs),
    imputation_files=list(snakemake.input.imputations),
    score_files=list(snakemake.input.scores),
    card_path=snakemake.output.card,
    agreement_path=snakemake.output.agreement,
    metrics_path=snakemake.input.metrics[0] if snakemake.input.metrics else None,
    **settings,
)
