"""Rule phantoms: synthetic HC18-layout scans (hcxai.data.phantom)."""

from pathlib import Path

from hcxai.core.io import run_job
from hcxai.data.phantom import generate

run_job(
    snakemake.log[0],
    generate,
    out_dir=Path(snakemake.output.csv).parent,
    n_images=snakemake.params.n_images,
    seed=snakemake.params.seed,
    workers=snakemake.threads,
)
