"""Rule aopc_pair: every image's AOPC and the mean curve of one model x analyzer
(hcxai.evaluate.faithfulness.aopc),
Table 1's and under every scored imputation x measure."""

from hcxai.core.io import run_job
from hcxai.evaluate.faithfulness.aopc import write_pair

run_job(
    snakemake.log[0],
    write_pair,
    shard_files=list(snakemake.input),
    aopc_path=snakemake.output.aopc,
    curves_path=snakemake.output.curves,
    imputations_path=snakemake.output.imputations,
    imputations=list(snakemake.params.imputations),
)
