"""Rule effective_config: the validated config of this run, for provenance
(hcxai.core.provenance)."""

from hcxai.core.io import run_job
from hcxai.core.provenance import write_effective_config

run_job(
    snakemake.log[0],
    write_effective_config,
    config_json=snakemake.params.config,
    out_path=snakemake.output[0],
)
