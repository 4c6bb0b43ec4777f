"""Rule figure: one figure of the registry from its inputs (hcxai.figures.registry)."""

import json

from hcxai.core.io import run_job
from hcxai.figures.registry import FIGURES, draw

figure = FIGURES[snakemake.wildcards.figure]
run_job(
    snakemake.log[0],
    draw,
    name=figure.name,
    inputs={
        argument: snakemake.input[argument]
        if isinstance(snakemake.input[argument], str)
        else list(snakemake.input[argument])
        for argument in figure.inputs
    },
    settings=json.loads(snakemake.params.settings),
    out_path=snakemake.output[0],
)
